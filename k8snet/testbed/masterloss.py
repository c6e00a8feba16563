"""Losing a master, measured: what the HA integration test and benchmark share.

``lose_leader_master`` finds the master whose controller-manager holds the
Lease (the leader master), keeps a writer creating numbered ConfigMaps
through the cluster's kubeconfig, then kills every process of that master
(etcd member, apiserver, scheduler, controller-manager) with SIGKILL, or cuts
its link. It measures how long until ``kubectl`` answers again, until writes
are acknowledged again and until a Pod created right after the loss is bound
and Running, then lists what the store holds: every write that was
acknowledged must be there (etcd acknowledges only what a quorum stored).

The decisions (who leads, which writes were lost, the figures) are plain
functions; the effects are a thin layer around them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from k8snet.machinery.client import ApiClient, ApiError
from k8snet.testbed import faults as flt
from k8snet.testbed import state as st

LABEL = "k8snet.io/ha-writer"


def holder_pid(identity: Optional[str]) -> Optional[int]:
    """The PID in a leader identity ``HOST_PID_SUFFIX`` (k8snet.components)."""
    parts = (identity or "").split("_")
    if len(parts) >= 3 and parts[-2].isdigit():
        return int(parts[-2])
    return None


def node_of_pid(pid: Optional[int], processes: Iterable[st.ProcessRecord]) -> Optional[str]:
    """The node whose recorded process has ``pid``."""
    for record in processes:
        if pid is not None and record.pid == pid:
            return record.node
    return None


def lost_writes(acked: Sequence[str], present: Iterable[str]) -> List[str]:
    """The acknowledged writes the store does not hold (pure)."""
    have = set(present)
    return [name for name in acked if name not in have]


def first_after(times: Sequence[float], moment: float) -> Optional[float]:
    """Seconds from ``moment`` to the first of ``times`` after it (pure)."""
    later = [t for t in times if t >= moment]
    return min(later) - moment if later else None


def longest_gap(times: Sequence[float], start: float, end: float) -> float:
    """The longest stretch in [start, end] without any of ``times`` (pure)."""
    points = [start] + sorted(t for t in times if start <= t <= end) + [end]
    return max(b - a for a, b in zip(points, points[1:]))


@dataclass
class Writer:
    """Creates ConfigMaps ``PREFIX-000000``, ``-000001``... one after another,
    remembering which were acknowledged and when."""

    client: ApiClient
    prefix: str
    namespace: str = "default"
    acked: List[Tuple[str, float]] = field(default_factory=list)
    errors: List[Tuple[float, str]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        index = 0
        while not self.stop.is_set():
            name = f"{self.prefix}-{index:06d}"
            index += 1
            body = {"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": name, "labels": {LABEL: self.prefix}},
                    "data": {"n": str(index - 1)}}
            try:
                self.client.create("configmaps", body, self.namespace)
                self.acked.append((name, time.monotonic()))
            except ApiError as exc:
                self.errors.append((time.monotonic(), str(exc)[:200]))
                self.stop.wait(0.1)

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, daemon=True, name="ha-writer")
        thread.start()
        return thread

    def stored(self) -> List[str]:
        items = self.client.list("configmaps", self.namespace,
                                 label_selector=f"{LABEL}={self.prefix}")["items"]
        return [i["metadata"]["name"] for i in items]


def lease_holders(client: ApiClient, processes) -> Dict[str, Optional[str]]:
    """lease name -> the node its holder runs on (kube-system's two Leases)."""
    out: Dict[str, Optional[str]] = {}
    for name in ("kube-controller-manager", "kube-scheduler"):
        try:
            lease = client.get("leases", name, "kube-system")
        except ApiError:
            out[name] = None
            continue
        out[name] = node_of_pid(holder_pid((lease.get("spec") or {}).get("holderIdentity")),
                                processes)
    return out


def kill_node_processes(state: st.ClusterState, node: str) -> List[str]:
    """SIGKILL every recorded process of ``node``; the names killed."""
    killed = []
    for record in state.processes:
        if record.node == node and st.is_alive(record):
            try:
                os.kill(record.pid, signal.SIGKILL)
                killed.append(record.name)
            except ProcessLookupError:
                pass
    return killed


def etcd_members(state: st.ClusterState) -> Tuple[Dict[str, int], Optional[str]]:
    """(node -> etcd member id, node of the Raft leader), asked of each live member
    through its JSON gateway from inside its master."""
    ids: Dict[str, int] = {}
    leader_id = None
    for master in state.masters:
        proc = subprocess.run(
            ["ip", "netns", "exec", master.netns, "curl", "-s", "-m", "3", "-X", "POST",
             f"http://{master.ip}:2379/v3/maintenance/status", "-d", "{}"],
            capture_output=True, text=True, timeout=15)
        try:
            doc = json.loads(proc.stdout)
            ids[master.name] = int(doc["header"]["member_id"])
            leader_id = int(doc["leader"])
        except (ValueError, KeyError, TypeError):
            continue
    leader = next((n for n, i in ids.items() if i == leader_id), None)
    return ids, leader


def move_etcd_leader(state: st.ClusterState, to: str) -> Optional[str]:
    """Make ``to``'s etcd member the Raft leader (etcdctl move-leader); the leader
    afterwards."""
    ids, leader = etcd_members(state)
    if leader is None or leader == to or to not in ids:
        return leader
    master = next(n for n in state.masters if n.name == leader)
    subprocess.run(["ip", "netns", "exec", master.netns, "etcdctl",
                    f"--endpoints=http://{master.ip}:2379", "move-leader", f"{ids[to]:x}"],
                   env=dict(os.environ, ETCDCTL_API="3"), capture_output=True, timeout=30)
    for _ in range(50):
        _, leader = etcd_members(state)
        if leader == to:
            break
        time.sleep(0.2)
    return leader


def cut_link(state: st.ClusterState, node: str, up: bool = False) -> None:
    """Set the node's fabric interface down (or up again)."""
    info = next(n for n in state.nodes if n.name == node)
    subprocess.run(["ip", "netns", "exec", info.netns, "ip", "link", "set", "eth0",
                    "up" if up else "down"], check=True, timeout=10)


def wait_kubectl(kubeconfig: str, since: float, deadline: float) -> Optional[float]:
    """Seconds from ``since`` until ``kubectl get nodes`` succeeds."""
    env = dict(os.environ, KUBECONFIG=kubeconfig)
    while time.monotonic() < deadline:
        proc = subprocess.run(["kubectl", "get", "nodes", "--request-timeout=5s"], env=env,
                              capture_output=True, timeout=30)
        if proc.returncode == 0:
            return time.monotonic() - since
        time.sleep(0.2)
    return None


def deployment_body(name: str) -> dict:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {
                         "terminationGracePeriodSeconds": 0, "containers": [{
                             "name": "pause", "image": "registry.k8s.io/pause:3.10"}]}}}}


