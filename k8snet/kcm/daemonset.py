"""DaemonSet controller decisions: one Pod on every eligible Node, rolling updates, status.

As Kubernetes 1.32's daemon controller:

- A Node is eligible when the Pod template (with the tolerations every daemon Pod
  gets: not-ready and unreachable NoExecute; disk-, memory-, pid-pressure and
  unschedulable NoSchedule; network-unavailable for hostNetwork Pods) matches its
  labels (nodeSelector, required node affinity) and tolerates its NoSchedule and
  NoExecute taints. A Pod already there stays while its NoExecute taints are
  tolerated.
- Pods are created with required node affinity on `metadata.name` (matchFields) for
  their Node: the scheduler binds them. They carry the controller-revision-hash of
  the template (a ControllerRevision, see `history`) and pod-template-generation.
- RollingUpdate replaces old Pods node by node: with maxSurge 0 an old Pod is
  deleted (old unavailable ones at once, available ones within maxUnavailable) and
  its replacement created; with maxSurge a new Pod starts beside the old one, which
  goes once the new one is available. OnDelete replaces only Pods someone deleted.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any, Optional

from k8snet.kcm.history import HASH_LABEL
from k8snet.kcm.objects import (
    is_pod_available,
    is_terminating,
    meta,
    name_of,
    owned_by,
    owner_reference,
    timestamp,
)
from k8snet.machinery.conditions import is_ready
from k8snet.scheduler.matching import node_matches_pod, tolerated

GENERATION_LABEL = "pod-template-generation"
BURST = 500

DAEMON_TOLERATIONS = (
    ("node.kubernetes.io/not-ready", "NoExecute"),
    ("node.kubernetes.io/unreachable", "NoExecute"),
    ("node.kubernetes.io/disk-pressure", "NoSchedule"),
    ("node.kubernetes.io/memory-pressure", "NoSchedule"),
    ("node.kubernetes.io/pid-pressure", "NoSchedule"),
    ("node.kubernetes.io/unschedulable", "NoSchedule"),
)
NETWORK_UNAVAILABLE = ("node.kubernetes.io/network-unavailable", "NoSchedule")


@dataclass
class DaemonSetPlan:
    """Pods to `create` (one per Node name listed), Pods to `delete`, the `status`."""

    create: list[str] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    status: dict = field(default_factory=dict)


def _spec(ds: dict) -> dict:
    return ds.get("spec") or {}


def with_daemon_tolerations(pod_spec: dict) -> dict:
    """The Pod spec with the tolerations every daemon Pod gets (existing ones kept)."""
    spec = copy.deepcopy(pod_spec)
    tolerations = spec.setdefault("tolerations", [])
    wanted = list(DAEMON_TOLERATIONS)
    if spec.get("hostNetwork"):
        wanted.append(NETWORK_UNAVAILABLE)
    for key, effect in wanted:
        if not any(t.get("key") == key and t.get("effect") == effect
                   and t.get("operator") == "Exists" for t in tolerations):
            tolerations.append({"key": key, "operator": "Exists", "effect": effect})
    return spec


def node_placement(ds: dict, node: dict) -> tuple[bool, bool]:
    """(should run, may keep running) a daemon Pod on `node`."""
    template_spec = with_daemon_tolerations((_spec(ds).get("template") or {}).get("spec") or {})
    pod = {"spec": template_spec}
    if not node_matches_pod(pod, node):
        return False, False
    taints = (node.get("spec") or {}).get("taints") or []
    no_execute = [t for t in taints if t.get("effect") == "NoExecute"]
    no_schedule = [t for t in taints if t.get("effect") == "NoSchedule"]
    keep = all(tolerated(pod, t) for t in no_execute)
    return keep and all(tolerated(pod, t) for t in no_schedule), keep


def target_node(pod: dict) -> Optional[str]:
    """The Node a daemon Pod is for: spec.nodeName, else its matchFields metadata.name."""
    spec = pod.get("spec") or {}
    if spec.get("nodeName"):
        return spec["nodeName"]
    affinity = (spec.get("affinity") or {}).get("nodeAffinity") or {}
    required = affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or {}
    for term in required.get("nodeSelectorTerms") or []:
        for f in term.get("matchFields") or []:
            if f.get("key") == "metadata.name" and f.get("operator") == "In" \
                    and len(f.get("values") or []) == 1:
                return f["values"][0]
    return None


def pod_for_node(ds: dict, node: str, revision_hash: str) -> dict:
    """A new daemon Pod for `node` from the DaemonSet's template."""
    template = copy.deepcopy(_spec(ds).get("template") or {})
    tmeta = template.get("metadata") or {}
    spec = with_daemon_tolerations(template.get("spec") or {})
    affinity = spec.setdefault("affinity", {})
    node_affinity = affinity.setdefault("nodeAffinity", {})
    node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {"nodeSelectorTerms": [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}]}
    labels = dict(tmeta.get("labels") or {}, **{
        HASH_LABEL: revision_hash, GENERATION_LABEL: str(meta(ds).get("generation", 1))})
    pod_meta: dict[str, Any] = {
        "generateName": name_of(ds) + "-", "namespace": meta(ds).get("namespace", "default"),
        "labels": labels, "ownerReferences": [owner_reference(ds, "DaemonSet", "apps/v1")]}
    if tmeta.get("annotations"):
        pod_meta["annotations"] = dict(tmeta["annotations"])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": spec}


