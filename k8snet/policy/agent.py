"""The policy agent's loop: watch NetworkPolicies, Pods and Namespaces; render; apply.

Level-triggered on the machinery's Reconciler with one key, like kube-proxy:
every change queues a sync shortly after (a burst becomes one), which
compiles the node's rules from the caches and applies them with one `nft -f`
when the script differs from the last one applied; a full resync re-applies
regardless. `plan_node` is the pure part: objects in, script out.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional

from k8snet.errors import K8snetError, UsageError
from k8snet.machinery.reconciler import ALL, Backoff, Reconciler
from k8snet.policy import render_ipt, render_nft
from k8snet.policy.compile import compile_node, is_isolated
from k8snet.policy.model import (
    PodFacts,
    namespace_labels,
    parse_pod,
    parse_policies,
    pod_is_live,
)
from k8snet.proxy.apply import run_command

RETRY = Backoff(base=0.5, cap=15.0)
STATUS_EVERY = 0.5   # seconds between status files that differ only in versions


@dataclass(frozen=True)
class NodePlan:
    script: str
    pods: int            # local Pods with rules
    rules: int
    pending: tuple[str, ...] = ()   # isolated local Pods without an address yet
    skipped: tuple[str, ...] = ()   # policies that did not parse (and why)


BACKENDS = ("nftables", "iptables")


def plan_node(node: str, cluster_cidr: str, policies: Iterable[dict], pods: Iterable[dict],
              namespaces: Iterable[dict], backend: str = "nftables",
              parse: Callable[[dict], PodFacts] = parse_pod) -> NodePlan:
    """The nft script (or iptables-restore body) for ``node`` from the apiserver's objects
    (``parse``: parse_pod, or a memo of it)."""
    parsed, skipped = parse_policies(policies)
    # no policy, no rule: what Pods exist does not change the script (at 1,000 Pods on 50
    # nodes, reading them all after every Pod change was the agents' whole cost)
    facts = [parse(p) for p in pods if pod_is_live(p)] if parsed else []
    ns = namespace_labels(namespaces)
    compiled = compile_node(node, parsed, facts, ns)
    pending = tuple(sorted(p.key for p in facts if p.node == node and not p.ip
                           and not p.host_network and is_isolated(p, parsed)))
    view = render_nft.NodeView(cluster_cidr=cluster_cidr,
                               known_ips=tuple(p.ip for p in facts if p.ip and not p.host_network),
                               pending=bool(pending))
    renderer = render_ipt if backend == "iptables" else render_nft
    script = renderer.render(compiled, view)
    return NodePlan(script, len(compiled), renderer.rule_count(script), pending,
                    tuple(skipped))


class NftApplier:
    """Applies a script with `nft -f` in this namespace (or ``netns``, for tests)."""

    mode = "nftables"

    def __init__(self, netns: Optional[str] = None, runner=run_command):
        self.netns = netns
        self.runner = runner

    def _run(self, argv: list[str], stdin: Optional[str] = None) -> None:
        full = ["ip", "netns", "exec", self.netns, *argv] if self.netns else argv
        result = self.runner(full, stdin)
        if result.returncode != 0:
            raise K8snetError(f"nft failed (exit {result.returncode}): "
                              f"{(result.stderr or result.stdout).strip()[:500]}")

    def apply(self, script: str) -> None:
        self._run(["nft", "-f", "-"], script)

    def cleanup(self) -> None:
        self._run(["nft", "-f", "-"], render_nft.cleanup_script())


class IptablesApplier(NftApplier):
    """Applies a body from render_ipt with one `iptables-restore --noflush` (after reading
    the filter table, to delete chains of Pods that left and keep our jumps first)."""

    mode = "iptables"

    def _save(self) -> str:
        full = ["iptables-save", "-t", "filter"]
        result = self.runner(["ip", "netns", "exec", self.netns, *full] if self.netns else full,
                             None)
        if result.returncode != 0:
            raise K8snetError(f"iptables-save failed: {(result.stderr or '').strip()[:300]}")
        return result.stdout

    def apply(self, script: str) -> None:
        self._run(["iptables-restore", "-w", "5", "--noflush"],
                  render_ipt.restore_input(script, self._save()))

    def cleanup(self) -> None:
        text = render_ipt.cleanup_input(self._save())
        if text:
            self._run(["iptables-restore", "-w", "5", "--noflush"], text)


def applier_for(backend: str, netns: Optional[str] = None, runner=run_command) -> NftApplier:
    if backend not in BACKENDS:
        raise UsageError(f"--backend {backend!r}: give one of {', '.join(BACKENDS)}")
    return (IptablesApplier if backend == "iptables" else NftApplier)(netns, runner)


class PodFactsMemo:
    """parse_pod once per Pod version: every sync reads every Pod of the cluster, and
    at scale most of them have not changed since the last one."""

    def __init__(self) -> None:
        self._seen: dict[tuple, PodFacts] = {}
        self._used: dict[tuple, PodFacts] = {}

    def __call__(self, obj: dict) -> PodFacts:
        meta = obj.get("metadata") or {}
        version = meta.get("resourceVersion")
        if not version:
            return parse_pod(obj)
        key = (meta.get("namespace"), meta.get("name"), meta.get("uid"), version)
        facts = self._seen.get(key)
        if facts is None:
            facts = parse_pod(obj)
        self._used[key] = facts
        return facts

    def forget_unused(self) -> None:
        """Keep only the versions the last plan read (call after each plan)."""
        self._seen, self._used = self._used, {}


@dataclass
class AgentStats:
    syncs: int = 0
    failures: int = 0
    last_apply_seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)


class PolicyAgent:
    """Keeps one node's policy rules in step with the apiserver."""

    def __init__(self, applier, node: str, cluster_cidr: str, sync_period: float = 60.0,
                 min_interval: float = 0.02, clock: Callable[[], float] = time.monotonic,
                 log: Optional[logging.Logger] = None, ready_file: Optional[str] = None,
                 status_file: Optional[str] = None, wall: Callable[[], float] = time.time):
        self.applier = applier
        self.node = node
        self.cluster_cidr = cluster_cidr
        self.min_interval = min_interval
        self.clock = clock
        self.ready_file = ready_file
        self.status_file = status_file
        self.wall = wall
        self._versions: dict[str, str] = {}
        self._status: Optional[dict] = None
        self._status_at = float("-inf")
        self.log = log or logging.getLogger("k8snet.policy")
        self.stats = AgentStats()
        self._lock = threading.Lock()
        self._caches: dict[str, Optional[dict]] = {"networkpolicies": None, "pods": None,
                                                   "namespaces": None}
        self._pending_since: Optional[float] = None
        self._applied: Optional[str] = None
        self._facts = PodFactsMemo()
        # set by watch_pods_on_demand: called once, when the first policy appears
        self._start_pods: Optional[Callable[[], None]] = None
        self._lazy_pods = False
        self.reconciler = Reconciler("policy-agent", self._reconcile, clock=clock,
                                     backoff=RETRY, resync=sync_period, log=self.log)

    def on_change(self, resource: str,
                  version: Callable[[], Optional[str]] = lambda: None) -> Callable[[dict], None]:
        """The Informer callback for one resource; ``version`` reads the informer's
        resourceVersion (reported in the status file, so a client that wrote an object
        can wait until every agent has enforced what it wrote)."""
        def changed(items: dict) -> None:
            start = None
            with self._lock:
                self._caches[resource] = items
                rv = version()
                if rv:
                    self._versions[resource] = rv
                if self._pending_since is None:
                    self._pending_since = self.clock()
                if resource == "networkpolicies" and items and self._start_pods is not None:
                    start, self._start_pods = self._start_pods, None
            if start is not None:
                self.log.info("a NetworkPolicy exists: watching Pods")
                start()
            self.reconciler.enqueue_after(ALL, self.min_interval)
        return changed

    def watch_pods_on_demand(self, start: Callable[[], None]) -> None:
        """Watch Pods only once a NetworkPolicy exists (``start`` starts the informer).

        With no policy, what Pods exist changes no rule (plan_node reads none), and 50
        agents each following every Pod event of a 1,000-Pod cluster were the largest
        share of the apiserver's watch traffic. Until the Pods are listed, a new policy
        waits (the rules in force stay), as it does for an agent just started."""
        with self._lock:
            self._lazy_pods = True
            self._start_pods = start
            policies = self._caches["networkpolicies"]
        if policies:
            self.on_change("networkpolicies")(policies)

    def _inputs(self) -> Optional[dict[str, dict]]:
        """The caches to plan from (under _lock), or None while one is missing. Pods not
        watched yet (on demand, no policy) count as none."""
        caches = dict(self._caches)
        if caches["networkpolicies"] is None or caches["namespaces"] is None:
            return None
        if caches["pods"] is None:
            if not self._lazy_pods or caches["networkpolicies"]:
                return None
            caches["pods"] = {}
        return caches

    def run(self, stop: threading.Event) -> None:
        self.reconciler.run(stop)

    def _reconcile(self, _key: str) -> None:
        if not self.sync_once() and self.ready():
            raise K8snetError("rules not applied")

    def ready(self) -> bool:
        with self._lock:
            return self._inputs() is not None

    def sync_once(self) -> bool:
        """Render and apply when the script changed. True when the kernel has it."""
        with self._lock:
            caches = self._inputs()
            if caches is None:
                return False
            versions = dict(self._versions)
            pending, self._pending_since = self._pending_since, None
        plan = plan_node(self.node, self.cluster_cidr, caches["networkpolicies"].values(),
                         caches["pods"].values(), caches["namespaces"].values(),
                         getattr(self.applier, "mode", "nftables"), self._facts)
        self._facts.forget_unused()
        for reason in plan.skipped:
            self.log.warning("policy skipped: %s", reason)
        if plan.script == self._applied:
            self._write_status(plan, versions, caches["networkpolicies"])
            return True
        started = self.clock()
        try:
            self.applier.apply(plan.script)
        except K8snetError as exc:
            self.stats.failures += 1
            self.log.error("apply failed: %s; will retry", exc)
            with self._lock:
                self._pending_since = pending
            return False
        self._applied = plan.script
        self.stats.syncs += 1
        self.stats.last_apply_seconds = self.clock() - started
        latency = self.clock() - pending if pending is not None else 0.0
        self.stats.latencies.append(latency)
        self.log.info("applied %d rules for %d Pods in %.1f ms (change to rules %.1f ms)%s",
                      plan.rules, plan.pods, self.stats.last_apply_seconds * 1000,
                      latency * 1000,
                      f"; isolation pending for {', '.join(plan.pending)}" if plan.pending
                      else "")
        self._write_status(plan, versions, caches["networkpolicies"])
        if self.ready_file and self.stats.syncs == 1:
            with open(self.ready_file, "w", encoding="utf-8") as fh:
                fh.write("ready\n")
        return True

    def _write_status(self, plan: NodePlan, versions: dict[str, str],
                      policies: dict[str, dict]) -> None:
        """What the kernel now enforces: which policies at which resourceVersion, and
        the informers' resourceVersions (written by atomic rename)."""
        status = {"node": self.node, "versions": versions, "rules": plan.rules,
                  "pods": plan.pods, "pending": list(plan.pending),
                  "policies": {k: (v.get("metadata") or {}).get("resourceVersion")
                               for k, v in sorted(policies.items())}}
        if not self.status_file or status == self._status:
            return
        # only the informers' versions moved (Pods coming and going elsewhere): write at
        # most every STATUS_EVERY seconds, and look again then so the last ones land
        # (50 agents rewrote their file after every Pod event of the cluster)
        same_rules = self._status is not None and all(
            status[k] == self._status[k] for k in status if k != "versions")
        now = self.clock()
        if same_rules and now - self._status_at < STATUS_EVERY:
            self.reconciler.enqueue_after(ALL, STATUS_EVERY)
            return
        self._status, self._status_at = status, now
        tmp = self.status_file + ".tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump({**status, "applied_at": self.wall()}, fh)
        os.replace(tmp, self.status_file)


