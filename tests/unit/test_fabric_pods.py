"""Macvlan mode (issue #5, third mode): the fabric routes every Pod as a /32, proved on the
fake fabric: Pods on different leaves reach each other with IPs untouched, the last hop
rewrites to the Pod's own MAC, ECMP over the spines, one entry per Pod per switch, the
entry goes with the Pod; learning from ARP only on the Pod's own node port."""

import pytest

from k8snet.fabric.arp import ARP_REPLY, ARP_REQUEST, Arp, build_arp, parse_arp
from k8snet.fabric.facts import Route, facts_from_dict
from k8snet.fabric.fakenet import FakeNet
from k8snet.fabric.plan import build_plan, router_mac
from k8snet.fabric.planner import Planner
from k8snet.fabric.pods import (
    Binding,
    PodTable,
    arp_probe,
    live_pod_ips,
    pod_gateway_ip,
)
from k8snet.fabric.sample import leaf_spine_facts
from k8snet.fabric.specs import COOKIE_POD_ROUTE, TABLE_ROUTE, Output

GW_MAC = "02:4b:ff:00:00:01"


def block(host):
    return f"10.244.{int(host[1:])}.0/24"


def pod_ip(host, n):
    return f"10.244.{int(host[1:])}.{n}"


def pod_mac(host, n):
    return f"0a:00:00:00:{int(host[1:]):02x}:{n:02x}"


def facts():
    return facts_from_dict(leaf_spine_facts(2, 2, 2))


def table_with(f, pods):
    """A PodTable knowing every host's block, the given Pods (host, n) live and learned."""
    t = PodTable.for_facts(f)
    t.set_blocks([Route(block(h.name), h.name) for h in f.hosts])
    t.set_live([pod_ip(h, n) for h, n in pods])
    for h, n in pods:
        host = f.host(h)
        arp = Arp(ARP_REQUEST, pod_mac(h, n), pod_ip(h, n), "00:00:00:00:00:00",
                  pod_gateway_ip(block(h)))
        assert t.learn(arp, host.switch, host.port) == Binding(pod_ip(h, n), pod_mac(h, n), h)
    return t


def from_pod(h, n, dst, ttl=64, sport=40000, proto=6):
    """What a macvlan Pod puts on its node's wire: its own MAC, to the Pod gateway's MAC."""
    return {"eth_src": pod_mac(h, n), "eth_dst": GW_MAC, "eth_type": 0x0800,
            "ipv4_src": pod_ip(h, n), "ipv4_dst": dst, "ip_proto": proto,
            "l4_src": sport, "l4_dst": 8080, "ttl": ttl}


def test_pod_to_pod_across_leaves_delivered_to_the_pod_mac_ips_untouched():
    f = facts()
    t = table_with(f, [("h1", 5), ("h3", 7)])
    net = FakeNet(f, build_plan(f, routes=t.routes()))
    sent = from_pod("h1", 5, pod_ip("h3", 7))
    traces = net.send_from("h1", sent, choose="all")
    assert len(traces) == 2 and all(tr.fate == "delivered" and tr.at == "h3" for tr in traces)
    for tr in traces:
        for k in ("ipv4_src", "ipv4_dst", "ip_proto", "l4_src", "l4_dst"):
            assert tr.packet[k] == sent[k]
        assert tr.packet["eth_dst"] == pod_mac("h3", 7)
        assert tr.packet["eth_src"] == router_mac(f, "kntst-l2")
        assert tr.ttl_decrements == 3 and tr.packet["ttl"] == 61  # no node routes it
    assert sorted(tr.switches[1] for tr in traces) == ["kntst-s1", "kntst-s2"]
    back = net.send_from("h3", from_pod("h3", 7, pod_ip("h1", 5)))
    assert [(b.fate, b.at, b.packet["eth_dst"]) for b in back] == [
        ("delivered", "h1", pod_mac("h1", 5))]


