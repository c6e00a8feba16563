"""Macvlan (underlay) mode: the fabric routes every Pod as a /32, like a node (GKE's model).

Pure: a :class:`PodTable` is fed three kinds of facts and says which /32 routes the
fabric needs, which gateway addresses the controller answers ARP for, and which
Pods it still has to ask for their MAC.

- Node blocks (``Route(podCIDR, via=host)`` from :func:`k8snet.fabric.nodes.routes_from_nodes`):
  where a Pod address lives (its node's fabric port), and each block's Pod gateway:
  the block's first address, answered with the fabric gateway's MAC so a Pod's
  default route leads straight into the fabric's router tables.
- Live Pods, from the apiserver (``status.podIP`` of Pods not finished): the
  authority on which /32s exist. A Pod that goes away takes its entry with it.
- ARP bindings (IP -> MAC), learned from ARP the controller sees on a node's edge
  port (a Pod's gratuitous ARP when CNI sets it up, its requests for the gateway, its
  replies to the controller's own requests). A binding counts only when the sender
  address lies in the block of the node on that port, so a Pod cannot claim an
  address of another node. Newest binding wins (an address reused by a new Pod).

Why both sources: the apiserver alone knows which Pods exist but not their MAC
(the macvlan child's MAC is random); ARP alone gives MACs but never says a Pod
is gone (a deleted Pod sends nothing). The route is the join of the two; a live
Pod without a binding is listed by :meth:`PodTable.unresolved` and the controller
asks for it (:func:`arp_probe`), as a router resolves an on-link neighbour.

Route for a Pod: ``Route(ip/32, via=node host, mac=Pod MAC)``; the plan's last hop
rewrites ``eth_dst`` to the Pod's MAC and outputs on the node's port, where the
node's macvlan parent hands the frame to the Pod.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Iterable, Optional

from k8snet.fabric.arp import ARP_REQUEST, Arp
from k8snet.fabric.facts import Facts, Gateway, Route

FINISHED_PHASES = ("Succeeded", "Failed")
BROADCAST = "ff:ff:ff:ff:ff:ff"


@dataclass(frozen=True)
class Binding:
    """An address seen in ARP: ``mac`` behind host ``via`` (the node on that edge port)."""

    ip: str
    mac: str
    via: str


def pod_gateway_ip(prefix: str) -> str:
    """The Pod gateway of a node block: its first address (10.244.3.0/24 -> 10.244.3.1)."""
    return str(ipaddress.IPv4Network(prefix).network_address + 1)


def live_pod_ips(pods: Iterable[dict]) -> frozenset[str]:
    """IPv4 addresses of Pods the fabric routes: with a podIP, not hostNetwork, not finished."""
    out = set()
    for pod in pods:
        spec, status = pod.get("spec") or {}, pod.get("status") or {}
        if spec.get("hostNetwork") or status.get("phase") in FINISHED_PHASES:
            continue
        ips = [status.get("podIP")] + [i.get("ip") for i in status.get("podIPs") or []]
        for ip in ips:
            try:
                if ip and ipaddress.ip_address(ip).version == 4:
                    out.add(str(ip))
            except ValueError:
                continue
    return frozenset(out)


@dataclass
class PodTable:
    """What macvlan mode knows about Pods; every method is pure bookkeeping."""

    facts: Facts
    gateway_mac: str
    blocks: tuple[Route, ...] = ()
    live: frozenset[str] = frozenset()
    bindings: dict[str, Binding] = field(default_factory=dict)

    @classmethod
    def for_facts(cls, facts: Facts) -> PodTable:
        """A table whose Pod gateways answer with the facts' first gateway MAC."""
        if not facts.gateways:
            raise ValueError("macvlan mode needs a fabric gateway in the facts")
        return cls(facts, facts.gateways[0].mac)

    # --- inputs ---------------------------------------------------------------------
    def set_blocks(self, blocks: Iterable[Route]) -> None:
        """Node blocks (podCIDR via node host), from the Node watch."""
        self.blocks = tuple(blocks)

    def set_live(self, ips: Iterable[str]) -> None:
        """Addresses of the Pods the apiserver has; bindings of vanished ones are dropped."""
        self.live = frozenset(ips)
        self.bindings = {ip: b for ip, b in self.bindings.items() if ip in self.live}

    def learn(self, arp: Arp, switch: str, port: int) -> Optional[Binding]:
        """Record the sender of an ARP packet seen on ``switch``:``port``; the new binding
        if it is one (a changed MAC counts), else None."""
        host = next((h for h in self.facts.hosts if h.switch == switch and h.port == port),
                    None)
        if host is None or arp.sender_mac == host.mac or arp.sender_ip == "0.0.0.0":
            return None
        block = self.block_of(arp.sender_ip)
        if block is None or block.via != host.name:
            return None
        if arp.sender_ip == pod_gateway_ip(block.prefix):
            return None
        binding = Binding(arp.sender_ip, arp.sender_mac, host.name)
        if self.bindings.get(arp.sender_ip) == binding:
            return None
        # Kept even before the apiserver reports the Pod (CNI's gratuitous ARP comes
        # first); routes() joins bindings with live Pods.
        self.bindings[arp.sender_ip] = binding
        return binding

    # --- outputs --------------------------------------------------------------------
    def block_of(self, ip: str) -> Optional[Route]:
        """The node block holding ``ip``, or None."""
        try:
            addr = ipaddress.IPv4Address(ip)
        except ValueError:
            return None
        return next((b for b in self.blocks if addr in ipaddress.IPv4Network(b.prefix)), None)

    def gateways(self) -> tuple[Gateway, ...]:
        """The Pod gateways the controller answers ARP for (one per node block)."""
        return tuple(Gateway(pod_gateway_ip(b.prefix),
                             ipaddress.IPv4Network(b.prefix).prefixlen, self.gateway_mac)
                     for b in self.blocks)

    def routes(self) -> tuple[Route, ...]:
        """One /32 per live Pod with a binding on its own node's port, sorted by address."""
        out = []
        for ip in sorted(self.live, key=ipaddress.IPv4Address):
            block, binding = self.block_of(ip), self.bindings.get(ip)
            if block is None or binding is None or binding.via != block.via:
                continue
            out.append(Route(f"{ip}/32", block.via, binding.mac))
        return tuple(out)

    def unresolved(self) -> tuple[tuple[str, str], ...]:
        """(Pod address, node host) of live Pods in a known block with no binding yet."""
        out = []
        for ip in sorted(self.live, key=ipaddress.IPv4Address):
            block = self.block_of(ip)
            if block is not None and ip not in self.bindings:
                out.append((ip, block.via))
        return tuple(out)


def arp_probe(table: PodTable, ip: str) -> Optional[Arp]:
    """The ARP request the controller sends to find a Pod's MAC: from the Pod gateway of
    its block, broadcast on the node's port; None if the address is in no block."""
    block = table.block_of(ip)
    if block is None:
        return None
    return Arp(ARP_REQUEST, table.gateway_mac, pod_gateway_ip(block.prefix),
               "00:00:00:00:00:00", ip, table.gateway_mac, BROADCAST)
