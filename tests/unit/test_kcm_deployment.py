"""Deployment controller decisions: create, scale, rolling update, recreate, status."""

from __future__ import annotations

import datetime as dt

from kcm_fixtures import T0, deployment, replicaset, rs_pod

from k8snet.kcm.deployment import (
    REVISION,
    fenceposts,
    find_new_rs,
    history_to_delete,
    reconcile_deployment,
)

LATER = T0 + dt.timedelta(seconds=30)


def test_fenceposts_round_surge_up_and_unavailable_down():
    assert fenceposts(deployment(5)) == (2, 1)
    assert fenceposts(deployment(10, surge=3, unavailable="50%")) == (3, 5)
    assert fenceposts(deployment(3, surge=0, unavailable=0)) == (0, 1)
    assert fenceposts(deployment(2, surge="0%", unavailable="10%")) == (0, 1)


def test_new_deployment_creates_replicaset_at_full_size():
    plan = reconcile_deployment(deployment(5), [], [], T0)
    rs = plan.create_rs
    assert rs is not None and rs["spec"]["replicas"] == 5
    h = rs["metadata"]["labels"]["pod-template-hash"]
    assert rs["metadata"]["name"] == f"web-{h}"
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", "pod-template-hash": h}
    assert rs["spec"]["template"]["metadata"]["labels"]["pod-template-hash"] == h
    assert rs["metadata"]["annotations"][REVISION] == "1"
    assert rs["metadata"]["ownerReferences"][0]["uid"] == "dep-uid"
    assert plan.annotations[REVISION] == "1"
    assert plan.status["conditions"][1]["reason"] == "NewReplicaSetCreated"


def test_steady_state_is_quiet_and_complete():
    dep = deployment(5)
    dep["metadata"]["annotations"][REVISION] = "1"
    rs = replicaset("web-h", 5)
    rs["metadata"]["annotations"].update({"deployment.kubernetes.io/desired-replicas": "5",
                                          "deployment.kubernetes.io/max-replicas": "7"})
    plan = reconcile_deployment(dep, [rs], [], T0)
    assert plan.create_rs is None and plan.scale == {} and plan.annotate == {}
    assert plan.annotations == {}
    s = plan.status
    assert (s["replicas"], s["updatedReplicas"], s["availableReplicas"]) == (5, 5, 5)
    assert s["unavailableReplicas"] == 0
    conds = {c["type"]: c for c in s["conditions"]}
    assert conds["Available"]["status"] == "True"
    assert conds["Progressing"]["reason"] == "NewReplicaSetAvailable"


def test_scale_down_and_up():
    assert reconcile_deployment(deployment(2), [replicaset("web-h", 5)], [], T0).scale == \
        {"web-h": 2}
    assert reconcile_deployment(deployment(5), [replicaset("web-h", 2)], [], T0).scale == \
        {"web-h": 5}


def test_replicasets_of_other_deployments_ignored():
    other = replicaset("other-h", 3, owner="someone-else")
    plan = reconcile_deployment(deployment(5), [other], [], T0)
    assert plan.create_rs is not None


def test_rolling_update_walks_within_surge_and_unavailable():
    dep = deployment(5, image="nginx:2")
    old = replicaset("web-old", 5, image="nginx:1", rev=1)
    # 1. the new ReplicaSet starts at maxSurge (2), revision 2
    plan = reconcile_deployment(dep, [old], [], T0)
    assert plan.create_rs["spec"]["replicas"] == 2
    assert plan.create_rs["metadata"]["annotations"][REVISION] == "2"
    # 2. new Pods not yet available: old may lose only maxUnavailable (1)
    new = replicaset("web-new", 2, image="nginx:2", available=0, rev=2,
                     created=T0 + dt.timedelta(seconds=1))
    plan = reconcile_deployment(dep, [old, new], [], T0)
    assert plan.scale == {"web-old": 4}
    # 3. new ones available: the new ReplicaSet grows back to the surge limit
    old["spec"]["replicas"] = 4
    old["status"].update(replicas=4, availableReplicas=4)
    new["status"].update(availableReplicas=2)
    plan = reconcile_deployment(dep, [old, new], [], T0)
    assert plan.scale == {"web-new": 3}
    # 4. at the surge limit with all available: old scales down by what availability allows
    new["spec"]["replicas"] = 3
    new["status"].update(replicas=3, availableReplicas=3)
    plan = reconcile_deployment(dep, [old, new], [], T0)
    assert plan.scale == {"web-old": 1}
    assert plan.status["updatedReplicas"] == 3
    assert plan.status["conditions"][1]["reason"] == "ReplicaSetUpdated"


