"""PersistentVolume binding, provisioning and reclaim decisions (pure).

As upstream's PV controller and kind's local-path provisioner behave:

- A claim naming a volume (spec.volumeName) binds to it when the volume is free or
  pre-bound to the claim; a claim whose bound volume vanished is Lost.
- An unbound claim binds to a volume pre-bound to it (claimRef), else to the smallest
  Available volume that fits (capacity, accessModes, storageClassName, selector).
- A claim of a WaitForFirstConsumer class waits until the scheduler records the
  Pod's node (volume.kubernetes.io/selected-node); then a volume on that node may be
  bound, or the `standard` class's provisioner makes a hostPath volume under that
  node's directory, pinned to the node by nodeAffinity on kubernetes.io/hostname.
- A volume whose claim is gone is Released; reclaimPolicy Delete deletes it (and the
  provisioner removes the directory it made), Retain keeps it Released.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from typing import Optional

from k8snet.machinery.quantities import parse_quantity
from k8snet.scheduler.matching import node_selector_term_matches, requirement_matches

PROVISIONER = "rancher.io/local-path"
DEFAULT_CLASS = "standard"
IS_DEFAULT = "storageclass.kubernetes.io/is-default-class"
SELECTED_NODE = "volume.kubernetes.io/selected-node"
BIND_COMPLETED = "pv.kubernetes.io/bind-completed"
BOUND_BY_CONTROLLER = "pv.kubernetes.io/bound-by-controller"
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
STORAGE_PROVISIONER = "volume.kubernetes.io/storage-provisioner"
BETA_STORAGE_PROVISIONER = "volume.beta.kubernetes.io/storage-provisioner"
HOSTNAME = "kubernetes.io/hostname"
WFFC = "WaitForFirstConsumer"


def default_storage_class() -> dict:
    """The `standard` StorageClass, as kind installs it with its local-path provisioner."""
    return {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
            "metadata": {"name": DEFAULT_CLASS, "annotations": {IS_DEFAULT: "true"}},
            "provisioner": PROVISIONER, "reclaimPolicy": "Delete",
            "volumeBindingMode": WFFC}


def node_volume_dir(template: str, node: str) -> str:
    """The directory holding `node`'s provisioned volumes (`{node}` in `template`)."""
    return template.replace("{node}", node)


@dataclass
class Action:
    """One API write: `op` is create_pv, update_pv, pv_status, update_claim,
    claim_status or delete_pv; `obj` the object (delete_pv: the volume), `path` the
    directory to remove after a delete_pv (only a provisioned volume's)."""

    op: str
    obj: dict
    path: str = ""


@dataclass
class Plan:
    """The writes of one sync, in order; `events` are (claim, type, reason, message)."""

    actions: list[Action] = field(default_factory=list)
    events: list[tuple[dict, str, str, str]] = field(default_factory=list)


def _meta(obj: dict) -> dict:
    return obj.get("metadata") or {}


def _ann(obj: dict) -> dict:
    return _meta(obj).get("annotations") or {}


def _phase(obj: dict) -> str:
    return (obj.get("status") or {}).get("phase") or ""


def _storage(obj: dict, where: str) -> object:
    spec = obj.get("spec") or {}
    block = spec.get("capacity") if where == "capacity" else \
        ((spec.get("resources") or {}).get("requests") or {})
    return (block or {}).get("storage", "0")


def claim_class(claim: dict) -> str:
    return (claim.get("spec") or {}).get("storageClassName") or ""


def selector_matches(selector: Optional[dict], labels: dict) -> bool:
    """A LabelSelector (matchLabels and matchExpressions) against `labels`."""
    if not selector:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    return all(requirement_matches(req, labels)
               for req in selector.get("matchExpressions") or [])


def volume_fits_node(pv: dict, node: Optional[dict]) -> bool:
    """The volume's required nodeAffinity admits `node` (no affinity: any node)."""
    required = (((pv.get("spec") or {}).get("nodeAffinity") or {}).get("required") or {})
    terms = required.get("nodeSelectorTerms") or []
    if not terms:
        return True
    if node is None:
        return False
    return any(node_selector_term_matches(term, node) for term in terms)


def volume_matches(pv: dict, claim: dict, node: Optional[dict] = None,
                   need_node: bool = False) -> bool:
    """May `claim` bind to the free volume `pv`?"""
    spec, cspec = pv.get("spec") or {}, claim.get("spec") or {}
    if _meta(pv).get("deletionTimestamp") or _phase(pv) not in ("", "Available"):
        return False
    if spec.get("claimRef"):
        return False
    if (spec.get("storageClassName") or "") != claim_class(claim):
        return False
    if (spec.get("volumeMode") or "Filesystem") != (cspec.get("volumeMode") or "Filesystem"):
        return False
    if not set(cspec.get("accessModes") or []) <= set(spec.get("accessModes") or []):
        return False
    if parse_quantity(_storage(pv, "capacity")) < parse_quantity(_storage(claim, "request")):
        return False
    if not selector_matches(cspec.get("selector"), _meta(pv).get("labels") or {}):
        return False
    return not need_node or volume_fits_node(pv, node)


