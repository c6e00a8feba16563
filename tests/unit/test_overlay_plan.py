"""The overlay planner: Nodes -> device, routes, neighbours, FDB (pure)."""

import pytest

from k8snet.overlay.model import IP_ANNOTATION, MAC_ANNOTATION, Fdb, Neighbour, Route
from k8snet.overlay.plan import annotations_to_publish, make_plan, peer_of, vtep_mac, vxlan_mtu


def node(name, cidr=None, ip=None, mac=None, cidrs=None):
    notes = {}
    if ip:
        notes[IP_ANNOTATION] = ip
    if mac:
        notes[MAC_ANNOTATION] = mac
    spec = {}
    if cidr:
        spec["podCIDR"] = cidr
    if cidrs:
        spec["podCIDRs"] = cidrs
    return {"metadata": {"name": name, "annotations": notes}, "spec": spec}


def published(name, index):
    ip = f"10.0.0.{index + 1}"
    return node(name, f"10.244.{index}.0/24", ip, vtep_mac(ip))


def test_vtep_mac_is_stable_unicast_and_local():
    mac = vtep_mac("10.0.0.2")
    assert mac == vtep_mac("10.0.0.2") != vtep_mac("10.0.0.3")
    first = int(mac[:2], 16)
    assert first & 1 == 0 and first & 2 == 2


def test_plan_programs_every_other_node_flannel_style():
    nodes = [published("w1", 1), published("w2", 2), published("w3", 3)]
    plan = make_plan(nodes, "w1", "10.0.0.2", 1500)
    assert plan.device.name == "k8snet.1" and plan.device.vni == 1
    assert plan.device.port == 4789 and plan.device.local_ip == "10.0.0.2"
    assert plan.device.mtu == 1450 and not plan.device.learning
    assert plan.device.mac == vtep_mac("10.0.0.2")
    assert plan.address == "10.244.1.0/32"
    assert plan.routes == (Route("10.244.2.0/24", "10.244.2.0"),
                           Route("10.244.3.0/24", "10.244.3.0"))
    assert plan.neighbours == (Neighbour("10.244.2.0", vtep_mac("10.0.0.3")),
                               Neighbour("10.244.3.0", vtep_mac("10.0.0.4")))
    assert plan.fdb == (Fdb(vtep_mac("10.0.0.3"), "10.0.0.3"),
                        Fdb(vtep_mac("10.0.0.4"), "10.0.0.4"))
    assert plan.skipped == ()


def test_node_without_own_node_object_still_reaches_every_pod():
    plan = make_plan([published("w1", 1), published("w2", 2)], "m1", "10.0.0.1", 1500)
    assert plan.address is None
    assert [r.dst for r in plan.routes] == ["10.244.1.0/24", "10.244.2.0/24"]


def test_nodes_not_ready_for_the_overlay_are_skipped_with_a_reason():
    nodes = [published("w1", 1), node("w2"), node("w3", "10.244.3.0/24"),
             node("w4", "10.244.4.0/24", "10.0.0.5", "01:00:00:00:00:01"),
             node("w5", "10.244.5.0/24", "10.0.0.6", "nonsense")]
    plan = make_plan(nodes, "w1", "10.0.0.2", 1500)
    assert plan.routes == plan.neighbours == plan.fdb == ()
    text = " ".join(plan.skipped)
    assert "w2: no podCIDR" in text and "w3: no VTEP published" in text
    assert "w4" in text and "w5" in text and "not a unicast MAC" in text


def test_clashing_peers_are_skipped_not_half_programmed():
    a = published("w2", 2)
    same_cidr = node("w3", "10.244.2.0/24", "10.0.0.9", vtep_mac("10.0.0.9"))
    overlaps_ours = node("w4", "10.244.1.0/25", "10.0.0.8", vtep_mac("10.0.0.8"))
    same_mac = node("w5", "10.244.5.0/24", "10.0.0.7", vtep_mac("10.0.0.3"))
    plan = make_plan([published("w1", 1), a, same_cidr, overlaps_ours, same_mac], "w1",
                     "10.0.0.2", 1500)
    assert [r.dst for r in plan.routes] == ["10.244.2.0/24"]
    assert len(plan.fdb) == len(plan.neighbours) == 1
    assert len(plan.skipped) == 3


def test_pod_cidrs_list_and_ipv6_only():
    assert peer_of(node("w2", cidrs=["fd00::/64", "10.244.7.0/24"], ip="10.0.0.3",
                        mac=vtep_mac("10.0.0.3")))[0].pod_cidr == "10.244.7.0/24"
    peer, why = peer_of(node("w2", cidrs=["fd00::/64"], ip="10.0.0.3", mac=vtep_mac("x")))
    assert peer is None and "no podCIDR" in why


def test_mtu_leaves_room_for_the_vxlan_header():
    assert vxlan_mtu(1500) == 1450 and vxlan_mtu(9000) == 8950
    with pytest.raises(ValueError):
        vxlan_mtu(600)


def test_annotations_published_only_when_they_differ():
    plan = make_plan([node("w1", "10.244.1.0/24")], "w1", "10.0.0.2", 1500)
    own = node("w1", "10.244.1.0/24")
    assert annotations_to_publish(own, plan) == {MAC_ANNOTATION: vtep_mac("10.0.0.2"),
                                                 IP_ANNOTATION: "10.0.0.2"}
    assert annotations_to_publish(published("w1", 1), plan) == {}
    assert annotations_to_publish(None, plan) == {}


def test_masquerade_leaves_pod_and_node_networks_alone_and_hides_the_rest():
    from k8snet.overlay.plan import MASQ_CHAIN, masquerade_hook, masquerade_rules
    text = masquerade_rules("10.244.0.0/16", ["10.0.0.0/16"])
    lines = text.splitlines()
    assert lines[:2] == ["*nat", f":{MASQ_CHAIN} - [0:0]"]   # declared: flushed first
    rules = [ln for ln in lines if ln.startswith("-A")]
    assert rules == [f"-A {MASQ_CHAIN} -d 10.244.0.0/16 -j RETURN",
                     f"-A {MASQ_CHAIN} -d 10.0.0.0/16 -j RETURN",
                     f"-A {MASQ_CHAIN} -j MASQUERADE"]
    assert lines[-1] == "COMMIT" and text.endswith("\n") and text == masquerade_rules(
        "10.244.0.0/16", ["10.0.0.0/16"])
    hook = masquerade_hook("10.244.0.0/16")
    assert hook[:2] == ["-s", "10.244.0.0/16"] and hook[-2:] == ["-j", MASQ_CHAIN]