def test_pod_on_the_same_leaf_and_node_to_remote_pod():
    f = facts()
    t = table_with(f, [("h1", 5), ("h2", 9)])
    net = FakeNet(f, build_plan(f, routes=t.routes()))
    traces = net.send_from("h1", from_pod("h1", 5, pod_ip("h2", 9)))
    assert [(tr.fate, tr.at, tr.ttl_decrements) for tr in traces] == [("delivered", "h2", 1)]
    # a node (h4) sending to a Pod through the fabric gateway (its default route)
    node = f.host("h4")
    pkt = {"eth_src": node.mac, "eth_dst": GW_MAC, "eth_type": 0x0800, "ipv4_src": node.ip,
           "ipv4_dst": pod_ip("h1", 5), "ttl": 64}
    traces = net.send_from("h4", pkt)
    assert [(tr.fate, tr.at, tr.packet["eth_dst"]) for tr in traces] == [
        ("delivered", "h1", pod_mac("h1", 5))]


def pod_entries(plan, ip=None):
    return [fl for fl in plan.flows.values() if fl.table == TABLE_ROUTE
            and fl.cookie == COOKIE_POD_ROUTE and (ip is None or dict(fl.match)["ipv4_dst"] == ip)]


def test_one_entry_per_pod_on_every_switch_and_it_goes_with_the_pod():
    f = facts()
    pods = [(h.name, n) for h in f.hosts for n in (5, 6, 7)]
    t = table_with(f, pods)
    planner = Planner(f)
    planner.set_routes(t.routes())
    for plan in planner.plans.values():
        assert len(pod_entries(plan)) == len(pods)
        for h, n in pods:
            assert len(pod_entries(plan, pod_ip(h, n))) == 1
    last_hop = pod_entries(planner.plans["kntst-l1"], pod_ip("h2", 6))[0]
    assert last_hop.actions[-1] == Output(f.host("h2").port) and last_hop.goto is None
    # the Pod goes: its entry leaves every switch, nothing else changes
    t.set_live([pod_ip(h, n) for h, n in pods if (h, n) != ("h2", 6)])
    changes = planner.set_routes(t.routes())
    assert len(changes) == len(f.switches)
    for c in changes:
        assert not c.add_flows and not c.add_groups and not c.delete_groups
        assert [dict(fl.match)["ipv4_dst"] for fl in c.delete_flows] == [pod_ip("h2", 6)]
    assert pod_ip("h2", 6) not in t.bindings


def test_ecmp_spreads_pod_pairs_over_every_spine():
    f = facts()
    pods = [(h, n) for h in ("h1", "h3") for n in range(2, 30)]
    net = FakeNet(f, build_plan(f, routes=table_with(f, pods).routes()))
    spines = set()
    for n in range(2, 30):
        for sport in (40000, 40001):
            (tr,) = net.send_from("h1", from_pod("h1", n, pod_ip("h3", n), sport=sport))
            assert tr.fate == "delivered"
            spines.add(tr.switches[1])
    assert spines == {"kntst-s1", "kntst-s2"}


def test_spine_link_down_reroutes_pod_traffic():
    f = facts()
    t = table_with(f, [("h1", 5), ("h3", 7)])
    down = {("kntst-l1", 3)}  # leaf 1's link to spine 1
    net = FakeNet(f, build_plan(f, down, t.routes()), down)
    traces = net.send_from("h1", from_pod("h1", 5, pod_ip("h3", 7)), choose="all")
    assert [(tr.fate, tr.switches[1]) for tr in traces] == [("delivered", "kntst-s2")]


def test_learning_only_from_the_pods_own_node_port():
    f = facts()
    t = PodTable.for_facts(f)
    t.set_blocks([Route(block(h.name), h.name) for h in f.hosts])
    h1, h3 = f.host("h1"), f.host("h3")
    arp = Arp(ARP_REQUEST, pod_mac("h1", 5), pod_ip("h1", 5), "00:00:00:00:00:00",
              "10.244.1.1")
    assert t.learn(arp, h3.switch, h3.port) is None            # h1's address on h3's port
    assert t.learn(arp, "kntst-s1", 1) is None                  # not an edge port
    assert t.learn(Arp(ARP_REQUEST, h1.mac, pod_ip("h1", 5), "", "x"), h1.switch,
                   h1.port) is None                             # the node itself
    gw = Arp(ARP_REQUEST, pod_mac("h1", 9), "10.244.1.1", "", "10.244.1.1")
    assert t.learn(gw, h1.switch, h1.port) is None              # nobody owns the gateway
    assert t.learn(Arp(ARP_REQUEST, pod_mac("h1", 5), "10.9.9.9", "", "x"), h1.switch,
                   h1.port) is None                             # in no block
    assert t.learn(arp, h1.switch, h1.port) == Binding(pod_ip("h1", 5), pod_mac("h1", 5), "h1")
    assert t.learn(arp, h1.switch, h1.port) is None             # nothing new
    newer = Arp(ARP_REPLY, pod_mac("h1", 6), pod_ip("h1", 5), GW_MAC, "10.244.1.1")
    assert t.learn(newer, h1.switch, h1.port).mac == pod_mac("h1", 6)  # address reused


