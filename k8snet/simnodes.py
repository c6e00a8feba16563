"""Simulated Nodes (in the spirit of kwok): kubelets that only speak the API.

They register Nodes (Ready, with allocatable), renew their Leases in
kube-node-lease, mark Pods bound to them Running and Ready with a podIP from
the Node's podCIDR (nothing actually runs), and confirm graceful deletions.
`fail(node)` stops everything for one Node, as a crashed machine would.

Used by `k8snet control-plane --simulated-nodes N` to try manifests and
scheduling without any network emulation, and by the component tests.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import threading
from typing import Optional

from k8snet.machinery.client import ApiClient, ApiError, Conflict, NotFound
from k8snet.machinery.conditions import is_ready
from k8snet.machinery.informer import Informer
from k8snet.machinery.timefmt import format_micro_time, format_time


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class SimulatedNodes:
    """Pretend to be the kubelets of `nodes` (name -> extra labels)."""

    def __init__(self, client: ApiClient, nodes: dict[str, dict], cpu: str = "4",
                 memory: str = "8Gi", max_pods: str = "110", lease_period: float = 1.0):
        self.client = client
        self.nodes = nodes
        self.cpu, self.memory, self.max_pods = cpu, memory, max_pods
        self.lease_period = lease_period
        self.failed: set[str] = set()
        self.stop_event = threading.Event()
        self.kick = threading.Event()
        self.node_cidrs: dict[str, str] = {}
        self.ips: dict[str, str] = {}
        self.lock = threading.Lock()
        self.pods: Optional[Informer] = None
        self.threads: list[threading.Thread] = []

    def start(self) -> SimulatedNodes:
        for name, labels in self.nodes.items():
            self._register(name, labels)
        self.pods = Informer(self.client, "pods", on_change=lambda _items: self.kick.set(),
                             retry_seconds=0.2)
        self.threads.append(self.pods.start(self.stop_event))
        worker = threading.Thread(target=self._sync_loop, daemon=True, name="simnodes-pods")
        worker.start()
        self.threads.append(worker)
        t = threading.Thread(target=self._heartbeat, daemon=True, name="simnodes-heartbeat")
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

    def _register(self, name: str, labels: dict) -> None:
        resources = {"cpu": self.cpu, "memory": self.memory, "pods": self.max_pods}
        stamp = format_time(_now())
        node = {"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": name, "labels": dict(
                    {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}, **labels)},
                "spec": {}}
        try:
            self.client.create("nodes", node)
        except Conflict:
            pass
        status = {
            "capacity": resources, "allocatable": resources,
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                            "message": "simulated kubelet is posting ready status",
                            "lastHeartbeatTime": stamp, "lastTransitionTime": stamp}],
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"},
                          {"type": "Hostname", "address": name}],
            "nodeInfo": {"kubeletVersion": "v1.32.0-simulated"},
        }
        for _ in range(10):  # the controller-manager may write the Node meanwhile (podCIDR)
            current = self.client.get("nodes", name)
            current["status"] = dict(current.get("status") or {}, **status)
            try:
                self.client.update("nodes", current, subresource="status")
                return
            except Conflict:
                continue
        raise AssertionError(f"could not post the status of node {name}: conflicts")

    def _heartbeat(self) -> None:
        while not self.stop_event.is_set():
            for name, labels in self.nodes.items():
                if name not in self.failed:
                    try:
                        self._renew(name)
                        if not is_ready(self.client.get("nodes", name)):
                            self._register(name, labels)  # as a kubelet re-posts its status
                    except ApiError:
                        pass
            self.stop_event.wait(self.lease_period)

    def _renew(self, name: str) -> None:
        stamp = format_micro_time(_now())
        try:
            lease = self.client.get("leases", name, "kube-node-lease")
        except NotFound:
            self.client.create("leases", {
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": name, "namespace": "kube-node-lease"},
                "spec": {"holderIdentity": name, "leaseDurationSeconds": 40,
                         "renewTime": stamp}}, "kube-node-lease")
            return
        lease["spec"] = dict(lease.get("spec") or {}, renewTime=stamp)
        self.client.update("leases", lease, "kube-node-lease")

    def _sync_loop(self) -> None:
        """Sync the Pods after every change, and every lease period (to retry conflicts)."""
        assert self.pods is not None
        while not self.stop_event.is_set():
            self.kick.wait(self.lease_period)
            self.kick.clear()
            if self.pods.synced and not self.stop_event.is_set():
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
                elif not _is_running_ready(pod):
                    self._mark_running(pod, node)
            except ApiError:
                pass  # the next pass retries

    def _pod_ip(self, pod: dict, node: str) -> str:
        key = pod["metadata"].get("uid") or pod["metadata"]["name"]
        with self.lock:
            if key not in self.ips:
                if node not in self.node_cidrs:
                    try:
                        cidr = (self.client.get("nodes", node).get("spec") or {}).get("podCIDR")
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
        stamp = format_time(_now())
        containers = (pod.get("spec") or {}).get("containers") or []
        pod = dict(pod, kind="Pod", apiVersion="v1")
        pod["status"] = dict(pod.get("status") or {}, **{
            "phase": "Running", "podIP": self._pod_ip(pod, node),
            "podIPs": [{"ip": self._pod_ip(pod, node)}], "hostIP": "127.0.0.1",
            "startTime": stamp,
            "conditions": [{"type": t, "status": "True", "lastTransitionTime": stamp}
                           for t in ("PodScheduled", "Initialized", "ContainersReady",
                                     "Ready")],
            "containerStatuses": [{"name": c.get("name"), "image": c.get("image"),
                                   "ready": True, "restartCount": 0, "started": True,
                                   "state": {"running": {"startedAt": stamp}}}
                                  for c in containers]})
        self.client.update("pods", pod, pod["metadata"]["namespace"], subresource="status")


def _is_running_ready(pod: dict) -> bool:
    return (pod.get("status") or {}).get("phase") == "Running" and is_ready(pod)
