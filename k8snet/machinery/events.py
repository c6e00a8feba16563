"""core/v1 Events about objects, as components record them for `kubectl describe`."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Optional

from k8snet.machinery.client import ApiClient, ApiError
from k8snet.machinery.timefmt import format_micro_time, format_time


def make_event(obj: dict, reason: str, message: str, event_type: str, component: str,
               now: dt.datetime, instance: str = "", action: str = "") -> dict:
    """An Event about `obj` (its involvedObject) from `component` at `now`."""
    meta = obj.get("metadata", {})
    namespace = meta.get("namespace") or "default"
    stamp = format_time(now)
    involved = {"kind": obj.get("kind") or "Pod", "apiVersion": obj.get("apiVersion") or "v1",
                "name": meta.get("name"), "namespace": meta.get("namespace"),
                "uid": meta.get("uid"), "resourceVersion": meta.get("resourceVersion")}
    event = {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": f"{meta.get('name')}.{int(now.timestamp() * 1e9):x}",
                     "namespace": namespace},
        "involvedObject": {k: v for k, v in involved.items() if v},
        "reason": reason, "message": message, "type": event_type,
        "source": {"component": component},
        "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1,
        "eventTime": format_micro_time(now),
        "reportingComponent": component, "reportingInstance": instance or component,
    }
    if action:
        event["action"] = action
    return event


def record_event(client: ApiClient, obj: dict, reason: str, message: str, event_type: str,
                 component: str, now: Optional[dt.datetime] = None,
                 log: Optional[logging.Logger] = None, action: str = "") -> None:
    """Create the Event; failures are logged, never raised (events are best effort)."""
    event = make_event(obj, reason, message, event_type, component,
                       now or dt.datetime.now(dt.timezone.utc), action=action)
    try:
        client.create("events", event, event["metadata"]["namespace"])
    except ApiError as exc:
        (log or logging.getLogger("k8snet.events")).warning("event %s: %s", reason, exc)