def best_volume(volumes: list[dict], claim: dict, node: Optional[dict] = None,
                need_node: bool = False) -> Optional[dict]:
    """The smallest matching volume (ties by name), as upstream's findBestMatch."""
    fits = [pv for pv in volumes if volume_matches(pv, claim, node, need_node)]
    if not fits:
        return None
    return min(fits, key=lambda pv: (parse_quantity(_storage(pv, "capacity")),
                                     _meta(pv).get("name", "")))


def _claim_ref(claim: dict) -> dict:
    m = _meta(claim)
    return {"kind": "PersistentVolumeClaim", "apiVersion": "v1",
            "namespace": m.get("namespace"), "name": m.get("name"),
            "uid": m.get("uid"), "resourceVersion": m.get("resourceVersion")}


def _prebound_to(pv: dict, claim: dict) -> bool:
    ref = (pv.get("spec") or {}).get("claimRef") or {}
    m = _meta(claim)
    return (ref.get("namespace"), ref.get("name")) == (m.get("namespace"), m.get("name")) \
        and ref.get("uid") in (None, "", m.get("uid"))


def bind(pv: dict, claim: dict) -> list[Action]:
    """The writes that bind `claim` and `pv` to each other (those not yet done)."""
    out: list[Action] = []
    ref = (pv.get("spec") or {}).get("claimRef") or {}
    if ref.get("uid") != _meta(claim).get("uid"):
        new = copy.deepcopy(pv)
        if not ref:
            new["metadata"].setdefault("annotations", {})[BOUND_BY_CONTROLLER] = "yes"
        new["spec"]["claimRef"] = _claim_ref(claim)
        out.append(Action("update_pv", new))
        pv = new
    if _phase(pv) != "Bound":
        out.append(Action("pv_status", dict(pv, status={"phase": "Bound"})))
    name = _meta(pv).get("name")
    cspec = claim.get("spec") or {}
    if cspec.get("volumeName") != name or _ann(claim).get(BIND_COMPLETED) != "yes":
        new = copy.deepcopy(claim)
        anns = new["metadata"].setdefault("annotations", {})
        if cspec.get("volumeName") != name:
            anns[BOUND_BY_CONTROLLER] = "yes"
        anns[BIND_COMPLETED] = "yes"
        new["spec"]["volumeName"] = name
        out.append(Action("update_claim", new))
        claim = new
    if _phase(claim) != "Bound":
        spec = pv.get("spec") or {}
        out.append(Action("claim_status", dict(claim, status={
            "phase": "Bound", "accessModes": spec.get("accessModes") or [],
            "capacity": dict(spec.get("capacity") or {})})))
    return out


def _set_claim_phase(claim: dict, phase: str) -> list[Action]:
    if _phase(claim) == phase:
        return []
    return [Action("claim_status", dict(claim, status=dict(claim.get("status") or {},
                                                           phase=phase)))]


def provisioned_volume(claim: dict, sc: dict, node: str, volume_dir: str) -> dict:
    """The hostPath volume the local-path provisioner makes for `claim` on `node`."""
    m = _meta(claim)
    name = f"pvc-{m.get('uid')}"
    cspec = claim.get("spec") or {}
    path = os.path.join(node_volume_dir(volume_dir, node),
                        f"{name}_{m.get('namespace')}_{m.get('name')}")
    return {"apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": name, "annotations": {PROVISIONED_BY: PROVISIONER,
                                                       "local.path.provisioner/selected-node":
                                                           node}},
            "spec": {"capacity": {"storage": _storage(claim, "request")},
                     "accessModes": list(cspec.get("accessModes") or ["ReadWriteOnce"]),
                     "persistentVolumeReclaimPolicy": sc.get("reclaimPolicy") or "Delete",
                     "storageClassName": _meta(sc).get("name"),
                     "volumeMode": cspec.get("volumeMode") or "Filesystem",
                     "hostPath": {"path": path, "type": "DirectoryOrCreate"},
                     "claimRef": _claim_ref(claim),
                     "nodeAffinity": {"required": {"nodeSelectorTerms": [{
                         "matchExpressions": [{"key": HOSTNAME, "operator": "In",
                                               "values": [node]}]}]}}}}


