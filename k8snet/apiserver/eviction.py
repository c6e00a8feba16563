"""POST pods/<name>/eviction: delete a Pod unless a PodDisruptionBudget forbids it.

Public names:

    evict(registry, ns, name, body, ctx) -> dict   the success Status (HTTP 201); 429 when
                                                   the budget allows no disruption now
    decide(pod, pdbs) -> (verdict, pdb | None)     pure: "delete" | "no-budget-check" |
                                                   "budget" | "processing" | "violates" |
                                                   "multiple"

As upstream: a Pod that is not running yet, has finished or is already being deleted is
deleted without looking at budgets; a budget whose status has not caught up with its
generation refuses; a budget with disruptionsAllowed > 0 is charged one disruption (and
records the Pod in status.disruptedPods) before the Pod is deleted.
"""

from __future__ import annotations

import copy
from typing import Optional

from k8snet.api import selectors
from k8snet.apiserver import objects as o
from k8snet.apiserver.context import Ctx
from k8snet.apiserver.status import ApiStatusError, bad_request

VIOLATES = "Cannot evict pod as it would violate the pod's disruption budget."


def _matches(pdb: dict, pod: dict) -> bool:
    if pdb.get("metadata", {}).get("deletionTimestamp"):
        return False
    try:
        sel = selectors.label_selector_from_dict((pdb.get("spec") or {}).get("selector"))
    except ValueError:
        return False
    return sel.matches((pod.get("metadata") or {}).get("labels") or {})


def decide(pod: dict, pdbs: list[dict]) -> tuple[str, Optional[dict]]:
    """What an eviction of `pod` does given the namespace's budgets."""
    phase = (pod.get("status") or {}).get("phase")
    if phase in ("Pending", "Succeeded", "Failed") or \
            (pod.get("metadata") or {}).get("deletionTimestamp"):
        return "no-budget-check", None
    matching = [p for p in pdbs if _matches(p, pod)]
    if not matching:
        return "delete", None
    if len(matching) > 1:
        return "multiple", None
    pdb = matching[0]
    status = pdb.get("status") or {}
    if int(status.get("observedGeneration") or 0) < int(pdb["metadata"].get("generation")
                                                        or 1):
        return "processing", pdb
    if int(status.get("disruptionsAllowed") or 0) <= 0:
        return "violates", pdb
    return "budget", pdb


def _charge(reg, pdb: dict, pod_name: str, ctx: Ctx) -> None:
    info = reg.table.get("policy", "v1", "poddisruptionbudgets")
    meta = pdb["metadata"]

    def mutate(cur: Optional[dict]) -> dict:
        assert cur is not None
        new = copy.deepcopy(cur)
        status = new.setdefault("status", {})
        allowed = int(status.get("disruptionsAllowed") or 0)
        if allowed <= 0:
            raise ApiStatusError(429, VIOLATES, "TooManyRequests",
                                 {"causes": [{"reason": "DisruptionBudget",
                                              "message": f"The disruption budget "
                                                         f"{meta['name']} needs more healthy "
                                                         "pods"}]})
        status["disruptionsAllowed"] = allowed - 1
        status.setdefault("disruptedPods", {})[pod_name] = o.rfc3339(reg.clock())
        return new
    reg.guaranteed_update(info, meta["namespace"], meta["name"], mutate, ctx,
                          subresource="status")


def evict(reg, ns: str, name: str, body: object, ctx: Ctx) -> dict:
    """Evict one Pod (the registry's delete rules apply once budgets allow it)."""
    if not isinstance(body, dict):
        raise bad_request("the body of the request must be an Eviction object")
    body_name = (body.get("metadata") or {}).get("name") if isinstance(
        body.get("metadata"), dict) else None
    if body_name not in (None, "", name):
        raise bad_request("name in URL does not match name in Eviction object")
    pods = reg.table.get("", "v1", "pods")
    pod = reg.get(pods, ns, name)
    pdb_info = reg.table.get("policy", "v1", "poddisruptionbudgets")
    pdbs, _, _ = reg.list(pdb_info, ns, Ctx())
    verdict, pdb = decide(pod, pdbs)
    if verdict == "multiple":
        raise ApiStatusError(500, "This pod has more than one PodDisruptionBudget, which the "
                             "eviction subresource does not support.", "InternalError")
    if verdict == "processing":
        raise ApiStatusError(429, f"{VIOLATES} The disruption budget "
                             f"{pdb['metadata']['name']} is still being processed by the "
                             "server.", "TooManyRequests")
    if verdict == "violates":
        raise ApiStatusError(429, VIOLATES, "TooManyRequests", {"causes": [
            {"reason": "DisruptionBudget", "message": f"The disruption budget "
             f"{pdb['metadata']['name']} needs more healthy pods"}]})
    options = body.get("deleteOptions") if isinstance(body.get("deleteOptions"), dict) else {}
    if verdict == "budget" and not ctx.dry_run:
        _charge(reg, pdb, name, ctx)
    reg.delete(pods, ns, name, dict(options), ctx)
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "code": 201}
