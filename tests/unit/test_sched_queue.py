"""Scheduling queue decisions: who is pending, back-off, retries on change, events."""

from __future__ import annotations

from sched_fixtures import pod

from k8snet.scheduler.queue import (
    bound_fingerprint,
    is_due,
    next_attempt,
    pending_pods,
    should_emit_event,
)


def test_pending_pods_filters_and_orders():
    a = pod("a")
    a["metadata"]["creationTimestamp"] = "2024-01-01T00:00:02Z"
    b = pod("b")
    b["metadata"]["creationTimestamp"] = "2024-01-01T00:00:01Z"
    high = pod("high", priority=100)
    bound = pod("bound", node_name="n1")
    other = pod("other", schedulerName="my-scheduler")
    gone = pod("gone")
    gone["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    done = pod("done", phase="Failed")
    names = [p["metadata"]["name"] for p in
             pending_pods([a, b, high, bound, other, gone, done], "default-scheduler")]
    assert names == ["high", "b", "a"]
    assert [p["metadata"]["name"] for p in pending_pods([a, other], "my-scheduler")] == ["other"]


def test_backoff_and_generation():
    first = next_attempt(None, now=100.0, generation=3, message="m")
    assert first.backoff == 1.0
    assert not is_due(first, 100.5, generation=9, periodic=30)   # still backing off
    assert not is_due(first, 101.5, generation=3, periodic=30)   # nothing changed
    assert is_due(first, 101.5, generation=4, periodic=30)       # a node or pod changed
    assert is_due(first, 130.0, generation=3, periodic=30)       # periodic retry
    second = next_attempt(first, 102.0, 4, "m")
    assert second.backoff == 2.0
    capped = first
    for _ in range(10):
        capped = next_attempt(capped, 0, 0, "m", maximum=10)
    assert capped.backoff == 10
    assert is_due(None, 0, 0, 30)


def test_event_emission_rate():
    a = next_attempt(None, 10.0, 0, "0/1 nodes are available: 1 Insufficient cpu.")
    assert should_emit_event(a, 10.0, "")
    a.event_at = 10.0
    assert not should_emit_event(a, 20.0, a.message)
    assert should_emit_event(a, 20.0, "different")
    assert should_emit_event(a, 70.0, a.message)


def test_bound_fingerprint_ignores_pending_status_noise():
    pending = pod("p")
    bound = pod("b", node_name="n1")
    before = bound_fingerprint([pending, bound])
    pending["status"]["conditions"] = [{"type": "PodScheduled", "status": "False"}]
    assert bound_fingerprint([pending, bound]) == before
    bound["status"]["phase"] = "Succeeded"
    assert bound_fingerprint([pending, bound]) != before
