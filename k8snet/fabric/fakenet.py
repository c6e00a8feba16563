"""A fake multi-switch OpenFlow fabric that follows a packet through planned flows.

Used by the unit tests to answer "where would this packet go" without a switch:
it applies FlowSpecs and SELECT groups with OpenFlow 1.3 semantics (highest
priority match per table, apply-actions in order, goto-table, bucket liveness
by watch_port, output to the ingress port dropped), and carries the packet
over the facts' links to the next switch or to a host.
"""

from __future__ import annotations

import ipaddress
import zlib
from dataclasses import dataclass, field
from typing import AbstractSet, Any, Optional

from k8snet.fabric.facts import Facts
from k8snet.fabric.specs import (
    GROUP_FAST_FAILOVER,
    PORT_IN,
    DecTtl,
    FlowSpec,
    GroupSpec,
    Move,
    Output,
    PopVlan,
    PushVlan,
    SetField,
    SwitchPlan,
    ToController,
    ToGroup,
)
from k8snet.fabric.topology import Port

MAX_HOPS = 32
VLAN_PRESENT = 0x1000
HASH_FIELDS = ("eth_src", "eth_dst", "ipv4_src", "ipv4_dst", "ip_proto", "l4_src", "l4_dst")


@dataclass
class Trace:
    """One copy of a packet and what became of it."""

    fate: str                       # delivered | dropped | controller | lost | ttl
    at: str                         # host name if delivered, else the switch
    packet: dict[str, Any]
    hops: list[tuple[str, int, int]] = field(default_factory=list)  # (switch, in, out)
    ttl_decrements: int = 0

    @property
    def switches(self) -> list[str]:
        """Switches crossed, in order."""
        return [h[0] for h in self.hops]

    def used_port(self, port: Port) -> bool:
        """Whether this copy entered or left by ``port``."""
        return any((s, i) == port or (s, o) == port for s, i, o in self.hops)


def _matches(spec: FlowSpec, pkt: dict[str, Any]) -> bool:
    for name, want in spec.match:
        have = pkt.get(name)
        if have is None:
            return False
        if name in ("ipv4_dst", "ipv4_src", "arp_spa", "arp_tpa"):
            addr = ipaddress.IPv4Address(have)
            if isinstance(want, tuple):
                net = ipaddress.IPv4Network(f"{want[0]}/{want[1]}")
                if addr not in net:
                    return False
            elif addr != ipaddress.IPv4Address(want):
                return False
        elif have != want:
            return False
    return True


class FakeNet:
    """Switches holding ``plans`` (by switch name), wired as ``facts`` says."""

    def __init__(self, facts: Facts, plans: dict[str, SwitchPlan],
                 down: AbstractSet[Port] = frozenset()) -> None:
        self.facts = facts
        self.plans = plans
        self.down = set(down)
        self.wires: dict[Port, tuple[str, Any]] = {}
        for ln in facts.links:
            self.wires[(ln.a, ln.a_port)] = ("switch", (ln.b, ln.b_port))
            self.wires[(ln.b, ln.b_port)] = ("switch", (ln.a, ln.a_port))
        for h in facts.hosts:
            self.wires[(h.switch, h.port)] = ("host", h.name)

    def send_from(self, host: str, pkt: dict[str, Any], choose: str = "hash") -> list[Trace]:
        """Host ``host`` transmits ``pkt``; ``choose`` is ``hash`` (one bucket, like a
        switch) or ``all`` (every live bucket: every path the plan allows)."""
        h = self.facts.host(host)
        assert h is not None, host
        if (h.switch, h.port) in self.down:
            return [Trace("lost", host, dict(pkt))]
        return self._switch(h.switch, h.port, dict(pkt), [], 0, choose)

    def _switch(self, sw: str, in_port: int, pkt: dict, hops: list, decs: int,
                choose: str) -> list[Trace]:
        if len(hops) >= MAX_HOPS:
            raise RuntimeError(f"forwarding loop: {hops}")
        pkt = dict(pkt, in_port=in_port)
        plan = self.plans[sw]
        table: Optional[int] = 0
        out: list[Trace] = []
        while table is not None:
            entries = [f for f in plan.flows.values() if f.table == table and _matches(f, pkt)]
            if not entries:
                return out + [Trace("dropped", sw, pkt, hops, decs)]
            best = max(entries, key=lambda f: f.priority)
            for action in best.actions:
                if isinstance(action, SetField):
                    pkt[action.name] = action.value
                elif isinstance(action, Move):
                    pkt[action.dst] = pkt.get(action.src)
                elif isinstance(action, PushVlan):
                    pkt["vlan_vid"] = VLAN_PRESENT
                elif isinstance(action, PopVlan):
                    pkt.pop("vlan_vid", None)
                elif isinstance(action, DecTtl):
                    decs += 1
                    pkt["ttl"] = pkt.get("ttl", 64) - 1
                    if pkt["ttl"] <= 0:
                        return out + [Trace("ttl", sw, pkt, hops, decs)]
                elif isinstance(action, ToController):
                    out.append(Trace("controller", sw, dict(pkt), hops, decs))
                elif isinstance(action, Output):
                    out += self._output(sw, in_port, action.port, pkt, hops, decs, choose)
                elif isinstance(action, ToGroup):
                    out += self._group(sw, in_port, plan.groups[action.group_id], pkt, hops,
                                       decs, choose)
            if not best.actions and best.goto is None and not out:
                return [Trace("dropped", sw, pkt, hops, decs)]
            table = best.goto
        return out

    def _group(self, sw: str, in_port: int, group: GroupSpec, pkt: dict, hops: list,
               decs: int, choose: str) -> list[Trace]:
        live = [b for b in group.buckets if (sw, b.watch_port) not in self.down]
        if not live:
            return [Trace("dropped", sw, pkt, hops, decs)]
        if group.type == GROUP_FAST_FAILOVER:
            live = live[:1]  # the first live bucket, whatever ``choose`` says
        elif choose == "hash":
            key = "|".join(str(pkt.get(f)) for f in HASH_FIELDS).encode()
            live = [live[zlib.crc32(key) % len(live)]]
        out: list[Trace] = []
        for bucket in live:
            copy = dict(pkt)
            port_in = in_port
            for action in bucket.actions:
                if isinstance(action, SetField) and action.name == "in_port":
                    port_in = action.value  # OVS: output to the old ingress port allowed
                elif isinstance(action, SetField):
                    copy[action.name] = action.value
                elif isinstance(action, PushVlan):
                    copy["vlan_vid"] = VLAN_PRESENT
                else:
                    assert isinstance(action, Output), action
                    out += self._output(sw, port_in, action.port, dict(copy), hops, decs,
                                        choose)
        return out

    def _output(self, sw: str, in_port: int, port: int, pkt: dict, hops: list, decs: int,
                choose: str) -> list[Trace]:
        if port == PORT_IN:
            port = in_port
        elif port == in_port:
            return [Trace("dropped", sw, dict(pkt), hops + [(sw, in_port, port)], decs)]
        hops = hops + [(sw, in_port, port)]
        if (sw, port) in self.down or (sw, port) not in self.wires:
            return [Trace("lost", sw, dict(pkt), hops, decs)]
        kind, peer = self.wires[(sw, port)]
        if kind == "host":
            delivered = {k: v for k, v in pkt.items() if k != "in_port"}
            return [Trace("delivered", peer, delivered, hops, decs)]
        if peer in self.down:
            return [Trace("lost", sw, dict(pkt), hops, decs)]
        return self._switch(peer[0], peer[1], pkt, hops, decs, choose)
