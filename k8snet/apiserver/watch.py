"""Watch semantics as Kubernetes': options, where a watch starts, bookmarks, and store
events -> watch events (with selector transitions).

- ``resourceVersion`` unset or "0": the current state as synthetic ADDED events, then
  changes; "N": changes after N. N older than the retained history: 200, then an ERROR
  event with a 410 Expired Status "too old resource version: N (oldest)" (what client-go's
  reflectors and the machinery Informer re-list on); N newer than the store after 3 s:
  an ERROR event 504 "Too large resource version".
- ``sendInitialEvents=true`` (with ``resourceVersionMatch=NotOlderThan``, WatchList):
  the state as ADDED events, then (with ``allowWatchBookmarks``) a BOOKMARK annotated
  ``k8s.io/initial-events-end: "true"``; ``false`` starts at N (or now) without them.
- ``allowWatchBookmarks=true``: a BOOKMARK carrying the revision the watch has caught up
  with, every minute and 2 s before the watch's timeout (upstream's schedule).
"""

from __future__ import annotations

import json
import queue
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Iterator, Optional

from k8snet.api.fielderrors import Errors
from k8snet.apiserver import objects as o
from k8snet.apiserver.status import bad_request, invalid, status_object
from k8snet.machinery.resources import KindInfo
from k8snet.store.base import Compacted, Store, WatchEvent, WatchStop

END = object()
BOOKMARK_INTERVAL = 60.0
PRE_TIMEOUT = 2.0
TOO_LARGE_WAIT = 3.0
INITIAL_EVENTS_END = "k8s.io/initial-events-end"


@dataclass(frozen=True)
class WatchOptions:
    """The query parameters of a watch request, validated."""

    resource_version: str = ""
    match: str = ""
    send_initial: Optional[bool] = None
    bookmarks: bool = False
    timeout: float = 1800.0

    @property
    def initial_events(self) -> bool:
        """Whether the watch starts with the current state as ADDED events."""
        if self.send_initial is not None:
            return self.send_initial
        return self.resource_version in ("", "0")


def _bool(params: dict, name: str) -> Optional[bool]:
    text = params.get(name)
    if text in (None, ""):
        return None
    if text in ("true", "1", "True", "TRUE", "t", "T"):
        return True
    if text in ("false", "0", "False", "FALSE", "f", "F"):
        return False
    raise bad_request(f"invalid {name}: {text!r}: must be a boolean")


def watch_options(params: dict, default_timeout: float) -> WatchOptions:
    """WatchOptions from query parameters: 400 on garbage, 422 as ValidateListOptions."""
    try:
        timeout = float(params.get("timeoutSeconds") or 0)
    except ValueError:
        raise bad_request("timeoutSeconds must be a number") from None
    if timeout <= 0:
        timeout = default_timeout  # 0 or unset: the server's own limit
    rv = params.get("resourceVersion") or ""
    o.parse_rv(rv)
    match = params.get("resourceVersionMatch") or ""
    send = _bool(params, "sendInitialEvents")
    errs = Errors()
    if send is not None and match != "NotOlderThan":
        errs.add("resourceVersionMatch", "FieldValueForbidden",
                 "Forbidden: sendInitialEvents requires setting resourceVersionMatch to "
                 "NotOlderThan")
    if match:
        if send is None:
            errs.add("resourceVersionMatch", "FieldValueForbidden",
                     "Forbidden: resourceVersionMatch is forbidden for watch unless "
                     "sendInitialEvents is provided")
        if match != "NotOlderThan":
            errs.add("resourceVersionMatch", "FieldValueNotSupported",
                     f'Unsupported value: "{match}": supported values: "NotOlderThan"')
        if params.get("continue"):
            errs.add("resourceVersionMatch", "FieldValueForbidden",
                     "Forbidden: resourceVersionMatch is forbidden when continue is provided")
    if errs.causes:
        raise invalid("ListOptions.meta.k8s.io", "", errs.causes, "meta.k8s.io")
    return WatchOptions(rv, match, send, _bool(params, "allowWatchBookmarks") is True, timeout)


def next_bookmark(now: float, deadline: Optional[float],
                  interval: float = BOOKMARK_INTERVAL) -> Optional[float]:
    """When the next BOOKMARK is due: `interval` from now, but 2 s before the deadline at
    the latest; None when that moment has passed."""
    when = now + interval
    if deadline is not None:
        when = min(when, deadline - PRE_TIMEOUT)
    return when if when > now else None


def bookmark(info: KindInfo, revision: int, initial_end: bool = False) -> dict:
    """A BOOKMARK's object: an empty object of the kind carrying the resourceVersion."""
    meta: dict = {"resourceVersion": str(revision), "creationTimestamp": None}
    if initial_end:
        meta["annotations"] = {INITIAL_EVENTS_END: "true"}
    return {"kind": info.kind, "apiVersion": info.api_version, "metadata": meta}


def expired(requested: int, oldest: int) -> dict:
    """The ERROR event's Status for a resourceVersion older than the history."""
    return status_object(410, f"too old resource version: {requested} ({oldest})", "Expired")


def too_large(requested: int, current: int) -> dict:
    """The ERROR event's Status for a resourceVersion the store has not reached."""
    return status_object(504, f"Too large resource version: {requested}, current: {current}",
                         "Timeout", {"causes": [{"reason": "ResourceVersionTooLarge",
                                                 "message": "Too large resource version"}],
                                     "retryAfterSeconds": 1})


