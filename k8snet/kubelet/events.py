"""Events the kubelet records about Pods (pure builders, Kubernetes' shapes)."""

from __future__ import annotations

import hashlib
from typing import Any, Dict, Mapping, Optional, Tuple

from k8snet.machinery.timefmt import format_time

NORMAL, WARNING = "Normal", "Warning"


def field_path(container: Optional[str], init: bool = False) -> str:
    if not container:
        return ""
    return f"spec.{'initContainers' if init else 'containers'}{{{container}}}"


def event_key(pod: Mapping[str, Any], reason: str, message: str, path: str) -> Tuple[str, ...]:
    """What makes two events 'the same' (then the count goes up instead)."""
    meta = pod.get("metadata", {})
    return (meta.get("namespace", ""), meta.get("uid", ""), reason, message, path)


def build_event(pod: Mapping[str, Any], reason: str, message: str, etype: str, node: str,
                now: float, path: str = "") -> Dict[str, Any]:
    """A core/v1 Event about a Pod, from the kubelet on `node`."""
    meta = pod.get("metadata", {})
    seed = f"{meta.get('uid')}{reason}{message}{path}{now}".encode()
    suffix = hashlib.sha1(seed).hexdigest()[:16]
    involved = {"kind": "Pod", "apiVersion": "v1", "namespace": meta.get("namespace"),
                "name": meta.get("name"), "uid": meta.get("uid")}
    if meta.get("resourceVersion"):
        involved["resourceVersion"] = meta["resourceVersion"]
    if path:
        involved["fieldPath"] = path
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{meta.get('name')}.{suffix}", "namespace": meta.get("namespace")},
        "involvedObject": involved,
        "reason": reason,
        "message": message,
        "type": etype,
        "source": {"component": "kubelet", "host": node},
        "reportingComponent": "kubelet",
        "reportingInstance": node,
        "firstTimestamp": format_time(now),
        "lastTimestamp": format_time(now),
        "eventTime": None,
        "count": 1,
        "action": reason,
    }


def bump(event: Mapping[str, Any], now: float) -> Dict[str, Any]:
    """Merge patch for a repeat of an event: count + 1, lastTimestamp now."""
    return {"count": int(event.get("count", 1)) + 1, "lastTimestamp": format_time(now)}


__all__ = ["NORMAL", "WARNING", "build_event", "bump", "event_key", "field_path"]
