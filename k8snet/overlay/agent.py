"""The overlay agent's loop: watch Nodes, reconcile the VXLAN device, publish our VTEP.

Level-triggered: every round plans from the full Node list and diffs against
what the kernel has now, so a restart, a missed event or an entry someone
deleted by hand is repaired by the next round. Rounds run on the machinery's
Reconciler (one key) when the overlay facts of any Node change (name, podCIDR,
VTEP annotations) and every ``resync`` seconds; a round with failed operations
is retried with exponential back-off.
"""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Optional, Tuple

from k8snet.errors import K8snetError
from k8snet.machinery.client import ApiClient, ApiError
from k8snet.machinery.informer import Informer
from k8snet.machinery.reconciler import ALL, Backoff, Reconciler
from k8snet.overlay import observe
from k8snet.overlay.diff import Op, diff
from k8snet.overlay.model import DEVICE, IP_ANNOTATION, MAC_ANNOTATION, Observed, Plan
from k8snet.overlay.plan import annotations_to_publish, make_plan, node_pod_cidr

BRIDGE_NF_CALL = "/proc/sys/net/bridge/bridge-nf-call-iptables"
OP_TIMEOUT = 10.0
RETRY = Backoff(base=1.0, cap=30.0)


def overlay_facts(items: Iterable[dict]) -> Tuple:
    """What of the Node list matters to the overlay (a change here triggers a round)."""
    facts = []
    for node in items:
        meta = node.get("metadata") or {}
        notes = meta.get("annotations") or {}
        facts.append((meta.get("name"), node_pod_cidr(node), notes.get(MAC_ANNOTATION),
                      notes.get(IP_ANNOTATION)))
    return tuple(sorted(facts, key=lambda f: str(f[0])))


