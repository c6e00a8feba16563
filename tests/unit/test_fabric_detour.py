"""Spine link failover in the switches alone (k8snet.fabric.detour): with the plan made
before a cut and never replanned (a dead or slow controller), every cross-leaf packet,
bridged or routed, on every ECMP path, still arrives, untagged, without a loop."""

import itertools

import pytest

from k8snet.fabric.detour import DETOUR_VID, VLAN_PRESENT
from k8snet.fabric.facts import facts_from_dict
from k8snet.fabric.fakenet import FakeNet
from k8snet.fabric.plan import build_plan
from k8snet.fabric.sample import leaf_spine_facts
from k8snet.fabric.specs import GROUP_FAST_FAILOVER, ToGroup

GW_MAC = "02:4b:ff:00:00:01"


def facts_with_routes(spines, leaves):
    doc = leaf_spine_facts(spines, leaves, 1)
    doc["routes"] = [{"prefix": f"10.244.{i}.0/24", "via": h["name"]}
                     for i, h in enumerate(doc["hosts"], 1)]
    return facts_from_dict(doc)


def packets(facts, a, b):
    """Bridged node-to-node, and routed Pod-to-Pod (to the gateway MAC)."""
    ha, hb = facts.host(a), facts.host(b)
    base = {"eth_src": ha.mac, "eth_type": 0x0800, "ipv4_src": ha.ip, "ip_proto": 17,
            "l4_src": 4000, "l4_dst": 53, "ttl": 64}
    pod = next(r.prefix for r in facts.routes if r.via == b).replace("0/24", "9")
    return [dict(base, eth_dst=hb.mac, ipv4_dst=hb.ip), dict(base, eth_dst=GW_MAC, ipv4_dst=pod)]


def link_down(facts, leaf, spine):
    ln = next(ln for ln in facts.links if {ln.a, ln.b} == {leaf, spine})
    return {(ln.a, ln.a_port), (ln.b, ln.b_port)}


def every_pair_arrives(facts, plans, down):
    net = FakeNet(facts, plans, down)
    names = [h.name for h in facts.hosts]
    for a, b in itertools.permutations(names, 2):
        for pkt in packets(facts, a, b):
            traces = net.send_from(a, pkt, choose="all")
            assert traces and all(t.fate == "delivered" and t.at == b for t in traces), (
                a, b, pkt["eth_dst"], [(t.fate, t.at, t.switches) for t in traces])
            assert all("vlan_vid" not in t.packet for t in traces)


@pytest.mark.parametrize("spines, leaves", [(2, 2), (2, 4), (3, 3)])
def test_a_cut_spine_link_is_detoured_before_any_replan(spines, leaves):
    facts = facts_with_routes(spines, leaves)
    plans = build_plan(facts)
    for leaf, spine in itertools.product(range(1, leaves + 1), range(1, spines + 1)):
        every_pair_arrives(facts, plans, link_down(facts, f"kntst-l{leaf}", f"kntst-s{spine}"))


def test_a_leaf_cut_from_two_of_three_spines_never_loops():
    """One detour per packet: a second dead link on the detour drops it (until the
    controller replans), never sends it round again."""
    facts = facts_with_routes(3, 3)
    plans = build_plan(facts)
    down = link_down(facts, "kntst-l1", "kntst-s1") | link_down(facts, "kntst-l1", "kntst-s2")
    net = FakeNet(facts, plans, down)
    fates = []
    for a, b in itertools.permutations([h.name for h in facts.hosts], 2):
        for pkt in packets(facts, a, b):
            for t in net.send_from(a, pkt, choose="all"):  # raises on a forwarding loop
                assert t.fate in ("delivered", "dropped") and len(t.switches) <= 5
                assert "vlan_vid" not in t.packet or t.fate == "dropped"
                fates.append(t.fate)
    assert "delivered" in fates


def test_the_detour_bounces_off_a_leaf_once():
    facts = facts_with_routes(2, 3)
    net = FakeNet(facts, build_plan(facts), link_down(facts, "kntst-l3", "kntst-s1"))
    traces = net.send_from("h1", packets(facts, "h1", "h3")[0], choose="all")
    paths = sorted(t.switches for t in traces)
    # straight over spine 2, or over spine 1, bounced off the first other leaf (here the
    # sender's own: back out of the port it came in by), then spine 2
    assert paths == [["kntst-l1", "kntst-s1", "kntst-l1", "kntst-s2", "kntst-l3"],
                     ["kntst-l1", "kntst-s2", "kntst-l3"]]
    assert all((t.fate, t.at) == ("delivered", "h3") for t in traces)


def test_only_spine_leaf_fabrics_get_failover_groups():
    facts = facts_with_routes(2, 2)
    plans = build_plan(facts)
    spine = plans["kntst-s1"]
    ff = [g for g in spine.groups.values() if g.type == GROUP_FAST_FAILOVER]
    assert len(ff) == 4  # bridged and routed, for each of the two leaves
    assert all(b.watch_port for g in ff for b in g.buckets)
    entries = [f for f in spine.flows.values() if f.table in (1, 2) and f.priority > 0]
    used = {a.group_id for f in entries for a in f.actions if isinstance(a, ToGroup)}
    assert used == {g.group_id for g in ff}
    tagged = [f for f in spine.flows.values()
              if dict(f.match).get("vlan_vid") == VLAN_PRESENT | DETOUR_VID]
    assert len(tagged) == 2 * 2  # each leaf: its host and its router MAC
    single = facts_from_dict(leaf_spine_facts(1, 1, 2))  # one spine, one leaf: no detour
    assert not [g for p in build_plan(single).values() for g in p.groups.values()
                if g.type == GROUP_FAST_FAILOVER]
