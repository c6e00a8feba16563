"""wait_until on an informer's cache and the condition helpers."""

import threading

import pytest

from k8snet.machinery.conditions import condition, is_ready, is_true, status_of
from k8snet.machinery.informer import Informer, WaitTimeout, wait_until


def _pod(name: str, ready: str) -> dict:
    return {"metadata": {"name": name, "namespace": "d"},
            "status": {"conditions": [{"type": "Ready", "status": ready}]}}


def test_conditions_read_one_way():
    pod = _pod("a", "True")
    assert is_ready(pod) and is_true(pod, "Ready")
    assert status_of(pod, "PodScheduled") is None and condition(pod, "X") is None
    assert not is_ready(_pod("b", "False")) and not is_ready({}) and not is_ready(None)


def _informer() -> Informer:
    inf = Informer(client=None, resource="pods")  # fed by hand below, never started
    inf._items = {}
    return inf


def test_wait_until_wakes_on_change_and_returns_value():
    inf = _informer()
    inf._synced.set()

    def later() -> None:
        inf._apply("ADDED", _pod("a", "False"))
        inf._apply("MODIFIED", _pod("a", "True"))

    threading.Timer(0.05, later).start()
    got = wait_until(inf, lambda items: [k for k, p in items.items() if is_ready(p)],
                     timeout=5, what="a Ready Pod")
    assert got == ["d/a"]


def test_wait_until_says_what_it_waited_for():
    inf = _informer()
    inf._synced.set()
    with pytest.raises(WaitTimeout, match="every Pod Ready"):
        wait_until(inf, lambda items: False, timeout=0.2, what="every Pod Ready")


def test_wait_until_ends_early_when_stopped():
    inf = _informer()
    stop = threading.Event()
    threading.Timer(0.1, stop.set).start()
    assert wait_until(inf, lambda items: False, timeout=30, what="never", stop=stop) is None
    inf._synced.set()
    assert wait_until(inf, lambda items: False, timeout=30, what="never", stop=stop) is None
