"""Compute what every switch should hold, from facts, down ports and routes."""

from __future__ import annotations

import dataclasses
import ipaddress
from typing import AbstractSet, Iterable, Optional

from k8snet.fabric import detour
from k8snet.fabric.arp import ARP_REPLY, ARP_REQUEST, ArpTarget, responder_targets
from k8snet.fabric.facts import Facts, Gateway, Host, Route
from k8snet.fabric.specs import (
    COOKIE_ARP,
    COOKIE_ARP_REPLY,
    COOKIE_CLASSIFY,
    COOKIE_FORWARD,
    COOKIE_HOST_ROUTE,
    COOKIE_MISS,
    COOKIE_POD_ROUTE,
    COOKIE_PREFIX_ROUTE,
    ETH_TYPE_ARP,
    ETH_TYPE_IPV4,
    PORT_IN,
    TABLE_CLASSIFY,
    TABLE_FORWARD,
    TABLE_ROUTE,
    Bucket,
    DecTtl,
    FlowSpec,
    GroupSpec,
    Move,
    Output,
    SetField,
    SwitchPlan,
    ToController,
    ToGroup,
    flow,
)
from k8snet.fabric.topology import Hop, Port, Topology

PRIO_MISS = 0
PRIO_ARP = 300  # what no responder answers: to the controller (never flooded)
PRIO_ARP_REPLY = 310  # the responder: the switch answers
PRIO_ARP_GRATUITOUS = 320  # a host announcing itself is not answered
PRIO_TO_ROUTER = 200
PRIO_BRIDGED = 100
PRIO_ROUTE_BASE = 100  # + prefix length: longest prefix wins
PRIO_HOST = 100
PRIO_HAIRPIN = 110  # a routed packet for a prefix behind its own sender goes back out
ROUTE_GROUP_BASE = 0x10000  # routed ECMP groups: ROUTE_GROUP_BASE + switch index
ROUTER_MAC_PREFIX = "02:4b:fe"  # reserved: router MACs are 02:4b:fe:<24-bit switch index>


def switch_index(facts: Facts, switch: str) -> int:
    """The 1-based position of ``switch`` in the facts (stable across events)."""
    return 1 + [s.name for s in facts.switches].index(switch)


def group_id(facts: Facts, switch: str) -> int:
    """Stable SELECT group id for 'bridged, towards switch ``switch``'."""
    return switch_index(facts, switch)


def route_group_id(facts: Facts, switch: str) -> int:
    """Stable SELECT group id for 'routed, towards switch ``switch``' (buckets set
    ``eth_dst`` to the next switch's router MAC)."""
    return ROUTE_GROUP_BASE + switch_index(facts, switch)


def router_mac(facts: Facts, switch: str) -> str:
    """The MAC a switch uses as a router: source of what it routes, destination of
    what the previous routed hop sends it."""
    i = switch_index(facts, switch)
    return f"{ROUTER_MAC_PREFIX}:{i >> 16 & 0xFF:02x}:{i >> 8 & 0xFF:02x}:{i & 0xFF:02x}"


def _common_flows(facts: Facts, switch: str) -> list[FlowSpec]:
    flows = [flow(t, PRIO_MISS, {}, cookie=COOKIE_MISS)
             for t in (TABLE_CLASSIFY, TABLE_ROUTE, TABLE_FORWARD)]
    flows.append(flow(TABLE_CLASSIFY, PRIO_ARP, {"eth_type": ETH_TYPE_ARP},
                      (ToController(),), cookie=COOKIE_ARP))
    flows.append(flow(TABLE_CLASSIFY, PRIO_BRIDGED, {"eth_type": ETH_TYPE_IPV4},
                      goto=TABLE_FORWARD, cookie=COOKIE_CLASSIFY))
    if not facts.gateways:
        return flows
    for mac in [gw.mac for gw in facts.gateways] + [router_mac(facts, switch)]:
        flows.append(flow(TABLE_CLASSIFY, PRIO_TO_ROUTER,
                          {"eth_type": ETH_TYPE_IPV4, "eth_dst": mac},
                          goto=TABLE_ROUTE, cookie=COOKIE_CLASSIFY))
    return flows


def _net_match(net: ipaddress.IPv4Network) -> object:
    return str(net.network_address) if net.prefixlen == 32 else (
        str(net.network_address), str(net.netmask))


