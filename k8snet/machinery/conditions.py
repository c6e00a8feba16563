"""Status conditions (Pod, Node, Deployment, Job, ...): read them one way everywhere.

    condition(obj, "Ready") -> dict | None     the condition of that type in status.conditions
    is_true(obj, "Ready") -> bool              its status is "True"
    status_of(obj, "Ready") -> str | None      "True", "False", "Unknown" or None when absent
    is_ready(obj) -> bool                      is_true(obj, "Ready"): a Ready Pod or Node
"""

from __future__ import annotations

from typing import Optional


def condition(obj: Optional[dict], kind: str) -> Optional[dict]:
    """The condition of type `kind` in obj.status.conditions, or None."""
    status = (obj or {}).get("status") or {}
    for cond in status.get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == kind:
            return cond
    return None


def status_of(obj: Optional[dict], kind: str) -> Optional[str]:
    """'True', 'False', 'Unknown' or None when the object has no such condition."""
    cond = condition(obj, kind)
    return None if cond is None else cond.get("status")


def is_true(obj: Optional[dict], kind: str) -> bool:
    """Whether the condition of type `kind` has status "True"."""
    return status_of(obj, kind) == "True"


def is_ready(obj: Optional[dict]) -> bool:
    """A Pod or Node whose Ready condition is True."""
    return is_true(obj, "Ready")
