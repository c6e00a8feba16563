"""A CRD's status as apiextensions-apiserver's controllers keep it (pure decisions).

- naming: spec.names become status.acceptedNames unless another CRD of the same group
  already accepted the same plural/singular/short name (or kind/list kind); the
  NamesAccepted condition says which (PluralConflict, ..., NoConflicts);
- establishing: once the names are accepted the CRD is Established
  (InitialNamesAccepted); until then Established is False (NotAccepted or Installing);
- NonStructuralSchema: present (True, Violations) only while a version's schema is not
  structural, which a v1 CRD written through the API never is;
- Terminating: set when the CRD is deleted, then while its custom resources are removed
  by the customresourcecleanup finalizer.

Public names:

    CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"
    condition(status, type) -> dict | None
    is_true(crd, type) -> bool
    set_condition(status, cond, now) -> None     keeps lastTransitionTime when the status
                                                  of the condition does not change
    names_and_conditions(crd, group_crds) -> (accepted, names_accepted, established)
    nonstructural_condition(crd) -> dict | None
    reconcile(crd, all_crds, now) -> dict | None  the status the CRD should have, None when
                                                  it already has it
    terminating(reason, message="") -> dict       Terminating condition for a phase of
                                                  deletion (InstanceDeletionPending, ...)
    stored_version_added(crd) -> None             the storage version is appended to
                                                  status.storedVersions (create and update)
"""

from __future__ import annotations

import copy
from typing import Any, Iterable, Optional

from k8snet.apiextensions import structural
from k8snet.apiextensions.crddefaults import storage_version, versions
from k8snet.apiextensions.goerrors import cause_text

CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"
_TERMINATING = {
    "InstanceDeletionPending": ("True", "CustomResourceDefinition marked for deletion; "
                                        "CustomResource deletion will begin soon"),
    "InstanceDeletionInProgress": ("True", "CustomResource deletion is in progress"),
    "InstanceDeletionCompleted": ("False", "removed all instances"),
    "NeverEstablished": ("False", "resource was never established"),
    "InstanceDeletionCheck": ("True", "could not confirm zero CustomResources remaining: "
                                      "timed out waiting for the condition"),
    "InstanceDeletionFailed": ("True", "could not issue all deletes"),
}


def _d(parent: Any, name: str) -> dict:
    v = parent.get(name) if isinstance(parent, dict) else None
    return v if isinstance(v, dict) else {}


def condition(status: Any, ctype: str) -> Optional[dict]:
    """The condition of that type in a CRD status, if any."""
    for c in (status or {}).get("conditions") or []:
        if isinstance(c, dict) and c.get("type") == ctype:
            return c
    return None


def is_true(crd: Any, ctype: str) -> bool:
    """Is the CRD's condition of that type True?"""
    c = condition(_d(crd, "status"), ctype)
    return c is not None and c.get("status") == "True"


def set_condition(status: dict, cond: dict, now: str) -> None:
    """Set (or add) a condition; lastTransitionTime moves only when its status changes."""
    conds = status.setdefault("conditions", [])
    old = condition(status, cond["type"])
    new = dict(cond)
    if old is None:
        new["lastTransitionTime"] = now
        conds.append(new)
        return
    if old.get("status") != new.get("status") or not old.get("lastTransitionTime"):
        new["lastTransitionTime"] = now
    else:
        new["lastTransitionTime"] = old["lastTransitionTime"]
    old.clear()
    old.update({k: new[k] for k in ("type", "status", "lastTransitionTime", "reason", "message")
                if k in new})


def _equivalent(a: Optional[dict], b: Optional[dict]) -> bool:
    if a is None or b is None:
        return a is b
    return all(a.get(k) == b.get(k) for k in ("type", "status", "reason", "message"))


def _used(group_crds: Iterable[dict]) -> tuple[set, set]:
    resources: set = set()
    kinds: set = set()
    for other in group_crds:
        names = _d(_d(other, "status"), "acceptedNames")
        resources.update(x for x in (names.get("plural"), names.get("singular")) if x)
        resources.update(x for x in names.get("shortNames") or [] if isinstance(x, str))
        kinds.update(x for x in (names.get("kind"), names.get("listKind")) if x)
    return resources, kinds


def _conflict(requested: Any, accepted: Any, used: set) -> Optional[str]:
    if requested == accepted or requested not in used:
        return None
    return f'"{requested}" is already in use'