def _scaled(value: Any, total: int) -> int:
    """An int-or-percent rounded up against `total` (as upstream's daemon rollout)."""
    if isinstance(value, str) and value.endswith("%"):
        try:
            return math.ceil(float(value[:-1]) * total / 100)
        except ValueError:
            return 0
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def fenceposts(ds: dict, desired: int) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) against the desired number; never both zero."""
    rolling = (_spec(ds).get("updateStrategy") or {}).get("rollingUpdate") or {}
    surge = _scaled(rolling.get("maxSurge", 0), desired)
    unavailable = _scaled(rolling.get("maxUnavailable", 1), desired)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def _created(pod: dict) -> tuple:
    return (timestamp(meta(pod).get("creationTimestamp")), name_of(pod))


def _is_new(pod: dict, revision_hash: str) -> bool:
    return (meta(pod).get("labels") or {}).get(HASH_LABEL) == revision_hash


def reconcile_daemonset(ds: dict, nodes: list[dict], pods: list[dict], revision_hash: str,
                        now: dt.datetime) -> DaemonSetPlan:
    """Compare the DaemonSet with the Nodes and its Pods; `revision_hash` is its current
    template's (from history.plan_revisions)."""
    plan = DaemonSetPlan()
    min_ready = int(_spec(ds).get("minReadySeconds") or 0)
    by_node: dict[str, list[dict]] = {}
    for pod in owned_by(pods, ds):
        by_node.setdefault(target_node(pod) or "", []).append(pod)
    node_names = {name_of(n) for n in nodes}
    placement = {name_of(n): node_placement(ds, n) for n in nodes}
    deleting = bool(meta(ds).get("deletionTimestamp"))
    running: dict[str, list[dict]] = {}   # eligible Node -> its live Pods, oldest first
    for node, (should_run, keep) in sorted(placement.items()):
        live = sorted((p for p in by_node.get(node, []) if not is_terminating(p)), key=_created)
        if not keep:
            plan.delete += [name_of(p) for p in live]
            continue
        if not live:
            if should_run and not deleting and len(plan.create) < BURST:
                plan.create.append(node)
            continue
        failed = [p for p in live if (p.get("status") or {}).get("phase") == "Failed"]
        plan.delete += [name_of(p) for p in failed]  # replaced once they are gone
        live = [p for p in live if p not in failed]
        if not should_run or not live:
            continue
        if len(live) > 1 and not _surging(ds, live, revision_hash):
            plan.delete += [name_of(p) for p in live[1:]]
            live = live[:1]
        running[node] = live
    # Pods for Nodes that are gone (or never were) go too
    for node, stray in by_node.items():
        if node not in node_names:
            plan.delete += [name_of(p) for p in stray if not is_terminating(p)]
    if not deleting and (_spec(ds).get("updateStrategy") or {}).get("type",
                                                                     "RollingUpdate") \
            == "RollingUpdate":
        _roll(ds, running, revision_hash, min_ready, now, plan)
    plan.status = daemonset_status(ds, placement, by_node, revision_hash, min_ready, now)
    return plan