def read_status(path: str) -> Optional[dict]:
    """An agent's status file, or None when it has not written one yet."""
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (FileNotFoundError, ValueError):
        return None


def enforced_since(status: Optional[dict], resource: str, version: str) -> bool:
    """Whether an agent's status shows it enforcing ``resource`` as of ``version``
    (resourceVersions compare as numbers, as this apiserver issues them)."""
    if not status:
        return False
    seen = (status.get("versions") or {}).get(resource)
    if seen is None and resource == "pods" and not status.get("policies"):
        return True   # no policy in force: Pods change nothing (and are not watched)
    try:
        return seen is not None and int(seen) >= int(version)
    except ValueError:
        return seen == version


def drop_counters(nft_json: str) -> dict[tuple[str, str], int]:
    """(chain, comment) -> packets of every counted drop rule, from
    `nft -j list table ip k8snet-policy`: where denied packets died."""
    out: dict[tuple[str, str], int] = {}
    if not nft_json.strip():
        return out
    for item in json.loads(nft_json).get("nftables", []):
        rule = item.get("rule")
        if not rule:
            continue
        exprs = rule.get("expr") or []
        packets = next((e["counter"].get("packets", 0) for e in exprs if "counter" in e), None)
        if packets is not None and any("drop" in e for e in exprs):
            out[(rule["chain"], rule.get("comment", ""))] = packets
    return out


def counter_deltas(before: dict, after: dict) -> dict[tuple[str, str], int]:
    """The drop rules that counted packets between two snapshots."""
    return {k: v - before.get(k, 0) for k, v in after.items() if v > before.get(k, 0)}
