"""Path, ECMP and routing planning, proved by following packets through the fake fabric."""

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from k8snet.fabric.detour import FF_GROUP_BASE
from k8snet.fabric.facts import Route, facts_from_dict
from k8snet.fabric.fakenet import FakeNet
from k8snet.fabric.plan import build_plan, group_id, route_group_id, router_mac
from k8snet.fabric.planner import Planner
from k8snet.fabric.sample import leaf_spine_facts
from k8snet.fabric.specs import SetField, ToGroup
from k8snet.fabric.topology import Topology

GW_MAC = "02:4b:ff:00:00:01"


def ip_packet(src, dst, eth_dst=None, sport=40000, dport=80):
    """What host ``src`` puts on the wire for ``dst`` (bridged unless eth_dst is given)."""
    return {"eth_src": src.mac, "eth_dst": eth_dst or dst.mac, "eth_type": 0x0800,
            "ipv4_src": src.ip, "ipv4_dst": dst.ip, "ip_proto": 6, "l4_src": sport,
            "l4_dst": dport, "ttl": 64}


def net_for(doc, down=frozenset(), routes=None):
    facts = facts_from_dict(doc)
    return facts, FakeNet(facts, build_plan(facts, down, routes), down)


def test_all_to_all_on_shortest_paths_every_path_allowed():
    facts, net = net_for(leaf_spine_facts(2, 4, 2))
    topo = Topology(facts)
    for a, b in itertools.permutations(facts.hosts, 2):
        traces = net.send_from(a.name, ip_packet(a, b), choose="all")
        assert traces and all(t.fate == "delivered" and t.at == b.name for t in traces)
        hops = topo.distances_to(b.switch)[a.switch] + 1
        assert all(len(t.switches) == hops for t in traces)
        assert all(t.packet["ttl"] == 64 and t.ttl_decrements == 0 for t in traces)
        if a.switch != b.switch:  # one path per spine
            assert sorted(t.switches[1] for t in traces) == ["kntst-s1", "kntst-s2"]


def test_every_spine_carries_some_host_pair_with_hashing():
    facts, net = net_for(leaf_spine_facts(3, 4, 2))
    used = set()
    for a, b in itertools.permutations(facts.hosts, 2):
        for sport in (40000, 40001, 40002):
            (t,) = net.send_from(a.name, ip_packet(a, b, sport=sport))
            assert t.fate == "delivered" and t.at == b.name
            used.update(s for s in t.switches if "-s" in s)
    assert used == {"kntst-s1", "kntst-s2", "kntst-s3"}


def test_leaves_use_select_groups_with_watch_ports():
    facts = facts_from_dict(leaf_spine_facts(2, 2, 1))
    plan = build_plan(facts)["kntst-l1"]
    group = plan.groups[group_id(facts, "kntst-l2")]  # bridged; the routed one is separate
    assert [b.watch_port for b in group.buckets] == [2, 3]
    routed = plan.groups[route_group_id(facts, "kntst-l2")]
    assert [b.watch_port for b in routed.buckets] == [2, 3]
    assert [b.actions[0] for b in routed.buckets] == [
        SetField("eth_dst", router_mac(facts, "kntst-s1")),
        SetField("eth_dst", router_mac(facts, "kntst-s2"))]
    to_h2 = [f for f in plan.flows.values() if dict(f.match).get("eth_dst") == "02:4b:00:00:00:02"]
    assert to_h2[0].actions == (ToGroup(group.group_id),)


@pytest.mark.parametrize("failed", [("kntst-l1", 3), ("kntst-s2", 2), ("kntst-l2", 3)])
def test_after_a_link_fails_no_path_uses_it_and_all_still_reach(failed):
    doc = leaf_spine_facts(2, 2, 2)
    planner = Planner(facts_from_dict(doc))
    planner.port_changed(planner.facts.switch(failed[0]).dpid, failed[1], up=False)
    link = next(ln for ln in planner.facts.links
                if failed in ((ln.a, ln.a_port), (ln.b, ln.b_port)))
    ends = {(link.a, link.a_port), (link.b, link.b_port)}
    # The switch only knows one end is down (the fake follows the same liveness).
    net = FakeNet(planner.facts, planner.plans, {failed})
    for a, b in itertools.permutations(planner.facts.hosts, 2):
        traces = net.send_from(a.name, ip_packet(a, b), choose="all")
        assert traces and all(t.fate == "delivered" for t in traces), (a, b, traces)
        assert not any(t.used_port(e) for t in traces for e in ends)


