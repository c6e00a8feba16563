"""Storage object in-use protection (pure): the kubernetes.io/pvc-protection finalizer
holds a deleted claim while a Pod that is not finished uses it, and
kubernetes.io/pv-protection holds a deleted volume while it is Bound."""

from __future__ import annotations

import copy

PVC_PROTECTION = "kubernetes.io/pvc-protection"
PV_PROTECTION = "kubernetes.io/pv-protection"


def claims_in_use(pods: list[dict]) -> set[str]:
    """'namespace/claim' for every claim a Pod that has not finished mounts."""
    used = set()
    for pod in pods:
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        ns = (pod.get("metadata") or {}).get("namespace") or "default"
        for vol in (pod.get("spec") or {}).get("volumes") or []:
            src = vol.get("persistentVolumeClaim")
            if src:
                used.add(f"{ns}/{src.get('claimName')}")
    return used


def _without(obj: dict, finalizer: str) -> dict:
    new = copy.deepcopy(obj)
    new["metadata"]["finalizers"] = [f for f in new["metadata"].get("finalizers") or []
                                     if f != finalizer]
    return new


def _held(obj: dict, finalizer: str) -> bool:
    meta = obj.get("metadata") or {}
    return bool(meta.get("deletionTimestamp")) and finalizer in (meta.get("finalizers") or [])


def release_claims(claims: list[dict], pods: list[dict]) -> list[dict]:
    """Deleted claims no unfinished Pod uses, without their protection finalizer."""
    used = claims_in_use(pods)
    out = []
    for claim in claims:
        meta = claim.get("metadata") or {}
        if _held(claim, PVC_PROTECTION) and \
                f"{meta.get('namespace')}/{meta.get('name')}" not in used:
            out.append(_without(claim, PVC_PROTECTION))
    return out


def release_volumes(volumes: list[dict]) -> list[dict]:
    """Deleted volumes that are not Bound, without their protection finalizer."""
    return [_without(pv, PV_PROTECTION) for pv in volumes
            if _held(pv, PV_PROTECTION) and (pv.get("status") or {}).get("phase") != "Bound"]
