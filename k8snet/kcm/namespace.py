"""Namespace lifecycle decisions (pure), as Kubernetes' namespace controller makes them.

A Namespace with a deletionTimestamp is emptied: every namespaced resource that discovery
lists (custom resources included; the preferred version of each group) and that can be
deleted is deleted through the API (deletecollection, else one by one, propagation
Background), then listed again. What remains is summed up in the Namespace's status
conditions (NamespaceDeletionContentFailure, NamespaceContentRemaining,
NamespaceFinalizersRemaining, with upstream's reasons and messages); while Pods are still
inside their grace period, or objects wait on finalizers, the controller looks again
later (`requeue_after`). Once nothing remains it removes its ``kubernetes`` finalizer
through ``/finalize`` and the apiserver removes the Namespace.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Iterable, Optional

from k8snet.machinery.resources import KindInfo
from k8snet.machinery.timefmt import parse_time

FINALIZER = "kubernetes"
FINALIZER_ESTIMATE_SECONDS = 15
CONDITION_TYPES = ("NamespaceDeletionDiscoveryFailure",
                   "NamespaceDeletionGroupVersionParsingFailure",
                   "NamespaceDeletionContentFailure", "NamespaceContentRemaining",
                   "NamespaceFinalizersRemaining")
OK = {  # type -> (reason, message) when nothing is wrong
    "NamespaceDeletionDiscoveryFailure": ("ResourcesDiscovered",
                                          "All resources successfully discovered"),
    "NamespaceDeletionGroupVersionParsingFailure": ("ParsedGroupVersions",
                                                    "All legacy kube types successfully parsed"),
    "NamespaceDeletionContentFailure": ("ContentDeleted", "All content successfully deleted, "
                                        "may be waiting on finalization"),
    "NamespaceContentRemaining": ("ContentRemoved", "All content successfully removed"),
    "NamespaceFinalizersRemaining": ("ContentRemoved", "All content successfully removed"),
}


def deletable_resources(infos: Iterable[KindInfo]) -> list[KindInfo]:
    """The namespaced resources a namespace is emptied of (each group/resource once)."""
    seen: set[tuple[str, str]] = set()
    out = []
    for info in infos:
        if not info.namespaced or "delete" not in info.verbs or \
                (info.group, info.plural) in seen:
            continue
        seen.add((info.group, info.plural))
        out.append(info)
    return out


def discovered_resources(core: Optional[dict], groups: Optional[dict],
                         lists: dict[str, dict]) -> list[KindInfo]:
    """KindInfo for every top-level resource discovery lists: /api/v1's APIResourceList
    (`core`), then each group's preferred version (`groups` is /apis' APIGroupList,
    `lists` the APIResourceLists by groupVersion)."""
    out: list[KindInfo] = []
    documents = [core] if core else []
    for g in (groups or {}).get("groups") or []:
        documents.append(lists.get((g.get("preferredVersion") or {}).get("groupVersion")))
    for doc in documents:
        if not doc:
            continue
        gv = str(doc.get("groupVersion") or "v1")
        group, version = gv.split("/", 1) if "/" in gv else ("", gv)
        for r in doc.get("resources") or []:
            if "/" in str(r.get("name") or ""):
                continue  # a subresource
            out.append(KindInfo(str(r.get("kind") or ""), str(r["name"]),
                                str(r.get("singularName") or ""), group, version,
                                bool(r.get("namespaced")), (), tuple(r.get("verbs") or ())))
    return out


def discovery_failure(failed: dict[str, str]) -> Optional[str]:
    """The NamespaceDeletionDiscoveryFailure message for groupVersions that did not
    answer (None when all did)."""
    if not failed:
        return None
    detail = ", ".join(f"{gv}: {err}" for gv, err in sorted(failed.items()))
    return (f"Discovery failed for some groups, {len(failed)} failing: unable to retrieve "
            f"the complete list of server APIs: {detail}")


def collection_path(info: KindInfo, namespace: str) -> str:
    """/api/v1/namespaces/NS/PLURAL or /apis/GROUP/VERSION/namespaces/NS/PLURAL."""
    root = f"/apis/{info.group}/{info.version}" if info.group else f"/api/{info.version}"
    return f"{root}/namespaces/{namespace}/{info.plural}"


def pod_estimate(pods: Iterable[dict], deleted_at: Optional[str], now: dt.datetime) -> int:
    """Seconds the Pods may still take: their longest grace period, 0 once that much time
    has passed since the namespace was deleted."""
    estimate = 0
    for pod in pods:
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        grace = (pod.get("spec") or {}).get("terminationGracePeriodSeconds")
        if isinstance(grace, int) and grace > estimate:
            estimate = grace
    since = parse_time(deleted_at)
    if since is not None and (now - since).total_seconds() >= estimate:
        return 0
    return estimate


@dataclass
class ResourceOutcome:
    """What is left of one resource after deleting it: an estimate in seconds, how many
    remain, by finalizer, and an error text."""

    estimate: int = 0
    remaining: int = 0
    finalizers: dict[str, int] = field(default_factory=dict)
    error: Optional[str] = None


def outcome(info: KindInfo, namespace: str, remaining: list[dict], estimate: int) \
        -> ResourceOutcome:
    """Upstream's verdict on the items still listed after the deletes."""
    if not remaining:
        return ResourceOutcome()
    fins: dict[str, int] = {}
    for item in remaining:
        for f in (item.get("metadata") or {}).get("finalizers") or []:
            fins[f] = fins.get(f, 0) + 1
    if estimate:
        return ResourceOutcome(estimate, len(remaining), fins)
    if fins:
        return ResourceOutcome(FINALIZER_ESTIMATE_SECONDS, len(remaining), fins)
    return ResourceOutcome(0, len(remaining), fins, (
        f"unexpected items still remain in namespace: {namespace} for gvr: "
        f"{{{info.group} {info.version} {info.plural}}}"))


