"""Deployment controller decisions: which ReplicaSet is new, how far to scale each one
(rolling update within maxSurge/maxUnavailable, or recreate), and the Deployment's status."""

from __future__ import annotations

import copy
import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any, Optional

from k8snet.kcm.objects import (
    is_active_pod,
    meta,
    name_of,
    owned_by,
    owner_reference,
    template_hash,
    timestamp,
)
from k8snet.machinery.timefmt import format_time

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
DESIRED = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"


@dataclass
class DeploymentPlan:
    """Actions for one Deployment; the loop applies them in this order."""

    create_rs: Optional[dict] = None
    scale: dict[str, int] = field(default_factory=dict)          # rs name -> spec.replicas
    annotate: dict[str, dict] = field(default_factory=dict)      # rs name -> annotations
    delete_rs: list[str] = field(default_factory=list)
    annotations: dict[str, str] = field(default_factory=dict)    # on the Deployment
    status: dict = field(default_factory=dict)


def _int_or_percent(value: Any, total: int, round_up: bool) -> int:
    if isinstance(value, str) and value.endswith("%"):
        try:
            share = float(value[:-1]) * total / 100
        except ValueError:
            return 0
        return math.ceil(share) if round_up else math.floor(share)
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def fenceposts(deployment: dict) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) resolved against spec.replicas; never both zero."""
    spec = deployment.get("spec") or {}
    desired = int(spec.get("replicas", 1) or 0)
    rolling = (spec.get("strategy") or {}).get("rollingUpdate") or {}
    surge = _int_or_percent(rolling.get("maxSurge", "25%"), desired, True)
    unavailable = _int_or_percent(rolling.get("maxUnavailable", "25%"), desired, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, min(unavailable, desired)


def _strip_hash(template: dict) -> dict:
    t = copy.deepcopy(template or {})
    labels = (t.get("metadata") or {}).get("labels")
    if labels:
        labels.pop(HASH_LABEL, None)
    return t


def _normal(template: dict) -> dict:
    """A template without the hash label, empty metadata maps dropped, for comparison."""
    t = _strip_hash(template)
    m = t.get("metadata") or {}
    t["metadata"] = {k: v for k, v in m.items() if v not in ({}, None, "")
                     and k != "creationTimestamp"}
    return t


def find_new_rs(deployment: dict, rss: list[dict]) -> Optional[dict]:
    """The oldest ReplicaSet whose template equals the Deployment's (ignoring the hash)."""
    want = _normal((deployment.get("spec") or {}).get("template") or {})
    same = [rs for rs in rss if _normal((rs.get("spec") or {}).get("template") or {}) == want]
    return min(same, key=lambda r: (timestamp(meta(r).get("creationTimestamp")), name_of(r)),
               default=None)


