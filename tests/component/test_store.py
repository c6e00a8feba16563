"""The store suite, run against both backends: SQLite on a temp file and a real
etcd process on free loopback ports."""

from __future__ import annotations

import itertools
import os
import socket
import sys
import tempfile
import threading
import time
from typing import Iterator, List, Tuple

import pytest

from k8snet.store import (
    Compacted,
    FutureRevision,
    KeyExists,
    KeyNotFound,
    RevisionMismatch,
    Store,
    WatchEvent,
    open_store,
)
from k8snet.store.etcd_process import (
    ETCD_BIN,
    EtcdMember,
    render_etcd_command,
    start_etcd,
    stop_etcd,
    store_url,
    wait_healthy,
)

pytestmark = pytest.mark.timeout(120)
DEADLINE = 20.0  # generous: CI is a loaded 2-core machine


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def etcd_url() -> Iterator[str]:
    """A single-member etcd on free loopback ports in a temp data dir."""
    if not os.access(ETCD_BIN, os.X_OK):
        pytest.skip(f"{ETCD_BIN} is missing (install Debian's etcd-server)")
    with tempfile.TemporaryDirectory(prefix="k8snet-etcd-") as tmp:
        member = EtcdMember("k8snet-test", "127.0.0.1", free_port(), free_port())
        log = os.path.join(tmp, "etcd.log")
        proc = start_etcd(render_etcd_command(member, [member], os.path.join(tmp, "data")), log)
        try:
            wait_healthy(member.client_url, time.monotonic() + 30, proc, log)
            yield store_url([member])
        finally:
            stop_etcd(proc)


_prefixes = itertools.count()


@pytest.fixture(params=["sqlite", "etcd"])
def store(request, tmp_path) -> Iterator[Tuple[Store, str]]:
    """(store, root): a fresh store and a key root no other test uses."""
    if request.param == "sqlite":
        url = f"sqlite://{tmp_path}/store.db"
    else:
        url = request.getfixturevalue("etcd_url")
    st = open_store(url)
    try:
        yield st, f"/t{os.getpid()}-{next(_prefixes)}/registry/"
    finally:
        st.close()


def collect(st: Store, prefix: str, from_revision: int, count: int) -> List[WatchEvent]:
    """The first ``count`` events of a watch, within DEADLINE."""
    stop = threading.Event()
    timer = threading.Timer(DEADLINE, stop.set)
    timer.start()
    events: List[WatchEvent] = []
    try:
        for event in st.watch(prefix, from_revision, stop):
            events.append(event)
            if len(events) == count:
                break
    finally:
        timer.cancel()
        stop.set()
    assert len(events) == count, f"watch gave {len(events)} of {count} events in {DEADLINE}s"
    return events


def test_create_get(store):
    st, root = store
    before = st.current_revision()
    rev = st.create(root + "pods/default/a", b'{"a":1}')
    assert rev > before
    assert st.get(root + "pods/default/a") == (b'{"a":1}', rev)
    assert st.get(root + "pods/default/missing") is None
    with pytest.raises(KeyExists):
        st.create(root + "pods/default/a", b"other")
    assert st.get(root + "pods/default/a") == (b'{"a":1}', rev)
    assert st.current_revision() == rev


def test_update_compare_and_swap(store):
    st, root = store
    key = root + "pods/default/a"
    r1 = st.create(key, b"1")
    r2 = st.update(key, b"2", r1)
    assert r2 > r1
    with pytest.raises(RevisionMismatch) as info:
        st.update(key, b"stale", r1)
    assert info.value.actual == r2 and info.value.expected == r1
    assert st.get(key) == (b"2", r2)
    with pytest.raises(KeyNotFound):
        st.update(root + "pods/default/nope", b"x", r1)


def test_delete(store):
    st, root = store
    key = root + "pods/default/a"
    r1 = st.create(key, b"1")
    with pytest.raises(RevisionMismatch):
        st.delete(key, expected_revision=r1 + 100)
    assert st.get(key) == (b"1", r1)
    rev, old = st.delete(key, expected_revision=r1)
    assert rev > r1 and old == b"1"
    assert st.get(key) is None
    with pytest.raises(KeyNotFound):
        st.delete(key)
    r3 = st.create(key, b"again")
    assert st.delete(key) == (r3 + 1, b"again")


def test_list_prefix_sorted(store):
    st, root = store
    for key in ["pods/ns2/b", "pods/ns1/z", "pods/ns1/a", "podsx/ns1/a", "nodes/n1"]:
        st.create(root + key, key.encode())
    items, rev = st.list(root + "pods/")
    assert [k[len(root):] for k, _, _ in items] == ["pods/ns1/a", "pods/ns1/z", "pods/ns2/b"]
    assert all(v == k[len(root):].encode() for k, v, _ in items)
    assert rev == st.current_revision()
    items, _ = st.list(root + "pods/ns1/")
    assert len(items) == 2
    assert st.list(root + "services/") == ([], rev)