def test_route_needs_both_a_live_pod_and_a_binding():
    f = facts()
    t = table_with(f, [("h1", 5)])
    h1 = f.host("h1")
    # learned before the apiserver reports the Pod (CNI's gratuitous ARP comes first)
    t.learn(Arp(ARP_REQUEST, pod_mac("h1", 8), pod_ip("h1", 8), "", pod_ip("h1", 8)),
            h1.switch, h1.port)
    assert [r.prefix for r in t.routes()] == [pod_ip("h1", 5) + "/32"]
    t.set_live([pod_ip("h1", 5), pod_ip("h1", 8), pod_ip("h3", 4)])
    assert t.routes() == (Route(pod_ip("h1", 5) + "/32", "h1", pod_mac("h1", 5)),
                          Route(pod_ip("h1", 8) + "/32", "h1", pod_mac("h1", 8)))
    assert t.unresolved() == ((pod_ip("h3", 4), "h3"),)
    t.set_blocks([Route(block("h1"), "h1")])  # h3's Node went away
    assert t.unresolved() == () and len(t.routes()) == 2


def test_controller_answers_pod_gateways_only_and_probes_unknown_pods():
    f = facts()
    t = table_with(f, [("h1", 5)])
    planner = Planner(f)
    planner.set_pod_gateways(t.gateways())
    assert [g.ip for g in t.gateways()][:2] == ["10.244.1.1", "10.244.2.1"]
    ask_gw = build_arp(Arp(ARP_REQUEST, pod_mac("h1", 5), pod_ip("h1", 5), "00:00:00:00:00:00",
                           "10.244.1.1", pod_mac("h1", 5), "ff:ff:ff:ff:ff:ff"))
    reply = parse_arp(planner.arp_reply(ask_gw))
    assert (reply.op, reply.sender_ip, reply.sender_mac, reply.target_ip) == (
        ARP_REPLY, "10.244.1.1", GW_MAC, pod_ip("h1", 5))
    # another Pod of the same node answers for itself; a foreign block's gateway is not on-link
    for target in (pod_ip("h1", 6), "10.244.3.1"):
        ask = build_arp(Arp(ARP_REQUEST, pod_mac("h1", 5), pod_ip("h1", 5),
                            "00:00:00:00:00:00", target, pod_mac("h1", 5), "ff:ff:ff:ff:ff:ff"))
        assert planner.arp_reply(ask) is None
    probe = arp_probe(t, pod_ip("h3", 4))
    assert (probe.sender_ip, probe.sender_mac, probe.target_ip, probe.eth_dst) == (
        "10.244.3.1", GW_MAC, pod_ip("h3", 4), "ff:ff:ff:ff:ff:ff")
    assert parse_arp(build_arp(probe)) == probe
    assert arp_probe(t, "10.9.9.9") is None


def test_live_pod_ips_skip_host_network_finished_and_addressless():
    pods = [
        {"status": {"podIP": "10.244.1.5", "phase": "Running"}},
        {"status": {"podIP": "10.244.1.6", "phase": "Pending",
                    "podIPs": [{"ip": "10.244.1.6"}, {"ip": "fd00::6"}]}},
        {"spec": {"hostNetwork": True}, "status": {"podIP": "10.0.0.2", "phase": "Running"}},
        {"status": {"podIP": "10.244.1.7", "phase": "Succeeded"}},
        {"status": {"phase": "Pending"}},
        {"status": {"podIP": "bogus"}},
    ]
    assert live_pod_ips(pods) == {"10.244.1.5", "10.244.1.6"}


def test_no_gateway_no_macvlan():
    doc = leaf_spine_facts(1, 1, 1)
    doc["gateways"] = []
    with pytest.raises(ValueError):
        PodTable.for_facts(facts_from_dict(doc))
