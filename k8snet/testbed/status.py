"""What ``k8snet status`` shows about a cluster: typed, then text or JSON (pure).

`ClusterStatus` is built by ``api.status`` from a cluster's state and
whether its supervisor still runs; ``to_dict`` is the stable ``--json``
document; ``render`` the human table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

from k8snet.testbed.faults import Fault
from k8snet.testbed.state import ClusterState, ProcessRecord


@dataclass(frozen=True)
class ClusterStatus:
    """One cluster as ``status`` reports it."""

    name: str
    status: str                        # building, ready, stopping, dead or unreadable
    state: Optional[ClusterState]      # None when the state file could not be read
    controller_running: bool = False
    error: Optional[str] = None        # why the state could not be read
    faults: Sequence[Fault] = ()       # active faults (k8snet fault)
    running: Dict[str, bool] = field(default_factory=dict)  # process name -> alive

    def to_dict(self) -> Dict:
        """The ``--json`` document of this cluster (stable keys)."""
        state = self.state
        if state is None:
            return {"name": self.name, "status": self.status, "error": self.error}
        controller = state.controller
        return {
            "name": state.name,
            "status": self.status,
            "topology": state.spec.topology,
            "mode": state.spec.mode,
            "proxy_mode": state.spec.proxy_mode,
            "store": state.spec.store,
            "network_only": state.spec.network_only,
            "datapath": state.datapath,
            "supervisor_pid": state.supervisor.pid if state.supervisor else None,
            "nodes": [{"name": n.name, "role": n.role, "ip": n.ip, "netns": n.netns}
                      for n in state.nodes],
            "switches": [{"name": s.name, "dpid": s.dpid, "role": s.role}
                         for s in state.switches],
            "controller": {
                "pid": controller.process.pid if controller else None,
                "port": controller.port if controller else None,
                "log": controller.process.log if controller else None,
                "facts": controller.facts if controller else None,
                "running": self.controller_running},
            "kubeconfig": state.kubeconfig,
            "dir": state.dir,
            "processes": [process_doc(r, self.running.get(r.name, False))
                          for r in state.processes],
            "faults": [{**f.to_dict(), "text": f.describe()} for f in self.faults],
        }


def process_doc(record: ProcessRecord, running: bool) -> Dict:
    doc = {"name": record.name, "pid": record.pid, "running": running,
           "restarts": record.restarts, "last_exit": record.last_exit, "log": record.log}
    if record.hosts:
        doc["hosts"] = list(record.hosts)
    return doc


def render(statuses: List[ClusterStatus]) -> str:
    """The human form of ``k8snet status``."""
    if not statuses:
        return "no k8snet cluster is running"
    lines: List[str] = []
    for status in statuses:
        lines += render_one(status)
    return "\n".join(lines)


def render_one(status: ClusterStatus) -> List[str]:
    state = status.state
    if state is None:
        return [f"cluster {status.name}: {status.status}: {status.error}"]
    spec = state.spec
    kubernetes = ("no Kubernetes (--network-only)" if spec.network_only else
                  f"kube-proxy {spec.proxy_mode}, {spec.store} store")
    lines = [f"cluster {state.name}: {status.status}, topology {spec.topology}, "
             f"mode {spec.mode}, {kubernetes}, {state.datapath} datapath, "
             f"supervisor pid {state.supervisor.pid if state.supervisor else None}"]
    if state.controller:
        ctl = state.controller
        lines.append(f"  controller: pid {ctl.process.pid} "
                     f"({'running' if status.controller_running else 'not running'}), "
                     f"127.0.0.1:{ctl.port}, log {ctl.process.log}")
    lines.append("  switches: " + ", ".join(s.name for s in state.switches))
    lines.append(f"  {'NODE':<8} {'ROLE':<9} {'IP':<15} NAMESPACE")
    for node in state.nodes:
        lines.append(f"  {node.name:<8} {node.role:<9} {node.ip:<15} {node.netns}")
    if state.controller and state.controller.process.restarts:
        lines.append(f"  controller restarts: {restarts_text(state.controller.process)}")
    if state.processes:
        lines.append(f"  {'PROCESS':<28} {'PID':>7} {'STATE':<8} RESTARTS")
        for record in state.processes:
            alive = "running" if status.running.get(record.name) else "down"
            lines.append(f"  {record.name:<28} {record.pid:>7} {alive:<8} "
                         f"{restarts_text(record)}")
            if record.hosts:
                lines.append(f"    runs {', '.join(record.hosts)}")
    for fault in status.faults:
        lines.append(f"  fault: {fault.describe()}")
    if state.kubeconfig:
        lines.append(f"  kubeconfig: {state.kubeconfig}")
    return lines


def restarts_text(record: ProcessRecord) -> str:
    """``0``, or ``2 (last: killed by SIGKILL)``."""
    if not record.restarts:
        return "0"
    return f"{record.restarts} (last: {record.last_exit})"