def test_list_pages_at_one_revision(store):
    st, root = store
    for i in range(5):
        st.create(f"{root}pods/ns/p{i}", b"v%d" % i)
    page, rev = st.list(root + "pods/", limit=2)
    assert [k[-2:] for k, _, _ in page] == ["p0", "p1"]
    # Writes between pages must not show in later pages of the same list.
    st.create(root + "pods/ns/p15", b"late")
    st.delete(root + "pods/ns/p3")
    keys = [k for k, _, _ in page]
    while True:
        page, at = st.list(root + "pods/", revision=rev, limit=2, start_after=keys[-1])
        assert at == rev
        if not page:
            break
        keys += [k for k, _, _ in page]
    assert [k[-2:] for k in keys] == ["p0", "p1", "p2", "p3", "p4"]


def test_list_at_past_revision(store):
    st, root = store
    a = root + "pods/ns/a"
    ra = st.create(a, b"a1")
    rb = st.create(root + "pods/ns/b", b"b1")
    st.update(a, b"a2", ra)
    st.delete(root + "pods/ns/b")
    st.create(root + "pods/ns/c", b"c1")
    past, at = st.list(root + "pods/", revision=rb)
    assert at == rb
    assert past == [(a, b"a1", ra), (root + "pods/ns/b", b"b1", rb)]
    now, _ = st.list(root + "pods/")
    assert [(k[-1], v) for k, v, _ in now] == [("a", b"a2"), ("c", b"c1")]
    with pytest.raises(FutureRevision):
        st.list(root + "pods/", revision=st.current_revision() + 1000)


def test_watch_from_revision(store):
    st, root = store
    prefix = root + "pods/"
    r0 = st.create(prefix + "ns/a", b"a1")
    st.create(root + "nodes/n1", b"not watched")

    def writer() -> None:
        time.sleep(0.2)  # let the watch block first: exercises the wake-up path
        rb = st.create(prefix + "ns/b", b"b1")
        st.update(prefix + "ns/b", b"b2", rb)
        st.delete(prefix + "ns/a")

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        events = collect(st, prefix, r0, 3)
    finally:
        thread.join()
    assert [(e.type, e.key[len(prefix):], e.value, e.prev_value, e.created) for e in events] == [
        ("PUT", "ns/b", b"b1", None, True),
        ("PUT", "ns/b", b"b2", b"b1", False),
        ("DELETE", "ns/a", None, b"a1", False),
    ]
    revisions = [e.revision for e in events]
    assert revisions == sorted(revisions) and revisions[0] > r0
    assert revisions[-1] == st.current_revision()


def test_watch_resumes_after_reconnect(store):
    st, root = store
    prefix = root + "leases/"
    start = st.current_revision()
    written = [st.create(f"{prefix}l{i}", b"x") for i in range(3)]
    first = collect(st, prefix, start, 2)  # the watcher goes away after two
    more = [st.create(f"{prefix}m{i}", b"y") for i in range(2)]
    rest = collect(st, prefix, first[-1].revision, 3)
    assert [e.revision for e in first + rest] == written + more


def test_watch_stops_when_asked(store):
    st, root = store
    stop = threading.Event()
    got: List[WatchEvent] = []
    iterator = st.watch(root + "quiet/", st.current_revision(), stop)
    thread = threading.Thread(target=lambda: got.extend(iterator))
    thread.start()
    time.sleep(0.3)
    stop.set()
    thread.join(DEADLINE)
    assert not thread.is_alive(), "watch did not end after stop was set"
    assert got == []


def test_compacted(store):
    st, root = store
    key = root + "pods/ns/a"
    rev = st.create(key, b"0")
    old = rev
    for i in range(5):
        rev = st.update(key, b"%d" % (i + 1), rev)
    st.compact(keep_revisions=1)
    assert st.compact_revision() == rev - 1
    with pytest.raises(Compacted):
        st.watch(root + "pods/", old, threading.Event())
    with pytest.raises(Compacted):
        st.list(root + "pods/", revision=old)
    # Recent history still works, and so does a list then watch from its revision.
    items, at = st.list(root + "pods/")
    assert items == [(key, b"5", rev)]
    st.update(key, b"6", rev)
    assert [e.value for e in collect(st, root + "pods/", at, 1)] == [b"6"]


