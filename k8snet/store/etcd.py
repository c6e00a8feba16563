"""The etcd backend: a real etcd (3.4+) through its v3 JSON gateway.

Transport is etcd3gw (pure Python, maintained by OpenStack): it speaks the
gateway's JSON over HTTP, so there are no gRPC stubs to generate for etcd and
the agents stay light. Its high-level helpers drop the response header (the
revision a list reflects) and the watch stream's compaction notice, so this
module posts the v3 requests itself through the client (``Etcd3Client.post``)
and reads watch streams directly.

Revisions are etcd's own: an object's mod_revision is our revision, a txn's
header revision is the revision of the write. Compare-and-swap is a txn on
``mod_revision``; create is a txn on ``create_revision == 0``.
"""

from __future__ import annotations

import base64
import json
import queue
import socket
import threading
import time
import warnings
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import requests

with warnings.catch_warnings():
    # etcd3gw imports futurist, which imports eventlet, which warns that it is
    # deprecated; we use plain threads and none of eventlet.
    warnings.simplefilter("ignore")
    from etcd3gw.client import Etcd3Client
    from etcd3gw.exceptions import ConnectionFailedError, ConnectionTimeoutError, Etcd3Exception

from k8snet.store.base import (
    Compacted,
    FutureRevision,
    Item,
    KeyExists,
    KeyNotFound,
    RevisionMismatch,
    Store,
    StoreError,
    StoreUnavailable,
    WatchEvent,
    prefix_end,
    triggered,
)

_COMPACTED = "required revision has been compacted"
_FUTURE = "required revision is a future revision"
_END = object()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Optional[str]) -> bytes:
    return base64.b64decode(text or "")


def _int(value: Any) -> int:
    """The gateway encodes int64 as strings and omits zero values."""
    return int(value or 0)


def range_bounds(prefix: str, start_after: Optional[str] = None) -> Dict[str, str]:
    """The (base64) key / range_end of an etcd range over ``prefix``, after ``start_after``."""
    lo = prefix.encode()
    if start_after is not None:
        lo = max(lo, start_after.encode() + b"\0")
    hi = prefix_end(prefix.encode())
    # An empty key or range_end means "one key"; "\0" as range_end means "to the end".
    return {"key": _b64(lo or b"\0"), "range_end": _b64(hi if hi is not None else b"\0")}


def watch_event(raw: Dict[str, Any]) -> WatchEvent:
    """One gateway watch event (with prev_kv) as a WatchEvent."""
    kv = raw["kv"]
    prev = raw.get("prev_kv")
    deleted = raw.get("type") == "DELETE"
    return WatchEvent(
        type="DELETE" if deleted else "PUT",
        key=_unb64(kv["key"]).decode(),
        value=None if deleted else _unb64(kv.get("value")),
        prev_value=None if prev is None else _unb64(prev.get("value")),
        revision=_int(kv.get("mod_revision")),
        created=not deleted and _int(kv.get("version")) == 1,
    )


