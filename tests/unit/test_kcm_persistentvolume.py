"""PersistentVolume binding, provisioning and reclaim decisions."""

from __future__ import annotations

from sched_fixtures import node

from k8snet.apiserver import storageclass
from k8snet.kcm import persistentvolume as pv

STANDARD = pv.default_storage_class()
MANUAL = {"metadata": {"name": "manual"}, "provisioner": "kubernetes.io/no-provisioner",
          "volumeBindingMode": "Immediate"}
CLASSES = {"standard": STANDARD, "manual": MANUAL}
DIR = "/run/k8snet/c1/{node}/volumes"


def claim(name="data", size="1Gi", cls="manual", modes=("ReadWriteOnce",), uid=None,
          volume=None, anns=None, phase="Pending", selector=None):
    spec = {"accessModes": list(modes), "resources": {"requests": {"storage": size}},
            "storageClassName": cls}
    if volume:
        spec["volumeName"] = volume
    if selector:
        spec["selector"] = selector
    return {"metadata": {"name": name, "namespace": "default", "uid": uid or f"u-{name}",
                         "annotations": dict(anns or {})},
            "spec": spec, "status": {"phase": phase}}


def volume(name, size="1Gi", cls="manual", modes=("ReadWriteOnce",), ref=None,
           policy="Retain", phase="Available", labels=None, node_name=None):
    spec = {"capacity": {"storage": size}, "accessModes": list(modes),
            "storageClassName": cls, "persistentVolumeReclaimPolicy": policy,
            "hostPath": {"path": f"/srv/{name}"}}
    if ref:
        spec["claimRef"] = ref
    if node_name:
        spec["nodeAffinity"] = {"required": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": "kubernetes.io/hostname", "operator": "In", "values": [node_name]}]}]}}
    return {"metadata": {"name": name, "labels": labels or {}}, "spec": spec,
            "status": {"phase": phase}}


def ops(plan):
    return [a.op for a in plan.actions]


def by_name(*vols):
    return {v["metadata"]["name"]: v for v in vols}


def test_immediate_claim_binds_smallest_fitting_volume():
    vols = by_name(volume("big", "10Gi"), volume("small", "2Gi"), volume("tiny", "500Mi"),
                   volume("rox", "1Gi", modes=("ReadOnlyMany",)))
    plan = pv.sync_claim(claim(), vols, CLASSES, {}, DIR)
    assert ops(plan) == ["update_pv", "pv_status", "update_claim", "claim_status"]
    bound_pv, _, bound_claim, status = (a.obj for a in plan.actions)
    assert bound_pv["metadata"]["name"] == "small"
    assert bound_pv["spec"]["claimRef"]["uid"] == "u-data"
    assert bound_pv["metadata"]["annotations"][pv.BOUND_BY_CONTROLLER] == "yes"
    assert bound_claim["spec"]["volumeName"] == "small"
    assert bound_claim["metadata"]["annotations"][pv.BIND_COMPLETED] == "yes"
    assert status["status"] == {"phase": "Bound", "accessModes": ["ReadWriteOnce"],
                                "capacity": {"storage": "2Gi"}}


def test_class_and_selector_must_match():
    vols = by_name(volume("other", cls="fast"), volume("unlabelled"))
    sel = {"matchLabels": {"tier": "db"}}
    plan = pv.sync_claim(claim(selector=sel), vols, CLASSES, {}, DIR)
    assert ops(plan) == []  # already Pending, nothing fits
    vols = by_name(volume("db", labels={"tier": "db"}))
    assert ops(pv.sync_claim(claim(selector=sel), vols, CLASSES, {}, DIR))[0] == "update_pv"


def test_prebound_volume_name_binds_and_missing_volume_is_lost():
    vols = by_name(volume("a"), volume("b"))
    plan = pv.sync_claim(claim(volume="b"), vols, CLASSES, {}, DIR)
    assert plan.actions[0].obj["metadata"]["name"] == "b"
    gone = claim(volume="c", anns={pv.BIND_COMPLETED: "yes"}, phase="Bound")
    plan = pv.sync_claim(gone, vols, CLASSES, {}, DIR)
    assert [a.obj["status"]["phase"] for a in plan.actions] == ["Lost"]
    assert plan.events[0][2] == "ClaimLost"


def test_volume_claimref_prebinding_wins_over_better_fit():
    ref = {"namespace": "default", "name": "data"}
    vols = by_name(volume("exact"), volume("reserved", "5Gi", ref=ref))
    plan = pv.sync_claim(claim(), vols, CLASSES, {}, DIR)
    assert plan.actions[0].obj["metadata"]["name"] == "reserved"


def test_volume_bound_to_another_claim_keeps_claim_pending():
    other = {"namespace": "default", "name": "x", "uid": "u-x"}
    vols = by_name(volume("a", ref=other, phase="Bound"))
    assert ops(pv.sync_claim(claim(volume="a"), vols, CLASSES, {}, DIR)) == []


def test_wait_for_first_consumer_waits_for_selected_node():
    plan = pv.sync_claim(claim(cls="standard"), {}, CLASSES, {}, DIR)
    assert ops(plan) == []
    assert plan.events[0][2:] == ("WaitForFirstConsumer",
                                  "waiting for first consumer to be created before binding")


def test_selected_node_provisions_hostpath_volume_on_that_node():
    c = claim(cls="standard", anns={pv.SELECTED_NODE: "w1"}, size="2Gi")
    plan = pv.sync_claim(c, {}, CLASSES, {"w1": node("w1")}, DIR)
    assert ops(plan) == ["create_pv"]
    made = plan.actions[0].obj
    assert made["metadata"]["name"] == "pvc-u-data"
    assert made["spec"]["hostPath"] == {
        "path": "/run/k8snet/c1/w1/volumes/pvc-u-data_default_data",
        "type": "DirectoryOrCreate"}
    assert made["spec"]["persistentVolumeReclaimPolicy"] == "Delete"
    assert made["spec"]["claimRef"]["uid"] == "u-data"
    terms = made["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"]
    assert terms[0]["matchExpressions"][0]["values"] == ["w1"]
    assert plan.events[0][2] == "ProvisioningSucceeded"
    # Next sync: the claim binds to the volume made for it.
    plan = pv.sync_claim(c, by_name(dict(made, status={})), CLASSES, {}, DIR)
    assert ops(plan) == ["pv_status", "update_claim", "claim_status"]


def test_selected_node_prefers_existing_volume_on_that_node():
    c = claim(cls="standard", anns={pv.SELECTED_NODE: "w1"})
    vols = by_name(volume("on-w2", cls="standard", node_name="w2"),
                   volume("on-w1", cls="standard", node_name="w1"))
    nodes = {"w1": node("w1"), "w2": node("w2")}
    plan = pv.sync_claim(c, vols, CLASSES, nodes, DIR)
    assert plan.actions[0].obj["metadata"]["name"] == "on-w1"


def test_unknown_class_and_foreign_provisioner_wait():
    plan = pv.sync_claim(claim(cls="gold"), {}, CLASSES, {}, DIR)
    assert plan.events[0][2:] == ("ProvisioningFailed",
                                  'storageclass.storage.k8s.io "gold" not found')
    ext = dict(MANUAL, provisioner="ebs.csi.aws.com")
    plan = pv.sync_claim(claim(), {}, {"manual": ext}, {}, DIR)
    assert plan.events[0][2] == "ExternalProvisioning"
    assert ops(plan) == []


def test_volume_phases_and_reclaim():
    assert [a.obj["status"] for a in pv.sync_volume(volume("a", phase=""), {}).actions] == \
        [{"phase": "Available"}]
    ref = {"namespace": "default", "name": "data", "uid": "u-data"}
    claims = {"default/data": claim(volume="a")}
    bound = volume("a", ref=ref, phase="Available")
    assert [a.obj["status"] for a in pv.sync_volume(bound, claims).actions] == \
        [{"phase": "Bound"}]
    released = pv.sync_volume(volume("a", ref=ref, phase="Bound"), {})
    assert [a.obj["status"] for a in released.actions] == [{"phase": "Released"}]
    # A claim recreated under the same name is another claim: still Released.
    again = {"default/data": claim(uid="u-new")}
    assert ops(pv.sync_volume(volume("a", ref=ref, phase="Released"), again)) == []


def test_reclaim_delete_removes_only_provisioned_directories():
    ref = {"namespace": "default", "name": "data", "uid": "u-data"}
    manual = pv.sync_volume(volume("a", ref=ref, policy="Delete", phase="Bound"), {})
    assert [(a.op, a.path) for a in manual.actions] == [("pv_status", ""), ("delete_pv", "")]
    assert manual.actions[0].obj["status"] == {"phase": "Released"}
    made = pv.provisioned_volume(claim(cls="standard"), STANDARD, "w1", DIR)
    plan = pv.sync_volume(dict(made, status={"phase": "Released"}), {})
    assert [(a.op, a.path) for a in plan.actions] == [
        ("delete_pv", "/run/k8snet/c1/w1/volumes/pvc-u-data_default_data")]


def test_default_storage_class_admission():
    older = {"metadata": {"name": "old", "creationTimestamp": "2026-01-01T00:00:00Z",
                          "annotations": {storageclass.IS_DEFAULT: "true"}}}
    newer = {"metadata": {"name": "new", "creationTimestamp": "2026-02-01T00:00:00Z",
                          "annotations": {storageclass.IS_DEFAULT: "true"}}}
    plain = {"metadata": {"name": "plain", "creationTimestamp": "2026-03-01T00:00:00Z"}}
    c = {"spec": {}}
    storageclass.admit_claim(c, [older, newer, plain])
    assert c["spec"]["storageClassName"] == "new"
    empty = {"spec": {"storageClassName": ""}}
    storageclass.admit_claim(empty, [older])
    assert empty["spec"]["storageClassName"] == ""
    none = {"spec": {}}
    storageclass.admit_claim(none, [plain])
    assert "storageClassName" not in none["spec"]


def test_storage_class_provisioner_is_a_qualified_name():
    from k8snet.api.validation import validate
    assert validate("StorageClass", pv.default_storage_class()) == []
    bad = dict(pv.default_storage_class(), provisioner="a/b/c")
    assert [c["field"] for c in validate("StorageClass", bad)] == ["provisioner"]


def test_protection_finalizers_added_on_create_and_released_when_unused():
    from k8snet.kcm import protection
    c = claim()
    storageclass.protect("PersistentVolumeClaim", c)
    storageclass.protect("PersistentVolumeClaim", c)
    assert c["metadata"]["finalizers"] == ["kubernetes.io/pvc-protection"]
    c["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    using = {"metadata": {"name": "p", "namespace": "default"}, "status": {"phase": "Running"},
             "spec": {"volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": "data"}}]}}
    assert protection.release_claims([c], [using]) == []
    done = dict(using, status={"phase": "Succeeded"})
    released = protection.release_claims([c], [done])
    assert [r["metadata"]["finalizers"] for r in released] == [[]]
    v = volume("a", phase="Bound")
    storageclass.protect("PersistentVolume", v)
    v["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert protection.release_volumes([v]) == []
    v["status"] = {"phase": "Released"}
    assert [r["metadata"]["finalizers"] for r in protection.release_volumes([v])] == [[]]