class EventCache:
    """Decoded objects and encoded watch lines of store events, shared by every watch of
    one apiserver (upstream encodes an event once per format for all its watchers).

    An apiserver with 50 nodes has hundreds of watches; without this each of them decoded
    the same Pod update from JSON and encoded it again. Entries are keyed by what makes
    them unique (served version, store key, revision), so a hit is always the same bytes;
    the least recently used go past ``size``. Cached objects are shared: read them only.
    """

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._items: OrderedDict = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple, make: Callable[[], object]) -> object:
        with self._lock:
            try:
                value = self._items[key]
            except KeyError:
                self.misses += 1
            else:
                self._items.move_to_end(key)
                self.hits += 1
                return value
        value = make()  # outside the lock: two threads may both make it, both the same
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value


class Translated(tuple):
    """(type, object) of one watch event, with ``tag``: what identifies the object's
    bytes (None when the object is not cached)."""

    tag: Optional[tuple]

    def __new__(cls, etype: str, obj: dict, tag: Optional[tuple] = None) -> Translated:
        self = super().__new__(cls, (etype, obj))
        self.tag = tag
        return self


def translate(info: KindInfo, ev: WatchEvent, matches,
              cache: Optional[EventCache] = None) -> Optional[Translated]:
    """One store event -> (type, object) for a watcher whose filter is `matches`, or None.

    An object that starts matching is ADDED, one that stops matching is DELETED
    (as Kubernetes does for selector watches). `matches` None: every object (an update's
    old object is then never decoded). With `cache`, the decoded objects are shared with
    the other watches.
    """
    if ev.type == "PROGRESS":
        return None

    def decode(which: str) -> tuple[dict, Optional[tuple]]:
        value = ev.value if which == "new" else ev.prev_value
        if cache is None:
            return o.decode(info, value, ev.revision), None
        tag = (info.api_version, info.kind, ev.key, ev.revision, which)
        return cache.get(tag, lambda: o.decode(info, value, ev.revision)), tag

    if ev.type == "DELETE":
        if ev.prev_value is None:
            return None
        old, tag = decode("old")
        return Translated("DELETED", old, tag) if matches is None or matches(old) else None
    if ev.value is None:
        return None
    new, tag = decode("new")
    new_ok = matches is None or matches(new)
    if ev.created or ev.prev_value is None:
        return Translated("ADDED", new, tag) if new_ok else None
    old_ok = matches is None or matches(decode("old")[0])
    if new_ok and old_ok:
        return Translated("MODIFIED", new, tag)
    if new_ok:
        return Translated("ADDED", new, tag)
    if old_ok:
        return Translated("DELETED", new, tag)
    return None


# core string fields whose equality selectors narrow a watch in the store (store_trigger)
TRIGGER_FIELDS = {("Pod", "spec.nodeName"), ("Node", "metadata.name")}


def store_trigger(info: KindInfo, field_sel: object) -> Optional[bytes]:
    """Bytes that the stored JSON of every object ``field_sel`` selects contains, or None.

    The store wakes a watch with a trigger only for events whose new or old value
    contains it, as upstream's watch cache dispatches Pod events by spec.nodeName:
    beside 1,000 Pods on 50 workers, each Pod write otherwise woke the watches of all
    50 kubelets (two threads each) to find that 49 of them did not want it. The
    selector itself still decides what is sent; the trigger only has to let through
    everything it would (objects are stored by ``objects.encode``: compact JSON)."""
    if info.group:
        return None
    for term in getattr(field_sel, "terms", None) or ():
        if term.op == "=" and term.value and (info.kind, term.field) in TRIGGER_FIELDS:
            leaf = term.field.rsplit(".", 1)[-1]
            return json.dumps({leaf: term.value}, separators=(",", ":"))[1:-1].encode()
    return None


def event_line(etype: str, obj: dict) -> bytes:
    """One watch event as a line of the JSON stream."""
    return json.dumps({"type": etype, "object": obj}, separators=(",", ":")).encode() + b"\n"


def cached_line(cache: Optional[EventCache], event: Translated) -> bytes:
    """`event_line` of a translated event, encoded once for every watch that sends it."""
    etype, obj = event
    if cache is None or event.tag is None:
        return event_line(etype, obj)
    return cache.get(("line", etype, *event.tag), lambda: event_line(etype, obj))


class WatchPump:
    """Runs store.watch in a thread and hands events through a queue, so the HTTP side can
    interleave bookmarks and deadlines. `get(timeout)` returns a WatchEvent, None (idle),
    a Compacted error, or END."""

    def __init__(self, store: Store, prefix: str, from_revision: int,
                 progress: bool = False, trigger: Optional[bytes] = None) -> None:
        self.stop = WatchStop()   # close() wakes the store's watch at once
        self.q: queue.Queue = queue.Queue(maxsize=10000)
        self._thread = threading.Thread(target=self._run,
                                        args=(store, prefix, from_revision, progress,
                                              trigger),
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

    def _run(self, store: Store, prefix: str, from_revision: int, progress: bool,
             trigger: Optional[bytes]) -> None:
        try:
            for ev in store.watch(prefix, from_revision, self.stop, progress, trigger):
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