def _arp_responder(targets: Iterable[ArpTarget]) -> list[FlowSpec]:
    """Table 0 entries that answer ARP in the switch, as Antrea's ARP responder does:
    a request for a target from inside its subnet is rewritten into the reply (the
    requester's addresses moved to the target fields, the target's written as
    sender) and sent back out of the port it came in by. Gratuitous requests (sender
    = target) are left to the catch-all, as :func:`k8snet.fabric.arp.answer` does."""
    flows = []
    for t in targets:
        base = {"eth_type": ETH_TYPE_ARP, "arp_op": ARP_REQUEST, "arp_tpa": t.ip}
        flows.append(flow(TABLE_CLASSIFY, PRIO_ARP_GRATUITOUS, dict(base, arp_spa=t.ip),
                          (ToController(),), cookie=COOKIE_ARP))
        reply = (Move("eth_src", "eth_dst", 48), SetField("eth_src", t.mac),
                 SetField("arp_op", ARP_REPLY),
                 Move("arp_sha", "arp_tha", 48), SetField("arp_sha", t.mac),
                 Move("arp_spa", "arp_tpa", 32), SetField("arp_spa", t.ip),
                 Output(PORT_IN))
        first = (ToController(),) if t.tell_controller else ()
        flows.append(flow(TABLE_CLASSIFY, PRIO_ARP_REPLY,
                          dict(base, arp_spa=_net_match(t.network)), first + reply,
                          cookie=COOKIE_ARP_REPLY))
    return flows


Dest = tuple[Host, int, str]  # (host behind the prefix, cookie, MAC the last hop sends to)


def _destinations(live: dict[str, Host],
                  routes: Iterable[Route]) -> dict[ipaddress.IPv4Network, Dest]:
    """Routed prefix -> (host behind it, cookie, last-hop MAC). Host /32s win over a
    route for the same /32; routes via hosts that are not attached are left out. A
    route with a ``mac`` (a macvlan Pod) is delivered to that MAC, not the host's."""
    out: dict[ipaddress.IPv4Network, Dest] = {}
    for route in routes:
        via = live.get(route.via)
        if via is not None:
            cookie = COOKIE_POD_ROUTE if route.mac else COOKIE_PREFIX_ROUTE
            out[ipaddress.IPv4Network(route.prefix)] = (via, cookie, route.mac or via.mac)
    for host in live.values():
        out[ipaddress.IPv4Network(host.ip)] = (host, COOKIE_HOST_ROUTE, host.mac)
    return out


def _route_match(prefix: ipaddress.IPv4Network) -> dict:
    return {"eth_type": ETH_TYPE_IPV4, "ipv4_dst": _net_match(prefix)}


def _routing(facts: Facts, switch: str, dests: dict, next_hops: dict,
             groups: dict[int, GroupSpec]) -> list[FlowSpec]:
    """Table 1 of one switch: every switch is a routed hop (Calico on an L3 fabric).

    Last hop (the prefix's host is on this switch): rewrite MACs, decrement the
    TTL, hand to table 2, which outputs to the host (or hairpins). Any other
    hop: source MAC and TTL here, then a routed SELECT group whose buckets set
    the next switch's router MAC and output on an equal-cost port. Adds the
    groups it uses to ``groups``."""
    me = router_mac(facts, switch)
    flows = []
    for prefix, (via, cookie, mac) in dests.items():
        prio = PRIO_ROUTE_BASE + prefix.prefixlen
        if via.switch == switch and mac != via.mac:
            # A macvlan Pod: straight out of its node's port (table 2 knows host MACs
            # only). Its own node reaches it through a macvlan shim, never via the
            # fabric, so no hairpin entry is needed: one entry per Pod per switch.
            flows.append(flow(TABLE_ROUTE, prio, _route_match(prefix),
                              (SetField("eth_src", me), SetField("eth_dst", mac), DecTtl(),
                               Output(via.port)), cookie=cookie))
            continue
        if via.switch == switch:
            flows.append(flow(TABLE_ROUTE, prio, _route_match(prefix),
                              (SetField("eth_src", me), SetField("eth_dst", mac), DecTtl()),
                              goto=TABLE_FORWARD, cookie=cookie))
            continue
        hops = next_hops.get((switch, via.switch))
        if not hops:
            continue  # cut off from that switch: drop here rather than into a dead end
        gid = route_group_id(facts, via.switch)
        groups[gid] = GroupSpec(gid, tuple(
            Bucket(h.port, (SetField("eth_dst", router_mac(facts, h.peer)), Output(h.port)))
            for h in hops))
        flows.append(flow(TABLE_ROUTE, prio, _route_match(prefix),
                          (SetField("eth_src", me), DecTtl(), ToGroup(gid)), cookie=cookie))
    return flows


