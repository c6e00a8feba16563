"""StatefulSet decisions: names, claims, OrderedReady and Parallel, scale down order,
rolling update in reverse ordinal order with partition, OnDelete, status."""

from __future__ import annotations

from typing import Optional

from kcm_fixtures import T0, stamp

from k8snet.kcm import statefulset as stsc

UID = "sts-uid"


def sts(replicas: int = 3, policy: str = "OrderedReady", strategy: Optional[dict] = None,
        claims: bool = True, retention: Optional[dict] = None, status: Optional[dict] = None
        ) -> dict:
    spec: dict = {"replicas": replicas, "serviceName": "nginx", "podManagementPolicy": policy,
                  "selector": {"matchLabels": {"app": "nginx"}},
                  "template": {"metadata": {"labels": {"app": "nginx"}},
                               "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}},
                  "updateStrategy": strategy or {"type": "RollingUpdate"}}
    if claims:
        spec["volumeClaimTemplates"] = [{"metadata": {"name": "www"}, "spec": {
            "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]
    if retention:
        spec["persistentVolumeClaimRetentionPolicy"] = retention
    return {"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "web", "namespace": "default", "uid": UID, "generation": 1},
            "spec": spec, "status": status or {}}


def pod(i: int, rev: str = "r1", ready: bool = True, phase: str = "Running",
        deleting: bool = False) -> dict:
    md: dict = {"name": f"web-{i}", "namespace": "default", "uid": f"uid-{i}",
                "creationTimestamp": stamp(T0),
                "labels": {"app": "nginx", "controller-revision-hash": rev},
                "ownerReferences": [{"kind": "StatefulSet", "uid": UID, "controller": True}]}
    if deleting:
        md["deletionTimestamp"] = stamp(T0)
    return {"metadata": md, "spec": {"nodeName": "n1"},
            "status": {"phase": phase, "conditions": [
                {"type": "Ready", "status": str(ready), "lastTransitionTime": stamp(T0)}]}}


def claim(name: str) -> dict:
    return {"metadata": {"name": name, "namespace": "default"}}


def run(s: dict, pods: list[dict], claims: Optional[list] = None, current: str = "r1",
        update: str = "r1"):
    return stsc.reconcile_statefulset(s, pods, claims or [], current, update, T0)


def test_ordered_ready_creates_one_at_a_time_with_its_claim():
    plan = run(sts(), [])
    assert plan.create == [(0, "r1")]
    assert [c["metadata"]["name"] for c in plan.create_claims] == ["www-web-0"]
    assert plan.create_claims[0]["metadata"]["labels"] == {"app": "nginx"}
    assert plan.create_claims[0]["spec"]["resources"]["requests"]["storage"] == "1Gi"
    assert not run(sts(), [pod(0, ready=False)]).create  # waits for web-0 Ready
    plan = run(sts(), [pod(0)], [claim("www-web-0")])
    assert plan.create == [(1, "r1")]
    assert [c["metadata"]["name"] for c in plan.create_claims] == ["www-web-1"]


def test_an_existing_claim_is_reused():
    plan = run(sts(), [pod(0)], [claim("www-web-0"), claim("www-web-1")])
    assert plan.create == [(1, "r1")] and plan.create_claims == []


def test_parallel_creates_all_at_once():
    plan = run(sts(policy="Parallel"), [pod(0, ready=False)])
    assert plan.create == [(1, "r1"), (2, "r1")]


def test_pod_identity():
    s = sts()
    p = stsc.pod_for_ordinal(s, 2, s["spec"]["template"], "r1")
    assert p["metadata"]["name"] == "web-2"
    assert p["spec"]["hostname"] == "web-2" and p["spec"]["subdomain"] == "nginx"
    assert p["metadata"]["labels"] == {
        "app": "nginx", "statefulset.kubernetes.io/pod-name": "web-2",
        "apps.kubernetes.io/pod-index": "2", "controller-revision-hash": "r1"}
    assert p["spec"]["volumes"] == [{"name": "www", "persistentVolumeClaim":
                                     {"claimName": "www-web-2"}}]
    assert p["metadata"]["ownerReferences"][0]["kind"] == "StatefulSet"


def test_scale_down_highest_first_one_at_a_time_claims_kept():
    pods = [pod(i) for i in range(3)]
    claims = [claim(f"www-web-{i}") for i in range(3)]
    plan = run(sts(replicas=1), pods, claims)
    assert plan.delete == ["web-2"] and not plan.delete_claims
    plan = run(sts(replicas=1), pods[:2] + [pod(2, deleting=True)], claims)
    assert plan.delete == []  # waits for web-2 to go
    plan = run(sts(replicas=1, policy="Parallel"), pods, claims)
    assert plan.delete == ["web-2", "web-1"]


def test_when_scaled_delete_removes_claims_of_gone_ordinals():
    s = sts(replicas=1, retention={"whenScaled": "Delete", "whenDeleted": "Delete"})
    claims = [claim(f"www-web-{i}") for i in range(3)]
    plan = run(s, [pod(0), pod(1)], claims)
    assert plan.delete == ["web-1"] and plan.delete_claims == []
    plan = run(s, [pod(0)], claims)
    assert sorted(plan.delete_claims) == ["www-web-1", "www-web-2"]
    assert stsc.claims_for(s, 0)[0]["metadata"]["ownerReferences"][0]["kind"] == "StatefulSet"
    assert "ownerReferences" not in stsc.claims_for(sts(), 0)[0]["metadata"]


def test_failed_pod_is_deleted_then_recreated():
    plan = run(sts(), [pod(0), pod(1, phase="Failed"), pod(2)])
    assert plan.delete == ["web-1"] and not plan.create


def test_rolling_update_reverse_order_one_at_a_time():
    pods = [pod(i) for i in range(3)]
    plan = run(sts(), pods, current="r1", update="r2")
    assert plan.delete == ["web-2"]
    pods[2] = pod(2, rev="r2", ready=False)
    assert run(sts(), pods, current="r1", update="r2").delete == []  # waits for web-2
    pods[2] = pod(2, rev="r2")
    assert run(sts(), pods, current="r1", update="r2").delete == ["web-1"]


def test_recreated_pods_take_the_update_revision_above_the_partition():
    s = sts(strategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 2}})
    pods = [pod(0), pod(1), pod(2)]
    assert run(s, pods, current="r1", update="r2").delete == ["web-2"]
    pods = [pod(0), pod(1), pod(2, rev="r2")]
    assert run(s, pods, current="r1", update="r2").delete == []  # web-1 is below it
    plan = run(s, [pod(0), pod(2, rev="r2")], current="r1", update="r2")
    assert plan.create == [(1, "r1")]


def test_on_delete_leaves_old_pods_alone():
    s = sts(strategy={"type": "OnDelete"})
    assert run(s, [pod(i) for i in range(3)], current="r1", update="r2").delete == []
    assert run(s, [pod(0), pod(1)], current="r1", update="r2").create == [(2, "r2")]


def test_status_and_revision_completion():
    pods = [pod(0, rev="r2"), pod(1, rev="r1"), pod(2, rev="r1", ready=False)]
    st = run(sts(), pods, current="r1", update="r2").status
    assert st == {"observedGeneration": 1, "replicas": 3, "readyReplicas": 2,
                  "availableReplicas": 2, "currentReplicas": 2, "updatedReplicas": 1,
                  "currentRevision": "r1", "updateRevision": "r2"}
    st = run(sts(), [pod(i, rev="r2") for i in range(3)], current="r1", update="r2").status
    assert st["currentRevision"] == "r2" and st["currentReplicas"] == 3
    assert stsc.revisions_in_use(sts(), "r9") == ("r9", "r9")
    assert stsc.revisions_in_use(sts(status={"currentRevision": "r1"}), "r9") == ("r1", "r9")
