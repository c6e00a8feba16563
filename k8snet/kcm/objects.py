"""Small facts about API objects that several controllers need (pure)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Iterable, Optional

from k8snet.api.selectors import label_selector_from_dict
from k8snet.machinery.conditions import condition, is_ready
from k8snet.machinery.timefmt import parse_time

# rand.SafeEncodeString's alphabet: no vowels (no words), no 0/1/3 (look like letters).
_SAFE = "bcdfghjklmnpqrstvwxz2456789"


def meta(obj: dict) -> dict:
    return obj.get("metadata") or {}


def name_of(obj: dict) -> str:
    return meta(obj).get("name", "")


def uid_of(obj: dict) -> str:
    return meta(obj).get("uid", "")


def controller_uid(obj: dict) -> Optional[str]:
    """The uid of the object's controller (ownerReference with controller: true)."""
    for ref in meta(obj).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref.get("uid")
    return None


def controller_ref(obj: dict) -> Optional[dict]:
    for ref in meta(obj).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref
    return None


def owner_reference(owner: dict, kind: str, api_version: str) -> dict:
    """A controller ownerReference pointing at `owner`."""
    return {"apiVersion": api_version, "kind": kind, "name": name_of(owner),
            "uid": uid_of(owner), "controller": True, "blockOwnerDeletion": True}


def owned_by(items: Iterable[dict], owner: dict) -> list[dict]:
    """Objects in the owner's namespace whose controller is `owner`."""
    uid, ns = uid_of(owner), meta(owner).get("namespace")
    return [o for o in items if controller_uid(o) == uid and meta(o).get("namespace") == ns]


def is_terminating(obj: dict) -> bool:
    return bool(meta(obj).get("deletionTimestamp"))


def is_active_pod(pod: dict) -> bool:
    """Counts toward a ReplicaSet: not Succeeded/Failed and not being deleted."""
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and not is_terminating(pod)


def is_pod_available(pod: dict, min_ready_seconds: int, now: dt.datetime) -> bool:
    """Ready for at least `min_ready_seconds`."""
    if not is_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    since = parse_time((condition(pod, "Ready") or {}).get("lastTransitionTime"))
    return since is not None and since + dt.timedelta(seconds=min_ready_seconds) <= now


def selector_matches(selector: Optional[dict], labels: Optional[dict]) -> bool:
    """A metav1.LabelSelector against labels; a malformed selector matches nothing."""
    try:
        return label_selector_from_dict(selector).matches(labels or {})
    except ValueError:
        return False


def fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for byte in data:
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


def safe_encode(text: str) -> str:
    """Kubernetes' rand.SafeEncodeString."""
    return "".join(_SAFE[ord(ch) % len(_SAFE)] for ch in text)


def template_hash(template: dict, collision_count: int = 0) -> str:
    """The pod-template-hash label value: FNV-32a of the template, safe-encoded."""
    data = json.dumps(template, sort_keys=True, separators=(",", ":")).encode()
    if collision_count:
        data += str(collision_count).encode()
    return safe_encode(str(fnv32a(data)))


def timestamp(text: Optional[str]) -> float:
    """Seconds since the epoch of a metav1.Time (0 when absent)."""
    t = parse_time(text)
    return t.timestamp() if t else 0.0