def test_link_failure_changes_only_groups_and_recovery_restores_plan():
    planner = Planner(facts_from_dict(leaf_spine_facts(2, 4, 2)))
    before = planner.plans
    changes = planner.port_changed(planner.facts.switch("kntst-l1").dpid, 3, up=False)
    assert changes and all(not c.add_flows and not c.delete_flows for c in changes)
    assert all(c.modify_groups for c in changes)
    again = planner.port_changed(planner.facts.switch("kntst-l1").dpid, 3, up=False)
    assert again == []
    planner.port_changed(planner.facts.switch("kntst-l1").dpid, 3, up=True)
    assert planner.plans == before


def test_host_port_down_removes_its_flows_and_arp():
    planner = Planner(facts_from_dict(leaf_spine_facts(2, 2, 2)))
    h1 = planner.facts.host("h1")
    changes = planner.port_changed(planner.facts.switch("kntst-l1").dpid, 1, up=False)
    deleted = [f for c in changes for f in c.delete_flows]
    assert deleted and all(
        dict(f.match).get("eth_dst") == h1.mac or dict(f.match).get("ipv4_dst") == h1.ip
        or dict(f.match).get("arp_tpa") == h1.ip for f in deleted)
    h3 = planner.facts.host("h3")
    net = FakeNet(planner.facts, planner.plans, planner.down)
    (t,) = net.send_from("h3", ip_packet(h3, h1))
    assert t.fate == "dropped"


def test_ports_reported_marks_missing_ports_down():
    planner = Planner(facts_from_dict(leaf_spine_facts(2, 2, 2)))
    dpid = planner.facts.switch("kntst-l2").dpid
    planner.ports_reported(dpid, [1, 2, 3])  # port 4 (to spine 2) absent
    assert planner.down == {("kntst-l2", 4)}
    planner.ports_reported(dpid, [1, 2, 3, 4])
    assert planner.down == frozenset()


def test_partitioned_leaf_gets_no_dead_end_flows():
    doc = leaf_spine_facts(1, 2, 1)
    down = {("kntst-l2", 2)}
    facts, net = net_for(doc, down)
    plan = build_plan(facts, down)
    assert plan["kntst-l1"].groups == {}
    (t,) = net.send_from("h1", ip_packet(facts.host("h1"), facts.host("h2")))
    assert t.fate == "dropped" and t.at == "kntst-l1"


def test_no_action_rewrites_ip_addresses_or_ports():
    doc = leaf_spine_facts(2, 3, 2)
    doc["routes"] = [{"prefix": "10.244.1.0/24", "via": "h1"}]
    facts = facts_from_dict(doc)
    for plan in build_plan(facts).values():
        actions = [a for f in plan.flows.values() for a in f.actions
                   if dict(f.match).get("eth_type") != 0x0806]  # ARP replies are built
        actions += [a for g in plan.groups.values() for b in g.buckets for a in b.actions]
        assert {a.name for a in actions if isinstance(a, SetField)} <= {
            "eth_src", "eth_dst", "vlan_vid", "in_port"}  # tag and port: spine detours


def test_routed_between_subnets_ttl_per_hop_ips_untouched():
    doc = leaf_spine_facts(2, 2, 2)
    doc["hosts"].append({"name": "ext", "ip": "10.1.0.1", "prefixlen": 24,
                         "mac": "02:4b:01:00:00:01", "switch": "kntst-l2", "port": 9})
    doc["gateways"].append({"ip": "10.1.0.254", "prefixlen": 24, "mac": "02:4b:ff:00:00:02"})
    facts, net = net_for(doc)
    h1, ext = facts.host("h1"), facts.host("ext")
    for choose in ("all", "hash"):
        traces = net.send_from("h1", ip_packet(h1, ext, eth_dst=GW_MAC), choose=choose)
        assert traces and all(t.fate == "delivered" and t.at == "ext" for t in traces)
        for t in traces:
            assert (t.packet["ipv4_src"], t.packet["ipv4_dst"]) == (h1.ip, ext.ip)
            assert (t.packet["l4_src"], t.packet["l4_dst"]) == (40000, 80)
            # every switch on the way is a routed hop: leaf, spine, leaf
            assert t.packet["eth_src"] == router_mac(facts, "kntst-l2")
            assert t.packet["eth_dst"] == ext.mac
            assert t.packet["ttl"] == 61 and t.ttl_decrements == 3
    back = net.send_from("ext", ip_packet(ext, h1, eth_dst="02:4b:ff:00:00:02"))
    assert back[0].fate == "delivered" and back[0].packet["eth_src"] == router_mac(
        facts, "kntst-l1")


def test_ttl_of_one_is_not_routed():
    doc = leaf_spine_facts(2, 2, 1)
    facts, net = net_for(doc)
    pkt = ip_packet(facts.host("h1"), facts.host("h2"), eth_dst=GW_MAC)
    (t,) = net.send_from("h1", dict(pkt, ttl=1))
    assert t.fate == "ttl"