def _condition(ctype: str, status: str, reason: str, message: str, now: str) -> dict:
    return {"type": ctype, "status": status, "lastTransitionTime": now, "reason": reason,
            "message": message}


def new_conditions(results: dict[KindInfo, ResourceOutcome], errors: list[str],
                   now: str, discovery: Optional[str] = None) -> list[dict]:
    """The failing conditions for these results (the others are set to their OK form);
    `discovery` is a discovery failure's message."""
    out = []
    if discovery:
        out.append(_condition("NamespaceDeletionDiscoveryFailure", "True", "DiscoveryFailed",
                              discovery, now))
    remaining = sorted(f"{info.plural}.{info.group} has {r.remaining} resource instances"
                       for info, r in results.items() if r.remaining)
    if remaining:
        out.append(_condition("NamespaceContentRemaining", "True", "SomeResourcesRemain",
                              "Some resources are remaining: " + ", ".join(remaining), now))
    fins: dict[str, int] = {}
    for r in results.values():
        if r.remaining:
            for f, n in r.finalizers.items():
                fins[f] = fins.get(f, 0) + n
    if fins:
        out.append(_condition("NamespaceFinalizersRemaining", "True", "SomeFinalizerRemain",
                              "Some finalizers are remaining: " + ", ".join(sorted(
                                  f"{f} in {n} resource instances" for f, n in fins.items())),
                              now))
    if errors:
        out.append(_condition("NamespaceDeletionContentFailure", "True",
                              "ContentDeletionFailed",
                              f"Failed to delete all resource types, {len(errors)} remaining: "
                              + ", ".join(sorted(errors)), now))
    return out


def merge_conditions(old: list[dict], failing: list[dict], now: str) -> tuple[list[dict], bool]:
    """Upstream's updateConditions: every controller-owned type present, failing ones
    True, the rest False with their OK reason; (conditions, changed)."""
    conds = [dict(c) for c in old or []]
    changed = False
    for ctype in CONDITION_TYPES:
        new = next((c for c in failing if c["type"] == ctype), None)
        if new is None:
            new = _condition(ctype, "False", *OK[ctype], now)
        cur = next((c for c in conds if c.get("type") == ctype), None)
        if cur is None:
            conds.append(new)
            changed = True
        elif (cur.get("status"), cur.get("reason"), cur.get("message")) != \
                (new["status"], new["reason"], new["message"]):
            if cur.get("status") != new["status"]:
                cur["lastTransitionTime"] = now
            cur.update(status=new["status"], reason=new["reason"], message=new["message"])
            changed = True
    return conds, changed


def finalized_spec(namespace: dict, token: str = FINALIZER) -> list[str]:
    """spec.finalizers without `token` (sorted, as upstream's set)."""
    return sorted({f for f in (namespace.get("spec") or {}).get("finalizers") or []
                   if f != token})


def requeue_after(estimate: int) -> float:
    """When to look again at a namespace whose content is still going away."""
    return estimate / 2 + 1