def wait_deployment_pod(client: ApiClient, name: str, since: float,
                        deadline: float) -> Tuple[Optional[float], Optional[float]]:
    """Create Deployment ``name`` (retrying until the apiserver takes it); the seconds
    from ``since`` until its Pod is bound to a node (the controller-manager made it, the
    scheduler bound it) and until it is Running (a kubelet started it)."""
    created = False
    bound = running = None
    while time.monotonic() < deadline and running is None:
        try:
            if not created:
                client.create("deployments", deployment_body(name), "default")
                created = True
            pods = client.list("pods", "default", label_selector=f"app={name}")["items"]
        except ApiError as exc:
            if exc.code == 409:
                created = True
            time.sleep(0.2)
            continue
        for pod in pods:
            if bound is None and (pod.get("spec") or {}).get("nodeName"):
                bound = time.monotonic() - since
            if running is None and (pod.get("status") or {}).get("phase") == "Running":
                running = time.monotonic() - since
        time.sleep(0.2)
    return bound, running


@dataclass
class Outcome:
    victim: str
    how: str
    etcd_leader: Optional[str]
    killed: List[str]
    holders_before: Dict[str, Optional[str]]
    holders_after: Dict[str, Optional[str]]
    kubectl_s: Optional[float]
    writes_s: Optional[float]
    write_gap_s: float
    pod_bound_s: Optional[float]
    pod_running_s: Optional[float]
    acked: int
    lost: List[str]
    errors: int

    def lines(self) -> List[str]:
        def sec(value: Optional[float]) -> str:
            return "never" if value is None else f"{value:.1f} s"
        return [
            f"leader master {self.victim} ({self.how}; etcd Raft leader was "
            f"{self.etcd_leader}): {', '.join(self.killed) or 'link cut'}",
            f"Lease holders before {self.holders_before}, after {self.holders_after}",
            f"kubectl answers again after {sec(self.kubectl_s)}",
            f"writes succeed again after {sec(self.writes_s)} "
            f"(longest stretch without an acknowledged write {self.write_gap_s:.1f} s)",
            f"a Deployment created after the loss: its Pod bound after {sec(self.pod_bound_s)}, "
            f"Running after {sec(self.pod_running_s)}",
            f"acknowledged writes {self.acked}, lost {len(self.lost)}, "
            f"failed (not acknowledged) {self.errors}",
        ]


