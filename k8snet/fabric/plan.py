"""Compute what every switch should hold, from facts, down ports and routes."""

from __future__ import annotations

import ipaddress
from typing import AbstractSet, Iterable, Optional

from k8snet.fabric.facts import Facts, Gateway, Host, Route
from k8snet.fabric.specs import (
    COOKIE_ARP,
    COOKIE_CLASSIFY,
    COOKIE_FORWARD,
    COOKIE_HOST_ROUTE,
    COOKIE_MISS,
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
    Output,
    SetField,
    SwitchPlan,
    ToController,
    ToGroup,
    flow,
)
from k8snet.fabric.topology import Hop, Port, Topology

PRIO_MISS = 0
PRIO_ARP = 300
PRIO_TO_ROUTER = 200
PRIO_BRIDGED = 100
PRIO_ROUTE_BASE = 100  # + prefix length: longest prefix wins
PRIO_HOST = 100
PRIO_HAIRPIN = 110  # a routed packet for a prefix behind its own sender goes back out


def group_id(facts: Facts, switch: str) -> int:
    """Stable SELECT group id for 'towards switch ``switch``' (its 1-based index)."""
    return 1 + [s.name for s in facts.switches].index(switch)


def gateway_for(facts: Facts, ip: str) -> Optional[Gateway]:
    """The gateway of the subnet holding ``ip`` (first gateway if none holds it)."""
    addr = ipaddress.IPv4Address(ip)
    for gw in facts.gateways:
        if addr in gw.network:
            return gw
    return facts.gateways[0] if facts.gateways else None


def _common_flows(facts: Facts) -> list[FlowSpec]:
    flows = [flow(t, PRIO_MISS, {}, cookie=COOKIE_MISS)
             for t in (TABLE_CLASSIFY, TABLE_ROUTE, TABLE_FORWARD)]
    flows.append(flow(TABLE_CLASSIFY, PRIO_ARP, {"eth_type": ETH_TYPE_ARP},
                      (ToController(),), cookie=COOKIE_ARP))
    flows.append(flow(TABLE_CLASSIFY, PRIO_BRIDGED, {"eth_type": ETH_TYPE_IPV4},
                      goto=TABLE_FORWARD, cookie=COOKIE_CLASSIFY))
    for gw in facts.gateways:
        flows.append(flow(TABLE_CLASSIFY, PRIO_TO_ROUTER,
                          {"eth_type": ETH_TYPE_IPV4, "eth_dst": gw.mac},
                          goto=TABLE_ROUTE, cookie=COOKIE_CLASSIFY))
    return flows


def _route_flow(facts: Facts, prefix: ipaddress.IPv4Network, via: Host, cookie: int) -> FlowSpec:
    gw = gateway_for(facts, via.ip)
    assert gw is not None
    dst = str(prefix.network_address) if prefix.prefixlen == 32 else (
        str(prefix.network_address), str(prefix.netmask))
    return flow(TABLE_ROUTE, PRIO_ROUTE_BASE + prefix.prefixlen,
                {"eth_type": ETH_TYPE_IPV4, "ipv4_dst": dst},
                (SetField("eth_src", gw.mac), SetField("eth_dst", via.mac), DecTtl()),
                goto=TABLE_FORWARD, cookie=cookie)


def _routing_flows(facts: Facts, live: dict[str, Host], routes: Iterable[Route]) -> list[FlowSpec]:
    if not facts.gateways:
        return []
    flows = {}
    for route in routes:
        via = live.get(route.via)
        if via is not None:
            f = _route_flow(facts, ipaddress.IPv4Network(route.prefix), via, COOKIE_PREFIX_ROUTE)
            flows[f.key] = f
    for host in live.values():  # host /32s last: they win over a route for the same /32
        f = _route_flow(facts, ipaddress.IPv4Network(host.ip), host, COOKIE_HOST_ROUTE)
        flows[f.key] = f
    return list(flows.values())


def _buckets(hops: tuple[Hop, ...]) -> tuple[Bucket, ...]:
    return tuple(Bucket(h.port, (Output(h.port),)) for h in hops)


def build_plan(facts: Facts, down: AbstractSet[Port] = frozenset(),
               routes: Optional[Iterable[Route]] = None) -> dict[str, SwitchPlan]:
    """The desired content of every switch, keyed by switch name.

    ``routes`` defaults to the facts' routes. Hosts behind down ports, routes
    via such hosts, and switches cut off from the rest get no entries: their
    traffic is dropped instead of sent into a dead end.
    """
    topo = Topology(facts, down)
    next_hops = topo.next_hops()
    live = {h.name: h for h in topo.live_hosts()}
    common = _common_flows(facts)
    routing = _routing_flows(facts, live, facts.routes if routes is None else routes)
    with_hosts = {h.switch for h in facts.hosts}  # only these can see a frame to a gateway
    plans = {}
    for sw in facts.switches:
        flows = list(common) + (routing if sw.name in with_hosts else [])
        groups: dict[int, GroupSpec] = {}
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
        plans[sw.name] = SwitchPlan.of(flows, list(groups.values()))
    return plans
