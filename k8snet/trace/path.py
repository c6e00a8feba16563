"""Hops of a traced packet and the path the fabric intended (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from k8snet.fabric.facts import Facts
from k8snet.fabric.topology import Topology
from k8snet.naming import BRIDGE_PREFIX
from k8snet.probe.packets import Packet

SwitchHop = Tuple[str, int, int]   # (switch, in port, out port)


def intended_paths(facts: Facts, src_host: str, dst_host: str) -> List[List[SwitchHop]]:
    """Every shortest switch path the controller may use (ECMP: several)."""
    src, dst = facts.host(src_host), facts.host(dst_host)
    if src is None or dst is None:
        return []
    if src.switch == dst.switch:
        return [[(src.switch, src.port, dst.port)]]
    table = Topology(facts).next_hops()
    inbound = {(ln.a, ln.a_port): (ln.b, ln.b_port) for ln in facts.links}
    inbound.update({(ln.b, ln.b_port): (ln.a, ln.a_port) for ln in facts.links})
    paths: List[List[SwitchHop]] = []

    def walk(switch: str, in_port: int, acc: List[SwitchHop]) -> None:
        if switch == dst.switch:
            paths.append(acc + [(switch, in_port, dst.port)])
            return
        for hop in table.get((switch, dst.switch), ()):
            peer, peer_port = inbound[(switch, hop.port)]
            walk(peer, peer_port, acc + [(switch, in_port, hop.port)])

    walk(src.switch, src.port, [])
    return paths


def port_of(iface: str) -> Optional[Tuple[str, int]]:
    """(switch, port) for a switch port name like ``knk8s-l1p3``."""
    if not iface.startswith(BRIDGE_PREFIX) or "p" not in iface[len(BRIDGE_PREFIX):]:
        return None
    bridge, _, num = iface.rpartition("p")
    return (bridge, int(num)) if num.isdigit() else None


@dataclass
class Hop:
    """One observation of the packet."""

    place: str            # "pod default/a", "node w1", "switch knk8s-l1"
    iface: str
    direction: str        # "in" (arrived on iface) or "out" (sent by iface)
    packet: Packet
    changes: List[str] = field(default_factory=list)

    def line(self) -> str:
        p = self.packet
        return (f"{self.place:<22} {self.iface:<14} {self.direction:<3} "
                f"{p.eth_src} > {p.eth_dst}  {p.summary()}")


def where(iface: str, owner: str) -> str:
    """Place label: switch ports live in the root namespace."""
    port = port_of(iface)
    return f"switch {port[0]}" if port and owner == "root" else owner


def direction(iface: str, owner: str, outgoing: bool) -> str:
    """On a switch port, a frame the kernel sees as incoming is entering the switch."""
    if port_of(iface) and owner == "root":
        return "out" if outgoing else "in"
    return "out" if outgoing else "in"


def changes(prev: Packet, cur: Packet) -> List[str]:
    """What differs between two observations of the same packet."""
    out = []
    if prev.eth_src != cur.eth_src or prev.eth_dst != cur.eth_dst:
        out.append(f"MACs {prev.eth_src} > {prev.eth_dst} -> {cur.eth_src} > {cur.eth_dst}")
    if (prev.inner is None) != (cur.inner is None):
        if cur.inner is not None:
            out.append(f"encapsulated: VXLAN vni {cur.vni} {cur.src} -> {cur.dst} "
                       f"(udp {cur.sport} > {cur.dport})")
        else:
            out.append(f"decapsulated from VXLAN {prev.src} -> {prev.dst}")
    elif prev.inner is not None and cur.inner is not None and prev.ttl != cur.ttl:
        out.append(f"outer TTL {prev.ttl} -> {cur.ttl}")
    a, b = prev.innermost(), cur.innermost()
    if a.ttl != b.ttl:
        out.append(f"TTL {a.ttl} -> {b.ttl}")
    if (a.dst, a.dport) != (b.dst, b.dport):
        out.append(f"DNAT {a.dst}:{a.dport} -> {b.dst}:{b.dport}")
    if (a.src, a.sport) != (b.src, b.sport):
        out.append(f"SNAT {a.src}:{a.sport} -> {b.src}:{b.sport}")
    return out


def build_hops(observed: Sequence[Tuple[str, Packet]]) -> List[Hop]:
    """Hops in order: places in the order the packet first reached them (kernel
    capture stamps); inside one place (a node's veth, bridge, VXLAN device,
    uplink), each next observation is the one that changed least, since
    stamps of a bridge and its port can tie or cross."""
    ordered = sorted(observed, key=lambda o: o[1].meta.get("ts", 0.0))
    views = [Hop(where(p.meta.get("iface", "?"), owner), p.meta.get("iface", "?"),
                 direction(p.meta.get("iface", "?"), owner, p.meta.get("outgoing")), p)
             for owner, p in ordered]
    places: List[str] = []
    for v in views:
        if v.place not in places:
            places.append(v.place)
    hops: List[Hop] = []
    for place in places:
        left = [v for v in views if v.place == place]
        while left:
            if hops:
                prev = hops[-1].packet
                left.sort(key=lambda v: (len(changes(prev, v.packet)),
                                         v.packet.meta.get("ts", 0.0)))
            nxt = left.pop(0)
            nxt.changes = changes(hops[-1].packet, nxt.packet) if hops else []
            hops.append(nxt)
    return hops


def observed_switch_path(hops: Sequence[Hop]) -> List[SwitchHop]:
    """(switch, in port, out port) in order, from switch-port observations."""
    path: List[SwitchHop] = []
    pending: Dict[str, int] = {}
    for h in hops:
        port = port_of(h.iface) if h.place.startswith("switch ") else None
        if not port:
            continue
        if h.direction == "in":
            pending[port[0]] = port[1]
        elif port[0] in pending:
            path.append((port[0], pending.pop(port[0]), port[1]))
    return path


def compare(observed: List[SwitchHop], intended: List[List[SwitchHop]]) -> Tuple[bool, str]:
    """Whether the observed switch path is one the controller intended, and a sentence."""
    if not intended:
        return False, "no intended path known (endpoints not on the fabric)"
    text = " -> ".join(f"{s}[{i}>{o}]" for s, i, o in observed) or "(no switch crossed)"
    if observed in intended:
        branch = ""
        if len(intended) > 1:
            spines = sorted({p[len(p) // 2][0] for p in intended})
            branch = f"; ECMP branch via {observed[len(observed) // 2][0]} (of {', '.join(spines)})"
        return True, f"matches the intended path {text}{branch}"
    want = " | ".join(" -> ".join(f"{s}[{i}>{o}]" for s, i, o in p) for p in intended)
    return False, f"differs: observed {text}; intended {want}"
