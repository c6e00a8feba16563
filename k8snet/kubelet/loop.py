"""The kubelet's main loop: register, heartbeat, configure CNI, sync Pods.

Threads: the Pod informer (list+watch, fieldSelector spec.nodeName=<node>),
a heartbeat (Lease every `lease_renew` seconds, Node status every
`status_period`), and the pod workers of the machinery's Reconciler: its
keys are Pod uids (at most one sync per Pod at a time), queued when the Pod
changes or goes away, and by a relist of the runtime every `sync_period` (as
upstream's PLEG): a Pod is synced again when what the runtime has of it
changed, when its last sync left work (actions, a back-off, probes, a
deletion, a status not written), or `quiet_resync` seconds after its last
sync. A failed sync is retried with back-off. Workers share one recent
snapshot of the runtime.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Dict, List, Mapping, Optional, Set, Tuple

from k8snet.errors import K8snetError
from k8snet.kubelet import node as nodes
from k8snet.kubelet.model import BackoffPolicy, ContainerInfo, PodActual, PodMemory, SandboxInfo
from k8snet.kubelet.podinputs import PodInputs, WatchedObjects
from k8snet.kubelet.podworker import PodSyncer
from k8snet.kubelet.runtimeview import container_snapshot, sandbox_info
from k8snet.kubelet.sync import grace_seconds, is_live
from k8snet.machinery.client import AlreadyExists, ApiClient, ApiError, Conflict, NotFound
from k8snet.machinery.cri import RuntimeClient
from k8snet.machinery.events import EventRecorder
from k8snet.machinery.informer import Informer, WaitTimeout, wait_until
from k8snet.machinery.reconciler import Backoff, Reconciler

CNI_FILE = "10-k8snet.conflist"
RETRY = Backoff(base=1.0, cap=30.0)


@dataclass
class KubeletConfig:
    node: nodes.NodeConfig
    root_dir: str
    cni_conf_dir: str
    cni_data_dir: str
    mode: str = "routed"
    uplink_mtu: int = 1500
    cluster_cidr: str = "10.244.0.0/16"
    sync_period: float = 1.0            # the runtime relist
    quiet_resync: float = 10.0          # a settled Pod's sync (upstream: --sync-frequency)
    lease_duration: int = 40
    lease_renew: float = 5.0
    status_period: float = 10.0         # how often the Node's status is computed
    status_report: float = 300.0        # posted unchanged at most this often
    pod_cidr_timeout: float = 300.0
    runtime_timeout: float = 60.0
    workers: int = 16
    api_timeout: float = 120.0
    backoff: BackoffPolicy = field(default_factory=BackoffPolicy)
    cluster_dns: tuple = ("10.96.0.10",)     # nameservers of ClusterFirst Pods
    cluster_domain: str = "cluster.local"


class Kubelet:
    """One node's kubelet; `run(stop)` until `stop` is set."""

    def __init__(self, cfg: KubeletConfig, api: ApiClient, runtime: RuntimeClient,
                 clock: Callable[[], float] = time.time, log: Optional[logging.Logger] = None):
        self.cfg, self.api, self.runtime, self.clock = cfg, api, runtime, clock
        self.log = log or logging.getLogger("k8snet.kubelet")
        self.node_uid: Optional[str] = None
        self.network_ready = threading.Event()
        self._lock = threading.Lock()
        self._snap_lock = threading.Lock()
        self._snap: Optional[Dict[str, PodActual]] = None
        self._snap_at = -1.0
        self._pods: Dict[str, dict] = {}
        self._mem: Dict[str, PodMemory] = {}
        self._done_at: Dict[str, float] = {}
        self._synced: Dict[str, Tuple[PodActual, float]] = {}  # uid -> (seen, sync again at)
        self._failures: Dict[str, int] = {}   # uid -> syncs failed in a row
        self._terminating: set = set()          # uids synced by a thread of their own
        self._reconciler: Optional[Reconciler] = None
        self.syncer: Optional[PodSyncer] = None
        self._cache: Dict[str, ContainerInfo] = {}
        self._sb_net: Dict[str, Tuple[str, Tuple[str, ...]]] = {}
        self._node_status: Optional[dict] = None
        self._status_posted_at = 0.0
        self._lease: Optional[dict] = None    # as last written (the next PUT's base)
        self.pods: Optional[Informer] = None

    # -- node ---------------------------------------------------------------

    def register(self) -> None:
        """Create the Node, or bring an existing one's labels up to date."""
        try:
            created = self.api.create("nodes", nodes.build_node(
                self.cfg.node, self.clock(), "container runtime network not ready"))
            self.node_uid = created["metadata"].get("uid")
            self._node_status = created.get("status")
            self.log.info("registered node %s", self.cfg.node.name)
            return
        except AlreadyExists:
            pass
        existing = self.api.get("nodes", self.cfg.node.name)
        self.node_uid = existing["metadata"].get("uid")
        patch = nodes.merge_registration(existing, self.cfg.node)
        if patch:
            self.api.patch("nodes", self.cfg.node.name, patch)
        self._node_status = existing.get("status")
        self.post_node_status()
        self.log.info("node %s was registered already; updated it", self.cfg.node.name)

    def register_with_retry(self, stop: threading.Event) -> None:
        """register(), retried while the apiserver is unreachable (up to `api_timeout`)."""
        end = time.monotonic() + self.cfg.api_timeout
        while True:
            try:
                self.register()
                return
            except ApiError as exc:
                if time.monotonic() > end or stop.is_set() or exc.code not in (0, 429, 500,
                                                                                  503, 504):
                    raise K8snetError(f"cannot register node {self.cfg.node.name}: {exc}") \
                        from None
                self.log.warning("registering node %s: %s; retrying", self.cfg.node.name, exc)
                stop.wait(1.0)

    def post_node_status(self, force: bool = True) -> None:
        """Post the Node's status: always when ``force``; else only when it differs from
        the apiserver's copy (read: the node lifecycle controller may have marked the
        node Unknown meanwhile), or `status_report` seconds after the last post. A read
        costs the apiserver less than a write, which every Node watcher receives."""
        ready = self.network_ready.is_set()
        old = self._node_status
        if not force:
            old = self.api.get("nodes", self.cfg.node.name).get("status") or {}
        now = self.clock()
        st = nodes.node_status(self.cfg.node, old, now, ready,
                               "container runtime network not ready: NetworkReady=false "
                               "reason:NetworkPluginNotReady (waiting for spec.podCIDR)")
        if not force and not nodes.status_worth_posting(
                old, st, self._status_posted_at, now, self.cfg.status_report):
            return
        self.api.patch("nodes", self.cfg.node.name, {"status": st}, subresource="status")
        self._node_status, self._status_posted_at = st, now

    def renew_lease(self) -> None:
        """Renew the node's Lease: a PUT on the copy last written (read again only when
        that fails), as upstream's lease controller does: one request per renewal."""
        name, dur = self.cfg.node.name, self.cfg.lease_duration
        if self._lease is not None:
            try:
                self._lease = self.api.update(
                    "leases", nodes.renew_lease(self._lease, name, dur, self.clock()),
                    nodes.LEASE_NAMESPACE)
                return
            except (Conflict, NotFound):
                self._lease = None   # written or deleted by someone else: read it again
            except ApiError as exc:
                if exc.code and exc.code < 500 and exc.code != 429:
                    self._lease = None   # refused as it is: read it again next time
                raise
        try:
            lease = self.api.get("leases", name, nodes.LEASE_NAMESPACE)
        except NotFound:
            body = nodes.build_lease(name, self.node_uid, dur, self.clock())
            try:
                self._lease = self.api.create("leases", body, nodes.LEASE_NAMESPACE)
            except NotFound:  # the namespace itself is missing
                self.api.create("namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                               "metadata": {"name": nodes.LEASE_NAMESPACE}})
                self._lease = self.api.create("leases", body, nodes.LEASE_NAMESPACE)
            return
        try:
            self._lease = self.api.update(
                "leases", nodes.renew_lease(lease, name, dur, self.clock()),
                nodes.LEASE_NAMESPACE)
        except Conflict:
            pass  # someone else wrote it; the next renewal reads it again

    def heartbeat(self, stop: threading.Event) -> None:
        """Renew the Lease and post Node status until stopped; errors are logged."""
        last_status = self.clock()
        while not stop.is_set():
            try:
                self.renew_lease()
                if self.clock() - last_status >= self.cfg.status_period:
                    self.post_node_status(force=False)
                    last_status = self.clock()
            except NotFound:
                self.log.warning("node %s is gone from the apiserver; registering it again",
                                 self.cfg.node.name)
                try:
                    self.register()
                except ApiError as exc:
                    self.log.warning("re-registering: %s", exc)
            except ApiError as exc:
                self.log.warning("heartbeat: %s", exc)
            stop.wait(self.cfg.lease_renew)

    def wait_pod_cidr(self, stop: threading.Event) -> Optional[str]:
        """Watch our Node until node IPAM gives it spec.podCIDR (deadline from the config);
        None if stopped first."""
        watching = threading.Event()
        node = Informer(self.api, "nodes", field_selector=f"metadata.name={self.cfg.node.name}",
                        log=self.log)
        node.start(watching)
        try:
            cidr = wait_until(node, lambda items: next(
                filter(None, map(nodes.pod_cidr, items.values())), None),
                timeout=self.cfg.pod_cidr_timeout, stop=stop,
                what=f"spec.podCIDR on node {self.cfg.node.name}")
        except WaitTimeout:
            raise K8snetError(
                f"node {self.cfg.node.name} got no spec.podCIDR within "
                f"{self.cfg.pod_cidr_timeout:.0f}s: is the controller-manager (node IPAM) "
                "running? (--pod-cidr-timeout to wait longer)") from None
        finally:
            watching.set()
        return None if cidr is None else str(cidr)

    def write_cni(self, pod_cidr: str) -> str:
        """Render the node's CNI conflist into the runtime's conf dir (atomically)."""
        from k8snet import cni

        extra: dict = {}
        if self.cfg.mode == "macvlan":  # the node's shim first: see k8snet.macvlan
            from k8snet import macvlan

            extra = macvlan.prepare_node(pod_cidr, self.cfg.node.ip)
        conf = cni.render_conflist(self.cfg.mode, pod_cidr, self.cfg.uplink_mtu,
                                   self.cfg.node.name, self.cfg.cni_data_dir, **extra)
        os.makedirs(self.cfg.cni_conf_dir, exist_ok=True)
        os.makedirs(self.cfg.cni_data_dir, exist_ok=True)
        path = os.path.join(self.cfg.cni_conf_dir, CNI_FILE)
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(conf, fh, indent=2)
        os.replace(tmp, path)
        return path

    # -- pods ---------------------------------------------------------------

    def snapshot(self) -> Dict[str, PodActual]:
        """The runtime's sandboxes and containers, grouped by Pod uid (taken now)."""
        return self.snapshot_after(time.monotonic())

    def snapshot_after(self, moment: float) -> Dict[str, PodActual]:
        """A snapshot begun after ``moment`` (monotonic): the newest one if it was,
        else one taken now. Workers asking at once share one snapshot (one list of
        sandboxes and one of containers per node, not one per Pod)."""
        with self._snap_lock:
            if self._snap is not None and self._snap_at > moment:
                return self._snap
            taken = time.monotonic()
            snap = self._snapshot()
            self._snap, self._snap_at = snap, taken
            return snap

    def actual(self, uid: str) -> PodActual:
        """What the runtime has of one Pod, from a shared recent snapshot.

        The snapshot is reused by the workers of one resync (a few list calls per
        node instead of a few per Pod) only if it was taken after this Pod's last
        sync ended, so a sync always sees what the previous one did.
        """
        with self._lock:
            done = self._done_at.get(uid, -1.0)
        moment = max(done, time.monotonic() - self.cfg.sync_period / 2)
        return self.snapshot_after(moment).get(uid, PodActual())

    def _snapshot(self) -> Dict[str, PodActual]:
        sandboxes: Dict[str, List[SandboxInfo]] = {}
        owner: Dict[str, str] = {}
        listed = [sandbox_info(sb) for sb in self.runtime.list_pod_sandboxes()]
        for uid, sb in listed:
            if sb.ready:
                net = self._sb_net.get(sb.id)
                if net is None or not net[0]:
                    try:
                        st = self.runtime.pod_sandbox_status(sb.id)
                        net = self._sb_net[sb.id] = (st["ip"], tuple(st["ips"]))
                    except K8snetError:
                        net = ("", ())
                sb = SandboxInfo(sb.id, sb.attempt, sb.ready, sb.created_at, net[0], net[1])
            sandboxes.setdefault(uid, []).append(sb)
            owner[sb.id] = uid
        ids = {sb.id for _uid, sb in listed}
        for sid in [k for k in self._sb_net if k not in ids]:
            self._sb_net.pop(sid, None)
        infos = container_snapshot(self.runtime, self.runtime.list_containers(), self._cache)
        for cid in [k for k in self._cache if k not in infos]:
            self._cache.pop(cid, None)
        self._cache.update(infos)
        containers: Dict[str, List[ContainerInfo]] = {}
        for info in infos.values():
            uid = owner.get(info.sandbox_id)
            if uid is not None:
                containers.setdefault(uid, []).append(info)
        return {uid: PodActual.of(sbs, containers.get(uid, []))
                for uid, sbs in sandboxes.items()}

    def observe(self, uid: str) -> PodActual:
        """The Pod as the runtime has it after what this sync just did."""
        return self.snapshot_after(time.monotonic()).get(uid, PodActual())

    def changed_pods(self, items: Dict[str, dict]) -> List[str]:
        """Informer listener: the uids of this node's Pods that changed or went away."""
        current = {p["metadata"]["uid"]: p for p in items.values()
                   if p.get("spec", {}).get("nodeName") == self.cfg.node.name}
        with self._lock:
            previous, self._pods = self._pods, current
        changed = [uid for uid, p in current.items()
                   if (previous.get(uid) or {}).get("metadata", {}).get("resourceVersion")
                   != p["metadata"].get("resourceVersion")]
        return changed + [uid for uid in previous if uid not in current]

    def all_pods(self) -> List[str]:
        """Resync keys (the relist): of the Pods the apiserver binds here or the runtime
        still has, those `due_for_sync`."""
        with self._lock:
            known = set(self._pods)
        snap = self.snapshot()
        with self._lock:
            for uid in [u for u in self._done_at if u not in known and u not in snap]:
                self._done_at.pop(uid, None)
                self._synced.pop(uid, None)
                self._failures.pop(uid, None)
            last = dict(self._synced)
        return due_for_sync(known, snap, last, time.monotonic())

    def sync_pod(self, uid: str) -> None:
        """Reconcile one Pod (the work queue guarantees one worker per Pod at a time).

        The containers of a Pod to be stopped with a grace period (it is being
        deleted, or the apiserver no longer has it) are stopped by a thread of its
        own, as each Pod has its own worker in the kubelet: grace periods overlap
        instead of holding the shared workers, however many Pods terminate at once.
        Until that thread is done the Pod is not synced again; then it is queued
        again and a worker does the rest (sandbox, removal, confirmation), so calls
        to the apiserver stay within the workers' number. (Driven without `run`, as
        tests do, every sync is inline.)
        """
        assert self.syncer is not None
        with self._lock:
            if uid in self._terminating:
                return
            pod = self._pods.get(uid)
        actual = self.actual(uid)
        if self._reconciler is not None and _graceful_teardown(pod, actual):
            with self._lock:
                self._terminating.add(uid)
            threading.Thread(target=self._terminate, args=(uid, pod, actual), daemon=True,
                             name=f"terminate-{uid[:8]}").start()
            return
        mem = self._mem.setdefault(uid, PodMemory())
        mem.settled = False
        forget, failed = False, True
        try:
            forget = self.syncer.sync(pod, uid, actual, mem)
            failed = False
            if forget:
                self._mem.pop(uid, None)
        finally:
            with self._lock:
                now = self._done_at[uid] = time.monotonic()
                failures = self._failures[uid] = self._failures.get(uid, 0) + 1 \
                    if failed else 0
                if forget:
                    self._synced.pop(uid, None)
                    self._failures.pop(uid, None)
                else:
                    # a failed sync is retried by the work queue's back-off; the relist
                    # leaves it alone until then (unless the runtime changes under it)
                    self._synced[uid] = (actual, now + sync_delay(
                        failures, mem.settled, self.cfg.quiet_resync))

    def _terminate(self, uid: str, pod: Optional[dict], actual: PodActual) -> None:
        """Stop one terminating Pod's containers, in its own thread; then queue it."""
        assert self.syncer is not None
        delay = 0.0
        try:
            self.syncer.stop_containers(pod, uid, actual, self._mem.setdefault(uid, PodMemory()))
        except Exception as exc:  # as the reconciler would: log, retry after a back-off
            delay = RETRY.base
            self.log.warning("kubelet %s: stopping pod: %s; retrying in %.1fs", uid, exc, delay)
        finally:
            with self._lock:
                self._terminating.discard(uid)
                self._done_at[uid] = time.monotonic()
            if self._reconciler is not None:
                self._reconciler.enqueue_after(uid, delay)

    def run(self, stop: threading.Event, on_ready: Optional[Callable[[], None]] = None) -> None:
        """Everything, until `stop` is set."""
        version = self.runtime.wait_ready(self.cfg.runtime_timeout)
        self.log.info("runtime %s %s on %s", version["runtime_name"],
                      version["runtime_version"], self.runtime.socket_path)
        self.cfg.node = replace(self.cfg.node,
                                runtime_version=f"k8snet://{version['runtime_version']}")
        self.register_with_retry(stop)
        threading.Thread(target=self.heartbeat, args=(stop,), daemon=True,
                         name="heartbeat").start()
        cidr = self.wait_pod_cidr(stop)
        if cidr is None:
            return
        if not ipaddress.ip_network(cidr).subnet_of(ipaddress.ip_network(self.cfg.cluster_cidr)):
            self.log.warning("podCIDR %s is outside --cluster-cidr %s", cidr,
                             self.cfg.cluster_cidr)
        path = self.write_cni(cidr)
        self.log.info("podCIDR %s; wrote %s (%s mode)", cidr, path, self.cfg.mode)
        self.network_ready.set()
        try:
            self.post_node_status()
        except ApiError as exc:
            self.log.warning("node status: %s", exc)
        self.pods = Informer(self.api, "pods", field_selector=f"spec.nodeName={self.cfg.node.name}",
                             log=self.log)
        reconciler = Reconciler("kubelet", self._reconcile, backoff=RETRY,
                                resync=self.cfg.sync_period, resync_keys=self.all_pods,
                                workers=self.cfg.workers, log=self.log)
        reconciler.watch(self.pods, keys=self.changed_pods)
        self._reconciler = reconciler
        self.pods.start(stop)
        if not self.pods.wait_synced(60):
            raise K8snetError(f"could not list the Pods of node {self.cfg.node.name} within 60s")
        recorder = EventRecorder(self.api, "kubelet", host=self.cfg.node.name, clock=self.clock,
                                 log=self.log, background=True)
        self.syncer = PodSyncer(self.api, self.runtime, recorder, self.cfg.node.ip,
                                self.cfg.root_dir, self.observe, self.cfg.backoff, self.clock,
                                self.log, inputs=PodInputs(
                                    self.api, self.cfg.root_dir, self.cfg.node.ip,
                                    cluster_dns=self.cfg.cluster_dns,
                                    cluster_domain=self.cfg.cluster_domain,
                                    objects=WatchedObjects(self.api, stop, log=self.log)))
        if on_ready is not None:
            on_ready()
        reconciler.run(stop)

    def _reconcile(self, uid: str) -> None:
        self.sync_pod(uid)


def sync_delay(failures: int, settled: bool, quiet_resync: float) -> float:
    """How long until the relist syncs a Pod again: after ``failures`` failed syncs in a
    row, the work queue's back-off (RETRY); a settled Pod, ``quiet_resync``; else at once."""
    if failures:
        return RETRY.delay(failures)
    return quiet_resync if settled else 0.0


def due_for_sync(known: Set[str], snapshot: Mapping[str, PodActual],
                 last: Mapping[str, Tuple[PodActual, float]], now: float) -> List[str]:
    """The Pods a relist queues: one the apiserver no longer has (to clean up), one
    never synced, one whose last sync asked to be synced again by now (``last``: uid
    -> what the runtime had then, and when), and one the runtime has changed since
    (a container exited, a sandbox went away)."""
    out = []
    for uid in sorted(known | set(snapshot)):
        seen = last.get(uid)
        if uid not in known or seen is None or now >= seen[1] \
                or snapshot.get(uid, PodActual()) != seen[0]:
            out.append(uid)
    return out


def _graceful_teardown(pod: Optional[dict], actual: PodActual) -> bool:
    """Will this sync stop live containers with a grace period (which may take that
    long)? A Pod being deleted, or one the apiserver no longer has."""
    if not any(is_live(c) for c in actual.containers):
        return False
    if pod is None:
        return True
    return bool(pod.get("metadata", {}).get("deletionTimestamp")) and grace_seconds(pod) > 0

