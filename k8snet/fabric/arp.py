"""ARP: the controller answers requests itself, so nothing is ever flooded.

Parsing and building the 42-byte Ethernet+ARP frames is done here with
``struct`` so the decision and the bytes are unit-tested without os-ken.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from dataclasses import dataclass
from typing import AbstractSet, Optional

from k8snet.fabric.facts import Facts
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


def resolve(facts: Facts, down: AbstractSet[Port], ip: str) -> Optional[str]:
    """The MAC the fabric gives out for ``ip``: a gateway's, or a host's while it is attached."""
    for gw in facts.gateways:
        if gw.ip == ip:
            return gw.mac
    for host in facts.hosts:
        if host.ip == ip:
            return host.mac if host_up(host, down) else None
    return None


def answer(facts: Facts, down: AbstractSet[Port], request: Arp) -> Optional[Arp]:
    """The reply to send back to the requester, or None to stay silent.

    Silent for replies, gratuitous ARP / probes (sender IP 0.0.0.0 or equal to
    target), unknown targets, and targets outside the requester's own subnets
    (a host asks only for on-link addresses; everything else goes through a
    gateway, whose address it asks for instead).
    """
    if request.op != ARP_REQUEST or request.sender_ip in ("0.0.0.0", request.target_ip):
        return None
    mac = resolve(facts, down, request.target_ip)
    if mac is None or not _on_link(facts, request.sender_ip, request.target_ip):
        return None
    return Arp(ARP_REPLY, mac, request.target_ip, request.sender_mac, request.sender_ip)


def _on_link(facts: Facts, sender: str, target: str) -> bool:
    """Whether ``target`` shares a subnet with ``sender`` (per the facts' prefix lengths).

    A sender the facts do not know (a Pod, a stray address) is answered only
    for gateways, never for hosts.
    """
    t = ipaddress.IPv4Address(target)
    s = ipaddress.IPv4Address(sender)
    nets = [h.network for h in facts.hosts if h.ip == sender]
    if not nets:
        return any(gw.ip == target and s in gw.network for gw in facts.gateways)
    return any(t in n for n in nets)
