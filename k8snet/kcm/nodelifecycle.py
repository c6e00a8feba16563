"""Node lifecycle decisions: a Lease not renewed for the grace period makes the Node
Ready=Unknown with the unreachable NoExecute taint; its Pods are evicted after the
eviction timeout unless they tolerate the taint; a renewed Lease lifts the taint.

Health is judged by when *this controller* saw the Lease's renewTime change (on
its own clock), as Kubernetes does, so clock skew between nodes does not matter.

`--pod-eviction-timeout` also caps a toleration's tolerationSeconds: Pod admission
gives every Pod a 300 s toleration of unreachable/not-ready, which would make an
emulated node failure take five minutes to show.

Any other NoExecute taint (`kubectl taint node n key=value:NoExecute`) works as
upstream's taint eviction: a Pod that does not tolerate it is evicted at once, one
that tolerates it for tolerationSeconds that long after the taint's timeAdded (or,
without one, after the controller first saw the taint), one that tolerates it
without tolerationSeconds stays.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Optional

from k8snet.kcm.objects import is_active_pod, meta
from k8snet.machinery.conditions import condition, status_of
from k8snet.machinery.timefmt import format_time, parse_time
from k8snet.scheduler.matching import toleration_matches

UNREACHABLE = "node.kubernetes.io/unreachable"
NOT_READY = "node.kubernetes.io/not-ready"


@dataclass(frozen=True)
class NodeHealth:
    """What the controller remembers of a Node's heartbeat: the Lease's renewTime and
    the Ready condition's lastHeartbeatTime (the kubelet posting status counts too)."""

    renew_time: Optional[tuple]
    observed_at: dt.datetime


@dataclass
class NodePlan:
    """Changes for one Node and the Pods on it."""

    ready_unknown: bool = False
    add_taints: list[dict] = field(default_factory=list)
    remove_taints: list[str] = field(default_factory=list)
    evict: list[str] = field(default_factory=list)   # "namespace/name"


def observe(previous: Optional[NodeHealth], lease: Optional[dict],
            now: dt.datetime, node: Optional[dict] = None) -> NodeHealth:
    """Update the memory: a changed renewTime (or status heartbeat) is a heartbeat seen now."""
    renew = ((lease or {}).get("spec") or {}).get("renewTime")
    posted = None
    ready = condition(node, "Ready")
    if ready and ready.get("reason") != "NodeStatusUnknown":
        posted = ready.get("lastHeartbeatTime")
    signal = (renew, posted)
    if previous is None or signal != previous.renew_time:
        return NodeHealth(signal, now)
    return previous


def _taints(key: str, now: dt.datetime) -> list[dict]:
    """The NoSchedule taint (keeps new Pods away) and the NoExecute one (evicts)."""
    return [{"key": key, "effect": "NoSchedule"},
            {"key": key, "effect": "NoExecute", "timeAdded": format_time(now)}]


def eviction_delay(pod: dict, taint: dict, timeout: float) -> Optional[float]:
    """Seconds after the taint's timeAdded that the Pod goes (None: it stays). The node
    condition taints (unreachable, not-ready) wait at most `timeout`, and that long for
    a Pod that does not tolerate them; other taints evict such a Pod at once."""
    condition_taint = taint.get("key") in (UNREACHABLE, NOT_READY)
    matching = [t for t in (pod.get("spec") or {}).get("tolerations") or []
                if toleration_matches(t, taint)]
    if not matching:
        return timeout if condition_taint else 0.0
    limits = [t.get("tolerationSeconds") for t in matching]
    if any(limit is None for limit in limits):
        return None
    delay = max(0.0, float(min(limits)))
    return min(timeout, delay) if condition_taint else delay


def taint_key(taint: dict) -> str:
    return f"{taint.get('key')}={taint.get('value', '')}:{taint.get('effect')}"


def decide_node(node: dict, health: NodeHealth, pods: list[dict], now: dt.datetime,
                grace: float, eviction_timeout: float,
                taints_seen: Optional[dict[str, dt.datetime]] = None) -> NodePlan:
    """What to do for `node` at `now`, given its heartbeat memory and the Pods bound to it;
    `taints_seen` (taint_key -> when first seen) dates taints without timeAdded."""
    plan = NodePlan()
    taints = (node.get("spec") or {}).get("taints") or []
    have = {t.get("key") for t in taints if t.get("effect") == "NoExecute"}
    stale = (now - health.observed_at).total_seconds() > grace
    ready = status_of(node, "Ready")
    if stale:
        plan.ready_unknown = ready != "Unknown"
        if UNREACHABLE not in have:
            plan.add_taints.extend(_taints(UNREACHABLE, now))
    elif UNREACHABLE in have:
        plan.remove_taints.append(UNREACHABLE)
    if not stale and ready == "False" and NOT_READY not in have:
        plan.add_taints.extend(_taints(NOT_READY, now))
    if NOT_READY in have and (stale or ready == "True"):
        plan.remove_taints.append(NOT_READY)
    active = [t for t in taints if t.get("effect") == "NoExecute"
              and t.get("key") not in plan.remove_taints]
    for pod in pods:
        if not is_active_pod(pod):
            continue
        for taint in active:
            delay = eviction_delay(pod, taint, eviction_timeout)
            added = parse_time(taint.get("timeAdded")) or \
                (taints_seen or {}).get(taint_key(taint)) or health.observed_at
            if delay is not None and now >= added + dt.timedelta(seconds=delay):
                plan.evict.append(f"{meta(pod).get('namespace')}/{meta(pod).get('name')}")
                break
    return plan


def unknown_conditions(node: dict, now: dt.datetime) -> list[dict]:
    """The Node's conditions with Ready (and pressure conditions) set to Unknown."""
    stamp = format_time(now)
    result = []
    for cond in (node.get("status") or {}).get("conditions") or []:
        cond = dict(cond)
        if cond.get("status") != "Unknown":
            cond.update(status="Unknown", reason="NodeStatusUnknown",
                        message="Kubelet stopped posting node status.",
                        lastTransitionTime=stamp)
        result.append(cond)
    if not any(c.get("type") == "Ready" for c in result):
        result.append({"type": "Ready", "status": "Unknown", "reason": "NodeStatusNeverUpdated",
                       "message": "Kubelet never posted node status.",
                       "lastTransitionTime": stamp, "lastHeartbeatTime": stamp})
    return result
