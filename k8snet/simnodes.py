"""Simulated Nodes (in the spirit of kwok): kubelets that only speak the API.

They register Nodes (Ready, with allocatable), renew their Leases in
kube-node-lease, mark Pods bound to them Running and Ready with a podIP from
the Node's podCIDR (nothing actually runs), and confirm graceful deletions.
`fail(node)` stops everything for one Node, as a crashed machine would.

Containers of Pods whose restartPolicy is Never or OnFailure (a Job's Pods)
run to completion by a documented rule (`run_to_completion`): their command
and args, read as a shell script, take the seconds of their `sleep N`
statements, then exit with the code of their last `exit N` statement (1 for a
last statement `false`, 0 otherwise). So `perl -e ...` or `echo hi` succeed at
once, `sleep 5; exit 3` fails after five seconds. Containers of restartPolicy
Always Pods run for ever.

The Node and Pod status come from the real kubelet's builders
(k8snet.kubelet.node, k8snet.kubelet.status) fed with what a runtime would
report, so they have every field a real kubelet fills and the official
client's models require (nodeInfo, containerID, imageID, qosClass, ...).

Used by `k8snet control-plane --simulated-nodes N` to try manifests and
scheduling without any network emulation, and by the component tests.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import re
import threading
import time
import uuid
from typing import Optional

from k8snet.kubelet import node as kubelet_node
from k8snet.kubelet import status as kubelet_status
from k8snet.kubelet.main import host_facts
from k8snet.kubelet.model import EXITED, RUNNING, ContainerInfo, PodActual, PodMemory, SandboxInfo
from k8snet.machinery.client import AlreadyExists, ApiClient, ApiError, Conflict, NotFound
from k8snet.machinery.conditions import is_ready
from k8snet.machinery.informer import Informer
from k8snet.machinery.reconciler import Backoff, Reconciler
from k8snet.machinery.timefmt import parse_time

HOST_IP = "127.0.0.1"
RUNTIME_VERSION = "k8snet-simulated://0.1.0"


def _digest(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()


_SLEEP = re.compile(r"(?:^|[;&|\s])sleep\s+(\d+(?:\.\d+)?)")
_STATEMENT = re.compile(r"[;\n]|&&|\|\|")
_SHELL = re.compile(r"^\S*\b(?:sh|bash|ash|dash)\s+(?:-\w+\s+)*-[a-z]*c\s+")


def run_to_completion(container: dict) -> tuple[float, int]:
    """(seconds it runs, exit code) of a container that runs to completion (pure).

    Its command and args, joined, are read as a shell script: it runs for the sum of
    its `sleep N` statements and exits with its last statement's code: `exit N` gives
    N, `false` gives 1, anything else 0 (a leading `sh -c` is the shell, not a
    statement)."""
    text = " ".join(str(x) for x in (container.get("command") or []) +
                    (container.get("args") or []))
    text = _SHELL.sub("", text.strip())
    seconds = sum(float(m) for m in _SLEEP.findall(text))
    statements = [s.strip() for s in _STATEMENT.split(text) if s.strip()]
    last = statements[-1].split() if statements else []
    code = 0
    if last and last[0] == "exit":
        code = int(last[1]) if len(last) > 1 and last[1].isdigit() else 0
    elif last == ["false"]:
        code = 1
    return seconds, code


def simulated_actual(pod: dict, ip: str, started: float,
                     now: Optional[float] = None) -> PodActual:
    """What a runtime would report at `now` for a Pod started at `started`: init
    containers succeeded, containers run (for ever when restartPolicy is Always, else
    as `run_to_completion` says) (pure; ids derived from the Pod's uid, image ids from
    the image)."""
    now = started if now is None else now
    uid = pod["metadata"].get("uid") or pod["metadata"]["name"]
    spec = pod.get("spec") or {}
    completes = spec.get("restartPolicy", "Always") != "Always"
    sandbox = SandboxInfo(_digest(uid, "sandbox")[:32], 0, True, started, ip, (ip,))
    containers = []
    for key in ("initContainers", "containers"):
        for c in spec.get(key) or []:
            state, code, finished = EXITED, 0, started
            if key == "containers":
                state = RUNNING
                if completes:
                    seconds, code = run_to_completion(c)
                    if now >= started + seconds:
                        state, finished = EXITED, started + seconds
                    else:
                        code = 0
            image = c.get("image") or ""
            containers.append(ContainerInfo(
                id=_digest(uid, key, c["name"]), name=c["name"], attempt=0, state=state,
                sandbox_id=sandbox.id, created_at=started, started_at=started,
                finished_at=finished if state == EXITED else None, exit_code=code,
                reason=("Completed" if code == 0 else "Error") if state == EXITED else "",
                image=image, image_ref="sha256:" + _digest(image)))
    return PodActual.of([sandbox], containers)


class SimulatedNodes:
    """Pretend to be the kubelets of `nodes` (name -> extra labels)."""

    def __init__(self, client: ApiClient, nodes: dict[str, dict], cpu: str = "4",
                 memory: str = "8Gi", max_pods: str = "110", lease_period: float = 1.0,
                 log: Optional[logging.Logger] = None):
        self.client = client
        self.nodes = nodes
        self.cpu, self.memory, self.max_pods = cpu, memory, max_pods
        self.lease_period = lease_period
        self.log = log or logging.getLogger("k8snet.simnodes")
        self.failed: set[str] = set()
        self.stop_event = threading.Event()
        self.node_cidrs: dict[str, str] = {}
        self.ips: dict[str, str] = {}
        self.lock = threading.Lock()
        self.pods: Optional[Informer] = None
        self.threads: list[threading.Thread] = []
        self.configs = {name: self._config(name, labels) for name, labels in nodes.items()}
        self.reconciler = Reconciler("simnodes", self._reconcile, resync=lease_period,
                                     backoff=Backoff(0.2, 5.0), log=self.log)

    def _config(self, name: str, labels: dict) -> kubelet_node.NodeConfig:
        facts = dict(host_facts(name), boot_id=str(uuid.uuid4()))
        return kubelet_node.NodeConfig(
            name=name, ip=HOST_IP, cpu=self.cpu, memory=self.memory,
            max_pods=int(self.max_pods), labels=tuple(sorted(labels.items())),
            os_image="k8snet simulated node", runtime_version=RUNTIME_VERSION, **facts)

    def start(self) -> SimulatedNodes:
        for name in self.nodes:
            self._register(name)
        self.pods = Informer(self.client, "pods", retry_seconds=0.2, log=self.log)
        self.reconciler.watch(self.pods)
        self.threads.append(self.pods.start(self.stop_event))
        for target, name in ((self.reconciler.run, "simnodes-pods"),
                             (self._heartbeat, "simnodes-heartbeat")):
            t = threading.Thread(target=target, args=(self.stop_event,), daemon=True, name=name)
            t.start()
            self.threads.append(t)
        return self

    def stop(self) -> None:
        self.stop_event.set()
        for t in self.threads:
            t.join(timeout=5)

    def fail(self, node: str) -> None:
        """Stop renewing `node`'s Lease and syncing its Pods."""
        self.failed.add(node)

    def recover(self, node: str) -> None:
        self.failed.discard(node)

    # -- nodes ----------------------------------------------------------------

    def _register(self, name: str) -> None:
        """Create the Node (or keep the existing one) and post a Ready status."""
        cfg = self.configs[name]
        node = kubelet_node.build_node(cfg, time.time())
        node["status"] = kubelet_node.node_status(cfg, None, time.time(), ready=True)
        try:  # Ready from the start: a simulated node has no network to configure first
            self.client.create("nodes", node)
        except (AlreadyExists, Conflict):
            pass
        for _ in range(10):  # the controller-manager may write the Node meanwhile (podCIDR)
            current = self.client.get("nodes", name)
            current["status"] = kubelet_node.node_status(cfg, current.get("status"), time.time(),
                                                         ready=True)
            try:
                self.client.update("nodes", current, subresource="status")
                return
            except Conflict:
                continue
        raise ApiError(409, "Conflict", f"could not post the status of node {name}: conflicts")

    def _heartbeat(self, stop: threading.Event) -> None:
        while not stop.is_set():
            for name in self.nodes:
                if name not in self.failed:
                    try:
                        self._renew(name)
                        if not is_ready(self.client.get("nodes", name)):
                            self._register(name)  # as a kubelet re-posts its status
                    except ApiError:
                        pass
            stop.wait(self.lease_period)

    def _renew(self, name: str) -> None:
        ns = kubelet_node.LEASE_NAMESPACE
        try:
            lease = self.client.get("leases", name, ns)
        except NotFound:
            self.client.create("leases", kubelet_node.build_lease(name, None, 40, time.time()),
                               ns)
            return
        self.client.update("leases", kubelet_node.renew_lease(lease, name, 40, time.time()), ns)

    # -- pods -----------------------------------------------------------------

    def _reconcile(self, _key: str) -> None:
        assert self.pods is not None
        self._sync_pods(self.pods.snapshot())

    def _sync_pods(self, items: dict[str, dict]) -> None:
        alive = {p["metadata"].get("uid") or p["metadata"]["name"] for p in items.values()}
        with self.lock:
            for key in set(self.ips) - alive:
                del self.ips[key]  # the Pod is gone: its address is free again
        for pod in items.values():
            node = (pod.get("spec") or {}).get("nodeName")
            if node not in self.nodes or node in self.failed:
                continue
            meta = pod["metadata"]
            try:
                if meta.get("deletionTimestamp"):
                    self.client.delete("pods", meta["name"], meta["namespace"],
                                       grace_period_seconds=0)
                elif not _is_settled(pod):
                    self._mark_running(pod, node)
            except ApiError:
                pass  # the next pass (a change, or the resync) retries

    def _pod_ip(self, pod: dict, node: str) -> str:
        key = pod["metadata"].get("uid") or pod["metadata"]["name"]
        with self.lock:
            if key not in self.ips:
                if node not in self.node_cidrs:
                    try:
                        cidr = kubelet_node.pod_cidr(self.client.get("nodes", node))
                    except ApiError:
                        cidr = None
                    if cidr:
                        self.node_cidrs[node] = cidr
                cidr = self.node_cidrs.get(node) or "10.99.0.0/24"
                used = set(self.ips.values())
                hosts = ipaddress.ip_network(cidr).hosts()
                next(hosts)  # .1 is the node's gateway
                free = next((str(h) for h in hosts if str(h) not in used), None)
                if free is None:
                    raise ApiError(0, "NoAddress", f"no free Pod address left in {cidr}")
                self.ips[key] = free
            return self.ips[key]

    def _mark_running(self, pod: dict, node: str) -> None:
        now = time.time()
        since = parse_time((pod.get("status") or {}).get("startTime"))
        started = since.timestamp() if since else now
        actual = simulated_actual(pod, self._pod_ip(pod, node), started, now)
        status = kubelet_status.pod_status(pod, actual, PodMemory(start_time=started), {},
                                           HOST_IP, now)
        body = kubelet_status.status_patch(pod.get("status") or {}, status)
        if body is not None:
            meta = pod["metadata"]
            self.client.patch("pods", meta["name"], body, meta["namespace"],
                              subresource="status")


def _is_settled(pod: dict) -> bool:
    """Nothing more will change: Running and Ready for ever, or finished."""
    phase = (pod.get("status") or {}).get("phase")
    if phase in ("Succeeded", "Failed"):
        return True
    policy = (pod.get("spec") or {}).get("restartPolicy", "Always")
    return policy == "Always" and phase == "Running" and is_ready(pod)
