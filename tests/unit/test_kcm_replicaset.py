"""ReplicaSet controller decisions."""

from __future__ import annotations

import datetime as dt

from kcm_fixtures import T0, replicaset, rs_pod

from k8snet.kcm.objects import safe_encode, template_hash
from k8snet.kcm.replicaset import (
    pod_from_template,
    pods_to_delete,
    reconcile_replicaset,
    slow_start_batches,
)


def test_creates_missing_pods():
    rs = replicaset("rs1", 3)
    plan = reconcile_replicaset(rs, [rs_pod("a")], T0)
    assert plan.create == 2 and plan.delete == []
    assert plan.status["replicas"] == 1


def test_ignores_pods_of_other_owners_terminating_and_finished():
    rs = replicaset("rs1", 2)
    other = rs_pod("x", rs="other")
    gone = rs_pod("g")
    gone["metadata"]["deletionTimestamp"] = "2024-05-01T12:00:00Z"
    done = rs_pod("d", phase="Succeeded")
    plan = reconcile_replicaset(rs, [other, gone, done, rs_pod("a")], T0)
    assert plan.create == 1


def test_deletes_extra_preferring_unscheduled_then_not_ready_then_newest():
    rs = replicaset("rs1", 1)
    old_ready = rs_pod("old-ready", created=T0)
    new_ready = rs_pod("new-ready", created=T0 + dt.timedelta(seconds=5))
    not_ready = rs_pod("not-ready", ready=False)
    unscheduled = rs_pod("unscheduled", node=None, ready=False, phase="Pending")
    pods = [old_ready, new_ready, not_ready, unscheduled]
    plan = reconcile_replicaset(rs, pods, T0)
    assert plan.delete == ["unscheduled", "not-ready", "new-ready"]
    assert pods_to_delete(pods, 1) == ["unscheduled"]


def test_status_counts_ready_and_available_with_min_ready_seconds():
    rs = replicaset("rs1", 3)
    rs["spec"]["minReadySeconds"] = 10
    pods = [rs_pod("a", ready_since=T0), rs_pod("b", ready_since=T0 + dt.timedelta(seconds=8)),
            rs_pod("c", ready=False, labels={"other": "x"})]
    status = reconcile_replicaset(rs, pods, T0 + dt.timedelta(seconds=12)).status
    assert status["replicas"] == 3 and status["readyReplicas"] == 2
    assert status["availableReplicas"] == 1 and status["fullyLabeledReplicas"] == 2


def test_pod_from_template():
    rs = replicaset("web-abc", 1)
    pod = pod_from_template(rs)
    assert pod["metadata"]["generateName"] == "web-abc-"
    assert pod["metadata"]["labels"]["pod-template-hash"] == "h"
    ref = pod["metadata"]["ownerReferences"][0]
    assert ref["kind"] == "ReplicaSet" and ref["uid"] == "uid-web-abc" and ref["controller"]
    assert pod["spec"]["containers"][0]["image"] == "nginx:1"


def test_template_hash_stable_and_safe():
    t = {"spec": {"containers": [{"name": "c", "image": "a"}]}}
    h = template_hash(t)
    assert h == template_hash({"spec": {"containers": [{"image": "a", "name": "c"}]}})
    assert h != template_hash({"spec": {"containers": [{"name": "c", "image": "b"}]}})
    assert h != template_hash(t, collision_count=1)
    # Decimal digits map into "456789bcdf", as in real pod-template-hash values (5d59d67564).
    assert set(h) <= set("456789bcdf") and 1 <= len(h) <= 10
    assert safe_encode("0123456789") == "456789bcdf"


def test_slow_start_batches():
    assert slow_start_batches(0) == []
    assert slow_start_batches(1) == [1]
    assert slow_start_batches(10) == [1, 2, 4, 3]
    assert sum(slow_start_batches(100)) == 100
