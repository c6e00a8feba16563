"""A cluster's state on disk: ``/run/k8snet/<cluster>/state.json``.

`ClusterState` is the only reader and writer of that file. The supervisor
saves it as the cluster comes up; everything else (``status``, ``exec``,
``down``, ``probe``, ``trace``, ``compare``, ``demo``) loads it as typed
data through `load_state`. The file carries a ``version``; a file of
another version, or one that is not valid, is a `StateError` that names the
file and says what to do, never a KeyError somewhere later.

Processes are recorded with their start time so that a PID reused by someone
else's process is never signalled. ``read_records`` reads only the process
records and reads them leniently, so a cluster left by an older k8snet (or
with a damaged state file) can still be taken down.
"""

from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Tuple

from k8snet import naming
from k8snet.errors import K8snetError
from k8snet.testbed import typed
from k8snet.testbed.spec import ClusterSpec

STATE_FILE = "state.json"
STATE_VERSION = 1


class StateError(K8snetError):
    """A state file that this k8snet cannot read; the message says what to do."""


@dataclass(frozen=True)
class ProcessRecord:
    """A process the testbed started: enough to find it again safely."""

    __pydantic_config__ = typed.STRICT

    pid: int
    name: str                          # "kubelet@w1", "controller", "supervisor", ...
    start_time: Optional[int]          # clock ticks since boot; None if it was gone
    node: Optional[str] = None         # the node it runs in, if any
    log: Optional[str] = None
    restarts: int = 0                  # times the supervisor started it again
    last_exit: Optional[str] = None    # how it ended last: "exit 1", "killed by SIGKILL"
    hosts: Tuple[str, ...] = ()        # a node agent: the components it runs (kubelet, ...)


@dataclass(frozen=True)
class Controller:
    """The fabric controller (os-ken) process and what it was given."""

    __pydantic_config__ = typed.STRICT

    process: ProcessRecord
    port: int                          # OpenFlow port on 127.0.0.1
    facts: str                         # path of the fabric facts (JSON) it reads


@dataclass(frozen=True)
class NodeInfo:
    """One Mininet host: a Kubernetes node or a host outside the cluster."""

    __pydantic_config__ = typed.STRICT

    name: str
    role: str                          # master, worker or external
    ip: str
    mac: str
    netns: str                         # its `ip netns` name
    pid: int                           # the Mininet shell holding its namespaces
    labels: Dict[str, str] = field(default_factory=dict)
    cpu: Optional[str] = None
    memory: Optional[str] = None
    pods: Optional[int] = None


@dataclass(frozen=True)
class SwitchInfo:
    """One fabric switch (an OVS bridge)."""

    __pydantic_config__ = typed.STRICT

    name: str
    dpid: str
    role: Optional[str] = None         # spine, leaf, single, ...