class EtcdStore(Store):
    """Store on an etcd cluster; ``endpoints`` are (host, port) client addresses,
    tried in turn when one does not answer."""

    def __init__(self, endpoints: Sequence[Tuple[str, int]], timeout: float = 10.0) -> None:
        if not endpoints:
            raise StoreError("etcd store needs at least one endpoint")
        self.endpoints = list(endpoints)
        self.timeout = timeout
        self._clients: List[Etcd3Client] = []
        self._current = 0
        self._lock = threading.Lock()
        self._watch_stops: List[threading.Event] = []
        self._closed = False

    # -- transport -----------------------------------------------------------

    def _client(self, index: int) -> Etcd3Client:
        with self._lock:
            if not self._clients:
                self._clients = [
                    Etcd3Client(host=h, port=p, timeout=self.timeout, api_path="/v3/")
                    for h, p in self.endpoints
                ]
            return self._clients[index % len(self._clients)]

    def _post(self, path: str, payload: Dict[str, Any]) -> Dict[str, Any]:
        """POST one v3 request, moving to the next endpoint when one refuses."""
        if self._closed:
            raise StoreError("store is closed")
        start = self._current
        last: Optional[Exception] = None
        for attempt in range(len(self.endpoints)):
            index = start + attempt
            client = self._client(index)
            try:
                result = client.post(client.get_url(path), json=payload)
                self._current = index % len(self.endpoints)
                return result
            except ConnectionFailedError as err:
                last = err  # nothing reached this member: safe to try the next
            except ConnectionTimeoutError as err:
                # The request may have been applied: retrying a compare-and-swap
                # elsewhere could report a conflict for a write that succeeded.
                # The next request starts at the next member (this one may be cut off).
                self._current = (index + 1) % len(self.endpoints)
                raise StoreUnavailable(f"etcd at {client.host}:{client.port}: {err}") from err
            except Etcd3Exception as err:
                raise _translate(err) from err
        raise StoreUnavailable(f"no etcd endpoint answered ({self._where()}): {last}")

    def _where(self) -> str:
        return ",".join(f"{h}:{p}" for h, p in self.endpoints)

    def _txn(self, compare: dict, success: dict, failure: dict) -> Dict[str, Any]:
        return self._post(
            "/kv/txn", {"compare": [compare], "success": [success], "failure": [failure]}
        )

    # -- reads ---------------------------------------------------------------

    def get(self, key: str) -> Optional[Tuple[bytes, int]]:
        result = self._post("/kv/range", {"key": _b64(key.encode())})
        kvs = result.get("kvs") or []
        if not kvs:
            return None
        return _unb64(kvs[0].get("value")), _int(kvs[0].get("mod_revision"))

    def current_revision(self) -> int:
        result = self._post("/kv/range", {"key": _b64(b"\0"), "count_only": True})
        return _int(result["header"].get("revision"))

    def list(
        self,
        prefix: str,
        revision: Optional[int] = None,
        limit: Optional[int] = None,
        start_after: Optional[str] = None,
    ) -> Tuple[List[Item], int]:
        payload: Dict[str, Any] = dict(range_bounds(prefix, start_after))
        payload.update(sort_order="ASCEND", sort_target="KEY")
        if limit:
            payload["limit"] = limit
        if revision is not None and revision > 0:
            payload["revision"] = revision
        try:
            result = self._post("/kv/range", payload)
        except FutureRevision:
            raise FutureRevision(revision or 0, self.current_revision()) from None
        except Compacted:
            raise Compacted(revision or 0, self.compact_revision()) from None
        items = [
            (_unb64(kv["key"]).decode(), _unb64(kv.get("value")), _int(kv.get("mod_revision")))
            for kv in result.get("kvs") or []
        ]
        at = revision if revision else _int(result["header"].get("revision"))
        return items, at

    def compact_revision(self) -> int:
        """The oldest revision a list or watch may start from (0 when unknown).

        etcd reports its compacted revision only when a watch starts too early:
        start one over every key from revision 1 and read the first answer after
        "created": a cancellation carries the compacted revision, an event means
        nothing was compacted."""
        if self.current_revision() <= 1:
            return 0
        client = self._client(self._current)
        request = {"create_request": {"key": _b64(b"\0"), "range_end": _b64(b"\0"),
                                      "start_revision": 1}}
        try:
            with requests.post(
                client.get_url("/watch"), json=request, stream=True, timeout=self.timeout
            ) as resp:
                for line in resp.iter_lines():
                    result = json.loads(line).get("result", {})
                    if not result.get("created"):
                        return _int(result.get("compact_revision"))
        except (requests.RequestException, ValueError):
            return 0
        return 0

    # -- writes --------------------------------------------------------------

    def create(self, key: str, value: bytes) -> int:
        k = _b64(key.encode())
        result = self._txn(
            {"key": k, "result": "EQUAL", "target": "CREATE", "create_revision": 0},
            {"request_put": {"key": k, "value": _b64(value)}},
            {"request_range": {"key": k, "keys_only": True}},
        )
        if not result.get("succeeded"):
            raise KeyExists(key)
        return _int(result["header"]["revision"])

    def update(self, key: str, value: bytes, expected_revision: int) -> int:
        k = _b64(key.encode())
        result = self._txn(
            {"key": k, "result": "EQUAL", "target": "MOD", "mod_revision": expected_revision},
            {"request_put": {"key": k, "value": _b64(value)}},
            {"request_range": {"key": k, "keys_only": True}},
        )
        if not result.get("succeeded"):
            _raise_failed(key, expected_revision, result)
        return _int(result["header"]["revision"])

    def delete(self, key: str, expected_revision: Optional[int] = None) -> Tuple[int, bytes]:
        k = _b64(key.encode())
        if expected_revision is None:
            compare = {"key": k, "result": "GREATER", "target": "CREATE", "create_revision": 0}
        else:
            compare = {
                "key": k, "result": "EQUAL", "target": "MOD", "mod_revision": expected_revision
            }
        result = self._txn(
            compare,
            {"request_delete_range": {"key": k, "prev_kv": True}},
            {"request_range": {"key": k, "keys_only": True}},
        )
        if not result.get("succeeded"):
            _raise_failed(key, expected_revision, result)
        deleted = result["responses"][0]["response_delete_range"]
        prev = (deleted.get("prev_kvs") or [{}])[0]
        return _int(result["header"]["revision"]), _unb64(prev.get("value"))

    def compact(self, keep_revisions: int) -> None:
        self.compact_to(self.current_revision() - max(keep_revisions, 0))

    def compact_to(self, revision: int) -> None:
        target = min(revision, self.current_revision())
        if target <= 1:
            return
        try:
            self._post("/kv/compaction", {"revision": target})
        except Compacted:
            pass  # already compacted at or past target

    # -- watch ---------------------------------------------------------------

    def watch(
        self, prefix: str, from_revision: int, stop: threading.Event, progress: bool = False,
        trigger: Optional[bytes] = None,
    ) -> Iterator[WatchEvent]:
        if from_revision > 0:
            # A range at from_revision fails exactly when etcd has compacted it.
            try:
                self._post("/kv/range", {"key": _b64(b"\0"), "count_only": True,
                                         "revision": from_revision})
            except Compacted:
                raise Compacted(from_revision, self.compact_revision()) from None
            except FutureRevision:
                pass  # watching the future is fine: events arrive when written
        return self._watch(prefix, from_revision, stop, progress, trigger)

    def _watch(
        self, prefix: str, from_revision: int, stop: threading.Event, progress: bool,
        trigger: Optional[bytes] = None,
    ) -> Iterator[WatchEvent]:
        with self._lock:
            self._watch_stops.append(stop)
        seen = from_revision
        failing_since: Optional[float] = None
        reported, reported_at = from_revision, 0.0   # the last PROGRESS yielded
        try:
            while not stop.is_set():
                stream = _WatchStream(self._open_stream(prefix, seen, stop, progress))
                try:
                    for result in stream.results(stop):
                        failing_since = None
                        if result.get("canceled"):
                            compact = _int(result.get("compact_revision"))
                            if compact:
                                raise Compacted(seen, compact)
                            raise StoreError(
                                f"etcd cancelled the watch: {result.get('cancel_reason', '')}"
                            )
                        events = result.get("events") or []
                        last_yielded = None
                        for raw in events:
                            event = watch_event(raw)
                            seen = event.revision
                            if triggered(event.value, event.prev_value, trigger):
                                last_yielded = seen
                                yield event
                        at = _int((result.get("header") or {}).get("revision"))
                        if progress and not events and not result.get("created") and at > seen:
                            # a progress notification: everything up to `at` was sent
                            seen = at
                            reported, reported_at = at, time.monotonic()
                            yield WatchEvent("PROGRESS", "", None, None, at, False)
                        elif progress and events and last_yielded != seen and seen > reported \
                                and time.monotonic() - reported_at >= 1.0:
                            # events the trigger skipped: etcd sends progress only on an
                            # idle stream, which a busy prefix never is
                            reported, reported_at = seen, time.monotonic()
                            yield WatchEvent("PROGRESS", "", None, None, seen, False)
                finally:
                    stream.close()
                # The stream ended (member gone, "transport is closing"): reconnect
                # from the last event, to any member, for up to `timeout` seconds.
                now = time.monotonic()
                failing_since = failing_since or now
                if now - failing_since > self.timeout and not stop.is_set():
                    raise StoreUnavailable(
                        f"etcd watch on {self._where()} keeps failing: {stream.error}"
                    )
                if not stop.is_set():
                    self._current += 1  # try the next member first
                    time.sleep(0.1)
        finally:
            with self._lock:
                if stop in self._watch_stops:
                    self._watch_stops.remove(stop)

    def _open_stream(self, prefix: str, seen: int, stop: threading.Event,
                     progress: bool = False) -> requests.Response:
        """Open a watch stream from ``seen`` + 1, on any endpoint, within ``timeout``."""
        request = {"create_request": {
            **range_bounds(prefix), "start_revision": seen + 1, "prev_kv": True,
            "progress_notify": progress,
        }}
        deadline = time.monotonic() + self.timeout
        attempt = self._current
        while True:
            if self._closed:
                raise StoreError("store is closed")
            client = self._client(attempt)
            try:
                resp = requests.post(
                    client.get_url("/watch"), json=request, stream=True,
                    timeout=(self.timeout, None),
                )
                resp.raise_for_status()
                return resp
            except requests.RequestException as err:
                if time.monotonic() > deadline or stop.is_set():
                    raise StoreUnavailable(
                        f"cannot open an etcd watch on {self._where()}: {err}"
                    ) from err
            attempt += 1
            time.sleep(0.2)

    def close(self) -> None:
        self._closed = True
        with self._lock:
            stops, self._watch_stops = list(self._watch_stops), []
            clients, self._clients = self._clients, []
        for stop in stops:
            stop.set()
        for client in clients:
            client.session.close()


