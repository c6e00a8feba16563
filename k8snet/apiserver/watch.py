"""Watch: store events -> Kubernetes watch events, with selector transitions."""

from __future__ import annotations

import queue
import threading
from typing import Iterator, Optional

from k8snet.apiserver import objects as o
from k8snet.machinery.resources import KindInfo
from k8snet.store.base import Compacted, Store, WatchEvent

END = object()


def translate(info: KindInfo, ev: WatchEvent, matches) -> Optional[tuple[str, dict]]:
    """One store event -> (type, object) for a watcher whose filter is `matches`, or None.

    An object that starts matching is ADDED, one that stops matching is DELETED
    (as Kubernetes does for selector watches).
    """
    if ev.type == "DELETE":
        if ev.prev_value is None:
            return None
        old = o.decode(info, ev.prev_value, ev.revision)
        return ("DELETED", old) if matches(old) else None
    if ev.value is None:
        return None
    new = o.decode(info, ev.value, ev.revision)
    new_ok = matches(new)
    if ev.created or ev.prev_value is None:
        return ("ADDED", new) if new_ok else None
    old_ok = matches(o.decode(info, ev.prev_value, ev.revision))
    if new_ok and old_ok:
        return "MODIFIED", new
    if new_ok:
        return "ADDED", new
    if old_ok:
        return "DELETED", new
    return None


class WatchPump:
    """Runs store.watch in a thread and hands events through a queue, so the HTTP side can
    interleave bookmarks and deadlines. `get(timeout)` returns a WatchEvent, None (idle),
    a Compacted error, or END."""

    def __init__(self, store: Store, prefix: str, from_revision: int) -> None:
        self.stop = threading.Event()
        self.q: queue.Queue = queue.Queue(maxsize=10000)
        self._thread = threading.Thread(target=self._run, args=(store, prefix, from_revision),
                                        name="watch-pump", daemon=True)

    def start(self) -> WatchPump:
        self._thread.start()
        return self

    def _put(self, item: object) -> bool:
        while not self.stop.is_set():
            try:
                self.q.put(item, timeout=0.5)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, store: Store, prefix: str, from_revision: int) -> None:
        try:
            for ev in store.watch(prefix, from_revision, self.stop):
                if not self._put(ev):
                    return
        except Compacted as e:
            self._put(e)
        except Exception as e:  # noqa: BLE001 - reported to the client as an ERROR event
            self._put(e)
        self._put(END)

    def get(self, timeout: float) -> object:
        try:
            return self.q.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        self.stop.set()


def initial_events(items: list[dict]) -> Iterator[tuple[str, dict]]:
    """Synthetic ADDED events for a watch without resourceVersion (or '0')."""
    for obj in items:
        yield "ADDED", obj
