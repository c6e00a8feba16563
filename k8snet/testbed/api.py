"""The testbed as a library: what the ``k8snet`` commands, ``compare``,
``probe``, ``demo``, ``trace``, the benchmarks and the tests call.

    from k8snet.testbed import api
    from k8snet.testbed.spec import ClusterSpec

    cluster = api.up(ClusterSpec(name="lab", topology="leaf-spine", workers=4,
                                 proxy_mode="nftables"), progress=print)
    print(api.exec(cluster, "w1", ["ip", "route"]).stdout.decode())
    client = cluster.client()                     # the apiserver, as cluster-admin
    api.down("lab")

``up`` validates the spec (a `UsageError` before anything is built), then
starts a supervisor process that owns the cluster and returns once every
worker Node is Ready; it leaves nothing behind when it fails. ``attached``
runs a cluster inside the caller instead (the Mininet CLI of ``k8snet up``).
Everything here raises; only the CLI exits.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from k8snet import naming
from k8snet.errors import K8snetError, UsageError
from k8snet.testbed import cleanup, faults, preflight
from k8snet.testbed import state as st
from k8snet.testbed.spec import ClusterSpec, validate_spec
from k8snet.testbed.state import ClusterState, NodeInfo, StateError
from k8snet.testbed.status import ClusterStatus

Progress = Callable[[str], None]
SUPERVISOR_EXIT_DEADLINE = 60.0


def quiet(_text: str) -> None:
    """A progress callback that shows nothing."""


@dataclass(frozen=True)
class Cluster:
    """A cluster that runs, as recorded when it was looked up."""

    state: ClusterState
    root: str = naming.STATE_ROOT

    @property
    def name(self) -> str:
        return self.state.name

    @property
    def spec(self) -> ClusterSpec:
        return self.state.spec

    @property
    def kubeconfig(self) -> str:
        """The user's kubeconfig; UsageError when the cluster runs no control plane."""
        if not self.state.kubeconfig:
            raise UsageError(f"cluster {self.name!r} has no kubeconfig: it runs no control "
                             "plane (--network-only) or is still coming up")
        return self.state.kubeconfig

    @property
    def supervisor_log(self) -> str:
        return os.path.join(self.state.dir, "supervisor.log")

    def client(self, timeout: float = 10):
        """An `ApiClient` on the cluster's apiserver."""
        from k8snet.machinery.client import ApiClient

        return ApiClient.from_kubeconfig(self.kubeconfig, timeout=timeout)

    def node(self, name: str) -> NodeInfo:
        """A node by name; UsageError naming the nodes there are."""
        node = self.state.node(name)
        if node is None:
            raise UsageError(f"cluster {self.name!r} has no node {name!r} (it has: "
                             f"{', '.join(n.name for n in self.state.nodes)})")
        return node


@dataclass(frozen=True)
class ExecResult:
    """What a command run by `exec` did."""

    exit_code: int
    stdout: bytes
    stderr: bytes


# -- up and down -------------------------------------------------------------

def preflight_up() -> int:
    """What ``up`` needs of this machine; UsageError saying how to get it. Returns the
    state directory's hold (preflight.state_on_tmpfs), to close once the cluster's
    lock is taken."""
    preflight.require_root("up")
    preflight.require_ovs()
    preflight.require_mininet()
    return preflight.state_on_tmpfs()[0]


def take_lock(name: str, hold: int) -> int:
    """The cluster's lock, then the state directory let go (see preflight_up)."""
    try:
        return preflight.take_cluster_lock(name)
    finally:
        if hold >= 0:
            os.close(hold)


def up(spec: ClusterSpec, progress: Progress = quiet) -> Cluster:
    """Bring a cluster up in the background and return it once it is ready.

    Raises UsageError, touching nothing, when the spec cannot be built or a
    cluster of that name runs; raises K8snetError when bring-up fails, after
    removing whatever the attempt made.
    """
    validate_spec(spec)
    lock = take_lock(spec.name, preflight_up())
    try:
        clean_leftovers(spec.name, progress)
        proc = start_supervisor(spec, lock)
    except BaseException:
        preflight.release_cluster_lock(spec.name, lock)
        raise
    os.close(lock)  # the supervisor holds the lock now, and frees the name when it ends
    try:
        follow_supervisor(proc, progress)
    except BaseException:
        clean_after_failure(spec.name, proc)
        raise
    return find(spec.name)


def start_supervisor(spec: ClusterSpec, lock_fd: int) -> subprocess.Popen:
    os.makedirs(naming.state_dir(spec.name), exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False,
                                     dir=naming.state_dir(spec.name)) as fh:
        json.dump(spec.to_dict(), fh)
        spec_path = fh.name
    return subprocess.Popen(
        [sys.executable, "-m", "k8snet.testbed.supervisor", spec_path],
        stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
        start_new_session=True, pass_fds=(lock_fd,))


