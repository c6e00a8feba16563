"""Lease-based leader election decisions with an injected clock."""

from __future__ import annotations

import datetime as dt

from k8snet.machinery.leaderelection import decide_lease
from k8snet.machinery.timefmt import format_micro_time, parse_time

T0 = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.timezone.utc)


def lease(holder, renewed, duration=15, transitions=0):
    return {"spec": {"holderIdentity": holder, "leaseDurationSeconds": duration,
                     "renewTime": format_micro_time(renewed), "leaseTransitions": transitions}}


def test_create_when_missing():
    d = decide_lease(None, "a", T0, 15)
    assert d.action == "create" and d.spec["holderIdentity"] == "a"
    assert parse_time(d.spec["renewTime"]) == T0


def test_holder_renews():
    d = decide_lease(lease("a", T0), "a", T0 + dt.timedelta(seconds=5), 15)
    assert d.action == "renew"
    assert parse_time(d.spec["renewTime"]) == T0 + dt.timedelta(seconds=5)


def test_other_follows_while_fresh_and_takes_over_when_expired():
    fresh = decide_lease(lease("a", T0), "b", T0 + dt.timedelta(seconds=14), 15)
    assert fresh.action == "follow" and fresh.holder == "a"
    expired = decide_lease(lease("a", T0, transitions=2), "b", T0 + dt.timedelta(seconds=16), 15)
    assert expired.action == "acquire" and expired.spec["holderIdentity"] == "b"
    assert expired.spec["leaseTransitions"] == 3


def test_released_lease_is_taken():
    d = decide_lease(lease("", T0), "b", T0, 15)
    assert d.action == "acquire"
