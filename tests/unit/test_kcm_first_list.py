"""The controller-manager says which first list it could not get, within a deadline, and
stops (before: its loops waited forever, silently)."""

from __future__ import annotations

import threading

import pytest

from k8snet.errors import K8snetError
from k8snet.kcm import base
from k8snet.kcm.manager import ControllerManager
from k8snet.machinery.client import ApiError


class Unreachable:
    """A client whose every call fails as an unreachable apiserver does."""

    def __getattr__(self, name):
        def fail(*_a, **_k):
            raise ApiError(0, "", "connection refused")
        return fail


def test_manager_fails_with_what_it_could_not_list(monkeypatch):
    monkeypatch.setattr(base, "FIRST_LIST_DEADLINE", 0.3)
    stop = threading.Event()
    timer = threading.Timer(30, stop.set)  # the old behaviour: wait on; the test then fails
    timer.start()
    try:
        with pytest.raises(K8snetError, match=r"could not list .* within 0s: is the "
                                              r"apiserver reachable"):
            ControllerManager(Unreachable(), base.Options()).run(stop)
        assert not stop.is_set()
    finally:
        stop.set()
        timer.cancel()