def follow_supervisor(proc: subprocess.Popen, progress: Progress) -> None:
    """Relay the supervisor's progress until it reports ``ready`` (return) or
    ``error`` (raise). Its protocol: see ``k8snet.testbed.supervisor``."""
    for line in proc.stdout:
        kind, _, text = line.strip().partition(" ")
        if kind == "progress":
            progress(text)
        elif kind == "ready":
            proc.stdout.close()
            return
        elif kind == "error":
            code, _, message = text.partition(" ")
            raise UsageError(message) if code == "2" else K8snetError(message)
    proc.wait(timeout=SUPERVISOR_EXIT_DEADLINE)
    raise K8snetError(f"the cluster supervisor exited (status {proc.returncode}) "
                      "before the cluster was up")


def clean_after_failure(name: str, proc: subprocess.Popen) -> None:
    """After a failed ``up``: once the supervisor has ended (it takes down
    what it built), remove anything left, if the name is still free."""
    if proc.poll() is None:
        proc.terminate()  # e.g. the caller was interrupted: the supervisor stops too
    try:
        proc.wait(timeout=SUPERVISOR_EXIT_DEADLINE)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    try:
        lock = preflight.take_cluster_lock(name)
    except UsageError:
        return  # someone else runs a cluster of that name now: not ours to touch
    try:
        cleanup.apply(cleanup.gather(only=name))
    finally:
        preflight.release_cluster_lock(name, lock)


def clean_leftovers(name: str, progress: Progress = quiet) -> None:
    """A cluster of this name that died without cleaning up: remove its remains.
    The caller holds the name's lock."""
    plan = cleanup.gather(only=name)
    if not plan.empty():
        for line in cleanup.apply(plan):
            progress(f"leftover of an earlier run: {line}")


@contextlib.contextmanager
def attached(spec: ClusterSpec, progress: Progress = quiet) -> Iterator:
    """Run a cluster inside this process for the length of the block; yields
    the `LiveCluster` (its Mininet network is ``.net``) and takes it down after."""
    validate_spec(spec)
    lock = take_lock(spec.name, preflight_up())
    try:
        clean_leftovers(spec.name, progress)
        from k8snet.testbed.cluster import LiveCluster
        from k8snet.testbed.supervisor import watch

        live = LiveCluster(spec, progress=progress)
        live.up()
        # Processes that exit are restarted here too, as the supervisor does.
        stop = threading.Event()
        watcher = threading.Thread(target=watch, args=(live, stop), daemon=True,
                                   name="supervision")
        watcher.start()
        try:
            yield live
        finally:
            stop.set()
            watcher.join()
            live.down()
    finally:
        preflight.release_cluster_lock(spec.name, lock)


def down(name: str, timeout: float = 60.0, progress: Progress = quiet) -> List[str]:
    """Stop cluster ``name`` and remove everything it made; the lines saying
    what was removed. UsageError when there is no such cluster (nor its remains).
    Works on a cluster whose state file is damaged or from an older k8snet."""
    preflight.require_root("down")
    naming.check_cluster_name(name)
    recorded = os.path.exists(st.state_path(name))
    if not recorded and not preflight.cluster_running(name) \
            and cleanup.gather(only=name).empty():
        raise UsageError(f"no cluster named {name!r} is running (see 'k8snet status')")
    supervisor = st.read_records(name).supervisor
    if supervisor and st.signal_process(supervisor):
        progress(f"stopping cluster {name!r} (supervisor pid {supervisor.pid})")
        st.wait_gone(supervisor, timeout)
    # Whatever the supervisor did not get to (or if it was killed): remove it.
    lines = cleanup.apply(cleanup.gather(only=name))
    if not preflight.cluster_running(name):
        # A supervisor stopped by force above still held the name when the
        # plan was made: its lock file goes now that nobody holds it.
        preflight.release_cluster_lock(name)
    for line in lines:
        progress(f"  {line}")
    return lines


# -- finding clusters ------------------------------------------------------------

def status(name: Optional[str] = None, root: str = naming.STATE_ROOT) -> List[ClusterStatus]:
    """Every cluster with a state (or only ``name``), readable or not."""
    found = []
    for cluster in [name] if name else st.cluster_names(root):
        running = preflight.cluster_running(cluster, root)
        try:
            state = st.load_state(cluster, root)
        except StateError as exc:
            found.append(ClusterStatus(cluster, "unreadable", None, error=str(exc)))
            continue
        if state is None:
            continue
        controller = bool(state.controller) and st.is_alive(state.controller.process)
        found.append(ClusterStatus(
            cluster, state.status if running else "dead", state,
            controller_running=controller, faults=faults.load(state.dir),
            running={r.name: st.is_alive(r) for r in state.processes}))
    return found