@dataclass
class ClusterState:
    """Everything recorded about one cluster."""

    __pydantic_config__ = typed.STRICT

    name: str
    spec: ClusterSpec
    dir: str                           # /run/k8snet/<name>
    version: int = STATE_VERSION
    status: str = "building"           # building, ready, stopping
    created: float = 0.0
    datapath: str = ""
    supervisor: Optional[ProcessRecord] = None
    controller: Optional[Controller] = None
    nodes: List[NodeInfo] = field(default_factory=list)
    switches: List[SwitchInfo] = field(default_factory=list)
    processes: List[ProcessRecord] = field(default_factory=list)
    netns: List[str] = field(default_factory=list)
    bridges: List[str] = field(default_factory=list)
    kubeconfig: Optional[str] = None   # the user's, on 127.0.0.1 (None: no control plane)
    apiserver: Optional[str] = None    # its URL

    # -- questions about the cluster ------------------------------------------

    def node(self, name: str) -> Optional[NodeInfo]:
        return next((n for n in self.nodes if n.name == name), None)

    def nodes_with_role(self, role: str) -> List[NodeInfo]:
        return [n for n in self.nodes if n.role == role]

    @property
    def workers(self) -> List[NodeInfo]:
        return self.nodes_with_role("worker")

    @property
    def masters(self) -> List[NodeInfo]:
        return self.nodes_with_role("master")

    @property
    def external(self) -> Optional[NodeInfo]:
        """The first host outside the cluster, if the topology has one."""
        hosts = self.nodes_with_role("external")
        return hosts[0] if hosts else None

    def process(self, name: str) -> Optional[ProcessRecord]:
        """The process of a component by name, e.g. ``runtime@w1``: its own, or
        the node agent's that hosts it."""
        own = next((r for r in self.processes if r.name == name), None)
        return own if own is not None else self.host_of(name)

    def host_of(self, name: str) -> Optional[ProcessRecord]:
        """The node agent running component ``name`` (``kubelet@w1``) as a thread."""
        component, _, node = name.partition("@")
        return next((r for r in self.processes
                     if component in r.hosts and r.node == node and node), None)

    def node_dir(self, node: str) -> str:
        """Where a node's components keep their files and logs."""
        return os.path.join(self.dir, node)

    def runtime_socket(self, node: str) -> str:
        """The CRI socket of a worker's runtime."""
        return os.path.join(self.node_dir(node), "runtime.sock")

    def records(self) -> Iterator[ProcessRecord]:
        """Every process record: components, then the controller, the supervisor last."""
        yield from self.processes
        if self.controller:
            yield self.controller.process
        if self.supervisor:
            yield self.supervisor

    # -- the file --------------------------------------------------------------

    def to_dict(self) -> Dict[str, Any]:
        return typed.to_doc(self)


def state_path(cluster: str, root: str = naming.STATE_ROOT) -> str:
    return os.path.join(naming.state_dir(cluster, root), STATE_FILE)


def parse_state(text: str, where: str) -> ClusterState:
    """A state file's text as a `ClusterState`; StateError when it is not one
    of this version (``where`` names the file in the message)."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise StateError(f"{where} is not valid JSON ({exc}); remove the cluster with "
                         "'k8snet down' or 'k8snet clean'") from None
    if not isinstance(doc, dict):
        raise StateError(f"{where} is not a k8snet state file (not a JSON object)")
    version = doc.get("version")
    name = doc.get("name", "?")
    if version != STATE_VERSION:
        age = ("an older k8snet (no version field)" if version is None else
               f"another k8snet (version {version!r}, this one reads {STATE_VERSION})")
        raise StateError(f"{where} was written by {age}; take cluster {name!r} down with "
                         f"'k8snet down --name {name}' and bring it up again")
    try:
        return typed.from_json(ClusterState, text, where)
    except ValueError as exc:
        raise StateError(f"{exc}; the file is damaged: take cluster {name!r} down with "
                         f"'k8snet down --name {name}'") from None


def load_state(cluster: str, root: str = naming.STATE_ROOT) -> Optional[ClusterState]:
    """The recorded state of ``cluster``; None when it has none; StateError
    when its file is damaged or of another version."""
    path = state_path(cluster, root)
    try:
        with open(path) as fh:
            text = fh.read()
    except FileNotFoundError:
        return None
    return parse_state(text, path)


def save_state(state: ClusterState, root: str = naming.STATE_ROOT) -> None:
    """Write atomically, so readers never see half a file."""
    path = state_path(state.name, root)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "w") as fh:
        json.dump({**state.to_dict(), "version": STATE_VERSION}, fh, indent=2, sort_keys=True)
    os.replace(tmp, path)


def cluster_names(root: str = naming.STATE_ROOT) -> List[str]:
    """Clusters that have a state directory, running or not."""
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if naming.CLUSTER_NAME_RE.match(n)
                  and os.path.isdir(os.path.join(root, n)))


# -- process records, read leniently (for down and clean) ------------------------

@dataclass
class ClusterRecords:
    """The processes a cluster recorded, as far as its file can be read."""

    name: str
    dir: str
    supervisor: Optional[ProcessRecord] = None
    records: List[ProcessRecord] = field(default_factory=list)  # every one, supervisor last


def record_from(doc: Any) -> Optional[ProcessRecord]:
    """A process record from any version's JSON, or None if it is not one."""
    if not isinstance(doc, dict) or not isinstance(doc.get("pid"), int) or isinstance(
            doc.get("pid"), bool):
        return None
    start = doc.get("start_time")
    return ProcessRecord(pid=doc["pid"], name=str(doc.get("name") or "process"),
                         start_time=start if isinstance(start, int) else None,
                         node=doc.get("node") if isinstance(doc.get("node"), str) else None,
                         log=doc.get("log") if isinstance(doc.get("log"), str) else None)


