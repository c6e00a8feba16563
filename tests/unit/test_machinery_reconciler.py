"""The Reconciler and its work queue, driven by an injected clock (no sleeping)."""

from __future__ import annotations

import threading

import pytest

from k8snet.errors import K8snetError
from k8snet.machinery.informer import Informer
from k8snet.machinery.reconciler import ALL, Backoff, Reconciler, WorkQueue


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Recorder:
    """reconcile(key) that records calls and fails (or asks to requeue) when told to."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.fail: set[str] = set()
        self.again: dict[str, float] = {}

    def __call__(self, key: str):
        self.calls.append(key)
        if key in self.fail:
            raise K8snetError(f"{key} failed")
        return self.again.get(key)


RETRY = Backoff(1.0, 8.0)


def reconciler(resync=None, backoff=RETRY, **kw):
    clock, rec = Clock(), Recorder()
    return Reconciler("test", rec, clock=clock, backoff=backoff, resync=resync, **kw), clock, rec


def test_keys_are_deduplicated_while_queued():
    r, _clock, rec = reconciler()
    for key in ("a", "b", "a", "a", "b"):
        r.enqueue(key)
    assert r.process_ready() == 2
    assert rec.calls == ["a", "b"]
    assert r.process_ready() == 0


def test_a_key_added_while_processing_runs_again_after_and_never_twice_at_once():
    q = WorkQueue(Clock())
    q.add("a")
    assert q.get() == "a"
    q.add("a")                 # changed while a worker has it
    assert q.get() is None     # not handed to a second worker
    q.done("a")
    assert q.get() == "a"      # but queued again once done
    q.done("a")
    assert q.get() is None


def test_failures_back_off_exponentially_per_key_and_success_forgets():
    r, clock, rec = reconciler()
    rec.fail = {"a"}
    r.enqueue("a")
    r.enqueue("b")
    r.process_ready()
    assert rec.calls == ["a", "b"] and r.queue.failures("a") == 1 and r.queue.failures("b") == 0
    waits = []
    for _ in range(5):
        start, before = clock.now, len(rec.calls)
        while len(rec.calls) == before:
            clock.now += 0.25
            r.process_ready()
        waits.append(clock.now - start)
    assert waits == [1.0, 2.0, 4.0, 8.0, 8.0]     # doubling, capped
    rec.fail = set()
    clock.now += 8.0
    r.process_ready()
    assert r.queue.failures("a") == 0              # success resets the back-off
    rec.fail = {"a"}
    r.enqueue("a")
    r.process_ready()
    clock.now += 1.0
    assert r.process_ready() == 1                  # first delay again


def test_an_event_during_back_off_is_not_delayed_by_it():
    r, clock, rec = reconciler()
    rec.fail = {"a"}
    r.enqueue("a")
    r.process_ready()
    r.enqueue("a")                                 # a new change: look at once
    assert r.process_ready() == 1 and rec.calls == ["a", "a"]


def test_reconcile_may_ask_to_look_again_later():
    r, clock, rec = reconciler()
    rec.again = {"a": 5.0}
    r.enqueue("a")
    r.process_ready()
    clock.now += 4.9
    assert r.process_ready() == 0
    clock.now += 0.1
    assert r.process_ready() == 1 and rec.calls == ["a", "a"]


def test_resync_queues_the_resync_keys_every_period():
    keys = ["x", "y"]
    r, clock, rec = reconciler(resync=30.0, resync_keys=lambda: list(keys))
    r.process_ready()
    assert rec.calls == ["x", "y"]                 # at once on start
    clock.now += 29.0
    assert r.process_ready() == 0
    keys.append("z")
    clock.now += 1.0
    r.process_ready()
    assert rec.calls[2:] == ["x", "y", "z"]


def test_resync_default_key_is_all():
    r, clock, rec = reconciler(resync=10.0)
    r.process_ready()
    assert rec.calls == [ALL]


def test_crashes_are_retried_too(caplog):
    def boom(key):
        raise RuntimeError("bug")

    clock = Clock()
    r = Reconciler("crashy", boom, clock=clock, backoff=Backoff(2.0, 10.0))
    r.enqueue("a")
    r.process_ready()
    assert "crashy a crashed" in caplog.text
    clock.now += 2.0
    assert r.process_ready() == 1


class FakeInformer(Informer):
    def __init__(self):
        super().__init__(client=None, resource="pods")  # type: ignore[arg-type]


def test_informers_are_event_sources_and_gate_the_start():
    r, _clock, rec = reconciler()
    inf = FakeInformer()
    r.watch(inf, keys=lambda items: sorted(items))
    assert not r.synced
    inf._synced.set()
    inf._apply("ADDED", {"metadata": {"name": "p1", "namespace": "d"}})
    inf._apply("ADDED", {"metadata": {"name": "p2", "namespace": "d"}})
    assert r.synced
    r.process_ready()
    assert rec.calls == ["d/p1", "d/p2"]


def test_run_reconciles_in_threads_and_stops():
    seen = threading.Event()
    calls = []

    def reconcile(key):
        calls.append(key)
        seen.set()

    r = Reconciler("threads", reconcile, workers=3)
    stop = threading.Event()
    thread = threading.Thread(target=r.run, args=(stop,), daemon=True)
    thread.start()
    r.enqueue("a")
    assert seen.wait(5)
    stop.set()
    thread.join(5)
    assert not thread.is_alive(), "run did not return after stop"
    r.enqueue("b")                                 # after stop: nothing runs
    assert calls == ["a"] and r.process_ready() == 0


def test_run_says_which_informer_never_listed():
    r, _clock, _rec = reconciler()
    r.watch(FakeInformer())
    with pytest.raises(K8snetError, match="could not list pods within 0s"):
        r.run(threading.Event(), sync_timeout=0.1)


def test_a_failing_resync_is_logged_and_tried_next_period(caplog):
    calls = []

    def keys():
        calls.append(1)
        if len(calls) == 1:
            raise K8snetError("runtime not answering")
        return ["a"]

    r, clock, rec = reconciler(resync=5.0, resync_keys=keys)
    assert r.process_ready() == 0 and "resync failed: runtime not answering" in caplog.text
    clock.now += 5.0
    assert r.process_ready() == 1 and rec.calls == ["a"]
