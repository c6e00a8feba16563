"""What only the SQLite backend promises: durability across kill -9, history
that survives a restart, automatic compaction, and watches that see writes
made by other processes sharing the file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from typing import List

import pytest

from k8snet.store import Compacted, WatchEvent
from k8snet.store.sqlite import SqliteStore

pytestmark = pytest.mark.timeout(120)
DEADLINE = 20.0

WRITER = """
import sys
from k8snet.store import open_store
store = open_store("sqlite://" + sys.argv[1])
delay = float(sys.argv[2])
import time
time.sleep(delay)
i = 0
while True:
    rev = store.create("/registry/pods/ns/p%06d" % i, b"value-%d" % i)
    print(i, rev, flush=True)
    i += 1
    if len(sys.argv) > 3 and i == int(sys.argv[3]):
        break
"""


def writer(path: str, delay: float = 0.0, count: int = 0) -> subprocess.Popen:
    argv = [sys.executable, "-c", WRITER, path, str(delay)] + ([str(count)] if count else [])
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=repo)
    return subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=env)


def collect(store: SqliteStore, prefix: str, from_revision: int, count: int) -> List[WatchEvent]:
    stop = threading.Event()
    timer = threading.Timer(DEADLINE, stop.set)
    timer.start()
    events: List[WatchEvent] = []
    try:
        for event in store.watch(prefix, from_revision, stop):
            events.append(event)
            if len(events) == count:
                break
    finally:
        timer.cancel()
        stop.set()
    assert len(events) == count, f"watch gave {len(events)} of {count} events in {DEADLINE}s"
    return events


def test_kill_9_loses_no_acknowledged_write(tmp_path):
    path = str(tmp_path / "store.db")
    proc = writer(path)
    acknowledged = {}
    try:
        deadline = time.monotonic() + 60
        while len(acknowledged) < 300:
            assert time.monotonic() < deadline, "writer did not acknowledge 300 writes in 60s"
            line = proc.stdout.readline()
            assert line, f"writer exited early with status {proc.poll()}"
            i, rev = map(int, line.split())
            acknowledged[i] = rev
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=DEADLINE)
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    store = SqliteStore(path)
    try:
        for i, rev in acknowledged.items():
            assert store.get(f"/registry/pods/ns/p{i:06d}") == (b"value-%d" % i, rev)
        items, current = store.list("/registry/pods/")
        assert len(items) >= len(acknowledged) and current >= max(acknowledged.values())
        # The next write carries on from the recovered revision.
        assert store.create("/registry/pods/ns/after", b"x") == current + 1
    finally:
        store.close()


def test_watch_sees_writes_from_another_process(tmp_path):
    path = str(tmp_path / "store.db")
    store = SqliteStore(path, poll_interval=0.05)
    try:
        start = store.create("/registry/namespaces/default", b"{}")
        proc = writer(path, delay=0.5, count=5)
        try:
            events = collect(store, "/registry/pods/", start, 5)
        finally:
            proc.wait(timeout=DEADLINE)
            proc.stdout.close()
        assert proc.returncode == 0
        assert [e.key[-7:] for e in events] == [f"p{i:06d}" for i in range(5)]
        assert all(e.created for e in events)
    finally:
        store.close()


def test_watch_cache_interleaves_writes_of_this_and_another_process(tmp_path):
    """Watchers served from the in-memory cache still see every event, in revision
    order, when another process writes between this process's writes."""
    path = str(tmp_path / "store.db")
    store = SqliteStore(path, poll_interval=0.05)
    try:
        start = store.create("/registry/namespaces/default", b"{}")
        got: List[List[WatchEvent]] = [[], []]
        stop = threading.Event()

        def watch(i: int) -> None:
            for event in store.watch("/registry/pods/", start, stop):
                got[i].append(event)

        threads = [threading.Thread(target=watch, args=(i,), daemon=True) for i in range(2)]
        for t in threads:
            t.start()
        ours = [store.create(f"/registry/pods/ns/a{i}", b"x") for i in range(3)]
        proc = writer(path, count=4)
        proc.wait(timeout=DEADLINE)
        proc.stdout.close()
        ours += [store.create(f"/registry/pods/ns/b{i}", b"y") for i in range(3)]
        store.create("/registry/services/ns/s", b"z")       # outside the prefix
        end = time.monotonic() + DEADLINE
        while any(len(g) < 10 for g in got) and time.monotonic() < end:
            time.sleep(0.02)
        stop.set()
        for events in got:
            revisions = [e.revision for e in events]
            assert len(events) == 10 and revisions == sorted(revisions)
            assert [e.key.rsplit("/", 1)[1] for e in events] == [
                "a0", "a1", "a2", "p000000", "p000001", "p000002", "p000003", "b0", "b1", "b2"]
        assert set(ours) <= {e.revision for e in got[0]}
    finally:
        store.close()


def test_history_survives_restart(tmp_path):
    path = str(tmp_path / "store.db")
    first = SqliteStore(path)
    r1 = first.create("/registry/pods/ns/a", b"1")
    r2 = first.update("/registry/pods/ns/a", b"2", r1)
    first.close()
    second = SqliteStore(path)
    try:
        assert second.get("/registry/pods/ns/a") == (b"2", r2)
        assert second.list("/registry/pods/", revision=r1)[0] == [("/registry/pods/ns/a", b"1", r1)]
        assert [e.value for e in collect(second, "/registry/", 0, 2)] == [b"1", b"2"]
        assert second.create("/registry/pods/ns/b", b"x") == r2 + 1
    finally:
        second.close()


