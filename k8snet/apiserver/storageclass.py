"""Storage admission on create. DefaultStorageClass: a claim created without
spec.storageClassName gets the default StorageClass (the newest one annotated
storageclass.kubernetes.io/is-default-class=true, as upstream 1.32 picks); an empty
string means "no class" and is kept. StorageObjectInUseProtection: new claims and
volumes get their protection finalizer (the kcm releases it, k8snet.kcm.protection)."""

from __future__ import annotations

from typing import Iterable, Optional

IS_DEFAULT = "storageclass.kubernetes.io/is-default-class"
BETA_IS_DEFAULT = "storageclass.beta.kubernetes.io/is-default-class"
FINALIZERS = {"PersistentVolumeClaim": "kubernetes.io/pvc-protection",
              "PersistentVolume": "kubernetes.io/pv-protection"}


def default_class(classes: Iterable[dict]) -> Optional[str]:
    """The default class's name: newest creationTimestamp first, then name."""
    defaults = [sc for sc in classes
                if ((sc.get("metadata") or {}).get("annotations") or {}).get(IS_DEFAULT,
                   ((sc.get("metadata") or {}).get("annotations") or {}).get(BETA_IS_DEFAULT))
                == "true"]
    if not defaults:
        return None
    best = max(defaults, key=lambda sc: ((sc["metadata"].get("creationTimestamp") or ""),
                                         sc["metadata"].get("name") or ""))
    return best["metadata"].get("name")


def admit_claim(claim: dict, classes: Iterable[dict]) -> None:
    """Set the default class on `claim` (in place) when it names none."""
    spec = claim.setdefault("spec", {})
    if spec.get("storageClassName") is not None:
        return
    name = default_class(classes)
    if name:
        spec["storageClassName"] = name


def protect(kind: str, obj: dict) -> None:
    """Add the protection finalizer to a new claim or volume (in place)."""
    finalizer = FINALIZERS.get(kind)
    if finalizer is None:
        return
    finalizers = obj.setdefault("metadata", {}).setdefault("finalizers", [])
    if finalizer not in finalizers:
        finalizers.append(finalizer)
