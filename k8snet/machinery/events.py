"""core/v1 Events about objects, as components record them for `kubectl describe`.

One recorder for every component (kubelet, scheduler, controller-manager loops):

    recorder = EventRecorder(client, "kubelet", host="w1")
    recorder.event(pod, WARNING, "BackOff", "Back-off restarting failed container app",
                   field_path=container_field_path("app"))

Events have the shape client-go's record package gives them: named
``<object>.<unix nanoseconds in hex>`` in the object's namespace ("default" for
cluster-scoped objects), source {component, host}, reportingComponent/Instance,
first and last timestamps. A repeat of the same event (same object, type, reason,
message, field path) within the recorder's memory is folded into the first one:
its count goes up and lastTimestamp moves, as upstream's EventCorrelator does.
Recording is best effort: a failure is logged, never raised. A recorder made with
``background=True`` (the kubelet's) sends from a thread of its own, in the order
recorded, as client-go's event broadcaster does, so a Pod's sync does not wait for
the apiserver to store its events; `flush` waits until those recorded are sent.

`eventTime` (MicroTime) and `action` are set only when an action is given, as the
events.k8s.io recorder the scheduler uses does.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from typing import Any, Callable, Mapping, Optional

from k8snet.machinery.client import ApiClient, ApiError
from k8snet.machinery.timefmt import format_micro_time, format_time

NORMAL, WARNING = "Normal", "Warning"
MAX_REMEMBERED = 2000
MAX_QUEUED = 10000   # a background recorder drops events beyond this (apiserver away)


def container_field_path(container: str, init: bool = False) -> str:
    """involvedObject.fieldPath of one of a Pod's containers: spec.containers{name}."""
    return f"spec.{'initContainers' if init else 'containers'}{{{container}}}" \
        if container else ""


def involved_object(obj: Mapping[str, Any], field_path: str = "") -> dict:
    """The ObjectReference of `obj` (which must carry kind and apiVersion)."""
    meta = obj.get("metadata") or {}
    ref = {"kind": obj.get("kind"), "apiVersion": obj.get("apiVersion"),
           "namespace": meta.get("namespace"), "name": meta.get("name"),
           "uid": meta.get("uid"), "resourceVersion": meta.get("resourceVersion"),
           "fieldPath": field_path}
    return {k: v for k, v in ref.items() if v}


def make_event(obj: Mapping[str, Any], event_type: str, reason: str, message: str,
               component: str, now: float, host: str = "", field_path: str = "",
               action: str = "", name_nanos: Optional[int] = None) -> dict:
    """A new Event about `obj` from `component` (on `host`) at `now` (Unix seconds)."""
    ref = involved_object(obj, field_path)
    stamp = format_time(now)
    nanos = name_nanos if name_nanos is not None else int(now * 1e9)
    source = {"component": component, **({"host": host} if host else {})}
    event: dict = {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": f"{ref.get('name')}.{nanos:x}",
                     "namespace": ref.get("namespace") or "default"},
        "involvedObject": ref,
        "reason": reason, "message": message, "type": event_type,
        "source": source,
        "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1,
        "eventTime": format_micro_time(now) if action else None,
        "reportingComponent": component,
    }
    if host:
        event["reportingInstance"] = host
    if action:
        event["action"] = action
    return event


def event_key(event: Mapping[str, Any]) -> tuple:
    """What makes two events the same one (then the first one's count goes up)."""
    ref = event.get("involvedObject") or {}
    return (ref.get("namespace", ""), ref.get("kind"), ref.get("name"), ref.get("uid", ""),
            ref.get("fieldPath", ""), event.get("type"), event.get("reason"),
            event.get("message"), (event.get("source") or {}).get("component"))


def repeat_patch(event: Mapping[str, Any], now: float) -> dict:
    """Merge patch for a repeat of `event`: count + 1, lastTimestamp now."""
    return {"count": int(event.get("count") or 1) + 1, "lastTimestamp": format_time(now)}


class EventRecorder:
    """Records Events for one component; repeats are counted on the first Event."""

    def __init__(self, client: ApiClient, component: str, host: str = "",
                 clock: Callable[[], float] = time.time, log: Optional[logging.Logger] = None,
                 background: bool = False):
        self.client = client
        self.component = component
        self.host = host
        self.clock = clock
        self.log = log or logging.getLogger(f"k8snet.events.{component}")
        self.background = background
        self._lock = threading.Lock()
        self._seen: dict[tuple, dict] = {}
        self._last_nanos = 0
        self._queue: collections.deque = collections.deque()
        self._wake = threading.Condition()
        self._sending = False
        self._sender: Optional[threading.Thread] = None

    def event(self, obj: Mapping[str, Any], event_type: str, reason: str, message: str,
              field_path: str = "", action: str = "") -> None:
        """Record that `reason` happened to `obj` (best effort)."""
        now = self.clock()
        with self._lock:
            # names must differ even for events recorded in the same nanosecond
            self._last_nanos = max(int(now * 1e9), self._last_nanos + 1)
            nanos = self._last_nanos
        event = make_event(obj, event_type, reason, message, self.component, now, self.host,
                           field_path, action, nanos)
        if not self.background:
            self._send(event, now, reason)
            return
        with self._wake:
            if len(self._queue) >= MAX_QUEUED:
                self.log.warning("event queue full: dropping event %s for %s", reason,
                                 event["involvedObject"].get("name"))
                return
            self._queue.append((event, now, reason))
            if self._sender is None:
                self._sender = threading.Thread(target=self._send_queued, daemon=True,
                                                name=f"events-{self.component}")
                self._sender.start()
            self._wake.notify_all()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every event recorded so far is sent (or failed); False at the
        timeout."""
        end = time.monotonic() + timeout
        with self._wake:
            while self._queue or self._sending:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._wake.wait(left)
        return True

    def _send_queued(self) -> None:
        while True:
            with self._wake:
                while not self._queue:
                    self._wake.wait()
                event, now, reason = self._queue.popleft()
                self._sending = True
            try:
                self._send(event, now, reason)
            except Exception:  # best effort: never let the sender die
                self.log.exception("recording event %s", reason)
            finally:
                with self._wake:
                    self._sending = False
                    self._wake.notify_all()

    def _send(self, event: dict, now: float, reason: str) -> None:
        key = event_key(event)
        with self._lock:
            prior = self._seen.get(key)
        try:
            if prior is not None:
                body = repeat_patch(prior, now)
                self.client.patch("events", prior["metadata"]["name"], body,
                                  namespace=prior["metadata"]["namespace"])
                with self._lock:
                    prior.update(body)
                return
            self.client.create("events", event, event["metadata"]["namespace"])
        except ApiError as exc:
            self.log.warning("cannot record event %s for %s: %s", reason,
                             event["involvedObject"].get("name"), exc)
            with self._lock:
                self._seen.pop(key, None)
            return
        with self._lock:
            if len(self._seen) >= MAX_REMEMBERED:
                self._seen.clear()
            self._seen[key] = event

    def forget(self, uid: str) -> None:
        """Drop what is remembered about the object with this uid (it is gone)."""
        with self._lock:
            for key in [k for k in self._seen if k[3] == uid]:
                del self._seen[key]
