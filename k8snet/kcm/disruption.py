"""Disruption controller decisions: the status of PodDisruptionBudgets (policy/v1), pure.

As Kubernetes 1.32's disruption controller, for the Pods the budget selects (an empty
selector selects every Pod of its namespace):

- minAvailable as a number: expectedPods is the number of selected Pods and
  desiredHealthy the number given.
- minAvailable as a percentage, or maxUnavailable: expectedPods is the scale of the
  Pods' controllers (a ReplicaSet's owning Deployment, a ReplicaSet, a StatefulSet:
  their spec.replicas), desiredHealthy that percentage of it (rounded up), or it minus
  maxUnavailable (a percentage rounded up). Pods without a controller are left out
  (a Warning Event says so); a Pod whose controller is of another kind, or unknown,
  makes the budget allow nothing (condition reason SyncFailed).
- currentHealthy counts Ready Pods not being deleted and not recently evicted (in
  status.disruptedPods, forgotten after two minutes or once the Pod goes);
  disruptionsAllowed = max(0, currentHealthy - desiredHealthy).
- condition DisruptionAllowed: True SufficientPods, False InsufficientPods.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any, Optional

from k8snet.kcm.objects import controller_ref, meta, name_of, selector_matches, timestamp
from k8snet.machinery.conditions import is_ready
from k8snet.machinery.timefmt import format_time

DELETION_TIMEOUT = 120.0  # seconds an eviction stays in status.disruptedPods
UNMANAGED_MESSAGE = (
    "Pods selected by this PodDisruptionBudget (selector: {selector}) were found to be "
    "unmanaged. As a result, the status of the PDB cannot be calculated correctly, which "
    "may result in undefined behavior. To account for these pods please set "
    "\".spec.minAvailable\" field of the PDB to an integer value.")


@dataclass
class BudgetPlan:
    """The budget's new `status` and Warning `events` (reason, message)."""

    status: dict = field(default_factory=dict)
    events: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Scales:
    """The controllers Pods may belong to, by (namespace, name): spec.replicas, and for
    ReplicaSets the owning Deployment's name (or None)."""

    replicasets: dict[tuple[str, str], tuple[int, Optional[str]]] = field(default_factory=dict)
    deployments: dict[tuple[str, str], int] = field(default_factory=dict)
    statefulsets: dict[tuple[str, str], int] = field(default_factory=dict)

    @classmethod
    def of(cls, replicasets: list[dict], deployments: list[dict],
           statefulsets: list[dict]) -> Scales:
        def replicas(obj: dict) -> int:
            value = (obj.get("spec") or {}).get("replicas")
            return 1 if value is None else int(value)

        def key(obj: dict) -> tuple[str, str]:
            return meta(obj).get("namespace", ""), name_of(obj)

        out = cls()
        for rs in replicasets:
            ref = controller_ref(rs)
            owner = ref.get("name") if ref and ref.get("kind") == "Deployment" else None
            out.replicasets[key(rs)] = (replicas(rs), owner)
        out.deployments = {key(d): replicas(d) for d in deployments}
        out.statefulsets = {key(s): replicas(s) for s in statefulsets}
        return out


def _percent(value: Any) -> Optional[float]:
    if isinstance(value, str) and value.endswith("%"):
        try:
            return float(value[:-1])
        except ValueError:
            return None
    return None


def selected_pods(pdb: dict, pods: list[dict]) -> list[dict]:
    """The Pods of the budget's namespace its selector selects (none for a null one)."""
    selector = (pdb.get("spec") or {}).get("selector")
    if selector is None:
        return []
    ns = meta(pdb).get("namespace")
    return [p for p in pods if meta(p).get("namespace") == ns and
            selector_matches(selector, meta(p).get("labels"))]


