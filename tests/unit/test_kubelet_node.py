"""Node registration object, labels, resources, heartbeats and the Lease."""

import pytest

from k8snet.errors import UsageError
from k8snet.kubelet import node

NOW = 1_700_000_000.0


def cfg(**kw):
    base = dict(name="w1", ip="10.0.0.2", cpu="2", memory="4Gi", max_pods=110,
                labels=node.parse_node_labels(
                    "node-role.kubernetes.io/worker=,topology.kubernetes.io/zone=leaf1,disk=ssd"),
                runtime_version="k8snet://0.1.0")
    base.update(kw)
    return node.NodeConfig(**base)


def test_labels_include_defaults_and_flags():
    labels = node.build_node(cfg(), NOW)["metadata"]["labels"]
    assert labels["kubernetes.io/hostname"] == "w1"
    assert labels["kubernetes.io/os"] == "linux"
    assert labels["node-role.kubernetes.io/worker"] == ""
    assert labels["topology.kubernetes.io/zone"] == "leaf1" and labels["disk"] == "ssd"


@pytest.mark.parametrize("bad", ["=x", "a b=c", "k=v v", "Bad_Prefix/x=1", "k=-x"])
def test_bad_node_labels_are_usage_errors(bad):
    with pytest.raises(UsageError):
        node.parse_node_labels(bad)


def test_resources_and_info():
    st = node.build_node(cfg(), NOW)["status"]
    assert st["capacity"]["cpu"] == "2" and st["capacity"]["pods"] == "110"
    assert st["capacity"]["memory"] == "4194304Ki" and st["allocatable"] == st["capacity"]
    assert st["addresses"] == [{"type": "InternalIP", "address": "10.0.0.2"},
                               {"type": "Hostname", "address": "w1"}]
    assert st["nodeInfo"]["kubeletVersion"] == "v1.32.0-k8snet"
    assert st["nodeInfo"]["containerRuntimeVersion"].startswith("k8snet://")


def test_quantity_flags_use_the_machinery_parser():
    assert node.check_quantity("--cpu", "1e3") == "1e3"  # upstream accepts exponents
    assert node.memory_ki("1e3") == "0Ki" and node.memory_ki("1.5Gi") == "1572864Ki"
    with pytest.raises(UsageError, match="--memory: bad quantity '4Qi'"):
        node.check_quantity("--memory", "4Qi")


def test_ready_heartbeat_and_transition():
    st1 = node.node_status(cfg(), None, NOW, ready=False, not_ready_message="no podCIDR yet")
    ready1 = next(c for c in st1["conditions"] if c["type"] == "Ready")
    assert ready1["status"] == "False" and ready1["message"] == "no podCIDR yet"
    st2 = node.node_status(cfg(), st1, NOW + 10, ready=True)
    st3 = node.node_status(cfg(), st2, NOW + 20, ready=True)
    r2 = next(c for c in st2["conditions"] if c["type"] == "Ready")
    r3 = next(c for c in st3["conditions"] if c["type"] == "Ready")
    assert r2["status"] == "True" and r2["reason"] == "KubeletReady"
    assert r3["lastTransitionTime"] == r2["lastTransitionTime"]
    assert r3["lastHeartbeatTime"] != r2["lastHeartbeatTime"]


def test_lease_and_renewal():
    lease = node.build_lease("w1", "uid-1", 40, NOW)
    assert lease["metadata"]["namespace"] == "kube-node-lease"
    assert lease["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    assert lease["spec"]["renewTime"].endswith("Z") and "." in lease["spec"]["renewTime"]
    lease["metadata"]["resourceVersion"] = "7"
    renewed = node.renew_lease(lease, "w1", 40, NOW + 5)
    assert renewed["metadata"]["resourceVersion"] == "7"
    assert renewed["spec"]["renewTime"] > lease["spec"]["renewTime"]


def test_registration_merge_and_pod_cidr():
    existing = {"metadata": {"labels": {"kubernetes.io/hostname": "w1"}}, "spec": {}}
    patch = node.merge_registration(existing, cfg())
    assert patch["metadata"]["labels"]["disk"] == "ssd"
    assert "kubernetes.io/hostname" not in patch["metadata"]["labels"]
    assert node.pod_cidr(existing) is None
    assert node.pod_cidr({"spec": {"podCIDRs": ["10.244.3.0/24"]}}) == "10.244.3.0/24"


def test_node_status_is_posted_when_it_changed_or_after_the_report_period():
    st1 = node.node_status(cfg(), None, NOW, ready=True)
    st2 = node.node_status(cfg(), st1, NOW + 10, ready=True)       # heartbeat times only
    assert node.status_worth_posting(None, st1, 0.0, NOW, 300) is True
    assert node.status_worth_posting(st1, st2, NOW, NOW + 10, 300) is False
    assert node.status_worth_posting(st1, st2, NOW, NOW + 300, 300) is True
    unknown = node.node_status(cfg(), st1, NOW + 20, ready=True)   # the lifecycle controller
    for c in unknown["conditions"]:                                # marked it Unknown
        if c["type"] == "Ready":
            c.update(status="Unknown", reason="NodeStatusUnknown")
    back = node.node_status(cfg(), unknown, NOW + 30, ready=True)
    assert node.status_worth_posting(unknown, back, NOW, NOW + 30, 300) is True
    other = dict(st1, images=[{"names": ["x"]}])                   # set by someone else
    assert node.status_worth_posting(other, st2, NOW, NOW + 10, 300) is False
