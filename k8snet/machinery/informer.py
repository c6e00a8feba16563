"""List-then-watch caches of one resource, for level-triggered control loops.

An `Informer` lists a collection, then watches from the list's
resourceVersion, applying each event to an in-memory copy; a watch that ends
or fails (after a short pause) resumes from the last version seen, and only a
410 Gone lists again. Every `resync_seconds` (stretched by up to as much again
at random) its listeners are called again with the cache.
After every change it calls `on_change(items)` with the full current set
(key "namespace/name", or "name" for cluster-scoped objects), so a reconciler
never has to reason about single events.

    stop = threading.Event()
    pods = Informer(client, "pods", on_change=lambda items: kick.set())
    pods.start(stop)
    pods.wait_synced(10)
    ready = wait_until(pods, lambda items: all(is_ready(p) for p in items.values()),
                       timeout=60, what="every Pod Ready")

`wait_until` replaces polling by repeated list: it wakes on each change the
informer sees and raises `WaitTimeout` (saying what it waited for) at the deadline.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from typing import Callable, Optional

from k8snet.errors import K8snetError
from k8snet.machinery.client import ApiClient, ApiError, Gone, WatchStream

OnChange = Callable[[dict[str, dict]], None]


def object_key(obj: dict) -> str:
    """'namespace/name' for namespaced objects, 'name' otherwise."""
    meta = obj.get("metadata", {})
    ns = meta.get("namespace")
    return f"{ns}/{meta.get('name')}" if ns else str(meta.get("name"))


def jittered(seconds: float, fraction: float) -> float:
    """`seconds` stretched by `fraction` (0 <= fraction < 1) of itself: a watch asks
    for between 1 and 2 times its timeout, as client-go's reflector does, so the
    informers of 50 nodes started together do not all re-watch (or re-list) in the
    same second forever after (pure)."""
    return seconds * (1.0 + min(max(fraction, 0.0), 1.0))


class Informer:
    """A cache of one resource kept current by list and watch."""

    def __init__(self, client: ApiClient, resource: str, namespace: Optional[str] = None,
                 label_selector: Optional[str] = None, field_selector: Optional[str] = None,
                 on_change: Optional[OnChange] = None, resync_seconds: float = 300.0,
                 watch_timeout: int = 60, retry_seconds: float = 1.0,
                 log: Optional[logging.Logger] = None):
        self.client = client
        self.resource = resource
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.on_change = on_change
        self._listeners: list[OnChange] = []
        self.resync_seconds = resync_seconds
        self.watch_timeout = watch_timeout
        self.retry_seconds = retry_seconds
        self.log = log or logging.getLogger("k8snet.informer")
        self._lock = threading.Lock()
        self._items: dict[str, dict] = {}
        self._synced = threading.Event()
        self._stream: Optional[WatchStream] = None
        self._changed = threading.Condition(self._lock)
        self._generation = 0
        self.resource_version: Optional[str] = None

    def snapshot(self) -> dict[str, dict]:
        """A copy of the current key -> object map (treat the objects as read-only)."""
        with self._lock:
            return dict(self._items)

    def get(self, key: str) -> Optional[dict]:
        """One cached object by key."""
        with self._lock:
            return self._items.get(key)

    def wait_synced(self, timeout: float) -> bool:
        """True once the first list has been loaded (False after `timeout` seconds)."""
        return self._synced.wait(timeout)

    @property
    def synced(self) -> bool:
        """Whether the first list has been loaded."""
        return self._synced.is_set()

    def start(self, stop: threading.Event) -> threading.Thread:
        """Run in a daemon thread until `stop` is set."""
        thread = threading.Thread(target=self.run, args=(stop,), daemon=True,
                                  name=f"informer-{self.resource}")
        thread.start()
        closer = threading.Thread(target=self._close_on, args=(stop,), daemon=True,
                                  name=f"informer-{self.resource}-closer")
        closer.start()
        return thread

    def run(self, stop: threading.Event) -> None:
        """List, then watch until `stop` is set; errors are logged and retried.

        As client-go's reflector: a watch that ends or fails is resumed from the version
        it reached, and only a 410 Gone (that version is no longer in the history) or a
        failed list lists again. Every `resync_seconds` (stretched at random) the
        listeners are called again with the cache as it is, without asking the server:
        a re-list of every informer of every node each minute was a full read of the
        cluster's Pods 150 times over at 50 nodes, and more when an overloaded
        apiserver made watches time out.
        """
        need_list = True
        replayed_at = time.monotonic()
        resync = jittered(self.resync_seconds, random.random())
        while not stop.is_set():
            try:
                if need_list:
                    self._list()
                    need_list = False
                    replayed_at = time.monotonic()
                self._watch_once(stop)
                if time.monotonic() - replayed_at >= resync:
                    replayed_at = time.monotonic()
                    resync = jittered(self.resync_seconds, random.random())
                    self._notify()
            except Gone:
                self.log.info("%s: watch expired, re-listing", self.resource)
                need_list = True
            except ApiError as exc:
                if stop.is_set():
                    break
                self.log.warning("%s: %s; retrying in %.1fs", self.resource, exc,
                                 self.retry_seconds)
                stop.wait(self.retry_seconds)

    def _list(self) -> None:
        result = self.client.list(self.resource, self.namespace, self.label_selector,
                                  self.field_selector)
        items = {}
        for obj in result.get("items") or []:
            items[object_key(obj)] = obj
        with self._lock:
            self._items = items
            self.resource_version = (result.get("metadata") or {}).get("resourceVersion")
        self._synced.set()
        self._notify()

    def _watch_once(self, stop: threading.Event) -> None:
        stream = self.client.watch(
            self.resource, self.namespace, resource_version=self.resource_version,
            label_selector=self.label_selector, field_selector=self.field_selector,
            timeout_seconds=int(jittered(self.watch_timeout, random.random())),
            allow_bookmarks=True)
        self._stream = stream
        try:
            if stop.is_set():
                return
            for kind, obj in stream:
                self._apply(kind, obj)
        finally:
            self._stream = None
            stream.close()

    def _apply(self, kind: str, obj: dict) -> None:
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        with self._lock:
            if rv:
                self.resource_version = rv
            if kind == "BOOKMARK":
                return
            if kind == "DELETED":
                self._items.pop(object_key(obj), None)
            elif kind in ("ADDED", "MODIFIED"):
                self._items[object_key(obj)] = obj
            else:
                return
        self._notify()

    def add_listener(self, listener: OnChange) -> None:
        """Call `listener(items)` after every change too (several controllers can share
        one informer); add listeners before `start`."""
        self._listeners.append(listener)

    def wait_change(self, generation: int, timeout: float) -> int:
        """Block until the cache changes after `generation` (or `timeout`); the new one."""
        with self._changed:
            self._changed.wait_for(lambda: self._generation != generation, timeout)
            return self._generation

    @property
    def generation(self) -> int:
        """A counter bumped on every change of the cache (list or event)."""
        with self._lock:
            return self._generation

    def _notify(self) -> None:
        with self._changed:
            self._generation += 1
            self._changed.notify_all()
        listeners = ([self.on_change] if self.on_change is not None else []) + self._listeners
        if not listeners:
            return
        items = self.snapshot()
        for listener in listeners:
            try:
                listener(items)
            except Exception:  # a broken callback must not kill the cache
                self.log.exception("%s: on_change callback failed", self.resource)

    def _close_on(self, stop: threading.Event) -> None:
        stop.wait()
        stream = self._stream
        if stream is not None:
            stream.close()


class WaitTimeout(K8snetError):
    """A wait_until deadline passed; the message says what was awaited."""


def wait_until(informer: Informer, predicate: Callable[[dict[str, dict]], object],
               timeout: float, what: str = "the condition",
               stop: Optional[threading.Event] = None) -> object:
    """Wait until `predicate(items)` is truthy on the informer's cache; return its value.

    The informer must be running (`start`). The predicate is evaluated on the first
    synced snapshot and after every change; `WaitTimeout` names `what` at the deadline.
    When `stop` is given and set, the wait ends early and returns None.
    """
    deadline = time.monotonic() + timeout
    while not informer.wait_synced(min(1.0, max(0.0, deadline - time.monotonic()))):
        if stop is not None and stop.is_set():
            return None
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"timed out after {timeout:.0f}s listing {informer.resource} "
                              f"while waiting for {what}")
    while True:
        if stop is not None and stop.is_set():
            return None
        generation = informer.generation
        value = predicate(informer.snapshot())
        if value:
            return value
        left = deadline - time.monotonic()
        if left <= 0:
            raise WaitTimeout(f"timed out after {timeout:.0f}s waiting for {what}")
        informer.wait_change(generation, min(left, 1.0))
