"""ReplicaSet controller decisions: how many Pods to create, which to delete, what status."""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass, field

from k8snet.kcm.objects import (
    is_active_pod,
    is_pod_available,
    meta,
    name_of,
    owned_by,
    owner_reference,
    selector_matches,
    timestamp,
)
from k8snet.machinery.conditions import condition, is_ready

BURST = 500
_PHASE_RANK = {"Pending": 0, "Unknown": 1, "Running": 2}


@dataclass
class ReplicaSetPlan:
    """What the ReplicaSet needs: `create` new Pods, `delete` these Pods, this `status`."""

    create: int = 0
    delete: list[str] = field(default_factory=list)
    status: dict = field(default_factory=dict)


def deletion_rank(pod: dict) -> tuple:
    """Sort key: Pods that matter least first (unscheduled, pending, not ready, newest)."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    ready = is_ready(pod)
    ready_since = timestamp((condition(pod, "Ready") or {}).get("lastTransitionTime")) \
        if ready else 0.0
    restarts = sum(int(c.get("restartCount") or 0)
                   for c in status.get("containerStatuses") or [])
    return (1 if spec.get("nodeName") else 0, _PHASE_RANK.get(status.get("phase"), 0),
            1 if ready else 0, -ready_since, -restarts,
            -timestamp(meta(pod).get("creationTimestamp")), name_of(pod))


def pods_to_delete(active: list[dict], count: int) -> list[str]:
    """The `count` Pods to delete when scaling down."""
    return [name_of(p) for p in sorted(active, key=deletion_rank)[:count]]


def replicaset_status(rs: dict, owned: list[dict], now: dt.datetime) -> dict:
    """status: replicas, fullyLabeledReplicas, readyReplicas, availableReplicas, generation."""
    spec = rs.get("spec") or {}
    active = [p for p in owned if is_active_pod(p)]
    template_labels = (spec.get("template") or {}).get("metadata", {}).get("labels") or {}
    min_ready = int(spec.get("minReadySeconds") or 0)
    status = {
        "replicas": len(active),
        "fullyLabeledReplicas": sum(
            1 for p in active
            if all((meta(p).get("labels") or {}).get(k) == v for k, v in template_labels.items())),
        "readyReplicas": sum(1 for p in active if is_ready(p)),
        "availableReplicas": sum(1 for p in active if is_pod_available(p, min_ready, now)),
        "observedGeneration": meta(rs).get("generation", 1),
    }
    return status


def reconcile_replicaset(rs: dict, pods: list[dict], now: dt.datetime) -> ReplicaSetPlan:
    """Compare the ReplicaSet's replicas with its active Pods."""
    owned = owned_by(pods, rs)
    active = [p for p in owned if is_active_pod(p)]
    wanted = int((rs.get("spec") or {}).get("replicas", 1) or 0)
    plan = ReplicaSetPlan(status=replicaset_status(rs, owned, now))
    if is_terminating_owner(rs):
        return plan
    if len(active) < wanted:
        plan.create = min(BURST, wanted - len(active))
    elif len(active) > wanted:
        plan.delete = pods_to_delete(active, min(BURST, len(active) - wanted))
    return plan


def slow_start_batches(total: int, initial: int = 1) -> list[int]:
    """Batch sizes for creating `total` Pods: 1, 2, 4, ... (Kubernetes' slowStartBatch),
    so a failing template costs one request, not hundreds."""
    sizes, size, left = [], initial, total
    while left > 0:
        sizes.append(min(size, left))
        left -= sizes[-1]
        size *= 2
    return sizes


def is_terminating_owner(obj: dict) -> bool:
    return bool(meta(obj).get("deletionTimestamp"))


def pod_from_template(rs: dict) -> dict:
    """A new Pod for the ReplicaSet: template, generateName '<rs>-', controller ownerReference."""
    template = copy.deepcopy((rs.get("spec") or {}).get("template") or {})
    tmeta = template.get("metadata") or {}
    pod_meta = {
        "generateName": name_of(rs) + "-",
        "namespace": meta(rs).get("namespace", "default"),
        "labels": dict(tmeta.get("labels") or {}),
        "ownerReferences": [owner_reference(rs, "ReplicaSet", "apps/v1")],
    }
    if tmeta.get("annotations"):
        pod_meta["annotations"] = dict(tmeta["annotations"])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta,
            "spec": template.get("spec") or {}}


def matches_selector(rs: dict, pod: dict) -> bool:
    """Whether the ReplicaSet's selector selects the Pod's labels."""
    return selector_matches((rs.get("spec") or {}).get("selector"), meta(pod).get("labels"))