def revision(rs: dict) -> int:
    try:
        return int((meta(rs).get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def _replicas(rs: dict) -> int:
    return int((rs.get("spec") or {}).get("replicas", 0) or 0)


def _st(rs: dict, key: str) -> int:
    return int((rs.get("status") or {}).get(key, 0) or 0)


def new_rs_object(deployment: dict, replicas: int, rev: int, surge: int) -> dict:
    """The ReplicaSet for the Deployment's current template."""
    spec = deployment.get("spec") or {}
    template = copy.deepcopy(spec.get("template") or {})
    collisions = int((deployment.get("status") or {}).get("collisionCount") or 0)
    pod_hash = template_hash(_strip_hash(template), collisions)
    tmeta = template.setdefault("metadata", {})
    tmeta["labels"] = dict(tmeta.get("labels") or {}, **{HASH_LABEL: pod_hash})
    selector = copy.deepcopy(spec.get("selector") or {})
    selector["matchLabels"] = dict(selector.get("matchLabels") or {}, **{HASH_LABEL: pod_hash})
    desired = int(spec.get("replicas", 1) or 0)
    return {
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {
            "name": f"{name_of(deployment)}-{pod_hash}",
            "namespace": meta(deployment).get("namespace", "default"),
            "labels": dict(tmeta["labels"]),
            "annotations": {REVISION: str(rev), DESIRED: str(desired),
                            MAX_REPLICAS: str(desired + surge)},
            "ownerReferences": [owner_reference(deployment, "Deployment", "apps/v1")],
        },
        "spec": {"replicas": replicas, "minReadySeconds": int(spec.get("minReadySeconds") or 0),
                 "selector": selector, "template": template},
    }


def new_rs_target(desired: int, surge: int, all_rss: list[dict], new_replicas: int) -> int:
    """Kubernetes' NewRSNewReplicas for RollingUpdate: grow within desired + maxSurge."""
    if new_replicas >= desired:
        return desired
    current = sum(_replicas(r) for r in all_rss)
    if current >= desired + surge:
        return new_replicas
    return new_replicas + min(desired + surge - current, desired - new_replicas)


def scale_down_old(old: list[dict], new_rs: Optional[dict], desired: int,
                   unavailable: int) -> dict[str, int]:
    """Kubernetes' reconcileOldReplicaSets: drop unhealthy old Pods, then available ones,
    never going below desired - maxUnavailable available Pods."""
    replicas = {name_of(r): _replicas(r) for r in old}
    if sum(replicas.values()) == 0:
        return {}
    new_spec = _replicas(new_rs) if new_rs else 0
    new_unavailable = max(0, new_spec - (_st(new_rs, "availableReplicas") if new_rs else 0))
    min_available = desired - unavailable
    total = sum(replicas.values()) + new_spec
    max_scaled_down = total - min_available - new_unavailable
    if max_scaled_down <= 0:
        return {}
    ordered = sorted(old, key=lambda r: (timestamp(meta(r).get("creationTimestamp")),
                                         name_of(r)))
    changes: dict[str, int] = {}
    scaled = 0
    for rs in ordered:
        n = name_of(rs)
        if scaled >= max_scaled_down or replicas[n] == 0:
            continue
        unhealthy = replicas[n] - _st(rs, "availableReplicas")
        if unhealthy <= 0:
            continue
        step = min(max_scaled_down - scaled, unhealthy)
        replicas[n] -= step
        changes[n] = replicas[n]
        scaled += step
    available = sum(min(_st(r, "availableReplicas"), replicas[name_of(r)]) for r in old)
    available += _st(new_rs, "availableReplicas") if new_rs else 0
    budget = available - min_available
    for rs in ordered:
        n = name_of(rs)
        if budget <= 0:
            break
        if replicas[n] == 0:
            continue
        step = min(replicas[n], budget)
        replicas[n] -= step
        changes[n] = replicas[n]
        budget -= step
    return changes


def _condition(ctype: str, status: str, reason: str, message: str, now: dt.datetime,
               previous: list[dict]) -> dict:
    stamp = format_time(now)
    old = next((c for c in previous if c.get("type") == ctype), None)
    cond = {"type": ctype, "status": status, "reason": reason, "message": message,
            "lastUpdateTime": stamp, "lastTransitionTime": stamp}
    if old and old.get("status") == status:
        cond["lastTransitionTime"] = old.get("lastTransitionTime", stamp)
        if old.get("reason") == reason and old.get("message") == message:
            cond["lastUpdateTime"] = old.get("lastUpdateTime", stamp)
    return cond


def deployment_status(deployment: dict, rss: list[dict], new_rs: Optional[dict],
                      unavailable: int, now: dt.datetime, created: bool = False) -> dict:
    """replicas, updated/ready/available/unavailable counts and Available/Progressing."""
    spec = deployment.get("spec") or {}
    desired = int(spec.get("replicas", 1) or 0)
    previous = (deployment.get("status") or {}).get("conditions") or []
    available = sum(_st(r, "availableReplicas") for r in rss)
    status: dict = {
        "observedGeneration": meta(deployment).get("generation", 1),
        "replicas": sum(_st(r, "replicas") for r in rss),
        "updatedReplicas": _st(new_rs, "replicas") if new_rs else 0,
        "readyReplicas": sum(_st(r, "readyReplicas") for r in rss),
        "availableReplicas": available,
        "unavailableReplicas": max(0, sum(_replicas(r) for r in rss) - available),
    }
    collisions = (deployment.get("status") or {}).get("collisionCount")
    if collisions:
        status["collisionCount"] = collisions
    if available >= desired - unavailable:
        avail = _condition("Available", "True", "MinimumReplicasAvailable",
                           "Deployment has minimum availability.", now, previous)
    else:
        avail = _condition("Available", "False", "MinimumReplicasUnavailable",
                           "Deployment does not have minimum availability.", now, previous)
    rs_name = name_of(new_rs) if new_rs else ""
    complete = (new_rs is not None and status["updatedReplicas"] == desired
                and status["replicas"] == desired and available >= desired
                and _replicas(new_rs) == desired)
    if complete:
        prog = _condition("Progressing", "True", "NewReplicaSetAvailable",
                          f'ReplicaSet "{rs_name}" has successfully progressed.', now, previous)
    elif created:
        prog = _condition("Progressing", "True", "NewReplicaSetCreated",
                          f'Created new replica set "{rs_name}"', now, previous)
    else:
        prog = _condition("Progressing", "True", "ReplicaSetUpdated",
                          f'ReplicaSet "{rs_name}" is progressing.', now, previous)
        deadline = spec.get("progressDeadlineSeconds")
        old_prog = next((c for c in previous if c.get("type") == "Progressing"), None)
        if deadline and old_prog and old_prog.get("reason") != "NewReplicaSetAvailable":
            since = timestamp(old_prog.get("lastUpdateTime"))
            if since and since + int(deadline) < now.timestamp():
                prog = _condition("Progressing", "False", "ProgressDeadlineExceeded",
                                  f'ReplicaSet "{rs_name}" has timed out progressing.', now,
                                  previous)
    status["conditions"] = [avail, prog]
    return status


def history_to_delete(deployment: dict, old: list[dict]) -> list[str]:
    """Old, empty ReplicaSets beyond spec.revisionHistoryLimit (oldest revisions first)."""
    limit = int((deployment.get("spec") or {}).get("revisionHistoryLimit", 10))
    empty = [r for r in old if _replicas(r) == 0 and _st(r, "replicas") == 0
             and not meta(r).get("deletionTimestamp")]
    extra = len(empty) - limit
    if extra <= 0:
        return []
    return [name_of(r) for r in sorted(empty, key=lambda r: (revision(r), name_of(r)))[:extra]]


def reconcile_deployment(deployment: dict, replicasets: list[dict], pods: list[dict],
                         now: dt.datetime) -> DeploymentPlan:
    """What to do for one Deployment, from its ReplicaSets and their Pods."""
    spec = deployment.get("spec") or {}
    desired = int(spec.get("replicas", 1) or 0)
    rss = owned_by(replicasets, deployment)
    new_rs = find_new_rs(deployment, rss)
    old = [r for r in rss if r is not new_rs]
    surge, unavailable = fenceposts(deployment)
    recreate = (spec.get("strategy") or {}).get("type") == "Recreate"
    if recreate:
        surge, unavailable = 0, desired
    plan = DeploymentPlan()
    if meta(deployment).get("deletionTimestamp"):
        plan.status = deployment_status(deployment, rss, new_rs, unavailable, now)
        return plan
    max_old_rev = max((revision(r) for r in old), default=0)
    if new_rs is None:
        if spec.get("paused"):
            plan.status = deployment_status(deployment, rss, None, unavailable, now)
            return plan
        if recreate:
            replicas = 0 if any(_replicas(r) for r in old) else desired
        else:
            replicas = new_rs_target(desired, surge, rss, 0)
        plan.create_rs = new_rs_object(deployment, replicas, max_old_rev + 1, surge)
        plan.annotations[REVISION] = str(max_old_rev + 1)
        plan.scale.update(_recreate_old(old) if recreate else {})
        plan.status = deployment_status(deployment, rss, None, unavailable, now, created=True)
        return plan
    rev = revision(new_rs)
    if rev <= max_old_rev:
        rev = max_old_rev + 1
        plan.annotate[name_of(new_rs)] = {REVISION: str(rev)}
    if (meta(deployment).get("annotations") or {}).get(REVISION) != str(rev):
        plan.annotations[REVISION] = str(rev)
    new_annotations = meta(new_rs).get("annotations") or {}
    wanted_notes = {DESIRED: str(desired), MAX_REPLICAS: str(desired + surge)}
    if any(new_annotations.get(k) != v for k, v in wanted_notes.items()):
        plan.annotate.setdefault(name_of(new_rs), {}).update(wanted_notes)
    if recreate:
        _plan_recreate(plan, deployment, old, new_rs, pods, desired)
    else:
        target = new_rs_target(desired, surge, rss, _replicas(new_rs))
        if spec.get("paused"):
            target = min(_replicas(new_rs), desired)
        if target != _replicas(new_rs):
            plan.scale[name_of(new_rs)] = target
        elif not spec.get("paused"):
            plan.scale.update(scale_down_old(old, new_rs, desired, unavailable))
    plan.delete_rs = history_to_delete(deployment, old)
    plan.status = deployment_status(deployment, rss, new_rs, unavailable, now)
    return plan


def _recreate_old(old: list[dict]) -> dict[str, int]:
    return {name_of(r): 0 for r in old if _replicas(r) > 0}


def _plan_recreate(plan: DeploymentPlan, deployment: dict, old: list[dict], new_rs: dict,
                   pods: list[dict], desired: int) -> None:
    """Recreate: old ReplicaSets to zero, wait for their Pods to go, then the new one up."""
    scale_old = _recreate_old(old)
    if scale_old:
        plan.scale.update(scale_old)
        return
    old_pods = [p for r in old for p in owned_by(pods, r) if is_active_pod(p)]
    if old_pods:
        return
    if _replicas(new_rs) != desired:
        plan.scale[name_of(new_rs)] = desired