def test_automatic_compaction_by_count(tmp_path):
    store = SqliteStore(
        str(tmp_path / "s.db"), history_revisions=5, history_seconds=0, compact_every=1
    )
    try:
        for i in range(20):
            store.create(f"/registry/pods/ns/p{i}", b"x")
        assert store.compact_revision() == 15
        with pytest.raises(Compacted) as info:
            store.watch("/registry/pods/", 3, threading.Event())
        assert info.value.compact_revision == 15
        assert [e.revision for e in collect(store, "/registry/pods/", 15, 5)] == list(range(16, 21))
    finally:
        store.close()


def test_automatic_compaction_keeps_recent_events(tmp_path):
    store = SqliteStore(
        str(tmp_path / "s.db"), history_revisions=0, history_seconds=3600, compact_every=1
    )
    try:
        for i in range(10):
            store.create(f"/registry/pods/ns/p{i}", b"x")
        assert store.compact_revision() == 0  # all younger than an hour
        store.auto_compact(now=time.time() + 7200)
        assert store.compact_revision() == 10
    finally:
        store.close()


def test_compaction_overtaking_a_slow_watcher(tmp_path):
    store = SqliteStore(str(tmp_path / "s.db"), compact_every=0)
    try:
        for i in range(3):
            store.create(f"/registry/pods/ns/p{i}", b"x")
        stop = threading.Event()
        events = store.watch("/registry/pods/", 0, stop)
        first = next(events)
        assert first.revision == 1
        for i in range(3, 6):
            store.create(f"/registry/pods/ns/p{i}", b"x")
        store.compact(keep_revisions=1)
        with pytest.raises(Compacted):
            for _ in events:  # the batch already read may still come first
                pass
        stop.set()
    finally:
        store.close()


INCREMENTER = """
import sys
from k8snet.store import RevisionMismatch, open_store
store = open_store("sqlite://" + sys.argv[1])
done = conflicts = 0
while done < int(sys.argv[2]):
    value, rev = store.get("/registry/counter")
    try:
        store.update("/registry/counter", str(int(value) + 1).encode(), rev)
        done += 1
    except RevisionMismatch:
        conflicts += 1
print(conflicts)
"""


def test_processes_sharing_the_file_never_lose_an_update(tmp_path):
    path = str(tmp_path / "store.db")
    store = SqliteStore(path)
    try:
        store.create("/registry/counter", b"0")
        repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = dict(os.environ, PYTHONPATH=repo)
        procs = [
            subprocess.Popen([sys.executable, "-c", INCREMENTER, path, "100"],
                             stdout=subprocess.PIPE, text=True, env=env)
            for _ in range(3)
        ]
        for proc in procs:
            out, _ = proc.communicate(timeout=90)
            assert proc.returncode == 0, out
        assert store.get("/registry/counter")[0] == b"300"
        assert store.current_revision() == 301
    finally:
        store.close()


def test_connections_opened_at_once_on_a_new_database_all_work(tmp_path):
    """Several threads' first connections switch a brand-new file to WAL at the same
    moment (an apiserver's registry and its CRD controller do): none may fail."""
    for attempt in range(5):
        store = SqliteStore(str(tmp_path / f"new{attempt}.db"))
        barrier, errors = threading.Barrier(8), []

        def first_write(i: int, store=store, barrier=barrier, errors=errors) -> None:
            barrier.wait()
            try:
                store.create(f"/k/{i}", b"v")
            except Exception as exc:  # noqa: BLE001 - the test reports any failure
                errors.append(repr(exc))

        threads = [threading.Thread(target=first_write, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == []
        assert len(store.list("/k/")[0]) == 8
        store.close()


def test_a_watch_stop_ends_an_idle_watch_at_once(tmp_path, monkeypatch):
    # An idle watch sleeps until a write or its WatchStop: it does not look at the
    # flag every half second (hundreds of watches made hundreds of wake-ups a second),
    # and setting the flag ends it without waiting for the next look (made 30 s here).
    from k8snet.store import sqlite
    from k8snet.store.base import WatchStop

    monkeypatch.setattr(sqlite, "_STOP_CHECK", 30.0)
    monkeypatch.setattr(sqlite, "_IDLE_CHECK", 30.0, raising=False)
    store = SqliteStore(str(tmp_path / "s.db"))
    try:
        rev = store.create("/registry/pods/default/a", b'{"a":1}')
        stop, seen, ended = WatchStop(), [], threading.Event()

        def watch() -> None:
            for ev in store.watch("/registry/pods/", rev, stop):
                seen.append(ev.key)
            ended.set()

        threading.Thread(target=watch, daemon=True).start()
        store.create("/registry/pods/default/b", b'{"b":1}')
        deadline = time.monotonic() + 5
        while not seen and time.monotonic() < deadline:
            time.sleep(0.01)
        assert seen == ["/registry/pods/default/b"]
        time.sleep(0.3)              # asleep now, with nothing to wake it
        t0 = time.monotonic()
        stop.set()
        assert ended.wait(3.0), "the watch did not end when its stop was set"
        assert time.monotonic() - t0 < 3.0
    finally:
        store.close()
