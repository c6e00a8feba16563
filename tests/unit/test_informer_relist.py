"""When an Informer lists again: at start and after 410 Gone, not after a watch that
ended or failed (it resumes from the version it reached), not at resync (the listeners
get the cache again)."""

from __future__ import annotations

import threading

from k8snet.machinery.client import ApiError, Gone
from k8snet.machinery.informer import Informer


class Stream(list):
    def close(self) -> None:
        pass


class Script:
    """A client whose watches play a script: each entry is a list of events or an
    exception; the informer stops when the script is done."""

    def __init__(self, steps, stop: threading.Event) -> None:
        self.steps, self.stop = list(steps), stop
        self.calls: list[tuple] = []

    def list(self, resource, namespace=None, label_selector=None, field_selector=None):
        self.calls.append(("list",))
        rv = str(10 * sum(1 for c in self.calls if c[0] == "list"))
        return {"metadata": {"resourceVersion": rv},
                "items": [{"metadata": {"name": "a", "namespace": "x",
                                        "resourceVersion": rv}}]}

    def watch(self, resource, namespace=None, resource_version=None, **_kw):
        self.calls.append(("watch", resource_version))
        if not self.steps:
            self.stop.set()
            return Stream()
        step = self.steps.pop(0)
        if isinstance(step, Exception):
            raise step
        return Stream(step)


def pod(name: str, rv: str) -> dict:
    return {"metadata": {"name": name, "namespace": "x", "resourceVersion": rv}}


def run(steps, **kwargs) -> tuple[Script, list]:
    stop = threading.Event()
    client = Script(steps, stop)
    seen: list = []
    informer = Informer(client, "pods", retry_seconds=0, on_change=lambda items: seen.append(
        sorted(items)), **kwargs)  # type: ignore[arg-type]
    informer.run(stop)
    return client, seen


def test_a_watch_that_ends_or_fails_resumes_from_the_version_it_reached():
    client, seen = run([
        [("ADDED", pod("b", "11"))],                                  # ends after one event
        ApiError(0, "Unreachable", "The read operation timed out", {}),
        [("MODIFIED", pod("b", "12"))],
    ])
    assert client.calls == [("list",), ("watch", "10"), ("watch", "11"), ("watch", "11"),
                            ("watch", "12")]
    assert seen[-1] == ["x/a", "x/b"]


def test_gone_lists_again():
    client, _ = run([Gone(410, "Expired", "too old resource version: 10 (50)", {})])
    assert client.calls == [("list",), ("watch", "10"), ("list",), ("watch", "20")]


def test_resync_calls_the_listeners_without_a_list():
    client, seen = run([[], [], []], resync_seconds=0.0)
    assert [c for c in client.calls if c[0] == "list"] == [("list",)]
    assert len(seen) >= 4 and all(s == ["x/a"] for s in seen)   # the list, then replays
