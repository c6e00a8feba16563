"""Render compiled policy as OpenFlow flows with conjunctive matches, for the fabric.

In macvlan mode Pod packets never cross their node's kernel, so the fabric
enforces policy, the way Antrea does in OVS. Three tables sit in front of
the fabric's routing table:

- ``TABLE_CT``: every IPv4 packet goes through conntrack (``ct(table=POLICY_EGRESS)``);
- ``TABLE_EGRESS``: established/related packets go straight to routing, invalid
  ones are dropped; a packet from an egress-isolated Pod goes on to
  ``TABLE_INGRESS`` only if a conjunction of one of its rules matches
  (clause 1: the source is one of the Pods the rule applies to; clause 2: the
  destination is one of its peers; clause 3: protocol and port), else a
  per-Pod drop catches it;
- ``TABLE_INGRESS``: the same for the destination's ingress rules; an allowed
  packet is committed to conntrack (so its replies are established) and sent
  to routing.

One conjunction stands for one compiled rule shared by every Pod it applies
to, so the flow count grows with Pods + peers + ports, not their product.
ipBlock exceptions become the CIDRs left after removing them; port ranges
become value/mask pairs. Pure: the controller translates these specs.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Iterable, Optional

from k8snet.fabric.specs import ETH_TYPE_IPV4, FlowSpec, flow
from k8snet.policy.compile import Allow, PodRules, PortRange
from k8snet.policy.model import EGRESS, INGRESS

TABLE_CT, TABLE_EGRESS, TABLE_INGRESS = 10, 11, 12
COOKIE_POLICY = 0x4B38_0000_0000_0010
IP_PROTO = {"TCP": 6, "UDP": 17, "SCTP": 132}
PORT_FIELD = {"TCP": "tcp_dst", "UDP": "udp_dst", "SCTP": "sctp_dst"}
CT_TRACKED, CT_ESTABLISHED, CT_RELATED, CT_INVALID = 0x20, 0x02, 0x04, 0x10
PRIO_STATE, PRIO_ALLOW, PRIO_DROP, PRIO_PASS = 200, 100, 10, 0
PRIO_KNOWN, PRIO_UNKNOWN = 6, 5   # a known Pod passes; any other address of a Pod block drops


@dataclass(frozen=True)
class Conjunction:
    """Nicira's conjunction action: this flow is clause ``clause`` of ``n_clauses``."""

    conj_id: int
    clause: int
    n_clauses: int


@dataclass(frozen=True)
class Ct:
    """Nicira's ct action: send through conntrack (``commit`` it), continue at ``table``."""

    commit: bool = False
    table: Optional[int] = None
    zone: int = 1


@dataclass(frozen=True)
class Resubmit:
    """Nicira's resubmit: look the packet up again in ``table`` (which, unlike
    goto_table, may be an earlier table: the fabric's classifier is table 0)."""

    table: int


def _onward(table: int, route_table: int) -> tuple[tuple, Optional[int]]:
    """(actions, goto) that continue at ``route_table`` from ``table``."""
    if route_table > table:
        return (), route_table
    return (Resubmit(route_table),), None


def port_masks(first: int, last: int) -> list[tuple[int, int]]:
    """(value, mask) pairs that cover exactly first..last."""
    out = []
    while first <= last:
        size = 1
        while first % (size * 2) == 0 and first + size * 2 - 1 <= last and size < 65536:
            size *= 2
        out.append((first, 0xFFFF & ~(size - 1)))
        first += size
    return out


def block_cidrs(cidr: str, excepts: Iterable[str]) -> list[str]:
    """The CIDRs of ``cidr`` minus its exceptions."""
    nets = [ipaddress.ip_network(cidr, strict=False)]
    for item in excepts:
        ex = ipaddress.ip_network(item, strict=False)
        nxt = []
        for net in nets:
            if ex.subnet_of(net):
                nxt += list(net.address_exclude(ex))
            elif not net.subnet_of(ex):
                nxt.append(net)
        nets = nxt
    return [str(n) for n in sorted(nets)]