def test_pod_cidr_routes_cross_fabric_and_are_replaceable():
    doc = leaf_spine_facts(2, 2, 2)
    doc["routes"] = [{"prefix": "10.244.3.0/24", "via": "h3"}]
    planner = Planner(facts_from_dict(doc))
    facts = planner.facts
    h1, h3, h4 = facts.host("h1"), facts.host("h3"), facts.host("h4")
    pod = {"eth_src": h1.mac, "eth_dst": GW_MAC, "eth_type": 0x0800, "ipv4_src": "10.244.1.5",
           "ipv4_dst": "10.244.3.7", "ip_proto": 17, "l4_src": 5000, "l4_dst": 53, "ttl": 64}
    traces = FakeNet(facts, planner.plans).send_from("h1", pod, choose="all")
    assert len(traces) == 2 and all(t.at == "h3" for t in traces)
    assert all(t.packet["ipv4_src"] == "10.244.1.5" and t.packet["ttl"] == 61 for t in traces)
    assert {t.switches[1] for t in traces} == {"kntst-s1", "kntst-s2"}
    # Node h3 leaves, h4 (same leaf) takes its block: only the last hop's entry changes;
    # the first leaf and the spines still route it towards leaf 2.
    changes = planner.set_routes([Route("10.244.3.0/24", "h4")])
    assert changes and all(not c.add_groups and not c.delete_flows for c in changes)
    assert {c.dpid for c in changes} == {facts.switch("kntst-l2").dpid}
    (t,) = FakeNet(facts, planner.plans).send_from("h1", pod)
    assert t.at == "h4" and t.packet["eth_dst"] == h4.mac
    planner.set_routes([])
    (t,) = FakeNet(facts, planner.plans).send_from("h1", pod)
    assert t.fate == "dropped"
    assert h3  # still a host, merely not a route target


def test_longest_prefix_wins_and_host_route_beats_prefix():
    doc = leaf_spine_facts(1, 2, 2)
    doc["routes"] = [{"prefix": "10.244.0.0/16", "via": "h1"},
                     {"prefix": "10.244.2.0/24", "via": "h4"},
                     {"prefix": "10.0.0.3/32", "via": "h1"}]
    facts, net = net_for(doc)
    h2 = facts.host("h2")
    base = {"eth_src": h2.mac, "eth_dst": GW_MAC, "eth_type": 0x0800, "ipv4_src": h2.ip,
            "ttl": 64}
    assert net.send_from("h2", dict(base, ipv4_dst="10.244.2.9"))[0].at == "h4"
    assert net.send_from("h2", dict(base, ipv4_dst="10.244.7.9"))[0].at == "h1"
    assert net.send_from("h2", dict(base, ipv4_dst="10.0.0.3"))[0].at == "h3"


def test_arp_goes_to_controller_and_unknown_traffic_is_dropped():
    facts, net = net_for(leaf_spine_facts(2, 2, 1))
    h1 = facts.host("h1")
    (t,) = net.send_from("h1", {"eth_src": h1.mac, "eth_dst": "ff:ff:ff:ff:ff:ff",
                                "eth_type": 0x0806})
    assert (t.fate, t.at) == ("controller", "kntst-l1")
    (t,) = net.send_from("h1", {"eth_src": h1.mac, "eth_dst": "33:33:00:00:00:01",
                                "eth_type": 0x86DD})
    assert t.fate == "dropped"
    (t,) = net.send_from("h1", {"eth_src": h1.mac, "eth_dst": "02:4b:00:00:00:77",
                                "eth_type": 0x0800, "ipv4_src": h1.ip, "ipv4_dst": "10.0.0.77"})
    assert t.fate == "dropped"


def test_group_ids_stable_and_spines_route_too():
    facts = facts_from_dict(leaf_spine_facts(2, 3, 1))
    plans = build_plan(facts)
    # towards l2 and l3 (indexes 4, 5), bridged and routed
    assert {g for g in plans["kntst-l1"].groups if g < FF_GROUP_BASE} == {
        4, 5, 0x10004, 0x10005}
    # a spine is a routed hop too: one table-1 entry per host /32 (no routes here)
    routes = [f for f in plans["kntst-s1"].flows.values() if f.table == 1 and f.priority > 0]
    assert len(routes) == len(facts.hosts)


@settings(max_examples=40, deadline=None)
@given(spines=st.integers(1, 3), leaves=st.integers(2, 4), data=st.data())
def test_random_failures_never_used_and_connected_pairs_reach(spines, leaves, data):
    doc = leaf_spine_facts(spines, leaves, 1)
    facts = facts_from_dict(doc)
    ports = sorted((ln.a, ln.a_port) for ln in facts.links)
    down = frozenset(data.draw(st.sets(st.sampled_from(ports), max_size=len(ports))))
    net = FakeNet(facts, build_plan(facts, down), down)
    topo = Topology(facts, down)
    for a, b in itertools.permutations(facts.hosts, 2):
        traces = net.send_from(a.name, ip_packet(a, b), choose="all")
        assert not any(t.used_port(p) for t in traces for p in down)
        if a.switch in topo.distances_to(b.switch):
            hops = topo.distances_to(b.switch)[a.switch] + 1
            assert all(t.fate == "delivered" and len(t.switches) == hops for t in traces)
        else:
            assert all(t.fate == "dropped" for t in traces)