def _buckets(hops: tuple[Hop, ...]) -> tuple[Bucket, ...]:
    return tuple(Bucket(h.port, (Output(h.port),)) for h in hops)


def _with_failover(facts: Facts, whole: Topology, live: Topology, switch: str,
                   hosts: list[Host], flows: list[FlowSpec], groups: dict[int, GroupSpec]
                   ) -> tuple[list[FlowSpec], dict[int, GroupSpec]]:
    """Spines send to adjacent leaves through fast-failover groups that detour around a
    cut link; leaves pass detoured packets on (:mod:`k8snet.fabric.detour`). Groups no
    entry uses any more are left out.

    Which failover groups and entries exist follows ``whole`` (every link up): they do
    not change when a link goes down (their buckets watch the ports), so the
    controller's replan after a cut only modifies groups (atomically: the leaves' ECMP
    groups drop the dead spine) and never pulls a detour from under packets using it.
    Detour buckets follow ``live``, so a known second failure is not detoured into."""
    macs = {s.name: router_mac(facts, s.name) for s in facts.switches}
    ff_groups, remap, spine_flows = detour.spine_groups(facts, whole, live, switch, hosts,
                                                        macs)
    leaf_groups, leaf_flows = detour.leaf_detours(facts, whole, live, switch, hosts, macs)
    if remap:
        flows = [dataclasses.replace(f, actions=tuple(
            ToGroup(remap.get(a.group_id, a.group_id)) if isinstance(a, ToGroup) else a
            for a in f.actions)) for f in flows]
    flows = flows + spine_flows + leaf_flows
    groups = {**groups, **ff_groups, **leaf_groups}
    used = {a.group_id for f in flows for a in f.actions if isinstance(a, ToGroup)}
    return flows, {gid: g for gid, g in groups.items() if gid in used}


def build_plan(facts: Facts, down: AbstractSet[Port] = frozenset(),
               routes: Optional[Iterable[Route]] = None,
               pod_gateways: Iterable[Gateway] = ()) -> dict[str, SwitchPlan]:
    """The desired content of every switch, keyed by switch name.

    ``routes`` defaults to the facts' routes. Hosts behind down ports, routes
    via such hosts, and switches cut off from the rest get no entries: their
    traffic is dropped instead of sent into a dead end. Switches with hosts
    answer ARP for gateways, ``pod_gateways`` (macvlan mode) and attached hosts.
    """
    topo = Topology(facts, down)
    whole = topo if not down else Topology(facts)
    next_hops = topo.next_hops()
    live = {h.name: h for h in topo.live_hosts()}
    dests = _destinations(live, facts.routes if routes is None else routes)
    responder = _arp_responder(responder_targets(facts, down, pod_gateways))
    edge = {h.switch for h in facts.hosts}
    plans = {}
    for sw in facts.switches:
        flows = _common_flows(facts, sw.name)
        if sw.name in edge:
            flows += responder
        groups: dict[int, GroupSpec] = {}
        if facts.gateways:
            flows += _routing(facts, sw.name, dests, next_hops, groups)
        for host in live.values():
            match = {"eth_type": ETH_TYPE_IPV4, "eth_dst": host.mac}
            if host.switch == sw.name:
                action = Output(host.port)
                flows.append(flow(TABLE_FORWARD, PRIO_HAIRPIN, dict(match, in_port=host.port),
                                  (Output(PORT_IN),), cookie=COOKIE_FORWARD))
            else:
                hops = next_hops.get((sw.name, host.switch))
                if not hops:
                    continue
                gid = group_id(facts, host.switch)
                groups[gid] = GroupSpec(gid, _buckets(hops))
                action = ToGroup(gid)
            flows.append(flow(TABLE_FORWARD, PRIO_HOST, match, (action,), cookie=COOKIE_FORWARD))
        flows, groups = _with_failover(facts, whole, topo, sw.name, list(live.values()),
                                       flows, groups)
        plans[sw.name] = SwitchPlan.of(flows, list(groups.values()))
    return plans