def test_racing_compare_and_swap_has_one_winner(store):
    st, root = store
    key = root + "pods/ns/contended"
    rev = st.create(key, b"start")
    results: List[object] = []
    barrier = threading.Barrier(8)

    def contender(i: int) -> None:
        barrier.wait()
        try:
            results.append(st.update(key, b"winner-%d" % i, rev))
        except RevisionMismatch as err:
            results.append(err)

    threads = [threading.Thread(target=contender, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(DEADLINE)
    wins = [r for r in results if isinstance(r, int)]
    assert len(results) == 8 and len(wins) == 1
    value, mod = st.get(key)
    assert mod == wins[0] and value.startswith(b"winner-")


def test_racing_create_has_one_winner(store):
    st, root = store
    key = root + "namespaces/new"
    outcomes: List[str] = []
    barrier = threading.Barrier(6)

    def contender() -> None:
        barrier.wait()
        try:
            st.create(key, b"x")
            outcomes.append("created")
        except KeyExists:
            outcomes.append("exists")

    threads = [threading.Thread(target=contender) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(DEADLINE)
    assert sorted(outcomes) == ["created"] + ["exists"] * 5


def test_many_watchers_see_every_write(store):
    st, root = store
    prefix = root + "endpoints/"
    start = st.current_revision()
    seen: List[List[int]] = [[] for _ in range(4)]

    def watcher(i: int) -> None:
        seen[i] = [e.revision for e in collect(st, prefix, start, 20)]

    threads = [threading.Thread(target=watcher, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    written = [st.create(f"{prefix}e{i:02d}", b"v") for i in range(20)]
    for t in threads:
        t.join(DEADLINE + 5)
    assert seen == [written] * 4


def test_a_sleeping_progress_watch_learns_of_writes_elsewhere(store):
    """Writes under other prefixes do not wake a progress watch one by one, but it still
    reports the store's revision within about a second of them."""
    st, root = store
    stop = threading.Event()
    seen: List[WatchEvent] = []
    got_first = threading.Event()

    def watch() -> None:
        for event in st.watch(root + "still/", st.current_revision(), stop, progress=True):
            seen.append(event)
            got_first.set()
    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        time.sleep(0.3)   # asleep in its wait
        written = [st.create(root + f"busy/k{i}", b"v") for i in range(5)]
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline and not any(e.revision >= written[-1] for e in seen):
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(DEADLINE)
    assert any(e.type == "PROGRESS" and e.revision >= written[-1] for e in seen), seen
    assert all(e.type == "PROGRESS" for e in seen)


def test_watch_progress_reports_the_revision_of_quiet_prefixes(store):
    """An idle watch asked for progress learns how far the store got (BOOKMARK material):
    SQLite at most once a second, etcd through its progress notifications (every second here)."""
    st, root = store
    start = st.current_revision()
    stop = threading.Event()
    timer = threading.Timer(DEADLINE, stop.set)
    timer.start()
    seen: List[WatchEvent] = []
    try:
        written = st.create(root + "elsewhere/x", b"x")
        for event in st.watch(root + "quiet/", start, stop, progress=True):
            seen.append(event)
            if event.type == "PROGRESS" and event.revision >= written:
                break
    finally:
        timer.cancel()
        stop.set()
    assert seen and seen[-1].type == "PROGRESS" and seen[-1].revision >= written, seen
    assert all(e.type == "PROGRESS" and e.key == "" for e in seen)
    # without asking, a quiet watch yields nothing at all
    got: List[WatchEvent] = []
    stop2 = threading.Event()
    thread = threading.Thread(target=lambda: got.extend(
        st.watch(root + "quiet/", start, stop2)))
    thread.start()
    time.sleep(1.5)
    stop2.set()
    thread.join(DEADLINE)
    assert got == []


def test_compact_to_a_revision(store):
    st, root = store
    key = root + "pods/ns/c"
    first = st.create(key, b"0")
    rev = first
    for i in range(3):
        rev = st.update(key, b"%d" % (i + 1), rev)
    st.compact_to(first + 1)
    assert st.compact_revision() == first + 1
    with pytest.raises(Compacted):
        st.watch(root + "pods/", first, threading.Event())
    assert [e.value for e in collect(st, root + "pods/", first + 1, 2)] == [b"2", b"3"]
    st.compact_to(first)  # older than what is gone already: nothing happens
    assert st.compact_revision() == first + 1


def test_sqlite_wakes_only_the_watchers_of_what_was_written(tmp_path, monkeypatch):
    """Writes of this process wake the watchers of their keys, and the poller that
    looks for other processes' writes does not wake everyone again for them; a write
    of another process (a second store on the same file) still reaches the watch."""
    import k8snet.store.sqlite as sqlite_store

    sets = []

    class CountingEvent(threading.Event):
        def set(self) -> None:
            if sys._getframe(1).f_code.co_filename == sqlite_store.__file__:
                sets.append(1)      # a watcher woken (not a thread's start, say)
            super().set()

    url = f"sqlite://{tmp_path}/store.db"
    st, other = open_store(url), open_store(url)
    stop = threading.Event()
    seen: List[WatchEvent] = []
    st.create("/r/first", b"v")                  # the poller starts knowing of a write
    monkeypatch.setattr(sqlite_store.threading, "Event", CountingEvent)
    thread = threading.Thread(target=lambda: seen.extend(
        st.watch("/r/quiet/", st.current_revision(), stop)), daemon=True)
    thread.start()
    try:
        time.sleep(0.3)
        for i in range(6):                       # over several of the poller's looks
            st.create(f"/r/busy/k{i}", b"v")
            time.sleep(0.15)
        time.sleep(0.5)
        assert sets == [] and seen == []
        rev = other.create("/r/quiet/x", b"v")   # another process
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline and not seen:
            time.sleep(0.05)
        assert [e.revision for e in seen] == [rev] and sets
    finally:
        stop.set()
        thread.join(DEADLINE)
        st.close()
        other.close()


def test_sqlite_a_write_after_another_process_wrote_wakes_that_writes_watchers(tmp_path):
    """Another process writes under a watched prefix, and this process writes elsewhere
    before its poller looks: the watcher still gets the other process's write."""
    url = f"sqlite://{tmp_path}/store.db"
    st, other = open_store(url), open_store(url)
    st.create("/r/first", b"v")
    stop = threading.Event()
    seen: List[WatchEvent] = []
    thread = threading.Thread(target=lambda: seen.extend(
        st.watch("/r/quiet/", st.current_revision(), stop)), daemon=True)
    thread.start()
    try:
        time.sleep(0.5)
        rev = other.create("/r/quiet/x", b"v")
        st.create("/r/busy/y", b"v")            # at once: within the poller's 0.2 s
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline and not seen:
            time.sleep(0.05)
        assert [e.revision for e in seen] == [rev]
    finally:
        stop.set()
        thread.join(DEADLINE)
        st.close()
        other.close()


def test_a_triggered_watch_gets_only_the_events_that_carry_its_bytes(store):
    """A kubelet's watch narrowed to its node: binds to it, changes on it and deletes
    from it arrive; events of other nodes' Pods do not, but progress covers them."""
    st, root = store
    prefix = root + "pods/"
    start = st.current_revision()
    mine, other = b'"nodeName":"w1"', b'"nodeName":"w2"'
    unbound = st.create(prefix + "ns/a", b'{"spec":{}}')
    bound = st.update(prefix + "ns/a", b'{"spec":{' + mine + b"}}", unbound)   # bound to w1
    elsewhere = st.create(prefix + "ns/b", b'{"spec":{' + other + b"}}")
    gone, _ = st.delete(prefix + "ns/a")                                    # only prev has it
    last = st.create(prefix + "ns/c", b'{"spec":{' + other + b"}}")
    stop = threading.Event()
    timer = threading.Timer(DEADLINE, stop.set)
    timer.start()
    seen: List[WatchEvent] = []
    try:
        for event in st.watch(prefix, start, stop, progress=True, trigger=mine):
            seen.append(event)
            if event.revision >= last:
                break
    finally:
        timer.cancel()
        stop.set()
    assert [(e.type, e.revision) for e in seen if e.type != "PROGRESS"] == \
        [("PUT", bound), ("DELETE", gone)]
    assert elsewhere not in [e.revision for e in seen]
    assert seen[-1].type == "PROGRESS" and seen[-1].revision >= last


def test_a_triggered_watch_keeps_up_past_what_it_skips(store):
    """Writes it does not want go by, the history is compacted, then one it wants: it
    arrives (a narrowed watch must not fall behind the compaction and end in 410)."""
    st, root = store
    prefix = root + "pods/"
    mine = b'"nodeName":"w1"'
    stop = threading.Event()
    seen: List[WatchEvent] = []
    failed: List[BaseException] = []

    def watch() -> None:
        try:
            seen.extend(st.watch(prefix, st.current_revision(), stop, trigger=mine))
        except Exception as exc:  # noqa: BLE001 - the assertion below says which
            failed.append(exc)
    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        time.sleep(0.3)
        rev = 0
        for i in range(30):
            rev = st.create(f"{prefix}ns/other{i}", b'{"spec":{"nodeName":"w2"}}')
        time.sleep(1.5)                      # the watch's idle look moves it past them
        st.compact_to(rev)
        wanted = st.create(prefix + "ns/mine", b'{"spec":{' + mine + b"}}")
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline and not seen and not failed:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(DEADLINE)
    assert not failed, failed
    assert [e.revision for e in seen] == [wanted]