def run_op(op: Op) -> Optional[str]:
    """Do one operation; None, or the error text."""
    try:
        proc = subprocess.run(list(op.argv), capture_output=True, text=True,
                              timeout=OP_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        return f"no answer within {OP_TIMEOUT:g}s"
    return None if proc.returncode == 0 else (proc.stderr.strip() or f"exit {proc.returncode}")


@dataclass
class RoundResult:
    ops: List[Op] = field(default_factory=list)
    errors: List[str] = field(default_factory=list)
    published: Dict[str, str] = field(default_factory=dict)


class OverlayAgent:
    """Keeps this node's VXLAN device in line with the Node list."""

    def __init__(self, api: ApiClient, node_name: str, node_ip: str, uplink_mtu: int,
                 device: str = DEVICE, resync: float = 10.0,
                 read: Callable[[str], Observed] = observe.read,
                 act: Callable[[Op], Optional[str]] = run_op,
                 clock: Callable[[], float] = time.monotonic,
                 log: Optional[logging.Logger] = None):
        self.api = api
        self.node_name = node_name
        self.node_ip = node_ip
        self.uplink_mtu = uplink_mtu
        self.device = device
        self.resync = resync
        self.read = read
        self.act = act
        self.log = log or logging.getLogger("k8snet.overlay")
        self.reconciler = Reconciler("overlay", self._reconcile, clock=clock, backoff=RETRY,
                                     resync=resync, log=self.log)
        self.nodes: Optional[Informer] = None
        self.on_synced: Optional[Callable[[], None]] = None
        self._synced = False
        self._facts: Optional[Tuple] = None
        self._skipped: Tuple[str, ...] = ()

    def on_nodes(self, items: Dict[str, dict]) -> List[str]:
        """Informer listener: a round only when overlay facts changed."""
        facts = overlay_facts(items.values())
        if facts == self._facts:
            return []
        self._facts = facts
        return [ALL]

    def round(self, nodes: List[dict]) -> RoundResult:
        """One reconcile: plan, diff against the kernel, apply, publish."""
        plan = make_plan(nodes, self.node_name, self.node_ip, self.uplink_mtu, self.device)
        self._note_skipped(plan)
        result = RoundResult(ops=diff(plan, self.read(self.device)))
        for op in result.ops:
            err = self.act(op)
            if err is None:
                self.log.info("%s", op.what)
            else:
                result.errors.append(f"{op.what}: {err}")
                self.log.warning("%s failed: %s", op.what, err)
        own = next((n for n in nodes if n["metadata"]["name"] == self.node_name), None)
        result.published = self.publish(own, plan)
        return result

    def publish(self, own: Optional[dict], plan: Plan) -> Dict[str, str]:
        """Patch our VTEP annotations onto our Node when they differ."""
        patch = annotations_to_publish(own, plan)
        if patch:
            try:
                self.api.patch("nodes", self.node_name, {"metadata": {"annotations": patch}})
                self.log.info("published %s", ", ".join(f"{k}={v}" for k, v in patch.items()))
            except ApiError as exc:
                self.log.warning("could not publish the VTEP on node %s: %s",
                                 self.node_name, exc)
                return {}
        return patch

    def _note_skipped(self, plan: Plan) -> None:
        if plan.skipped != self._skipped:
            for why in plan.skipped:
                self.log.info("not programmed: %s", why)
            self._skipped = plan.skipped

    def run(self, stop: threading.Event, on_synced: Optional[Callable[[], None]] = None,
            sync_timeout: float = 120.0) -> None:
        """Watch Nodes and reconcile until ``stop`` is set; `on_synced` after the first
        round without errors. K8snetError if Nodes cannot be listed within `sync_timeout`."""
        self.on_synced = on_synced
        self.nodes = Informer(self.api, "nodes", log=self.log, resync_seconds=300.0)
        self.reconciler.watch(self.nodes, keys=self.on_nodes)
        self.nodes.start(stop)
        self.reconciler.run(stop, sync_timeout=sync_timeout)

    def _reconcile(self, _key: str) -> None:
        assert self.nodes is not None
        result = self.round(list(self.nodes.snapshot().values()))
        if result.errors:
            raise K8snetError(f"{len(result.errors)} operation(s) failed: "
                              f"{'; '.join(result.errors)}")
        if not self._synced:
            self._synced = True
            if self.on_synced is not None:
                self.on_synced()


def set_bridge_nf_call(path: str = BRIDGE_NF_CALL) -> Optional[str]:
    """Let bridged Pod traffic through iptables (kube-proxy's Service NAT needs it
    for a Pod reaching a Service endpoint on its own bridge). None, or why not."""
    try:
        with open(path, "w", encoding="ascii") as fh:
            fh.write("1\n")
    except OSError as exc:
        return (f"cannot set {path} ({exc.strerror}): br_netfilter missing? A Pod reaching a "
                "ClusterIP whose endpoint is on its own node will not get answers")
    return None


def set_masquerade(cluster_cidr: str, keep: Iterable[str] = ()) -> Optional[str]:
    """Install the masquerade of Pod traffic leaving the cluster (see
    plan.masquerade_rules), idempotently. None, or why it failed."""
    from k8snet.overlay.plan import masquerade_hook, masquerade_rules
    try:
        proc = subprocess.run(["iptables-restore", "--noflush"],
                              input=masquerade_rules(cluster_cidr, keep), text=True,
                              capture_output=True, timeout=OP_TIMEOUT, check=False)
        if proc.returncode != 0:
            return f"iptables-restore: {proc.stderr.strip()}"
        hook = masquerade_hook(cluster_cidr)
        if subprocess.run(["iptables", "-t", "nat", "-C", "POSTROUTING", *hook],
                          capture_output=True, timeout=OP_TIMEOUT, check=False).returncode:
            proc = subprocess.run(["iptables", "-t", "nat", "-A", "POSTROUTING", *hook],
                                  capture_output=True, text=True, timeout=OP_TIMEOUT,
                                  check=False)
            if proc.returncode != 0:
                return f"iptables: {proc.stderr.strip()}"
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    return None