def _addr(value: str) -> object:
    net = ipaddress.ip_network(value, strict=False)
    if net.prefixlen == 32:
        return str(net.network_address)
    return (str(net.network_address), str(net.netmask))


def _port_matches(ports: tuple[PortRange, ...]) -> list[dict]:
    out = []
    for r in ports:
        base = {"eth_type": ETH_TYPE_IPV4, "ip_proto": IP_PROTO[r.protocol]}
        if r.every:
            out.append(base)
            continue
        for value, mask in port_masks(r.first, r.last):
            out.append({**base, PORT_FIELD[r.protocol]: value if mask == 0xFFFF
                        else (value, mask)})
    return out


def _rule_key(allow: Allow) -> tuple:
    return (allow.policy, allow.direction, allow.index, allow.any_peer, allow.addresses,
            allow.blocks, allow.ports)


def plan_flows(pods: list[PodRules], route_table: int, known_ips: Iterable[str] = (),
               pod_blocks: Iterable[str] = ()) -> list[FlowSpec]:
    """Every policy flow of the fabric, for Pods anywhere (a switch enforces both the
    egress of the sources and the ingress of the destinations it forwards for).

    With ``pod_blocks``, an address of a Pod block that is not in ``known_ips``
    (a Pod the controller has not heard of yet) is dropped both ways: a new Pod is
    isolated before its first packet, not after the controller catches up.
    """
    to_route = _onward(TABLE_EGRESS, route_table)
    flows = [
        flow(TABLE_CT, PRIO_PASS, {"eth_type": ETH_TYPE_IPV4}, (Ct(table=TABLE_EGRESS),),
             cookie=COOKIE_POLICY),
    ]
    for table in (TABLE_EGRESS,):
        flows += [
            flow(table, PRIO_STATE, {"eth_type": ETH_TYPE_IPV4,
                                     "ct_state": (CT_TRACKED | CT_ESTABLISHED,
                                                  CT_TRACKED | CT_ESTABLISHED)},
                 to_route[0], goto=to_route[1], cookie=COOKIE_POLICY),
            flow(table, PRIO_STATE, {"eth_type": ETH_TYPE_IPV4,
                                     "ct_state": (CT_TRACKED | CT_RELATED,
                                                  CT_TRACKED | CT_RELATED)},
                 to_route[0], goto=to_route[1], cookie=COOKIE_POLICY),
            flow(table, PRIO_STATE - 1, {"eth_type": ETH_TYPE_IPV4,
                                         "ct_state": (CT_TRACKED | CT_INVALID,
                                                      CT_TRACKED | CT_INVALID)},
                 cookie=COOKIE_POLICY),
        ]
    flows.append(flow(TABLE_EGRESS, PRIO_PASS, {"eth_type": ETH_TYPE_IPV4},
                      goto=TABLE_INGRESS, cookie=COOKIE_POLICY))
    flows.append(flow(TABLE_INGRESS, PRIO_PASS, {"eth_type": ETH_TYPE_IPV4},
                      (Ct(commit=True, table=route_table),), cookie=COOKIE_POLICY))
    flows += _unknown_pods(known_ips, pod_blocks, route_table)
    groups: dict[tuple, tuple[Allow, list[str]]] = {}
    for rules in pods:
        for direction, allows in ((INGRESS, rules.ingress), (EGRESS, rules.egress)):
            if allows is None:
                continue
            table = TABLE_INGRESS if direction == INGRESS else TABLE_EGRESS
            own = "ipv4_dst" if direction == INGRESS else "ipv4_src"
            flows.append(flow(table, PRIO_DROP, {"eth_type": ETH_TYPE_IPV4, own: rules.ip},
                              cookie=COOKIE_POLICY))
            for allow in allows:
                groups.setdefault(_rule_key(allow), (allow, []))[1].append(rules.ip)
    flows += _conjunctions(groups, route_table)
    return _merge(flows)