def expected_scale(pods: list[dict], scales: Scales) -> tuple[Optional[int], int]:
    """(sum of the controllers' scales, or None when a controller cannot be found; how
    many Pods have no controller)."""
    seen: dict[tuple[str, str, str], int] = {}
    unmanaged = 0
    for pod in pods:
        ref = controller_ref(pod)
        if ref is None:
            unmanaged += 1
            continue
        ns, name, kind = meta(pod).get("namespace", ""), ref.get("name", ""), ref.get("kind")
        if kind == "ReplicaSet" and (ns, name) in scales.replicasets:
            replicas, deployment = scales.replicasets[(ns, name)]
            if deployment is not None:
                if (ns, deployment) not in scales.deployments:
                    return None, unmanaged
                seen[("Deployment", ns, deployment)] = scales.deployments[(ns, deployment)]
            else:
                seen[("ReplicaSet", ns, name)] = replicas
        elif kind == "StatefulSet" and (ns, name) in scales.statefulsets:
            seen[("StatefulSet", ns, name)] = scales.statefulsets[(ns, name)]
        else:
            return None, unmanaged
    return sum(seen.values()), unmanaged


def _disrupted(pdb: dict, pods: list[dict], now: dt.datetime) -> dict[str, str]:
    """status.disruptedPods still in force: the Pod is there, not being deleted, and the
    eviction is less than DELETION_TIMEOUT old."""
    old = (pdb.get("status") or {}).get("disruptedPods") or {}
    alive = {name_of(p) for p in pods if not meta(p).get("deletionTimestamp")}
    return {name: at for name, at in old.items()
            if name in alive and timestamp(at) + DELETION_TIMEOUT > now.timestamp()}


def _condition(old: dict, allowed: bool, reason: str, message: str, now: dt.datetime,
               generation: int) -> dict:
    previous = next((c for c in old.get("conditions") or []
                     if c.get("type") == "DisruptionAllowed"), None)
    status = "True" if allowed else "False"
    since = previous.get("lastTransitionTime") if previous and \
        previous.get("status") == status else format_time(now)
    return {"type": "DisruptionAllowed", "status": status, "reason": reason,
            "message": message, "lastTransitionTime": since, "observedGeneration": generation}


def budget_status(pdb: dict, pods: list[dict], scales: Scales, now: dt.datetime
                  ) -> BudgetPlan:
    """The budget's status from the Pods it selects and their controllers' scales."""
    plan = BudgetPlan()
    spec, old = pdb.get("spec") or {}, pdb.get("status") or {}
    generation = int(meta(pdb).get("generation") or 1)
    chosen = selected_pods(pdb, pods)
    min_available, max_unavailable = spec.get("minAvailable"), spec.get("maxUnavailable")
    expected: Optional[int]
    if min_available is not None and _percent(min_available) is None:
        expected, desired = len(chosen), int(min_available)
    else:
        expected, unmanaged = expected_scale(chosen, scales)
        if unmanaged:
            selector = (spec.get("selector") or {})
            plan.events.append(("UnmanagedPods", UNMANAGED_MESSAGE.format(selector=selector)))
        if expected is None:
            desired = 0
        elif min_available is not None:
            desired = math.ceil((_percent(min_available) or 0) * expected / 100)
        else:
            pct = _percent(max_unavailable)
            most = math.ceil(pct * expected / 100) if pct is not None else \
                int(max_unavailable or 0)
            desired = max(0, expected - most)
    disrupted = _disrupted(pdb, chosen, now)
    healthy = sum(1 for p in chosen if is_ready(p) and not meta(p).get("deletionTimestamp")
                  and name_of(p) not in disrupted)
    if expected is None:
        allowed, reason = 0, "SyncFailed"
        message = "found no controllers for pods selected by the PodDisruptionBudget"
        expected = 0
    else:
        allowed = max(0, healthy - desired)
        reason = "SufficientPods" if allowed > 0 else "InsufficientPods"
        message = ""
    status = {"currentHealthy": healthy, "desiredHealthy": desired, "expectedPods": expected,
              "disruptionsAllowed": allowed, "observedGeneration": generation,
              "conditions": [_condition(old, allowed > 0, reason, message, now, generation)]}
    if disrupted:
        status["disruptedPods"] = disrupted
    plan.status = status
    return plan


def next_expiry(pdb: dict, now: dt.datetime) -> Optional[float]:
    """Seconds until the oldest entry of status.disruptedPods expires (None: none)."""
    times = [timestamp(at) for at in ((pdb.get("status") or {}).get("disruptedPods") or {})
             .values()]
    if not times:
        return None
    return max(0.0, min(times) + DELETION_TIMEOUT - now.timestamp())