def lose_leader_master(state: st.ClusterState, how: str = "kill", prefix: str = "ha",
                       settle: float = 2.0, after: float = 5.0,
                       timeout: float = 120.0) -> Outcome:
    """Kill (``how="kill"``) or cut off (``how="link"``) the leader master while a
    writer writes; measure recovery. The cluster is left with that master down (a
    killed one is a crashed node to the supervisor: ``k8snet fault node restore``
    brings it back)."""
    client = ApiClient.from_kubeconfig(state.kubeconfig, timeout=5)
    holders = lease_holders(client, state.processes)
    victim = holders.get("kube-controller-manager") or state.masters[0].name
    # The leader master leads everything it can: the worst case for writes is
    # losing etcd's Raft leader too (a new election before any commit).
    etcd_leader = move_etcd_leader(state, victim)
    writer = Writer(ApiClient.from_kubeconfig(state.kubeconfig, timeout=5), prefix)
    thread = writer.start()
    time.sleep(settle)
    t_loss = time.monotonic()
    if how == "kill":
        # Recorded as a crashed node first, as `k8snet fault node crash` does: the
        # supervisor holds its processes down (a lost machine does not come back by
        # itself; restarted, its controller-manager could win the Lease back).
        flt.save(state.dir, flt.added(flt.load(state.dir), flt.new("crash", [victim])))
        killed = kill_node_processes(state, victim)
    else:
        cut_link(state, victim)
        killed = []
    deadline = t_loss + timeout
    kubectl_s = wait_kubectl(state.kubeconfig, t_loss, deadline)
    bound, running = wait_deployment_pod(client, f"{prefix}-after-loss", t_loss, deadline)
    writes_s = None
    while time.monotonic() < deadline:
        writes_s = first_after([t for _, t in writer.acked], t_loss)
        if writes_s is not None:
            break
        time.sleep(0.2)
    time.sleep(after)
    writer.stop.set()
    thread.join(timeout=30)
    t_end = time.monotonic()
    acked = [name for name, _ in writer.acked]
    lost = lost_writes(acked, writer.stored())
    # the records as they are now: a component the supervisor restarted since has a
    # new PID, which the records taken before the loss do not know
    after_holders = lease_holders(client, st.read_records(state.name).records
                                  or state.processes)
    return Outcome(victim, how, etcd_leader, killed, holders, after_holders, kubectl_s, writes_s,
                   longest_gap([t for _, t in writer.acked], t_loss, t_end), bound, running,
                   len(acked), lost, len(writer.errors))