def ring_facts(n):
    """n switches in a ring, one host each: port 1 host, 2 clockwise, 3 anticlockwise."""
    sws = [{"name": f"r{i}", "dpid": i + 1, "role": "edge"} for i in range(n)]
    links = [{"a": f"r{i}", "a_port": 2, "b": f"r{(i + 1) % n}", "b_port": 3} for i in range(n)]
    hosts = [{"name": f"h{i}", "ip": f"10.0.1.{i + 1}", "prefixlen": 16,
              "mac": f"02:4b:00:00:01:{i + 1:02x}", "switch": f"r{i}", "port": 1}
             for i in range(n)]
    return {"switches": sws, "links": links, "hosts": hosts}


@pytest.mark.parametrize("n", [3, 4, 5])
def test_ring_takes_shortest_ways_only_and_splits_on_ties(n):
    facts, net = net_for(ring_facts(n))
    for a, b in itertools.permutations(facts.hosts, 2):
        i, j = int(a.switch[1:]), int(b.switch[1:])
        hops = min((i - j) % n, (j - i) % n) + 1
        traces = net.send_from(a.name, ip_packet(a, b), choose="all")
        assert traces and all(t.fate == "delivered" and len(t.switches) == hops for t in traces)
        tie = (i - j) % n == (j - i) % n
        assert len(traces) == (2 if tie else 1)


def test_routed_back_to_its_sender_hairpins_and_bridged_never_does():
    doc = leaf_spine_facts(2, 2, 2)
    doc["routes"] = [{"prefix": "10.244.1.0/24", "via": "h1"}]
    facts, net = net_for(doc)
    h1 = facts.host("h1")
    pkt = {"eth_src": h1.mac, "eth_dst": GW_MAC, "eth_type": 0x0800, "ipv4_src": h1.ip,
           "ipv4_dst": "10.244.1.9", "ttl": 64}
    (t,) = net.send_from("h1", pkt)
    assert (t.fate, t.at, t.packet["ttl"]) == ("delivered", "h1", 63)
    (t,) = net.send_from("h1", dict(pkt, eth_dst=h1.mac, ipv4_dst=h1.ip))
    assert t.at == "h1" and t.packet["ttl"] == 64  # a frame to itself comes back unrouted


# Found by the test above: l1 and l2 each keep one uplink, to different spines, and no
# single bounce joins them; the way round crosses two more leaves.
FAR_APART = frozenset({("kntst-l1", 2), ("kntst-l1", 4), ("kntst-l2", 3), ("kntst-l2", 4),
                       ("kntst-l3", 3), ("kntst-l4", 2)})


@pytest.mark.parametrize("routed", [False, True])
def test_a_spine_with_neither_link_nor_bounce_left_sends_the_live_way_round(routed):
    facts, net = net_for(leaf_spine_facts(3, 4, 1), FAR_APART)
    h1, h2 = facts.host("h1"), facts.host("h2")
    for a, b in ((h1, h2), (h2, h1)):
        traces = net.send_from(a.name, ip_packet(a, b, eth_dst=GW_MAC if routed else None),
                               choose="all")
        assert traces and all(t.fate == "delivered" and t.at == b.name for t in traces)
        # l1 s2 l4 s3 l3 s1 l2 (or back): s3 bounces off l3 to s1, the rest is plain
        assert all(len(t.switches) == 7 for t in traces)
        assert not any(t.used_port(p) for t in traces for p in FAR_APART)


@settings(max_examples=40, deadline=None)
@given(spines=st.integers(1, 3), leaves=st.integers(2, 4), data=st.data())
def test_random_failures_routed_packets_reach_every_connected_host(spines, leaves, data):
    doc = leaf_spine_facts(spines, leaves, 1)
    facts = facts_from_dict(doc)
    ports = sorted((ln.a, ln.a_port) for ln in facts.links)
    down = frozenset(data.draw(st.sets(st.sampled_from(ports), max_size=len(ports))))
    net = FakeNet(facts, build_plan(facts, down), down)
    topo = Topology(facts, down)
    for a, b in itertools.permutations(facts.hosts, 2):
        if a.switch not in topo.distances_to(b.switch):
            continue
        traces = net.send_from(a.name, ip_packet(a, b, eth_dst=GW_MAC), choose="all")
        assert traces and all(t.fate == "delivered" and t.at == b.name for t in traces)