def _surging(ds: dict, live: list[dict], revision_hash: str) -> bool:
    """Two Pods on a Node are a surge in progress (an old one and a new one)."""
    surge, _ = fenceposts(ds, 1)
    return surge > 0 and len(live) == 2 and \
        sum(1 for p in live if _is_new(p, revision_hash)) == 1


def _roll(ds: dict, running: dict[str, list[dict]], revision_hash: str, min_ready: int,
          now: dt.datetime, plan: DaemonSetPlan) -> None:
    """Replace old Pods within maxUnavailable / maxSurge."""
    desired = len(running) + len(plan.create)
    surge, max_unavailable = fenceposts(ds, desired)
    doomed = set(plan.delete)

    def available(p: dict) -> bool:
        return is_pod_available(p, min_ready, now)

    if surge == 0:
        unavailable = len(plan.create) + sum(
            1 for live in running.values() if not any(available(p) for p in live))
        budget = max_unavailable - unavailable
        for node in sorted(running):
            old = [p for p in running[node] if not _is_new(p, revision_hash)
                   and name_of(p) not in doomed]
            for pod in old:
                if not available(pod):
                    plan.delete.append(name_of(pod))
                elif budget > 0:
                    plan.delete.append(name_of(pod))
                    budget -= 1
        return
    surging = sum(1 for live in running.values() if len(live) > 1)
    budget = surge - surging
    for node in sorted(running):
        live = running[node]
        old = [p for p in live if not _is_new(p, revision_hash)]
        new = [p for p in live if _is_new(p, revision_hash)]
        if not old:
            continue
        if new:
            if any(available(p) for p in new):
                plan.delete += [name_of(p) for p in old if name_of(p) not in doomed]
            continue
        if not any(available(p) for p in old):
            plan.delete += [name_of(p) for p in old if name_of(p) not in doomed]
        elif budget > 0:
            plan.create.append(node)
            budget -= 1


def daemonset_status(ds: dict, placement: dict[str, tuple[bool, bool]],
                     by_node: dict[str, list[dict]], revision_hash: str, min_ready: int,
                     now: dt.datetime) -> dict:
    """desired/current/misscheduled/ready/updated/available counts, per Node."""
    counts = dict.fromkeys(("desired", "current", "mis", "ready", "updated", "available"), 0)
    for node, (should_run, _) in placement.items():
        live = sorted((p for p in by_node.get(node, []) if not is_terminating(p)),
                      key=_created)
        if should_run:
            counts["desired"] += 1
            if live:
                counts["current"] += 1
                if any(is_ready(p) for p in live):
                    counts["ready"] += 1
                if any(is_pod_available(p, min_ready, now) for p in live):
                    counts["available"] += 1
                if any(_is_new(p, revision_hash) for p in live):
                    counts["updated"] += 1
        elif live:
            counts["mis"] += 1
    status = {
        "currentNumberScheduled": counts["current"],
        "numberMisscheduled": counts["mis"],
        "desiredNumberScheduled": counts["desired"],
        "numberReady": counts["ready"],
        "observedGeneration": meta(ds).get("generation", 1),
        "updatedNumberScheduled": counts["updated"],
        "numberAvailable": counts["available"],
        "numberUnavailable": counts["desired"] - counts["available"],
    }
    collisions = (ds.get("status") or {}).get("collisionCount")
    if collisions:
        status["collisionCount"] = collisions
    return status
