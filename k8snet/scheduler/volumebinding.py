"""VolumeBinding: a Pod's PersistentVolumeClaims constrain where it may run.

`resolve` (pure) looks the Pod's claims up once per pass and attaches what the filter
needs; `volume_binding` is the filter: a missing claim or an unbound claim of an
Immediate class keeps the Pod off every node, a bound volume's nodeAffinity pins it,
and an unbound WaitForFirstConsumer claim fits a node where a matching volume exists
or its class's provisioner can make one. After choosing a node, the scheduler records
it on each such claim (volume.kubernetes.io/selected-node), as upstream's binder does.
"""

from __future__ import annotations

from typing import Optional

from k8snet.kcm import persistentvolume as pvs
from k8snet.scheduler.nodeinfo import NodeInfo

FACTS = "_volumeBinding"  # where `resolve` attaches its facts on the Pod (never sent)
CONFLICT = "node(s) had volume node affinity conflict"
NO_VOLUME = "node(s) didn't find available persistent volumes to bind"
UNBOUND_IMMEDIATE = "pod has unbound immediate PersistentVolumeClaims"


def resolve(pod: dict, claims: dict[str, dict], volumes: dict[str, dict],
            classes: dict[str, dict]) -> dict:
    """The Pod with its volume facts: missing claim, unbound Immediate claims, bound
    volumes, and WaitForFirstConsumer claims still to bind (claims by 'ns/name')."""
    ns = (pod.get("metadata") or {}).get("namespace") or "default"
    missing: Optional[str] = None
    immediate, bound, delayed = False, [], []
    for vol in (pod.get("spec") or {}).get("volumes") or []:
        src = vol.get("persistentVolumeClaim")
        if not src:
            continue
        name = src.get("claimName", "")
        claim = claims.get(f"{ns}/{name}")
        if claim is None:
            missing = missing or name
            continue
        volume_name = (claim.get("spec") or {}).get("volumeName")
        if volume_name and volume_name in volumes:
            bound.append(volumes[volume_name])
            continue
        sc = classes.get(pvs.claim_class(claim))
        if sc is not None and sc.get("volumeBindingMode") == pvs.WFFC:
            delayed.append((claim, sc))
        else:
            immediate = True
    if missing is None and not immediate and not bound and not delayed:
        return pod
    return dict(pod, **{FACTS: {"missing": missing, "immediate": immediate,
                                "bound": bound, "delayed": delayed,
                                "volumes": list(volumes.values())}})


def volume_binding(pod: dict, info: NodeInfo, cluster: list[NodeInfo]) -> list[str]:
    """The VolumeBinding filter over the facts `resolve` attached."""
    facts = pod.get(FACTS)
    if not facts:
        return []
    if facts["missing"] is not None:
        return [f'persistentvolumeclaim "{facts["missing"]}" not found']
    if facts["immediate"]:
        return [UNBOUND_IMMEDIATE]
    if any(not pvs.volume_fits_node(pv, info.node) for pv in facts["bound"]):
        return [CONFLICT]
    for claim, sc in facts["delayed"]:
        selected = ((claim.get("metadata") or {}).get("annotations") or {}) \
            .get(pvs.SELECTED_NODE)
        if selected and selected != info.name:
            return [CONFLICT]
        if sc.get("provisioner") == pvs.PROVISIONER:
            continue
        if pvs.best_volume(facts["volumes"], claim, info.node, need_node=True) is None:
            return [NO_VOLUME]
    return []


def claims_to_select(pod: dict, node: str) -> list[dict]:
    """The WaitForFirstConsumer claims to annotate with `node` (their updated copies)."""
    out = []
    for claim, _sc in (pod.get(FACTS) or {}).get("delayed") or []:
        anns = (claim.get("metadata") or {}).get("annotations") or {}
        if anns.get(pvs.SELECTED_NODE) == node:
            continue
        meta = dict(claim.get("metadata") or {}, annotations=dict(anns, **{
            pvs.SELECTED_NODE: node}))
        out.append(dict(claim, metadata=meta, kind="PersistentVolumeClaim", apiVersion="v1"))
    return out
