"""ARP: the fabric answers requests itself, so nothing is ever flooded.

Who gets an answer is decided once, by :func:`responder_targets`: the switches
hold one responder flow per target (``k8snet.fabric.plan``), which turns the
request into its reply in the switch, so ARP keeps working while the controller
is down; the controller answers with :func:`answer`, the same rule, only what
reaches it (a target planned a moment ago and not yet installed).

Parsing and building the 42-byte Ethernet+ARP frames is done here with
``struct`` so the decision and the bytes are unit-tested without os-ken.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from dataclasses import dataclass
from typing import AbstractSet, Iterable, Optional

from k8snet.fabric.facts import Facts, Gateway
from k8snet.fabric.topology import Port, host_up

_ETH = struct.Struct("!6s6sH")
_ARP = struct.Struct("!HHBBH6s4s6s4s")
ARP_REQUEST = 1
ARP_REPLY = 2


@dataclass(frozen=True)
class Arp:
    """The fields of an Ethernet/IPv4 ARP packet that matter here."""

    op: int
    sender_mac: str
    sender_ip: str
    target_mac: str
    target_ip: str
    eth_src: str = ""
    eth_dst: str = ""


def _mac_text(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def _mac_bytes(text: str) -> bytes:
    return bytes(int(x, 16) for x in text.split(":"))


def parse_arp(frame: bytes) -> Optional[Arp]:
    """The ARP packet in an Ethernet frame, or None if it is not Ethernet/IPv4 ARP."""
    if len(frame) < _ETH.size + _ARP.size:
        return None
    eth_dst, eth_src, eth_type = _ETH.unpack_from(frame)
    if eth_type != 0x0806:
        return None
    htype, ptype, hlen, plen, op, sha, spa, tha, tpa = _ARP.unpack_from(frame, _ETH.size)
    if (htype, ptype, hlen, plen) != (1, 0x0800, 6, 4):
        return None
    return Arp(op, _mac_text(sha), socket.inet_ntoa(spa), _mac_text(tha), socket.inet_ntoa(tpa),
               _mac_text(eth_src), _mac_text(eth_dst))


def build_arp(arp: Arp) -> bytes:
    """The Ethernet frame carrying ``arp`` (Ethernet addresses default to the ARP ones)."""
    eth_src = arp.eth_src or arp.sender_mac
    eth_dst = arp.eth_dst or arp.target_mac
    return _ETH.pack(_mac_bytes(eth_dst), _mac_bytes(eth_src), 0x0806) + _ARP.pack(
        1, 0x0800, 6, 4, arp.op, _mac_bytes(arp.sender_mac), socket.inet_aton(arp.sender_ip),
        _mac_bytes(arp.target_mac), socket.inet_aton(arp.target_ip))


@dataclass(frozen=True)
class ArpTarget:
    """An address the fabric answers ARP for: ``ip`` is at ``mac``, for requesters
    inside ``network`` (the target's own subnet: only on-link neighbours ask).
    ``tell_controller``: the switch also hands the request to the controller (macvlan
    mode's Pod gateways, whose requests say which MAC a Pod has)."""

    ip: str
    mac: str
    network: ipaddress.IPv4Network
    tell_controller: bool = False


def responder_targets(facts: Facts, down: AbstractSet[Port],
                      pod_gateways: Iterable[Gateway] = ()) -> tuple[ArpTarget, ...]:
    """Every address the fabric answers for: gateways, Pod gateways (macvlan mode),
    and hosts while their port is up. The first entry for an address wins."""
    out: dict[str, ArpTarget] = {}
    for gw in facts.gateways:
        out.setdefault(gw.ip, ArpTarget(gw.ip, gw.mac, gw.network))
    for gw in pod_gateways:
        out.setdefault(gw.ip, ArpTarget(gw.ip, gw.mac, gw.network, tell_controller=True))
    for host in facts.hosts:
        if host_up(host, down):
            out.setdefault(host.ip, ArpTarget(host.ip, host.mac, host.network))
    return tuple(out.values())


def resolve(facts: Facts, down: AbstractSet[Port], ip: str) -> Optional[str]:
    """The MAC the fabric gives out for ``ip``: a gateway's, or a host's while it is attached."""
    target = next((t for t in responder_targets(facts, down) if t.ip == ip), None)
    return None if target is None else target.mac


def answer(facts: Facts, down: AbstractSet[Port], request: Arp,
           pod_gateways: Iterable[Gateway] = ()) -> Optional[Arp]:
    """The reply to send back to the requester, or None to stay silent.

    Silent for replies, gratuitous ARP / probes (sender IP 0.0.0.0 or equal to
    target), unknown targets, and requesters outside the target's subnet (a
    host asks only for on-link addresses; everything else goes through a
    gateway, whose address it asks for instead; a Pod is never given a node's
    address). The responder flows follow the same rule.
    """
    if request.op != ARP_REQUEST or request.sender_ip in ("0.0.0.0", request.target_ip):
        return None
    sender = ipaddress.IPv4Address(request.sender_ip)
    for target in responder_targets(facts, down, pod_gateways):
        if target.ip == request.target_ip:
            if sender not in target.network:
                return None
            return Arp(ARP_REPLY, target.mac, target.ip, request.sender_mac, request.sender_ip)
    return None