def names_and_conditions(crd: dict, group_crds: Iterable[dict]) -> tuple[dict, dict, dict]:
    """(acceptedNames, NamesAccepted condition, Established condition) for the CRD."""
    resources, kinds = _used(group_crds)
    requested = _d(_d(crd, "spec"), "names")
    accepted = _d(_d(crd, "status"), "acceptedNames")
    new = copy.deepcopy(accepted)
    cond = {"type": "NamesAccepted", "status": "Unknown"}

    def refuse(reason: str, message: str) -> None:
        cond.update(status="False", reason=reason, message=message)

    for word, reason, used in (("plural", "PluralConflict", resources),
                               ("singular", "SingularConflict", resources)):
        why = _conflict(requested.get(word), accepted.get(word), used)
        if why:
            refuse(reason, why)
        else:
            new[word] = requested.get(word)
    if (requested.get("shortNames") or []) != (accepted.get("shortNames") or []):
        existing = set(accepted.get("shortNames") or [])
        whys = [w for s in requested.get("shortNames") or [] if s not in existing
                for w in [_conflict(s, "", resources)] if w]
        if whys:
            refuse("ShortNamesConflict", whys[0] if len(whys) == 1 else
                   "[" + ", ".join(whys) + "]")
        elif requested.get("shortNames") is not None:
            new["shortNames"] = list(requested["shortNames"])
        else:
            new.pop("shortNames", None)
    for word, reason in (("kind", "KindConflict"), ("listKind", "ListKindConflict")):
        why = _conflict(requested.get(word), accepted.get(word), kinds)
        if why:
            refuse(reason, why)
        else:
            new[word] = requested.get(word)
    if requested.get("categories") is not None:
        new["categories"] = list(requested["categories"])
    else:
        new.pop("categories", None)
    if cond["status"] == "Unknown":
        cond.update(status="True", reason="NoConflicts", message="no conflicts found")
    established = {"type": "Established", "status": "False", "reason": "NotAccepted",
                   "message": "not all names are accepted"}
    old_est = condition(_d(crd, "status"), "Established")
    if old_est is not None:
        established = {k: old_est[k] for k in ("type", "status", "reason", "message")
                       if k in old_est}
    if established.get("status") != "True" and cond["status"] == "True":
        established = {"type": "Established", "status": "False", "reason": "Installing",
                       "message": "the initial names have been accepted"}
    return {k: v for k, v in new.items() if v is not None}, cond, established


def nonstructural_condition(crd: dict) -> Optional[dict]:
    """NonStructuralSchema=True with the violations, or None when every schema is fine."""
    spec = _d(crd, "spec")
    problems: list[str] = []
    if spec.get("preserveUnknownFields") is True:
        problems.append("spec.preserveUnknownFields: Invalid value: true: must be false")
    for i, v in enumerate(versions(crd)):
        schema = _d(v, "schema").get("openAPIV3Schema")
        if not isinstance(schema, dict):
            continue
        why = structural.unsupported(schema)
        if why:
            return {"type": "NonStructuralSchema", "status": "Unknown", "reason":
                    "StructuralError", "message": f"failed to check validation schema for "
                                                  f"version {v.get('name')}: {why}"}
        path = f"spec.versions[{i}].schema.openAPIV3Schema"
        problems.extend(cause_text(c) for c in structural.check(schema, path))
    if not problems:
        return None
    message = problems[0] if len(problems) == 1 else "[" + ", ".join(problems) + "]"
    return {"type": "NonStructuralSchema", "status": "True", "reason": "Violations",
            "message": message}


def reconcile(crd: dict, all_crds: Iterable[dict], now: str) -> Optional[dict]:
    """The status the naming, establishing and non-structural controllers converge to."""
    status = copy.deepcopy(_d(crd, "status"))
    before = copy.deepcopy(status)
    group = _d(crd, "spec").get("group")
    peers = [c for c in all_crds if _d(c, "spec").get("group") == group]
    names = _d(_d(crd, "spec"), "names")
    if names != status.get("acceptedNames"):
        accepted, names_cond, established = names_and_conditions(crd, peers)
        if accepted != status.get("acceptedNames") or not _equivalent(
                names_cond, condition(status, "NamesAccepted")):
            status["acceptedNames"] = accepted
            set_condition(status, names_cond, now)
            set_condition(status, established, now)
    names_ok = condition(status, "NamesAccepted")
    if names_ok is not None and names_ok.get("status") == "True" and \
            not _d(crd, "metadata").get("deletionTimestamp"):
        est = condition(status, "Established")
        if est is None or est.get("status") != "True":
            set_condition(status, {"type": "Established", "status": "True",
                                   "reason": "InitialNamesAccepted",
                                   "message": "the initial names have been accepted"}, now)
    nonstructural = nonstructural_condition(crd)
    if nonstructural is None:
        status["conditions"] = [c for c in status.get("conditions") or []
                                if c.get("type") != "NonStructuralSchema"]
    elif not _equivalent(nonstructural, condition(status, "NonStructuralSchema")):
        set_condition(status, nonstructural, now)
    if not status.get("conditions"):
        status.pop("conditions", None)
    return None if status == _without_empty_conditions(before) else status


def _without_empty_conditions(status: dict) -> dict:
    return {k: v for k, v in status.items() if k != "conditions" or v}


def terminating(reason: str, message: str = "") -> dict:
    """The Terminating condition for a phase of the CRD's deletion."""
    state, default = _TERMINATING[reason]
    message = message or default
    return {"type": "Terminating", "status": state, "reason": reason, "message": message}


def stored_version_added(crd: dict) -> None:
    """Append the storage version to status.storedVersions if it is not there yet."""
    stored = storage_version(crd)
    if not stored:
        return
    status = crd.setdefault("status", {})
    if not isinstance(status, dict):
        return
    have = status.get("storedVersions")
    if not isinstance(have, list):
        have = status["storedVersions"] = []
    if stored not in have:
        have.append(stored)
