"""Routed mode (issue #5): every switch is a routed hop for Pod CIDRs, proved on the fake
fabric: IPs and ports untouched, TTL -1 per switch, MACs rewritten per hop, ECMP over every
spine, one aggregated entry per node block, failures avoided."""

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from k8snet.fabric.facts import Route, facts_from_dict
from k8snet.fabric.fakenet import FakeNet
from k8snet.fabric.plan import build_plan, router_mac
from k8snet.fabric.planner import Planner
from k8snet.fabric.sample import leaf_spine_facts
from k8snet.fabric.specs import DecTtl, SetField
from k8snet.fabric.topology import Topology

GW_MAC = "02:4b:ff:00:00:01"


def pod_cidr(host_name):
    """Each host hN owns 10.244.N.0/24, as node IPAM would give."""
    return f"10.244.{int(host_name[1:])}.0/24"


def pod_ip(host_name, n=5):
    return f"10.244.{int(host_name[1:])}.{n}"


def routed_facts(spines=2, leaves=2, hosts_per_leaf=2):
    doc = leaf_spine_facts(spines, leaves, hosts_per_leaf)
    doc["routes"] = [{"prefix": pod_cidr(h["name"]), "via": h["name"]} for h in doc["hosts"]]
    return facts_from_dict(doc)


def pod_packet(src, dst, sport=40000, dport=8080, proto=6, ttl=63):
    """A packet from a Pod behind node ``src`` to a Pod behind node ``dst``, as node
    ``src`` puts it on the wire: routed to the fabric gateway, TTL already -1 by the node."""
    return {"eth_src": src.mac, "eth_dst": GW_MAC, "eth_type": 0x0800,
            "ipv4_src": pod_ip(src.name), "ipv4_dst": pod_ip(dst.name, 7), "ip_proto": proto,
            "l4_src": sport, "l4_dst": dport, "ttl": ttl}


def test_across_leaves_three_routed_hops_ips_and_ports_untouched():
    facts = routed_facts()
    net = FakeNet(facts, build_plan(facts))
    h1, h3 = facts.host("h1"), facts.host("h3")
    for proto, dport in ((6, 8080), (17, 8081), (1, 0)):
        sent = pod_packet(h1, h3, dport=dport, proto=proto)
        traces = net.send_from("h1", sent, choose="all")
        assert len(traces) == 2 and all(t.fate == "delivered" and t.at == "h3" for t in traces)
        for t in traces:
            for field in ("ipv4_src", "ipv4_dst", "ip_proto", "l4_src", "l4_dst"):
                assert t.packet[field] == sent[field], field
            assert t.ttl_decrements == 3 and t.packet["ttl"] == sent["ttl"] - 3
            assert t.packet["eth_src"] == router_mac(facts, "kntst-l2")
            assert t.packet["eth_dst"] == h3.mac
        assert sorted(t.switches[1] for t in traces) == ["kntst-s1", "kntst-s2"]


def test_each_hop_addresses_the_next_router():
    """Follow one packet switch by switch: what each switch sends the next one."""
    facts = routed_facts(spines=1)
    plans = build_plan(facts)
    h1, h3 = facts.host("h1"), facts.host("h3")
    seen = []
    for upto in ("kntst-l1", "kntst-s1"):
        # cut the fabric just after ``upto`` by giving the next switch an empty table
        cut = dict(plans)
        nxt = {"kntst-l1": "kntst-s1", "kntst-s1": "kntst-l2"}[upto]
        cut[nxt] = type(plans[nxt])()
        (t,) = FakeNet(facts, cut).send_from("h1", pod_packet(h1, h3))
        seen.append((t.at, t.packet["eth_src"], t.packet["eth_dst"]))
    assert seen == [
        ("kntst-s1", router_mac(facts, "kntst-l1"), router_mac(facts, "kntst-s1")),
        ("kntst-l2", router_mac(facts, "kntst-s1"), router_mac(facts, "kntst-l2"))]


def test_same_leaf_is_one_routed_hop_and_node_traffic_stays_bridged():
    facts = routed_facts()
    net = FakeNet(facts, build_plan(facts))
    h1, h2 = facts.host("h1"), facts.host("h2")
    (t,) = net.send_from("h1", pod_packet(h1, h2))
    assert (t.at, t.ttl_decrements) == ("h2", 1)
    bridged = {"eth_src": h1.mac, "eth_dst": facts.host("h4").mac, "eth_type": 0x0800,
               "ipv4_src": h1.ip, "ipv4_dst": facts.host("h4").ip, "ttl": 64}
    (t,) = net.send_from("h1", bridged)
    assert (t.at, t.ttl_decrements, t.packet["eth_src"]) == ("h4", 0, h1.mac)


def test_single_switch_is_one_hop():
    doc = leaf_spine_facts(spines=1, leaves=1, hosts_per_leaf=3)
    doc["switches"] = [s for s in doc["switches"] if s["name"] == "kntst-l1"]
    doc["links"] = []
    doc["routes"] = [{"prefix": pod_cidr(h["name"]), "via": h["name"]} for h in doc["hosts"]]
    facts = facts_from_dict(doc)
    (t,) = FakeNet(facts, build_plan(facts)).send_from(
        "h1", pod_packet(facts.host("h1"), facts.host("h3")))
    assert (t.at, t.ttl_decrements) == ("h3", 1)


