"""The watch cache's ring: what a lock-free reader may see."""

import threading

from k8snet.store.base import WatchEvent
from k8snet.store.ring import EventRing, event_size


def ev(revision: int, size: int = 10) -> WatchEvent:
    return WatchEvent("PUT", f"/registry/pods/p{revision}", b"x" * size, None, revision, True)


def test_after_gives_the_events_after_seen_and_the_newest():
    ring = EventRing(100, 1 << 20)
    for r in range(5, 11):
        ring.append(ev(r))
    events, newest = ring.after(7)
    assert [e.revision for e in events] == [8, 9, 10] and newest == 10
    assert ring.after(10) == ([], 10)
    assert [e.revision for e in ring.after(4)[0]] == list(range(5, 11))


def test_after_is_none_when_the_ring_does_not_cover_seen():
    ring = EventRing(100, 1 << 20)
    assert ring.after(0) is None and ring.newest() is None
    for r in range(5, 11):
        ring.append(ev(r))
    assert ring.after(3) is None      # revision 4 is missing
    assert ring.after(11) is None     # newer than the ring: another process wrote


def test_a_gap_starts_over():
    ring = EventRing(100, 1 << 20)
    ring.append(ev(1))
    ring.append(ev(2))
    ring.append(ev(5))
    assert ring.after(2) is None
    events, newest = ring.after(4)
    assert [e.revision for e in events] == [5] and newest == 5 and len(ring) == 1


def test_trimmed_by_count_and_bytes_with_slack():
    ring = EventRing(8, 1 << 20, slack=0.5)
    for r in range(1, 10):
        ring.append(ev(r))
    assert len(ring) == 4 and ring.newest() == 9      # 9 > 8: trimmed to 4
    ring = EventRing(1000, 10 * event_size(ev(1, 100)), slack=0.5)
    for r in range(1, 12):
        ring.append(ev(r, 100))
    assert len(ring) == 5 and ring.newest() == 11


def test_forget_to_drops_compacted_events():
    ring = EventRing(100, 1 << 20)
    for r in range(1, 11):
        ring.append(ev(r))
    ring.forget_to(6)
    assert ring.after(5) is None
    assert [e.revision for e in ring.after(6)[0]] == [7, 8, 9, 10]
    ring.forget_to(10)
    assert ring.newest() is None


def test_readers_without_a_lock_always_see_consecutive_events():
    ring = EventRing(64, 1 << 20, slack=0.5)
    done, bad, reads = threading.Event(), [], [0]

    def reader():
        seen = 0
        while not done.is_set():
            got = ring.after(seen)
            if got is None:
                newest = ring.newest()
                seen = newest - 1 if newest else 0
                continue
            events, newest = got
            revs = [e.revision for e in events]
            if revs and (revs[0] != seen + 1 or revs != list(range(revs[0], revs[0] + len(revs)))
                         or revs[-1] != newest):
                bad.append((seen, revs[:3], revs[-3:], newest))
            if not revs and newest < seen:
                bad.append((seen, newest))
            reads[0] += 1
            seen = newest

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    for r in range(1, 200_001):
        ring.append(ev(r, 1))
        if r % 50_000 == 0:
            ring.append(ev(r + 1_000_000))   # a gap, then back on track
            ring.clear()
    done.set()
    for t in threads:
        t.join()
    assert not bad, bad[:3]
    assert reads[0] > 100
