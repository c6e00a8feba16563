"""The VolumeBinding filter and the selected-node it records on claims."""

from __future__ import annotations

from sched_fixtures import node, pod

from k8snet.kcm import persistentvolume as pvs
from k8snet.scheduler.decide import schedule
from k8snet.scheduler.nodeinfo import build_node_infos
from k8snet.scheduler.volumebinding import claims_to_select, resolve

CLASSES = {"standard": pvs.default_storage_class(),
           "manual": {"metadata": {"name": "manual"}, "volumeBindingMode": "Immediate",
                      "provisioner": "kubernetes.io/no-provisioner"},
           "local": {"metadata": {"name": "local"}, "volumeBindingMode": "WaitForFirstConsumer",
                     "provisioner": "kubernetes.io/no-provisioner"}}
NODES = [node("w1"), node("w2")]


def with_claim(name="data"):
    return pod("p", volumes=[{"name": "v", "persistentVolumeClaim": {"claimName": name}}])


def claim(cls="standard", volume=None, anns=None):
    spec = {"storageClassName": cls, "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "1Gi"}}}
    if volume:
        spec["volumeName"] = volume
    return {"metadata": {"name": "data", "namespace": "default", "uid": "u1",
                         "annotations": anns or {}}, "spec": spec}


def local_pv(name, node_name, cls="local"):
    return {"metadata": {"name": name},
            "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                     "storageClassName": cls, "local": {"path": "/d"},
                     "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                         {"key": "kubernetes.io/hostname", "operator": "In",
                          "values": [node_name]}]}]}}},
            "status": {"phase": "Available"}}


def decide(c, volumes=()):
    claims = {"default/data": c} if c else {}
    vols = {v["metadata"]["name"]: v for v in volumes}
    p = resolve(with_claim(), claims, vols, CLASSES)
    return p, schedule(p, build_node_infos(NODES, []))


def test_missing_claim_fits_nowhere():
    _, d = decide(None)
    assert d.node is None
    assert d.message == '0/2 nodes are available: 2 persistentvolumeclaim "data" not found.'


def test_unbound_immediate_claim_fits_nowhere():
    _, d = decide(claim(cls="manual"))
    assert d.message == ("0/2 nodes are available: 2 pod has unbound immediate "
                         "PersistentVolumeClaims.")


def test_bound_volume_node_affinity_pins_the_pod():
    _, d = decide(claim(volume="pv-w2"), [local_pv("pv-w2", "w2")])
    assert d.node == "w2"
    _, d = decide(claim(volume="pv-w3"), [local_pv("pv-w3", "w3")])
    assert d.message == "0/2 nodes are available: 2 node(s) had volume node affinity conflict."


def test_wffc_provisioner_class_fits_any_node_and_claim_gets_selected_node():
    p, d = decide(claim())
    assert d.node == "w1"
    updated = claims_to_select(p, d.node)
    assert [c["metadata"]["annotations"][pvs.SELECTED_NODE] for c in updated] == ["w1"]
    assert claims_to_select(resolve(with_claim(), {"default/data": updated[0]}, {},
                                    CLASSES), "w1") == []


def test_wffc_without_provisioner_needs_a_volume_on_the_node():
    _, d = decide(claim(cls="local"), [local_pv("pv-w2", "w2")])
    assert d.node == "w2"
    _, d = decide(claim(cls="local"))
    assert d.message == ("0/2 nodes are available: 2 node(s) didn't find available "
                         "persistent volumes to bind.")


def test_selected_node_already_recorded_keeps_the_pod_there():
    _, d = decide(claim(anns={pvs.SELECTED_NODE: "w2"}))
    assert d.node == "w2"


def test_pod_without_claims_is_untouched():
    p = pod("plain")
    assert resolve(p, {}, {}, CLASSES) is p