def test_one_aggregated_entry_per_node_block_not_per_pod():
    facts = routed_facts(2, 3, 2)
    plans = build_plan(facts)
    for name, plan in plans.items():
        prefix_entries = [f for f in plan.flows.values() if f.table == 1
                          and isinstance(dict(f.match).get("ipv4_dst"), tuple)]
        assert sorted(dict(f.match)["ipv4_dst"][0] for f in prefix_entries) == sorted(
            pod_cidr(h.name).split("/")[0] for h in facts.hosts), name
        assert all(dict(f.match)["ipv4_dst"][1] == "255.255.255.0" for f in prefix_entries)
    net = FakeNet(facts, plans)
    h1, h6 = facts.host("h1"), facts.host("h6")
    for n in range(2, 250, 31):  # any Pod in h6's block, no per-Pod entry needed
        pkt = dict(pod_packet(h1, h6), ipv4_dst=f"10.244.6.{n}")
        assert net.send_from("h1", pkt)[0].at == "h6"


def test_every_spine_carries_a_share_of_node_pairs():
    facts = routed_facts(3, 4, 2)
    net = FakeNet(facts, build_plan(facts))
    per_spine = {s.name: 0 for s in facts.switches if s.role == "spine"}
    for a, b in itertools.permutations(facts.hosts, 2):
        if a.switch == b.switch:
            continue
        (t,) = net.send_from(a.name, pod_packet(a, b))
        assert t.fate == "delivered" and t.at == b.name and t.ttl_decrements == 3
        per_spine[t.switches[1]] += 1
    assert all(count > 0 for count in per_spine.values()), per_spine


@pytest.mark.parametrize("failed", [("kntst-l1", 3), ("kntst-s2", 2), ("kntst-s1", 1)])
def test_after_a_spine_link_fails_no_route_uses_it(failed):
    planner = Planner(routed_facts())
    planner.port_changed(planner.facts.switch(failed[0]).dpid, failed[1], up=False)
    link = next(ln for ln in planner.facts.links
                if failed in ((ln.a, ln.a_port), (ln.b, ln.b_port)))
    ends = {(link.a, link.a_port), (link.b, link.b_port)}
    net = FakeNet(planner.facts, planner.plans, {failed})
    for a, b in itertools.permutations(planner.facts.hosts, 2):
        traces = net.send_from(a.name, pod_packet(a, b), choose="all")
        assert traces and all(t.fate == "delivered" and t.at == b.name for t in traces)
        assert not any(t.used_port(e) for t in traces for e in ends)
        assert all(t.ttl_decrements == (1 if a.switch == b.switch else 3) for t in traces)


def test_buckets_drop_out_before_the_controller_replans():
    """The switch alone (watch_port) already avoids a dead spine link."""
    facts = routed_facts()
    plans = build_plan(facts)  # not replanned
    down = {("kntst-l1", 3)}
    net = FakeNet(facts, plans, down)
    h1, h3 = facts.host("h1"), facts.host("h3")
    traces = net.send_from("h1", pod_packet(h1, h3), choose="all")
    assert [t.switches[1] for t in traces] == ["kntst-s2"] and traces[0].at == "h3"


def test_removed_node_block_goes_and_new_block_routes():
    planner = Planner(routed_facts())
    facts = planner.facts
    h1, h4 = facts.host("h1"), facts.host("h4")
    keep = [r for r in planner.routes if r.via != "h4"]
    changes = planner.set_routes(keep)
    assert changes and all(c.delete_flows and not c.add_flows for c in changes)
    assert len(changes) == len(facts.switches)  # every hop held the block
    (t,) = FakeNet(facts, planner.plans).send_from("h1", pod_packet(h1, h4))
    assert t.fate == "dropped" and t.at == "kntst-l1"
    planner.set_routes(keep + [Route("10.244.9.0/24", "h4")])
    pkt = dict(pod_packet(h1, h4), ipv4_dst="10.244.9.1")
    assert FakeNet(facts, planner.plans).send_from("h1", pkt)[0].at == "h4"


def test_only_mac_rewrites_and_ttl_decrements_anywhere():
    facts = routed_facts(2, 3, 2)
    for plan in build_plan(facts).values():
        actions = [a for f in plan.flows.values() for a in f.actions
                   if dict(f.match).get("eth_type") != 0x0806]  # ARP replies are built
        actions += [a for g in plan.groups.values() for b in g.buckets for a in b.actions]
        names = {a.name for a in actions if isinstance(a, SetField)} - {
            "vlan_vid", "in_port"}  # spine detours
        assert names == {"eth_src", "eth_dst"}
        assert any(isinstance(a, DecTtl) for a in actions)


def test_router_macs_are_distinct_and_not_hosts_or_gateways():
    facts = routed_facts(4, 8, 2)
    macs = [router_mac(facts, s.name) for s in facts.switches]
    assert len(set(macs)) == len(macs)
    assert not set(macs) & ({h.mac for h in facts.hosts} | {g.mac for g in facts.gateways})


@settings(max_examples=40, deadline=None)
@given(spines=st.integers(1, 3), leaves=st.integers(2, 4), data=st.data())
def test_random_failures_routed_never_used_and_ttl_matches_path(spines, leaves, data):
    facts = routed_facts(spines, leaves, 1)
    ports = sorted((ln.a, ln.a_port) for ln in facts.links)
    down = frozenset(data.draw(st.sets(st.sampled_from(ports), max_size=len(ports))))
    net = FakeNet(facts, build_plan(facts, down), down)
    topo = Topology(facts, down)
    for a, b in itertools.permutations(facts.hosts, 2):
        traces = net.send_from(a.name, pod_packet(a, b), choose="all")
        assert not any(t.used_port(p) for t in traces for p in down)
        dist = topo.distances_to(b.switch).get(a.switch)
        if dist is None:
            assert all(t.fate == "dropped" for t in traces)
        else:
            # one TTL per switch, except across a spine detour (k8snet.fabric.detour),
            # whose bounce leaf and second spine bridge: two fewer
            assert all(t.fate == "delivered" and t.ttl_decrements in (dist + 1, dist - 1)
                       and len(t.switches) == dist + 1 for t in traces)