class _WatchStream:
    """A watch response read by a helper thread, so that waiting for the next
    result can give up when ``stop`` is set."""

    def __init__(self, resp: requests.Response) -> None:
        self.resp = resp
        self.queue: queue.Queue = queue.Queue()
        self.error: object = "stream ended"
        self.thread = threading.Thread(target=self._read, name="k8snet-etcd-watch", daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for line in self.resp.iter_lines():
                if line.strip():
                    self.queue.put(json.loads(line))
        except (requests.RequestException, ValueError, OSError, AttributeError):
            pass
        finally:
            self.queue.put(_END)

    def results(self, stop: threading.Event) -> Iterator[Dict[str, Any]]:
        """The stream's results until it ends or ``stop`` is set."""
        while not stop.is_set():
            try:
                item = self.queue.get(timeout=0.2)
            except queue.Empty:
                continue
            if item is _END:
                return
            if "error" in item:
                self.error = item["error"]
                return
            yield item.get("result", {})

    def close(self) -> None:
        try:
            sock = socket.fromfd(self.resp.raw.fileno(), socket.AF_INET, socket.SOCK_STREAM)
            try:
                sock.shutdown(socket.SHUT_RDWR)
            finally:
                sock.close()
        except (OSError, ValueError, AttributeError):
            pass
        self.resp.close()
        self.thread.join(timeout=2.0)


def _raise_failed(key: str, expected: Optional[int], result: Dict[str, Any]) -> None:
    """Turn a failed compare (with the key's range in the failure branch) into an error."""
    kvs = result["responses"][0]["response_range"].get("kvs") or []
    if not kvs:
        raise KeyNotFound(key)
    raise RevisionMismatch(key, expected or 0, _int(kvs[0].get("mod_revision")))


def _translate(err: Etcd3Exception) -> StoreError:
    detail = err.detail_text or ""
    if _COMPACTED in detail:
        return Compacted(0, 0)
    if _FUTURE in detail:
        return FutureRevision(0, 0)
    return StoreError(f"etcd error: {detail or err}")
