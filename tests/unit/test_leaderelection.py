"""Lease-based leader election decisions with an injected clock."""

from __future__ import annotations

import copy
import datetime as dt

from k8snet.machinery.client import AlreadyExists, Conflict, NotFound
from k8snet.machinery.leaderelection import LeaderElector, decide_lease
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


class LeaseStore:
    """An in-memory apiserver for one Lease: create, get, compare-and-swap update."""

    def __init__(self):
        self.obj = None
        self.rv = 0

    def get(self, resource, name, namespace=None):
        if self.obj is None:
            raise NotFound(404, "NotFound", f'leases "{name}" not found')
        return copy.deepcopy(self.obj)

    def create(self, resource, obj, namespace=None):
        if self.obj is not None:
            raise AlreadyExists(409, "AlreadyExists", "exists")
        self.rv += 1
        self.obj = dict(copy.deepcopy(obj), metadata=dict(obj["metadata"],
                                                          resourceVersion=str(self.rv)))
        return copy.deepcopy(self.obj)

    def update(self, resource, obj, namespace=None):
        if obj["metadata"].get("resourceVersion") != self.obj["metadata"]["resourceVersion"]:
            raise Conflict(409, "Conflict", "the object has been modified")
        return self.create_over(obj)

    def create_over(self, obj):
        self.obj = None
        return self.create("leases", obj)


def test_two_electors_one_leader_and_release_hands_over_at_once():
    store, now = LeaseStore(), [T0]
    a = LeaderElector(store, "kube-system", "kube-scheduler", "a", clock=lambda: now[0])
    b = LeaderElector(store, "kube-system", "kube-scheduler", "b", clock=lambda: now[0])
    assert a.try_once() and not b.try_once()
    # both read the expired Lease; a writes first, so b's update is stale: 409, b follows
    now[0] = T0 + dt.timedelta(seconds=20)
    stale = store.get("leases", "kube-scheduler")
    assert a.try_once()
    fresh_get, store.get = store.get, lambda *_a, **_k: stale
    assert not b.try_once()
    store.get = fresh_get
    a._release()
    assert b.try_once()                                      # no wait for expiry
    assert store.obj["spec"]["holderIdentity"] == "b" and store.obj["spec"]["leaseTransitions"] == 1


class TickingStop:
    """A stop event whose waits advance a fake clock (and record how long they were)."""

    def __init__(self, now, waits_before_stop):
        self.now, self.left, self.pauses = now, waits_before_stop, []

    def wait(self, seconds):
        self.pauses.append(seconds)
        self.now[0] += dt.timedelta(seconds=seconds)
        self.left -= 1
        return self.left <= 0

    def is_set(self):
        return self.left <= 0


def test_a_failed_renewal_is_retried_soon_and_the_lease_kept():
    """A slow apiserver fails two renewals: the leader tries again after retry_period,
    not renew_period, and renews within the deadline (10 s of 15) instead of giving up."""
    store, now = LeaseStore(), [T0]
    elector = LeaderElector(store, "kube-system", "kube-scheduler", "a", clock=lambda: now[0],
                            lease_duration=15, renew_period=5.0, retry_period=2.0)
    real_update, failures = store.update, [2]

    def slow_update(resource, obj, namespace=None):
        if failures[0] > 0:
            failures[0] -= 1
            raise Conflict(409, "Conflict", "timed out")   # what a lost race looks like
        return real_update(resource, obj, namespace)
    stop = TickingStop(now, waits_before_stop=5)
    store.update = slow_update
    elector.run(stop, lambda lead_stop: lead_stop.wait(30))
    assert stop.pauses == [5.0, 2.0, 2.0, 5.0, 5.0]   # fail, fail, renewed: back to 5 s
    assert store.obj["spec"]["leaseTransitions"] == 0   # never lost, never taken again
