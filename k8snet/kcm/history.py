"""ControllerRevisions: the template history of DaemonSets and StatefulSets (pure).

Each distinct Pod template an owner had is kept as a ControllerRevision named
`<owner>-<hash>` (the hash of the template, as the Pods' controller-revision-hash
label), holding a patch that restores it, and numbered: the current template has the
highest revision. Going back to an old template renumbers its revision instead of
creating another. Old revisions no live Pod uses are pruned past revisionHistoryLimit.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Optional

from k8snet.kcm.objects import meta, name_of, owned_by, owner_reference, template_hash

HASH_LABEL = "controller-revision-hash"


@dataclass
class RevisionPlan:
    """The current revision's `hash` and `number`; a revision to `create`, revision
    numbers to `renumber` (name -> revision), revisions to `delete`."""

    hash: str
    number: int
    create: Optional[dict] = None
    renumber: dict[str, int] = field(default_factory=dict)
    delete: list[str] = field(default_factory=list)


def revision_data(template: dict) -> dict:
    """What a revision holds: a strategic merge patch replacing spec.template."""
    return {"spec": {"template": dict(copy.deepcopy(template), **{"$patch": "replace"})}}


def revision_hash(template: dict, collisions: int = 0) -> str:
    return template_hash(template, collisions)


def _number(rev: dict) -> int:
    return int(rev.get("revision") or 0)


def plan_revisions(owner: dict, kind: str, revisions: list[dict], live_hashes: set[str],
                   limit: int = 10) -> RevisionPlan:
    """Compare the owner's ControllerRevisions with its current template."""
    spec = owner.get("spec") or {}
    template = spec.get("template") or {}
    collisions = int((owner.get("status") or {}).get("collisionCount") or 0)
    cur = revision_hash(template, collisions)
    mine = sorted(owned_by(revisions, owner), key=_number)
    top = max((_number(r) for r in mine), default=0)
    name = f"{name_of(owner)}-{cur}"
    existing = next((r for r in mine if name_of(r) == name), None)
    plan = RevisionPlan(hash=cur, number=top)
    if existing is None:
        plan.number = top + 1
        labels = dict((template.get("metadata") or {}).get("labels") or {}, **{HASH_LABEL: cur})
        plan.create = {
            "apiVersion": "apps/v1", "kind": "ControllerRevision",
            "metadata": {"name": name, "namespace": meta(owner).get("namespace", "default"),
                         "labels": labels,
                         "ownerReferences": [owner_reference(owner, kind, "apps/v1")]},
            "data": revision_data(template), "revision": plan.number}
    elif _number(existing) != top:
        plan.number = top + 1
        plan.renumber[name] = plan.number
    old = [r for r in mine if name_of(r) != name and
           (meta(r).get("labels") or {}).get(HASH_LABEL) not in live_hashes]
    excess = len(old) - max(0, limit)
    plan.delete = [name_of(r) for r in old[:max(0, excess)]]
    return plan
