"""Informers spread their re-watches (no lockstep across the nodes of a cluster)."""

from __future__ import annotations

import threading

from k8snet.machinery.informer import Informer, jittered


def test_jittered_spans_one_to_two_times():
    assert jittered(60, 0.0) == 60
    assert jittered(60, 0.5) == 90
    assert jittered(60, 0.999) < 120
    assert jittered(60, -1) == 60 and jittered(60, 7) == 120


class _Stream:
    def __iter__(self):
        return iter(())

    def close(self) -> None:
        pass


class _Client:
    def __init__(self) -> None:
        self.timeouts: list[int] = []

    def watch(self, resource, namespace=None, **kw):
        self.timeouts.append(kw["timeout_seconds"])
        return _Stream()


def test_informers_started_together_ask_for_different_watch_timeouts():
    client = _Client()
    for _ in range(20):
        Informer(client, "pods", watch_timeout=60)._watch_once(threading.Event())  # type: ignore[arg-type]
    assert all(isinstance(t, int) and 60 <= t < 120 for t in client.timeouts)
    assert len(set(client.timeouts)) > 1
