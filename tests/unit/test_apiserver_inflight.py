"""Which requests wait for a place among the apiserver's in-flight requests, and the
gate itself (no threads of a server needed)."""

from __future__ import annotations

import threading

import pytest

from k8snet.apiserver.inflight import InflightLimit, exempt
from k8snet.apiserver.requestinfo import request_info
from k8snet.apiserver.status import ApiStatusError


def waits(method: str, path: str, **params: str) -> bool:
    return not exempt(request_info(method, path, params), params)


def test_ordinary_requests_wait_long_running_leases_and_health_do_not():
    assert waits("POST", "/api/v1/namespaces/default/pods")
    assert waits("POST", "/api/v1/namespaces/default/pods/web/binding")
    assert waits("GET", "/api/v1/pods")
    assert waits("GET", "/api/v1/namespaces/default/pods/web/log")
    assert not waits("GET", "/api/v1/pods", watch="true")
    assert not waits("GET", "/api/v1/watch/namespaces/default/pods")
    assert not waits("GET", "/api/v1/namespaces/default/pods/web/log", follow="true")
    assert not waits("GET", "/api/v1/namespaces/default/pods/web/exec", command="sh")
    assert not waits("POST", "/api/v1/namespaces/default/pods/web/portforward")
    assert not waits("PUT", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/"
                            "kube-scheduler")
    assert not waits("GET", "/readyz") and not waits("GET", "/metrics")


def test_the_gate_holds_the_rest_back_then_answers_429():
    gate = InflightLimit(2, wait=0.05)
    assert gate.enter() and gate.enter()
    with pytest.raises(ApiStatusError) as err:
        gate.enter()
    assert err.value.code == 429 and err.value.reason == "TooManyRequests"
    got = []
    waiter = threading.Thread(target=lambda: got.append(InflightLimit.enter(gate)))
    gate.wait = 10.0
    waiter.start()
    gate.leave()               # a place frees: the waiting request goes in
    waiter.join(10)
    assert got == [True]


def test_no_limit_lets_everything_through():
    gate = InflightLimit(0)
    assert not any(gate.enter() for _ in range(100))
    gate.leave()
