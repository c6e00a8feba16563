"""The embedded default backend: one SQLite file in WAL mode.

Durability: ``synchronous=FULL`` (the default) makes every acknowledged commit
survive ``kill -9`` and power loss (the WAL is fsynced on commit). ``synchronous=
"normal"`` fsyncs at checkpoints only: a commit survives ``kill -9`` of the apiserver
but not a power loss. The testbed uses it, for a store that lives in the cluster's
run directory and a cluster that does not outlive the machine anyway: on a busy disk a
commit's fsync took 3.4 ms on average and 65 ms at P99 (0.1 and 0.3 ms without), under
the write lock, and at 1,000 Pods on 50 workers the writes queued behind it.

Layout: ``kv`` holds the current value of every key; ``history`` holds one
row per revision (the event, with the previous value) so that watches resume
from a revision and lists can be served at a past revision (by undoing the
events after it). ``meta`` holds the current and the compacted revision.
History older than both ``history_revisions`` revisions and
``history_seconds`` seconds is compacted automatically; a watch or list
asking for a compacted revision gets ``Compacted``.

Concurrency: a small pool of connections, one per operation in flight, so
the apiserver's threads read in parallel; writes in this process are
serialised by a lock (SQLite's busy timeout serialises them against other
processes sharing the file). A write that commits wakes the watchers in this
process whose prefix it touched; one poller thread (started with the first watch)
looks at the revision every ``poll_interval`` seconds and wakes them for writes
from other processes, so idle watchers cost nothing however many there are.

Watch cache: the latest events (consecutive revisions, at most ``_RING_EVENTS`` of
them and ``_RING_BYTES`` of values) are also kept in memory, appended by this
process's writes as they commit and by the poller for writes of other processes.
A watcher that has caught up reads new events from there, filtered by its prefix,
instead of querying SQLite: a write costs one query whatever the number of
watchers (an apiserver has dozens). A watcher behind the cache (a resumed watch, a
slow consumer, a gap from another process's write) reads SQLite as before until it
has caught up. Watchers read the cache and the watcher table without a lock
(``ring.EventRing``; the table is replaced, never changed in place), so the write
lock's holder never waits behind them.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from typing import Callable, Dict, Iterator, List, Optional, Tuple, TypeVar

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
    WatchStop,
    prefix_end,
    triggered,
)
from k8snet.store.ring import EventRing

T = TypeVar("T")

PUT, DELETE = 0, 1
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS kv (key BLOB PRIMARY KEY, value BLOB NOT NULL,"
    " create_revision INTEGER NOT NULL, mod_revision INTEGER NOT NULL) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS history (revision INTEGER PRIMARY KEY, key BLOB NOT NULL,"
    " type INTEGER NOT NULL, value BLOB, prev_value BLOB, prev_revision INTEGER,"
    " created INTEGER NOT NULL, at REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS history_key ON history (key, revision)",
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    "INSERT OR IGNORE INTO meta VALUES ('revision', 0), ('compact_revision', 0)",
)
_WATCH_BATCH = 256
_STOP_CHECK = 0.5  # how often an idle watcher looks at a plain stop event (no query)
_IDLE_CHECK = 10.0  # ... at a WatchStop, which wakes it when set (a safety net only)
_POOL_IDLE_MAX = 8
_RING_EVENTS = 4096
_RING_BYTES = 8 << 20


def _range_sql(prefix: str, start_after: Optional[str]) -> Tuple[str, list]:
    """WHERE clause (on column ``key``) and parameters for a prefix range."""
    lo = prefix.encode()
    hi = prefix_end(lo)
    clauses, params = ["key >= ?"], [lo]
    if hi is not None:
        clauses.append("key < ?")
        params.append(hi)
    if start_after is not None:
        clauses.append("key > ?")
        params.append(start_after.encode())
    return " AND ".join(clauses), params


def _event(row: tuple) -> WatchEvent:
    revision, key, kind, value, prev_value, created = row
    return WatchEvent(
        type="DELETE" if kind == DELETE else "PUT",
        key=key.decode(),
        value=None if kind == DELETE else bytes(value),
        prev_value=None if prev_value is None else bytes(prev_value),
        revision=revision,
        created=bool(created),
    )


class SqliteStore(Store):
    """Store in one SQLite file (created on first use)."""

    def __init__(
        self,
        path: str,
        history_revisions: int = 10000,
        history_seconds: float = 600.0,
        poll_interval: float = 0.2,
        busy_timeout: float = 30.0,
        compact_every: int = 500,
        synchronous: str = "full",
    ) -> None:
        self.path = path
        self.synchronous = synchronous.upper()
        if self.synchronous not in ("FULL", "NORMAL"):
            raise ValueError(f"synchronous={synchronous!r}: give 'full' or 'normal'")
        self.history_revisions = history_revisions
        self.history_seconds = history_seconds
        self.poll_interval = poll_interval
        self.busy_timeout = busy_timeout
        self.compact_every = compact_every
        self._pool: List[sqlite3.Connection] = []
        self._pool_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._schema_lock = threading.Lock()
        self._cond = threading.Condition()   # the poller's sleep, watcher (un)registration
        self._writes = 0
        self._schema_ready = False
        self._closed = False
        self._poller: Optional[threading.Thread] = None
        # the watch cache: events of consecutive revisions, written under _write_lock
        # and read without a lock
        self._ring = EventRing(_RING_EVENTS, _RING_BYTES)
        # the newest revision whose watchers were woken (under _write_lock; None: not
        # known yet, so the poller's first look wakes every watcher)
        self._delivered: Optional[int] = None
        self._pending: List[WatchEvent] = []   # recorded by the write in progress
        # the watchers: each one's prefix, trigger and the event that wakes it. Replaced
        # under _cond, never changed in place: a write reads it without a lock.
        self._watchers: Dict[int, Tuple[bytes, Optional[bytes], threading.Event]] = {}

    # -- connections ---------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.path,
                timeout=self.busy_timeout,
                isolation_level=None,
                check_same_thread=False,
            )
            self._set_wal(conn)
            conn.execute(f"PRAGMA synchronous={self.synchronous}")
            conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
            if not self._schema_ready:
                with self._schema_lock:
                    conn.execute("BEGIN IMMEDIATE")
                    for statement in _SCHEMA:
                        conn.execute(statement)
                    conn.execute("COMMIT")
                    self._schema_ready = True
        except sqlite3.Error as err:
            raise StoreUnavailable(f"cannot open SQLite store {self.path}: {err}") from err
        return conn

    def _set_wal(self, conn: sqlite3.Connection) -> None:
        """Switch to WAL. On a new database two connections doing this at once can get
        "database is locked" at once (SQLite returns BUSY without its busy handler
        to break the deadlock), so retry within the busy timeout."""
        deadline = time.monotonic() + self.busy_timeout
        while True:
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as err:
                if "locked" not in str(err) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.01)

    @contextlib.contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        if self._closed:
            raise StoreError("store is closed")
        with self._pool_lock:
            conn = self._pool.pop() if self._pool else None
        if conn is None:
            conn = self._connect()
        healthy = False
        try:
            yield conn
            healthy = True
        except sqlite3.Error as err:
            raise StoreError(f"SQLite store {self.path}: {err}") from err
        except StoreError:
            healthy = True  # a refused write (KeyExists, ...) leaves the connection clean
            raise
        finally:
            with self._pool_lock:
                keep = healthy and not self._closed and len(self._pool) < _POOL_IDLE_MAX
                if keep:
                    self._pool.append(conn)
            if not keep:
                conn.close()

    def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in one read transaction (a consistent snapshot)."""
        with self._connection() as conn:
            conn.execute("BEGIN")
            try:
                return fn(conn)
            finally:
                conn.execute("COMMIT")

    def _write(self, fn: Callable[[sqlite3.Connection, int], T]) -> T:
        """Run ``fn(conn, next_revision)`` in one write transaction."""
        with self._write_lock, self._connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            self._pending = []
            try:
                revision = _meta(conn, "revision") + 1
                result = fn(conn, revision)
                conn.execute("UPDATE meta SET value = ? WHERE name = 'revision'", (revision,))
                conn.execute("COMMIT")
            except BaseException:
                self._pending = []
                conn.execute("ROLLBACK")
                raise
            self._writes += 1
            due = self.compact_every > 0 and self._writes % self.compact_every == 0
            # writes of other processes since the last delivered revision come first:
            # their watchers are woken here, as the poller will find nothing new
            delivered = self._delivered
            foreign = self._history(delivered, revision) \
                if delivered is None or revision - 1 > delivered else []
            # still under the write lock: the cache stays in order
            events = (foreign or []) + self._pending
            for ev in events:
                self._ring.append(ev)
            self._delivered = revision
            self._pending = []
            self._wake(None if foreign is None else events)
        if due:
            self.auto_compact()
        return result

    # -- reads ---------------------------------------------------------------

    def get(self, key: str) -> Optional[Tuple[bytes, int]]:
        def read(conn: sqlite3.Connection) -> Optional[Tuple[bytes, int]]:
            row = conn.execute(
                "SELECT value, mod_revision FROM kv WHERE key = ?", (key.encode(),)
            ).fetchone()
            return None if row is None else (bytes(row[0]), row[1])

        return self._read(read)

    def current_revision(self) -> int:
        return self._read(lambda conn: _meta(conn, "revision"))

    def compact_revision(self) -> int:
        """The oldest revision a list or watch may still start from."""
        return self._read(lambda conn: _meta(conn, "compact_revision"))

    def list(
        self,
        prefix: str,
        revision: Optional[int] = None,
        limit: Optional[int] = None,
        start_after: Optional[str] = None,
    ) -> Tuple[List[Item], int]:
        where, params = _range_sql(prefix, start_after)

        def read(conn: sqlite3.Connection) -> Tuple[List[Item], int]:
            current = _meta(conn, "revision")
            if not revision or revision == current:  # None or 0: now
                sql = f"SELECT key, value, mod_revision FROM kv WHERE {where} ORDER BY key"
                args = list(params)
                if limit:
                    sql += " LIMIT ?"
                    args.append(limit)
                rows = conn.execute(sql, args).fetchall()
                return [(k.decode(), bytes(v), r) for k, v, r in rows], current
            if revision > current:
                raise FutureRevision(revision, current)
            compacted = _meta(conn, "compact_revision")
            if revision < compacted:
                raise Compacted(revision, compacted)
            return _list_at(conn, where, params, revision, limit), revision

        return self._read(read)

    # -- writes --------------------------------------------------------------

    def create(self, key: str, value: bytes) -> int:
        raw = key.encode()

        def write(conn: sqlite3.Connection, revision: int) -> int:
            if conn.execute("SELECT 1 FROM kv WHERE key = ?", (raw,)).fetchone():
                raise KeyExists(key)
            conn.execute("INSERT INTO kv VALUES (?, ?, ?, ?)", (raw, value, revision, revision))
            self._record(conn, revision, raw, PUT, value, None, None, True)
            return revision

        return self._write(write)

    def update(self, key: str, value: bytes, expected_revision: int) -> int:
        raw = key.encode()

        def write(conn: sqlite3.Connection, revision: int) -> int:
            old, old_revision = _current(conn, key, raw, expected_revision)
            conn.execute(
                "UPDATE kv SET value = ?, mod_revision = ? WHERE key = ?", (value, revision, raw)
            )
            self._record(conn, revision, raw, PUT, value, old, old_revision, False)
            return revision

        return self._write(write)

    def delete(self, key: str, expected_revision: Optional[int] = None) -> Tuple[int, bytes]:
        raw = key.encode()

        def write(conn: sqlite3.Connection, revision: int) -> Tuple[int, bytes]:
            old, old_revision = _current(conn, key, raw, expected_revision)
            conn.execute("DELETE FROM kv WHERE key = ?", (raw,))
            self._record(conn, revision, raw, DELETE, None, old, old_revision, False)
            return revision, old

        return self._write(write)

    def _record(self, conn: sqlite3.Connection, revision: int, raw: bytes, kind: int,
                value: Optional[bytes], prev_value: Optional[bytes],
                prev_revision: Optional[int], created: bool) -> None:
        """The history row of a write; its event joins the watch cache on commit."""
        _record(conn, revision, raw, kind, value, prev_value, prev_revision, created)
        self._pending.append(_event((revision, raw, kind, value, prev_value, created)))

    # -- the watch cache ------------------------------------------------------

    def _wake(self, events: Optional[List[WatchEvent]]) -> None:
        """Wake the watchers these events concern (None: every watcher)."""
        keyed = None if events is None else [(ev.key.encode(), ev) for ev in events]
        for prefix, trigger, wake in self._watchers.values():   # published: no lock
            if wake.is_set():
                continue
            if keyed is None or any(k.startswith(prefix) and
                                    triggered(ev.value, ev.prev_value, trigger)
                                    for k, ev in keyed):
                wake.set()

    def _newest(self) -> int:
        """The newest revision the watch cache holds, else the store's (a query)."""
        newest = self._ring.newest()
        if newest is not None:
            return newest
        try:
            return self.current_revision()
        except StoreError:
            return 0

    def _history(self, after: Optional[int], before: int) -> Optional[List[WatchEvent]]:
        """The events of revisions between ``after`` and ``before`` (both excluded);
        None when they cannot all be had (``after`` unknown, too many, compacted)."""
        if after is None:
            return None
        if before - after - 1 <= 0:
            return []
        if before - after - 1 >= _RING_EVENTS:
            return None
        sql = ("SELECT revision, key, type, value, prev_value, created FROM history"
               " WHERE revision > ? AND revision < ? ORDER BY revision")
        rows = self._read(lambda conn: conn.execute(sql, (after, before)).fetchall())
        if len(rows) != before - after - 1:
            return None
        return [_event(row) for row in rows]

    def _tail_others(self) -> None:
        """Deliver writes of other processes made since the last delivered revision:
        into the watch cache, and wake their watchers (every watcher when they cannot
        all be read)."""
        with self._write_lock:   # no write of ours in flight: the revision is settled
            current = self.current_revision()
            delivered = self._delivered
            if delivered is not None and current <= delivered:
                return
            events = self._history(delivered, current + 1)
            if events is None:   # start afresh: the watchers read SQLite
                self._ring.clear()
            for ev in events or []:
                self._ring.append(ev)
            self._delivered = current
            self._wake(events)

    # -- history -------------------------------------------------------------

    def compact(self, keep_revisions: int) -> None:
        def write(conn: sqlite3.Connection, _revision: int) -> None:
            _compact_to(conn, _meta(conn, "revision") - max(keep_revisions, 0))

        self._maintain(write)

    def compact_to(self, revision: int) -> None:
        def write(conn: sqlite3.Connection, _revision: int) -> None:
            _compact_to(conn, min(revision, _meta(conn, "revision")))

        self._maintain(write)

    def auto_compact(self, now: Optional[float] = None) -> None:
        """Compact what is older than both history_revisions and history_seconds."""
        cutoff = (time.time() if now is None else now) - self.history_seconds

        def write(conn: sqlite3.Connection, _revision: int) -> None:
            by_count = _meta(conn, "revision") - self.history_revisions
            row = conn.execute(
                "SELECT MAX(revision) FROM history WHERE at <= ?", (cutoff,)
            ).fetchone()
            by_age = row[0] or 0
            _compact_to(conn, min(by_count, by_age))

        self._maintain(write)

    def _maintain(self, fn: Callable[[sqlite3.Connection, int], None]) -> None:
        """A write transaction that does not take a revision."""
        with self._write_lock, self._connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                fn(conn, 0)
                compacted = _meta(conn, "compact_revision")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            self._ring.forget_to(compacted)

    def watch(
        self, prefix: str, from_revision: int, stop: threading.Event, progress: bool = False,
        trigger: Optional[bytes] = None,
    ) -> Iterator[WatchEvent]:
        compacted = self.compact_revision()
        if from_revision < compacted:
            raise Compacted(from_revision, compacted)
        return self._watch(prefix, from_revision, stop, progress, trigger)

    def _start_poller(self) -> None:
        with self._cond:
            if self._poller is not None or self._closed:
                return
            self._poller = threading.Thread(target=self._poll, name="k8snet-sqlite-poller",
                                            daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        """Deliver other processes' writes when the revision moves past the last one
        delivered. This process's writes woke their own watchers (by key) in _write;
        waking every watcher here too, at each move of the revision, was a herd of 600
        threads five times a second beside 50 nodes' Leases."""
        while not self._closed:
            try:
                current = self.current_revision()
                delivered = self._delivered
                if delivered is None or current > delivered:
                    self._tail_others()
            except StoreError:
                pass
            with self._cond:
                if not self._closed:
                    self._cond.wait(self.poll_interval)

    def _watch(
        self, prefix: str, from_revision: int, stop: threading.Event, progress: bool,
        trigger: Optional[bytes] = None,
    ) -> Iterator[WatchEvent]:
        self._start_poller()
        where, params = _range_sql(prefix, None)
        sql = (
            "SELECT revision, key, type, value, prev_value, created FROM history"
            f" WHERE revision > ? AND {where} ORDER BY revision LIMIT {_WATCH_BATCH}"
        )
        seen = from_revision
        reported, reported_at = from_revision, 0.0

        def read(conn: sqlite3.Connection) -> Tuple[list, int]:
            compacted = _meta(conn, "compact_revision")
            if seen < compacted:
                raise Compacted(seen, compacted)
            return conn.execute(sql, [seen, *params]).fetchall(), _meta(conn, "revision")

        lo = prefix.encode()
        # set by a write under the prefix. A watch asked for progress is not woken by
        # every other write too: it looks at the store's revision once a second at most
        # (as often as it may report), or an apiserver with 300 watches of nodes, Pods,
        # Leases... woke all 300 threads for each write.
        wake = threading.Event()
        with self._cond:
            self._watchers = {**self._watchers, id(wake): (lo, trigger, wake)}
        idle = _STOP_CHECK
        if isinstance(stop, WatchStop):
            stop.on_set(wake.set)
            idle = _IDLE_CHECK
        try:
            while not stop.is_set() and not self._closed:
                wake.clear()   # before reading: a write from now on wakes the wait below
                cached = self._ring.after(seen)
                if cached is not None:
                    events, current = cached
                    for ev in events:
                        if stop.is_set():
                            return
                        seen = ev.revision
                        if ev.key.encode().startswith(lo) and \
                                triggered(ev.value, ev.prev_value, trigger):
                            yield ev
                    full = False
                else:
                    rows, current = self._read(read)
                    for row in rows:
                        if stop.is_set():
                            return
                        seen = row[0]
                        if triggered(row[3], row[4], trigger):
                            yield _event(row)
                    full = len(rows) == _WATCH_BATCH
                if full:
                    continue
                seen = max(seen, current)
                if progress and seen > reported and time.monotonic() - reported_at >= 1.0:
                    reported, reported_at = seen, time.monotonic()
                    yield WatchEvent("PROGRESS", "", None, None, seen, False)
                    continue  # look again before sleeping: writes may have come meanwhile
                # sleep until a write under the prefix (here or seen by the poller), stop,
                # or (progress) a second after the last report once the store moved on
                while not wake.is_set() and not stop.is_set() and not self._closed:
                    if progress:
                        left = 1.0 - (time.monotonic() - reported_at)
                        if left <= 0:
                            if seen > reported or self._newest() > seen:
                                break   # a revision to report
                            left = 1.0
                        wake.wait(min(idle, left))
                    else:
                        wake.wait(idle)
                        if trigger is not None and not wake.is_set() and \
                                self._newest() > seen:
                            # a narrowed watch is not woken by the events it skips: move
                            # past them now and then, or a compaction would leave it behind
                            # (a 410 for a watch that was connected all along)
                            break
        finally:
            with self._cond:
                watchers = dict(self._watchers)
                watchers.pop(id(wake), None)
                self._watchers = watchers

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._wake(None)
            self._cond.notify_all()
        with self._pool_lock:
            pool, self._pool = self._pool, []
        for conn in pool:
            conn.close()


# -- helpers on a connection inside a transaction ---------------------------


def _meta(conn: sqlite3.Connection, name: str) -> int:
    return conn.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()[0]


def _current(
    conn: sqlite3.Connection, key: str, raw: bytes, expected: Optional[int]
) -> Tuple[bytes, int]:
    """The key's (value, mod_revision), checked against ``expected``."""
    row = conn.execute("SELECT value, mod_revision FROM kv WHERE key = ?", (raw,)).fetchone()
    if row is None:
        raise KeyNotFound(key)
    if expected is not None and row[1] != expected:
        raise RevisionMismatch(key, expected, row[1])
    return bytes(row[0]), row[1]


def _record(
    conn: sqlite3.Connection,
    revision: int,
    raw: bytes,
    kind: int,
    value: Optional[bytes],
    prev_value: Optional[bytes],
    prev_revision: Optional[int],
    created: bool,
) -> None:
    conn.execute(
        "INSERT INTO history VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (revision, raw, kind, value, prev_value, prev_revision, int(created), time.time()),
    )


def _compact_to(conn: sqlite3.Connection, target: int) -> None:
    if target > _meta(conn, "compact_revision"):
        conn.execute("DELETE FROM history WHERE revision <= ?", (target,))
        conn.execute("UPDATE meta SET value = ? WHERE name = 'compact_revision'", (target,))


def _list_at(
    conn: sqlite3.Connection, where: str, params: list, revision: int, limit: Optional[int]
) -> List[Item]:
    """The range as it was at ``revision``: current rows with the events after
    ``revision`` undone (the first later event of a key holds its old state)."""
    state: Dict[bytes, Optional[Tuple[bytes, int]]] = {
        k: (bytes(v), r)
        for k, v, r in conn.execute(
            f"SELECT key, value, mod_revision FROM kv WHERE {where}", params
        )
    }
    undone = set()
    for key, prev_value, prev_revision, created in conn.execute(
        "SELECT key, prev_value, prev_revision, created FROM history"
        f" WHERE revision > ? AND {where} ORDER BY revision",
        [revision, *params],
    ):
        if key in undone:
            continue
        undone.add(key)
        state[key] = None if created else (bytes(prev_value), prev_revision)
    items = sorted((k, v[0], v[1]) for k, v in state.items() if v is not None)
    if limit:
        items = items[:limit]
    return [(k.decode(), v, r) for k, v, r in items]