def test_unhealthy_old_pods_go_first():
    dep = deployment(4, image="nginx:2", surge=0, unavailable=1)
    old = replicaset("web-old", 4, image="nginx:1", available=2)
    new = replicaset("web-new", 0, image="nginx:2", rev=2, created=LATER)
    plan = reconcile_deployment(dep, [old, new], [], T0)
    # max scaled down = 4 - 3 - 0 = 1: one unhealthy old Pod goes, none of the available
    assert plan.scale == {"web-old": 3}


def test_max_surge_zero_never_exceeds_desired():
    dep = deployment(3, image="nginx:2", surge=0, unavailable=1)
    old = replicaset("web-old", 3, image="nginx:1")
    plan = reconcile_deployment(dep, [old], [], T0)
    assert plan.create_rs["spec"]["replicas"] == 0
    new = replicaset("web-new", 0, image="nginx:2", rev=2, created=LATER)
    plan = reconcile_deployment(dep, [old, new], [], T0)
    assert plan.scale == {"web-old": 2}


def test_recreate_scales_old_to_zero_then_waits_for_pods():
    dep = deployment(3, image="nginx:2", strategy="Recreate")
    old = replicaset("web-old", 3, image="nginx:1")
    plan = reconcile_deployment(dep, [old], [], T0)
    assert plan.create_rs["spec"]["replicas"] == 0 and plan.scale == {"web-old": 0}
    old["spec"]["replicas"] = 0
    new = replicaset("web-new", 0, image="nginx:2", rev=2, created=LATER)
    lingering = rs_pod("p", rs="web-old")
    assert reconcile_deployment(dep, [old, new], [lingering], T0).scale == {}
    assert reconcile_deployment(dep, [old, new], [], T0).scale == {"web-new": 3}


def test_rollback_bumps_revision_of_reused_replicaset():
    dep = deployment(2, image="nginx:1")
    back = replicaset("web-one", 0, image="nginx:1", rev=1)
    newer = replicaset("web-two", 2, image="nginx:2", rev=2, created=LATER)
    assert find_new_rs(dep, [back, newer]) is back
    plan = reconcile_deployment(dep, [back, newer], [], T0)
    assert plan.annotate["web-one"][REVISION] == "3"
    assert plan.annotations[REVISION] == "3"


def test_history_limit():
    dep = deployment(1, revisionHistoryLimit=1)
    olds = [replicaset(f"web-{i}", 0, image=f"nginx:{i}", rev=i) for i in range(1, 4)]
    for rs in olds:
        rs["status"]["replicas"] = 0
    assert history_to_delete(dep, olds) == ["web-1", "web-2"]


def test_not_available_condition():
    dep = deployment(4)
    rs = replicaset("web-h", 4, available=1)
    s = reconcile_deployment(dep, [rs], [], T0).status
    conds = {c["type"]: c for c in s["conditions"]}
    assert conds["Available"]["status"] == "False"
    assert conds["Available"]["reason"] == "MinimumReplicasUnavailable"
    assert s["unavailableReplicas"] == 3


def test_progress_deadline():
    dep = deployment(4, progressDeadlineSeconds=60)
    rs = replicaset("web-h", 4, available=1)
    first = reconcile_deployment(dep, [rs], [], T0).status
    dep["status"] = first
    again = reconcile_deployment(dep, [rs], [], T0 + dt.timedelta(seconds=30)).status
    assert again["conditions"][1]["lastUpdateTime"] == first["conditions"][1]["lastUpdateTime"]
    dep["status"] = again
    late = reconcile_deployment(dep, [rs], [], T0 + dt.timedelta(seconds=61)).status
    assert late["conditions"][1]["reason"] == "ProgressDeadlineExceeded"