def records_from(doc: Any, name: str, root: str = naming.STATE_ROOT) -> ClusterRecords:
    """The process records in a state document of any version (old files kept
    the controller's record at the top; this version nests it)."""
    doc = doc if isinstance(doc, dict) else {}
    found = ClusterRecords(name=name, dir=naming.state_dir(name, root))
    if isinstance(doc.get("dir"), str) and doc["dir"]:
        found.dir = doc["dir"]
    processes = doc.get("processes") if isinstance(doc.get("processes"), list) else []
    controller = doc.get("controller") if isinstance(doc.get("controller"), dict) else {}
    candidates = [*processes, controller.get("process", controller)]
    found.records = [r for r in map(record_from, candidates) if r]
    found.supervisor = record_from(doc.get("supervisor"))
    if found.supervisor:
        found.records.append(found.supervisor)
    return found


def read_records(cluster: str, root: str = naming.STATE_ROOT) -> ClusterRecords:
    """The process records of ``cluster``, whatever state its file is in."""
    try:
        with open(state_path(cluster, root)) as fh:
            doc = json.load(fh)
    except (OSError, ValueError):
        doc = {}
    return records_from(doc, cluster, root)


# -- processes ---------------------------------------------------------------

def process_start_time(pid: int) -> Optional[int]:
    """Start time of ``pid`` in clock ticks since boot, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            stat = fh.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name may contain spaces and parentheses: split after the last ')'.
    fields = stat[stat.rindex(")") + 2:].split()
    if fields[0] == "Z":
        return None
    return int(fields[19])


def record_process(pid: int, name: str, node: Optional[str] = None,
                   log: Optional[str] = None) -> ProcessRecord:
    """A record of a process just started, to keep in the state."""
    return ProcessRecord(pid=pid, name=name, start_time=process_start_time(pid), node=node,
                         log=log)


def is_alive(record: ProcessRecord) -> bool:
    """True if the recorded process still runs (and is the same process)."""
    return bool(record.pid) and record.start_time is not None and \
        process_start_time(record.pid) == record.start_time


def signal_process(record: ProcessRecord, sig: int = signal.SIGTERM) -> bool:
    """Signal a recorded process if it is still the one recorded."""
    if not is_alive(record):
        return False
    try:
        os.kill(record.pid, sig)
    except ProcessLookupError:
        return False
    return True


def stop_process(record: ProcessRecord, grace: float = 5.0) -> None:
    """SIGTERM, wait up to ``grace`` seconds, then SIGKILL."""
    stop_processes([record], grace)


def stop_processes(records: List[ProcessRecord], grace: float = 5.0) -> None:
    """SIGTERM every recorded process at once, wait up to ``grace`` seconds
    for all of them, then SIGKILL those left: one grace period for the lot,
    so a 50-node cluster stops as fast as a 2-node one."""
    alive = [r for r in records if signal_process(r, signal.SIGTERM)]
    deadline = time.monotonic() + grace
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [r for r in alive if is_alive(r)]
    for record in alive:
        signal_process(record, signal.SIGKILL)


def wait_gone(record: ProcessRecord, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for a recorded process to end; True if it did."""
    deadline = time.monotonic() + timeout
    while is_alive(record):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True
