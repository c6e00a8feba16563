"""Posting Events to the apiserver, repeats folded into a count (best effort)."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

from k8snet.kubelet import events
from k8snet.machinery.client import ApiClient, ApiError

MAX_REMEMBERED = 2000


class Recorder:
    """Creates an Event, or bumps the count of the same one created before."""

    def __init__(self, api: ApiClient, node: str, clock: Callable[[], float] = time.time,
                 log: Optional[logging.Logger] = None):
        self.api, self.node, self.clock = api, node, clock
        self.log = log or logging.getLogger("k8snet.kubelet")
        self._lock = threading.Lock()
        self._seen: Dict[Tuple[str, ...], Dict[str, Any]] = {}

    def event(self, pod: Mapping[str, Any], etype: str, reason: str, message: str,
              container: str = "", init: bool = False) -> None:
        path = events.field_path(container, init)
        key = events.event_key(pod, reason, message, path)
        now = self.clock()
        self.log.info("event %s %s/%s %s: %s", etype, pod.get("metadata", {}).get("namespace"),
                      pod.get("metadata", {}).get("name"), reason, message)
        with self._lock:
            prior = self._seen.get(key)
        try:
            if prior is not None:
                body = events.bump(prior, now)
                self.api.patch("events", prior["metadata"]["name"], body,
                               namespace=prior["metadata"]["namespace"])
                prior.update(body)
                return
            ev = events.build_event(pod, reason, message, etype, self.node, now, path)
            self.api.create("events", ev)
        except ApiError as exc:
            self.log.warning("cannot record event %s for %s: %s", reason,
                             pod.get("metadata", {}).get("name"), exc)
            with self._lock:
                self._seen.pop(key, None)
            return
        with self._lock:
            if len(self._seen) >= MAX_REMEMBERED:
                self._seen.clear()
            self._seen[key] = ev

    def forget_pod(self, uid: str) -> None:
        with self._lock:
            for key in [k for k in self._seen if k[1] == uid]:
                del self._seen[key]
