"""Endpoints, node IPAM, node lifecycle and garbage-collection decisions."""

from __future__ import annotations

import datetime as dt
import ipaddress

import pytest
from kcm_fixtures import T0, rs_pod

from k8snet.errors import UsageError
from k8snet.kcm import endpoints as ep
from k8snet.kcm import gc, nodeipam
from k8snet.kcm import nodelifecycle as nl

# -- endpoints ---------------------------------------------------------------


def service(ports, selector=None, **extra):
    spec = {"selector": {"app": "web"} if selector is None else selector, "ports": ports}
    spec.update(extra)
    return {"metadata": {"name": "web", "namespace": "default", "labels": {"tier": "fe"}},
            "spec": spec}


def test_ready_and_not_ready_addresses_per_port():
    svc = service([{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
                   {"name": "alt", "port": 81, "targetPort": 9090, "protocol": "TCP"}])
    pods = [rs_pod("a", ip="10.244.1.5", node="n1"),
            rs_pod("b", ip="10.244.2.7", node="n2", ready=False),
            rs_pod("c", ip="10.244.1.6", labels={"app": "db"}),
            rs_pod("noip")]
    want = ep.desired_endpoints(svc, pods)
    assert want["metadata"] == {"name": "web", "namespace": "default", "labels": {"tier": "fe"}}
    [subset] = want["subsets"]
    assert [a["ip"] for a in subset["addresses"]] == ["10.244.1.5"]
    assert subset["addresses"][0]["nodeName"] == "n1"
    assert subset["addresses"][0]["targetRef"] == {"kind": "Pod", "namespace": "default",
                                                   "name": "a", "uid": "uid-a"}
    assert [a["ip"] for a in subset["notReadyAddresses"]] == ["10.244.2.7"]
    assert subset["ports"] == [{"name": "alt", "port": 9090, "protocol": "TCP"},
                               {"name": "http", "port": 8080, "protocol": "TCP"}]


def test_named_port_missing_groups_pods_separately():
    svc = service([{"name": "http", "port": 80, "targetPort": "http"},
                   {"name": "raw", "port": 82, "targetPort": 82}])
    a = rs_pod("a", ip="10.244.1.5")
    b = rs_pod("b", ip="10.244.1.6")
    b["spec"]["containers"][0]["ports"] = []
    subsets = ep.desired_endpoints(svc, [a, b])["subsets"]
    assert len(subsets) == 2
    by_ip = {s["addresses"][0]["ip"]: [p["port"] for p in s["ports"]] for s in subsets}
    assert by_ip == {"10.244.1.5": [8080, 82], "10.244.1.6": [82]}


def test_terminating_pods_left_out_and_selectorless_unmanaged():
    svc = service([{"port": 80, "targetPort": 8080}])
    gone = rs_pod("a", ip="10.244.1.5")
    gone["metadata"]["deletionTimestamp"] = "2024-05-01T12:00:00Z"
    assert ep.desired_endpoints(svc, [gone])["subsets"] == []
    assert ep.desired_endpoints(service([{"port": 80}], selector={}), [gone]) is None


def test_publish_not_ready_addresses():
    svc = service([{"port": 80, "targetPort": 8080}], publishNotReadyAddresses=True)
    subsets = ep.desired_endpoints(svc, [rs_pod("b", ip="10.244.2.7", ready=False)])["subsets"]
    assert [a["ip"] for a in subsets[0]["addresses"]] == ["10.244.2.7"]


def test_endpoints_differ():
    svc = service([{"port": 80, "targetPort": 8080}])
    want = ep.desired_endpoints(svc, [rs_pod("a", ip="10.244.1.5")])
    assert ep.endpoints_differ(None, want)
    same = {"metadata": {"name": "web", "labels": {"tier": "fe"}}, "subsets": want["subsets"]}
    assert not ep.endpoints_differ(same, want)
    assert ep.endpoints_differ({"metadata": same["metadata"], "subsets": []}, want)


# -- node IPAM -----------------------------------------------------------------

def n(name, cidr=None):
    spec = {"podCIDR": cidr, "podCIDRs": [cidr]} if cidr else {}
    return {"metadata": {"name": name}, "spec": spec}


CLUSTER = ipaddress.ip_network("10.244.0.0/16")


def test_ipam_assigns_lowest_free_blocks_in_name_order():
    nodes = [n("w2"), n("m1", "10.244.0.0/24"), n("w1"), n("w3", "10.244.2.0/24")]
    assert nodeipam.allocate(nodes, CLUSTER, 24) == {"w1": "10.244.1.0/24", "w2": "10.244.3.0/24"}


def test_ipam_respects_reserved_and_is_restart_safe():
    nodes = [n("a", "10.244.0.0/24"), n("b")]
    assert nodeipam.allocate(nodes, CLUSTER, 24, reserved=["10.244.1.0/24"]) == \
        {"b": "10.244.2.0/24"}
    # A fresh controller (no memory) reads the blocks already on Nodes.
    assert nodeipam.allocate([n("a", "10.244.0.0/24"), n("b", "10.244.1.0/24")],
                             CLUSTER, 24) == {}


def test_ipam_never_repeats_a_block_and_stops_when_full():
    small = ipaddress.ip_network("10.244.0.0/23")
    nodes = [n(f"w{i}") for i in range(3)]
    got = nodeipam.allocate(nodes, small, 24)
    assert len(got) == 2 and len(set(got.values())) == 2
    assert nodeipam.duplicates([n("a", "10.244.0.0/24"), n("b", "10.244.0.0/24")]) == \
        {"10.244.0.0/24": ["a", "b"]}


def test_ipam_flags():
    with pytest.raises(UsageError):
        nodeipam.parse_cluster_cidr("10.244.0.1/16", 24)
    with pytest.raises(UsageError):
        nodeipam.parse_cluster_cidr("10.244.0.0/16", 8)
    assert nodeipam.parse_cluster_cidr("10.244.0.0/16", 24) == CLUSTER


# -- node lifecycle --------------------------------------------------------------

def node(ready="True", taints=None):
    return {"metadata": {"name": "n1"}, "spec": {"taints": taints or []},
            "status": {"conditions": [{"type": "Ready", "status": ready}]}}


def lease(renew):
    return {"spec": {"renewTime": renew}}


def at(seconds):
    return T0 + dt.timedelta(seconds=seconds)


def test_observe_tracks_renewals_on_own_clock():
    h = nl.observe(None, lease("r1"), at(0))
    assert h.observed_at == at(0)
    assert nl.observe(h, lease("r1"), at(10)) is h
    assert nl.observe(h, lease("r2"), at(10)).observed_at == at(10)


def test_status_heartbeat_counts_too():
    n = node()
    n["status"]["conditions"][0]["lastHeartbeatTime"] = "2024-05-01T12:00:00Z"
    h = nl.observe(None, None, at(0), n)
    assert nl.observe(h, None, at(5), n) is h
    n["status"]["conditions"][0]["lastHeartbeatTime"] = "2024-05-01T12:00:05Z"
    assert nl.observe(h, None, at(6), n).observed_at == at(6)


def test_stale_lease_marks_unknown_and_taints():
    h = nl.NodeHealth(("r1", None), at(0))
    assert nl.decide_node(node(), h, [], at(19), 20, 30) == nl.NodePlan()
    plan = nl.decide_node(node(), h, [], at(21), 20, 30)
    assert plan.ready_unknown
    assert plan.add_taints == [{"key": nl.UNREACHABLE, "effect": "NoSchedule"},
                               {"key": nl.UNREACHABLE, "effect": "NoExecute",
                                "timeAdded": "2024-05-01T12:00:21Z"}]


def test_renewed_lease_removes_taint():
    tainted = node("Unknown", [{"key": nl.UNREACHABLE, "effect": "NoExecute",
                                "timeAdded": "2024-05-01T12:00:21Z"}])
    plan = nl.decide_node(tainted, nl.NodeHealth(("r2", None), at(25)), [], at(26), 20, 30)
    assert plan.remove_taints == [nl.UNREACHABLE] and not plan.ready_unknown


def test_eviction_after_timeout_unless_tolerated():
    taint = {"key": nl.UNREACHABLE, "effect": "NoExecute", "timeAdded": "2024-05-01T12:00:21Z"}
    tainted = node("Unknown", [taint])
    h = nl.NodeHealth(("r1", None), at(0))
    plain = rs_pod("plain")
    default = rs_pod("default")
    default["spec"]["tolerations"] = [{"key": nl.UNREACHABLE, "operator": "Exists",
                                       "effect": "NoExecute", "tolerationSeconds": 300}]
    short = rs_pod("short")
    short["spec"]["tolerations"] = [{"key": nl.UNREACHABLE, "operator": "Exists",
                                     "effect": "NoExecute", "tolerationSeconds": 5}]
    forever = rs_pod("forever")
    forever["spec"]["tolerations"] = [{"operator": "Exists"}]
    pods = [plain, default, short, forever]
    assert nl.decide_node(tainted, h, pods, at(25), 20, 30).evict == []
    assert nl.decide_node(tainted, h, pods, at(27), 20, 30).evict == ["default/short"]
    assert nl.decide_node(tainted, h, pods, at(51), 20, 30).evict == \
        ["default/plain", "default/default", "default/short"]


def test_not_ready_node_gets_not_ready_taint():
    plan = nl.decide_node(node("False"), nl.NodeHealth(("r", None), at(0)), [], at(1), 20, 30)
    assert [(t["key"], t["effect"]) for t in plan.add_taints] == \
        [(nl.NOT_READY, "NoSchedule"), (nl.NOT_READY, "NoExecute")]
    back = node("True", [{"key": nl.NOT_READY, "effect": "NoExecute"}])
    health = nl.NodeHealth(("r", None), at(0))
    assert nl.decide_node(back, health, [], at(1), 20, 30).remove_taints == [nl.NOT_READY]


def test_unknown_conditions():
    conds = nl.unknown_conditions(node(), at(0))
    assert conds[0]["status"] == "Unknown" and conds[0]["reason"] == "NodeStatusUnknown"


# -- garbage collection ----------------------------------------------------------

def test_pod_gc():
    pods = [rs_pod("a", node="n1"), rs_pod("b", node="gone"), rs_pod("c", node=None)]
    assert gc.pods_on_missing_nodes(pods, [{"metadata": {"name": "n1"}}]) == ["default/b"]
    ending = rs_pod("e", node="n1")
    ending["metadata"]["deletionTimestamp"] = "2024-05-01T12:00:30Z"
    assert gc.stuck_terminating([ending], {"n1"}, at(29)) == []
    assert gc.stuck_terminating([ending], {"n1"}, at(31)) == ["default/e"]
    assert gc.stuck_terminating([ending], set(), at(31)) == []
