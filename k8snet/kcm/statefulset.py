"""StatefulSet controller decisions: stable Pod names and claims, ordering, updates.

As Kubernetes 1.32's StatefulSet controller:

- Pod i is `<set>-<i>` with hostname `<set>-<i>` and subdomain spec.serviceName (its
  DNS name under a headless Service), labels statefulset.kubernetes.io/pod-name,
  apps.kubernetes.io/pod-index and controller-revision-hash.
- Each volumeClaimTemplate gives Pod i the PersistentVolumeClaim
  `<template>-<set>-<i>`, created before the Pod and kept when the Pod goes
  (persistentVolumeClaimRetentionPolicy: whenDeleted Delete makes the set their
  owner; whenScaled Delete removes the claims of ordinals scaled away once their Pod
  is gone).
- OrderedReady creates ordinals upward, each once the ones below are Running and
  Ready, and removes them downward one at a time; Parallel does both at once.
- RollingUpdate replaces Pods not at the update revision from the highest ordinal
  down to spec.updateStrategy.rollingUpdate.partition, one at a time, each once every
  Pod is Running and Ready; Pods below the partition are (re)created from the current
  revision. OnDelete only uses the update revision for Pods someone deleted.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Optional

from k8snet.kcm.history import HASH_LABEL
from k8snet.kcm.objects import (
    is_pod_available,
    is_terminating,
    meta,
    name_of,
    owned_by,
    owner_reference,
)
from k8snet.machinery.conditions import is_ready

POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"


@dataclass
class StatefulSetPlan:
    """Claims to create, Pods to create (ordinals, each with the revision to use), Pods
    to delete, claims to delete, the status."""

    create_claims: list[dict] = field(default_factory=list)
    create: list[tuple[int, str]] = field(default_factory=list)   # (ordinal, revision)
    delete: list[str] = field(default_factory=list)
    delete_claims: list[str] = field(default_factory=list)
    status: dict = field(default_factory=dict)


def _spec(sts: dict) -> dict:
    return sts.get("spec") or {}


def ordinal_of(sts: dict, pod: dict) -> Optional[int]:
    """The ordinal of `<set>-<i>`, None for another name."""
    m = re.fullmatch(r"(.*)-(\d+)", name_of(pod))
    if not m or m.group(1) != name_of(sts):
        return None
    return int(m.group(2))


def revision_of(pod: dict) -> str:
    return (meta(pod).get("labels") or {}).get(HASH_LABEL, "")


def claim_name(template: dict, sts: dict, ordinal: int) -> str:
    return f"{name_of(template)}-{name_of(sts)}-{ordinal}"


def _retention(sts: dict) -> tuple[str, str]:
    policy = _spec(sts).get("persistentVolumeClaimRetentionPolicy") or {}
    return policy.get("whenDeleted", "Retain"), policy.get("whenScaled", "Retain")


def claims_for(sts: dict, ordinal: int) -> list[dict]:
    """The PersistentVolumeClaims of Pod `ordinal`."""
    selector_labels = (_spec(sts).get("selector") or {}).get("matchLabels") or {}
    when_deleted, _ = _retention(sts)
    out = []
    for template in _spec(sts).get("volumeClaimTemplates") or []:
        tmeta = meta(template)
        claim_meta: dict = {"name": claim_name(template, sts, ordinal),
                            "namespace": meta(sts).get("namespace", "default"),
                            "labels": dict(tmeta.get("labels") or {}, **selector_labels)}
        if tmeta.get("annotations"):
            claim_meta["annotations"] = dict(tmeta["annotations"])
        if when_deleted == "Delete":
            ref = owner_reference(sts, "StatefulSet", "apps/v1")
            ref["controller"] = False
            claim_meta["ownerReferences"] = [ref]
        out.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                    "metadata": claim_meta,
                    "spec": copy.deepcopy(template.get("spec") or {})})
    return out


def pod_for_ordinal(sts: dict, ordinal: int, template: dict, revision: str) -> dict:
    """Pod `ordinal` from `template` (the template of `revision`)."""
    template = copy.deepcopy(template)
    tmeta = template.get("metadata") or {}
    spec = template.get("spec") or {}
    name = f"{name_of(sts)}-{ordinal}"
    spec["hostname"] = name
    if _spec(sts).get("serviceName"):
        spec["subdomain"] = _spec(sts)["serviceName"]
    volumes = [v for v in spec.get("volumes") or []]
    for claim_template in _spec(sts).get("volumeClaimTemplates") or []:
        vname = name_of(claim_template)
        volumes = [v for v in volumes if v.get("name") != vname]
        volumes.append({"name": vname, "persistentVolumeClaim": {
            "claimName": claim_name(claim_template, sts, ordinal)}})
    if volumes:
        spec["volumes"] = volumes
    labels = dict(tmeta.get("labels") or {}, **{
        POD_NAME_LABEL: name, POD_INDEX_LABEL: str(ordinal), HASH_LABEL: revision})
    pod_meta: dict = {"name": name, "namespace": meta(sts).get("namespace", "default"),
                      "labels": labels,
                      "ownerReferences": [owner_reference(sts, "StatefulSet", "apps/v1")]}
    if tmeta.get("annotations"):
        pod_meta["annotations"] = dict(tmeta["annotations"])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": spec}


def _healthy(pod: dict) -> bool:
    return (pod.get("status") or {}).get("phase") == "Running" and is_ready(pod) and \
        not is_terminating(pod)


def _failed(pod: dict) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Failed", "Succeeded")


def _partition(sts: dict) -> int:
    strategy = _spec(sts).get("updateStrategy") or {}
    return int(((strategy.get("rollingUpdate") or {}).get("partition")) or 0)


def _strategy(sts: dict) -> str:
    return (_spec(sts).get("updateStrategy") or {}).get("type", "RollingUpdate")


def reconcile_statefulset(sts: dict, pods: list[dict], claims: list[dict], current: str,
                          update: str, now: dt.datetime) -> StatefulSetPlan:
    """Compare the set with its Pods and claims. `current` and `update` are the current
    and update revision hashes (equal when no update is in progress)."""
    plan = StatefulSetPlan()
    replicas = int(_spec(sts).get("replicas", 1) if _spec(sts).get("replicas") is not None
                   else 1)
    ordered = _spec(sts).get("podManagementPolicy", "OrderedReady") != "Parallel"
    by_ordinal: dict[int, dict] = {}
    for pod in owned_by(pods, sts):
        i = ordinal_of(sts, pod)
        if i is not None:
            by_ordinal[i] = pod
    existing_claims = {name_of(c) for c in claims
                       if meta(c).get("namespace") == meta(sts).get("namespace")}
    partition = _partition(sts) if _strategy(sts) == "RollingUpdate" else 0

    def revision_for(i: int) -> str:
        if _strategy(sts) == "RollingUpdate":
            return current if i < partition else update
        return update

    plan.status = _status(sts, by_ordinal, replicas, current, update, now)
    if meta(sts).get("deletionTimestamp"):
        return plan
    unhealthy = next((i for i in sorted(by_ordinal) if not _healthy(by_ordinal[i])), None)
    blocked = False
    for i in range(replicas):
        pod = by_ordinal.get(i)
        if pod is not None and _failed(pod) and not is_terminating(pod):
            plan.delete.append(name_of(pod))
            blocked = blocked or ordered
            if ordered:
                break
            continue
        if pod is None:
            for claim in claims_for(sts, i):
                if name_of(claim) not in existing_claims:
                    plan.create_claims.append(claim)
            plan.create.append((i, revision_for(i)))
            if ordered:
                blocked = True
                break
            continue
        if ordered and not _healthy(pod):
            blocked = True
            break
    if blocked:
        return plan
    condemned = sorted((i for i in by_ordinal if i >= replicas), reverse=True)
    for i in condemned:
        pod = by_ordinal[i]
        if is_terminating(pod):
            if ordered:
                return plan
            continue
        if ordered and unhealthy is not None and unhealthy != i:
            return plan
        plan.delete.append(name_of(pod))
        if ordered:
            return plan
    _, when_scaled = _retention(sts)
    if when_scaled == "Delete":
        for claim in claims:
            if meta(claim).get("namespace") != meta(sts).get("namespace"):
                continue
            for template in _spec(sts).get("volumeClaimTemplates") or []:
                m = re.fullmatch(re.escape(f"{name_of(template)}-{name_of(sts)}-") + r"(\d+)",
                                 name_of(claim))
                if m and int(m.group(1)) >= replicas and int(m.group(1)) not in by_ordinal:
                    plan.delete_claims.append(name_of(claim))
    if _strategy(sts) != "RollingUpdate" or plan.delete or plan.create:
        return plan
    for i in range(replicas - 1, partition - 1, -1):
        pod = by_ordinal.get(i)
        if pod is None:
            return plan
        if revision_of(pod) != update and not is_terminating(pod):
            if unhealthy is None:
                plan.delete.append(name_of(pod))
            return plan
        if not _healthy(pod):
            return plan
    return plan


def _status(sts: dict, by_ordinal: dict[int, dict], replicas: int, current: str, update: str,
            now: dt.datetime) -> dict:
    """replicas, ready/available/current/updated counts, the revisions, generation."""
    min_ready = int(_spec(sts).get("minReadySeconds") or 0)
    live = [p for p in by_ordinal.values() if not _failed(p)]
    status = {
        "observedGeneration": meta(sts).get("generation", 1),
        "replicas": len(live),
        "readyReplicas": sum(1 for p in live if is_ready(p) and not is_terminating(p)),
        "availableReplicas": sum(1 for p in live if is_pod_available(p, min_ready, now)
                                 and not is_terminating(p)),
        "currentReplicas": sum(1 for p in live if revision_of(p) == current),
        "updatedReplicas": sum(1 for p in live if revision_of(p) == update),
        "currentRevision": current,
        "updateRevision": update,
    }
    collisions = (sts.get("status") or {}).get("collisionCount")
    if collisions is not None:
        status["collisionCount"] = collisions
    if _strategy(sts) == "RollingUpdate" and status["updatedReplicas"] == replicas and \
            status["readyReplicas"] == replicas and status["replicas"] == replicas:
        status["currentRevision"] = update
        status["currentReplicas"] = status["updatedReplicas"]
    return status


def revisions_in_use(sts: dict, update: str) -> tuple[str, str]:
    """(current, update): the current revision is status.currentRevision, or the update
    revision for a new set."""
    return (sts.get("status") or {}).get("currentRevision") or update, update