def sync_claim(claim: dict, volumes: dict[str, dict], classes: dict[str, dict],
               nodes: dict[str, dict], volume_dir: str) -> Plan:
    """What to write for one claim (volumes by name, classes by name, nodes by name)."""
    plan = Plan()
    if _meta(claim).get("deletionTimestamp"):
        return plan
    spec = claim.get("spec") or {}
    name = spec.get("volumeName")
    if name:
        pv = volumes.get(name)
        if pv is None:
            phase = "Lost" if _ann(claim).get(BIND_COMPLETED) == "yes" else "Pending"
            plan.actions += _set_claim_phase(claim, phase)
            if phase == "Lost" and _phase(claim) != "Lost":
                plan.events.append((claim, "Warning", "ClaimLost",
                                    "Bound claim has lost its PersistentVolume. Data on "
                                    "the volume is lost!"))
            return plan
        ref = (pv.get("spec") or {}).get("claimRef") or {}
        if ref and not _prebound_to(pv, claim):
            plan.actions += _set_claim_phase(claim, "Pending")
            return plan
        plan.actions += bind(pv, claim)
        return plan
    for pv in sorted(volumes.values(), key=lambda v: _meta(v).get("name", "")):
        if _prebound_to(pv, claim) and not _meta(pv).get("deletionTimestamp"):
            plan.actions += bind(pv, claim)
            return plan
    sc = classes.get(claim_class(claim))
    wffc = sc is not None and sc.get("volumeBindingMode") == WFFC
    selected = _ann(claim).get(SELECTED_NODE)
    if wffc and not selected:
        plan.actions += _set_claim_phase(claim, "Pending")
        plan.events.append((claim, "Normal", "WaitForFirstConsumer",
                            "waiting for first consumer to be created before binding"))
        return plan
    pv = best_volume(list(volumes.values()), claim, nodes.get(selected or ""), wffc)
    if pv is not None:
        plan.actions += bind(pv, claim)
        return plan
    plan.actions += _set_claim_phase(claim, "Pending")
    if sc is None:
        if claim_class(claim):
            plan.events.append((claim, "Warning", "ProvisioningFailed",
                                f'storageclass.storage.k8s.io "{claim_class(claim)}" not '
                                "found"))
        else:
            plan.events.append((claim, "Normal", "FailedBinding",
                                "no persistent volumes available for this claim and no "
                                "storage class is set"))
        return plan
    if sc.get("provisioner") != PROVISIONER or not selected:
        plan.events.append((claim, "Normal", "ExternalProvisioning",
                            "Waiting for a volume to be created either by the external "
                            f"provisioner '{sc.get('provisioner')}' or manually by the "
                            "system administrator. If volume creation is delayed, please "
                            "verify that the provisioner is running and correctly "
                            "registered."))
        return plan
    new = provisioned_volume(claim, sc, selected, volume_dir)
    if new["metadata"]["name"] not in volumes:
        plan.actions.append(Action("create_pv", new))
        plan.events.append((claim, "Normal", "ProvisioningSucceeded",
                            f"Successfully provisioned volume {new['metadata']['name']}"))
    return plan


def provisioned_path(pv: dict) -> str:
    """The directory the provisioner made for `pv` ('' if it did not make it)."""
    if _ann(pv).get(PROVISIONED_BY) != PROVISIONER:
        return ""
    return ((pv.get("spec") or {}).get("hostPath") or {}).get("path") or ""


def sync_volume(pv: dict, claims: dict[str, dict]) -> Plan:
    """What to write for one volume (claims by 'namespace/name'): phase and reclaim."""
    plan = Plan()
    if _meta(pv).get("deletionTimestamp"):
        return plan
    spec = pv.get("spec") or {}
    ref = spec.get("claimRef") or {}
    if not ref:
        if _phase(pv) != "Available":
            plan.actions.append(Action("pv_status", dict(pv, status={"phase": "Available"})))
        return plan
    claim = claims.get(f"{ref.get('namespace')}/{ref.get('name')}")
    if claim is not None and ref.get("uid") in (None, "", _meta(claim).get("uid")):
        if ref.get("uid") and (claim.get("spec") or {}).get("volumeName") == \
                _meta(pv).get("name") and _phase(pv) != "Bound":
            plan.actions.append(Action("pv_status", dict(pv, status={"phase": "Bound"})))
        elif not ref.get("uid") and _phase(pv) != "Available":
            plan.actions.append(Action("pv_status", dict(pv, status={"phase": "Available"})))
        return plan
    if not ref.get("uid"):
        if _phase(pv) != "Available":  # pre-bound to a claim not yet created
            plan.actions.append(Action("pv_status", dict(pv, status={"phase": "Available"})))
        return plan
    policy = spec.get("persistentVolumeReclaimPolicy") or "Retain"
    if policy == "Delete":
        if _phase(pv) != "Released":
            plan.actions.append(Action("pv_status", dict(pv, status={"phase": "Released"})))
        plan.actions.append(Action("delete_pv", pv, provisioned_path(pv)))
    elif _phase(pv) != "Released":
        plan.actions.append(Action("pv_status", dict(pv, status={"phase": "Released"})))
    return plan
