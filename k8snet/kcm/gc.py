"""Pod garbage collection decisions: Pods bound to Nodes that no longer exist, and
terminating Pods stuck on unreachable Nodes. (Owner/dependent collection: gcgraph.)"""

from __future__ import annotations

import datetime as dt
from typing import Iterable

from k8snet.kcm.objects import meta
from k8snet.machinery.timefmt import parse_time


def _key(obj: dict) -> str:
    m = meta(obj)
    return f"{m.get('namespace')}/{m.get('name')}"


def pods_on_missing_nodes(pods: Iterable[dict], nodes: Iterable[dict]) -> list[str]:
    """Pods bound to a Node that does not exist (force-deleted, as the Pod GC does)."""
    names = {meta(n).get("name") for n in nodes}
    return [_key(p) for p in pods
            if (p.get("spec") or {}).get("nodeName")
            and (p.get("spec") or {}).get("nodeName") not in names]


def stuck_terminating(pods: Iterable[dict], unreachable_nodes: set[str],
                      now: dt.datetime) -> list[str]:
    """Terminating Pods on unreachable Nodes past their deletion deadline: no kubelet will
    confirm them, so they are force-deleted to free their names and addresses."""
    result = []
    for p in pods:
        deadline = parse_time(meta(p).get("deletionTimestamp"))
        if deadline and (p.get("spec") or {}).get("nodeName") in unreachable_nodes \
                and now >= deadline:
            result.append(_key(p))
    return result