def clusters(name: Optional[str] = None, root: str = naming.STATE_ROOT) -> List[Cluster]:
    """The clusters that have a state, or only ``name`` (StateError when its
    state cannot be read). Looking at all, states that cannot be read are
    left out (``status`` lists them); StateError only if no other is left."""
    if name:
        state = st.load_state(name, root)
        return [Cluster(state, root)] if state else []
    found: List[Cluster] = []
    errors: List[StateError] = []
    for other in st.cluster_names(root):
        try:
            state = st.load_state(other, root)
        except StateError as exc:
            errors.append(exc)
            continue
        if state:
            found.append(Cluster(state, root))
    if not found and errors:
        raise errors[0]
    return found


def find(name: Optional[str] = None, need_api: bool = False,
         root: str = naming.STATE_ROOT) -> Cluster:
    """Cluster ``name``, or the only one there is; UsageError otherwise.
    ``need_api``: it must run a control plane too."""
    found = clusters(name, root)
    if not found:
        raise UsageError(f"no k8snet cluster {name!r} is running" if name else
                         "no k8snet cluster is running: start one with 'k8snet up --detach'")
    if len(found) > 1:
        raise UsageError("several clusters run (" + ", ".join(c.name for c in found)
                         + "): add --name")
    if need_api:
        found[0].kubeconfig  # noqa: B018 -- raises when there is no control plane
    return found[0]


def locate(target: str, name: Optional[str] = None,
           root: str = naming.STATE_ROOT) -> Tuple[Cluster, Optional[NodeInfo]]:
    """Where ``exec TARGET`` runs: (cluster, node) for a node name, (cluster,
    None) when TARGET must be a Pod of the one cluster with a control plane."""
    found = clusters(name, root)
    if not found:
        raise UsageError(f"no k8snet cluster {name!r} is running" if name else
                         "no k8snet cluster is running (see 'k8snet status')")
    nodes = [(c, c.state.node(target)) for c in found if c.state.node(target)]
    if len(nodes) > 1:
        raise UsageError(f"node {target!r} exists in several clusters "
                         f"({', '.join(c.name for c, _ in nodes)}): add --name")
    if nodes:
        return nodes[0]
    with_api = [c for c in found if c.state.kubeconfig]
    if len(with_api) != 1:
        raise UsageError(f"no node named {target!r}" + (
            "; several clusters run: add --name to look for a pod" if with_api else
            " and no cluster runs a control plane to look for a pod"))
    return with_api[0], None


# -- running commands ---------------------------------------------------------------

def node_argv(node: NodeInfo) -> List[str]:
    """The argv prefix that runs a command inside a node's network namespace."""
    return ["ip", "netns", "exec", node.netns]


def exec(cluster: Cluster, target: str, argv: Sequence[str], namespace: str = "default",
         container: Optional[str] = None, timeout: float = 60) -> ExecResult:
    """Run ``argv`` in node ``target`` (its network namespace) or, if no node
    has that name, in Pod ``target``'s container (CRI ExecSync)."""
    if not argv:
        raise UsageError("give a command to run")
    node = cluster.state.node(target)
    if node is None:
        return exec_in_pod(cluster, target, argv, namespace, container, timeout)
    try:
        proc = subprocess.run([*node_argv(node), *argv], capture_output=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise K8snetError(f"{' '.join(argv)} on {target} did not finish in "
                          f"{timeout:g}s") from exc
    return ExecResult(proc.returncode, proc.stdout, proc.stderr)


def exec_in_pod(cluster: Cluster, pod_name: str, argv: Sequence[str],
                namespace: str = "default", container: Optional[str] = None,
                timeout: float = 60) -> ExecResult:
    """Run ``argv`` in a Pod's container through its node's runtime (CRI ExecSync)."""
    from k8snet.machinery.client import NotFound
    from k8snet.machinery.cri import RuntimeClient

    try:
        pod = cluster.client().get("pods", pod_name, namespace=namespace)
    except NotFound:
        raise UsageError(f"no node or pod named {pod_name!r} in cluster "
                         f"{cluster.name!r} (namespace {namespace})") from None
    node = pod.get("spec", {}).get("nodeName")
    if not node:
        raise UsageError(f"pod {pod_name} is not scheduled yet")
    cid = container_id(pod, container)
    with RuntimeClient(cluster.state.runtime_socket(node)) as runtime:
        result = runtime.exec_sync(cid, list(argv), timeout=int(timeout))
    return ExecResult(result.exit_code, result.stdout, result.stderr)


def container_id(pod: Dict, container: Optional[str]) -> str:
    """The CRI id of a Pod's running container (the first one by default)."""
    names = [c["name"] for c in pod.get("spec", {}).get("containers", [])]
    name = container or (names[0] if names else None)
    if name not in names:
        raise UsageError(f"pod {pod['metadata']['name']} has no container {name!r} "
                         f"(it has: {', '.join(names)})")
    for status_ in pod.get("status", {}).get("containerStatuses", []):
        if status_.get("name") == name and status_.get("containerID") and \
                "running" in status_.get("state", {}):
            return status_["containerID"].split("://", 1)[-1]
    raise UsageError(f"container {name!r} of pod {pod['metadata']['name']} is not running")