def _unknown_pods(known_ips: Iterable[str], pod_blocks: Iterable[str],
                  route_table: int) -> list[FlowSpec]:
    blocks = sorted(set(pod_blocks))
    if not blocks:
        return []
    flows = []
    for ip in sorted(set(known_ips)):
        flows.append(flow(TABLE_EGRESS, PRIO_KNOWN, {"eth_type": ETH_TYPE_IPV4, "ipv4_src": ip},
                          goto=TABLE_INGRESS, cookie=COOKIE_POLICY))
        flows.append(flow(TABLE_INGRESS, PRIO_KNOWN, {"eth_type": ETH_TYPE_IPV4, "ipv4_dst": ip},
                          (Ct(commit=True, table=route_table),), cookie=COOKIE_POLICY))
    for block in blocks:
        flows.append(flow(TABLE_EGRESS, PRIO_UNKNOWN, {"eth_type": ETH_TYPE_IPV4,
                                                       "ipv4_src": _addr(block)},
                          cookie=COOKIE_POLICY))
        flows.append(flow(TABLE_INGRESS, PRIO_UNKNOWN, {"eth_type": ETH_TYPE_IPV4,
                                                        "ipv4_dst": _addr(block)},
                          cookie=COOKIE_POLICY))
    return flows


def _conjunctions(groups: dict, route_table: int) -> list[FlowSpec]:
    flows = []
    for conj_id, (_key, (allow, pod_ips)) in enumerate(sorted(groups.items(),
                                                              key=lambda kv: str(kv[0])), 1):
        ingress = allow.direction == INGRESS
        table = TABLE_INGRESS if ingress else TABLE_EGRESS
        own, peer = ("ipv4_dst", "ipv4_src") if ingress else ("ipv4_src", "ipv4_dst")
        on_allow = ((Ct(commit=True, table=route_table),), None) if ingress else \
            ((), TABLE_INGRESS)
        clauses: list[list[dict]] = [[{"eth_type": ETH_TYPE_IPV4, own: ip}
                                      for ip in sorted(set(pod_ips))]]
        if not allow.any_peer:
            peers = list(allow.addresses)
            for block in allow.blocks:
                peers += block_cidrs(block.cidr, block.excepts)
            if not peers:
                continue
            clauses.append([{"eth_type": ETH_TYPE_IPV4, peer: _addr(p)} for p in peers])
        if allow.ports is not None:
            clauses.append(_port_matches(allow.ports))
        if len(clauses) == 1:   # no peer or port condition: the Pods alone decide
            flows += [flow(table, PRIO_ALLOW, m, on_allow[0], goto=on_allow[1],
                           cookie=COOKIE_POLICY) for m in clauses[0]]
            continue
        for number, matches in enumerate(clauses, 1):
            flows += [flow(table, PRIO_ALLOW, m, (Conjunction(conj_id, number, len(clauses)),),
                           cookie=COOKIE_POLICY) for m in matches]
        flows.append(flow(table, PRIO_ALLOW, {"eth_type": ETH_TYPE_IPV4, "conj_id": conj_id},
                          on_allow[0],
                          goto=on_allow[1], cookie=COOKIE_POLICY | conj_id << 8))
    return flows


def _merge(flows: list[FlowSpec]) -> list[FlowSpec]:
    """One flow per (table, priority, match): the same match in several conjunctions
    carries every conjunction action, as OVS requires."""
    def clause(f: FlowSpec) -> bool:
        return bool(f.actions) and all(isinstance(a, Conjunction) for a in f.actions)

    out: dict[tuple, FlowSpec] = {}
    for f in flows:
        have = out.get(f.key)
        if have is None:
            out[f.key] = f
        elif clause(have) and clause(f):
            out[f.key] = FlowSpec(f.table, f.priority, f.match,
                                  tuple(sorted(set(have.actions + f.actions),
                                               key=lambda a: (a.conj_id, a.clause))),
                                  None, f.cookie)
        else:
            # An unconditional allow and a conjunction clause on one match: the
            # allow wins (it admits more).
            out[f.key] = f if clause(have) else have
    return list(out.values())
