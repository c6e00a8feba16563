"""Decoding captured frames into plain data (pure; no scapy).

A capture record, as the agent returns it, is a dict::

    {"hex": "02aa...", "ts": 1700000000.123, "iface": "eth0", "outgoing": false}

`decode` turns the frame's bytes into a `Packet`: Ethernet, IPv4, then
ICMP, TCP or UDP, and for UDP to port 4789 the VXLAN header with the inner
frame decoded the same way. Anything else keeps only what was understood.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional

ETH_IPV4 = 0x0800
ETH_VLAN = 0x8100
PROTO_ICMP, PROTO_TCP, PROTO_UDP = 1, 6, 17
PROTO_NAMES = {PROTO_ICMP: "icmp", PROTO_TCP: "tcp", PROTO_UDP: "udp"}
VXLAN_PORT = 4789


@dataclass(frozen=True)
class Packet:
    """One decoded frame; fields are None where the frame did not carry them."""

    eth_src: str = ""
    eth_dst: str = ""
    ethertype: int = 0
    src: Optional[str] = None
    dst: Optional[str] = None
    proto: Optional[str] = None      # "icmp", "tcp", "udp" or the number as text
    ttl: Optional[int] = None
    ident: Optional[int] = None
    total_len: Optional[int] = None
    df: bool = False
    mf: bool = False
    frag_offset: int = 0
    sport: Optional[int] = None
    dport: Optional[int] = None
    icmp_type: Optional[int] = None
    icmp_code: Optional[int] = None
    icmp_id: Optional[int] = None
    icmp_seq: Optional[int] = None
    tcp_flags: Optional[int] = None
    payload: bytes = b""
    vni: Optional[int] = None
    inner: Optional[Packet] = None
    frame_len: int = 0
    meta: Dict = field(default_factory=dict, compare=False)

    @property
    def is_fragment(self) -> bool:
        return self.mf or self.frag_offset > 0

    def innermost(self) -> Packet:
        """The encapsulated packet for VXLAN, else this one."""
        return self.inner.innermost() if self.inner is not None else self

    def summary(self) -> str:
        """One line a person reads: addresses, ports, TTL, ID, length."""
        if self.src is None:
            return f"{self.eth_src} > {self.eth_dst} ethertype 0x{self.ethertype:04x}"
        ports = f":{self.sport} > {self.dst}:{self.dport}" if self.sport is not None \
            else f" > {self.dst}"
        text = f"{self.proto} {self.src}{ports} ttl {self.ttl} id {self.ident} len {self.total_len}"
        if self.df:
            text += " DF"
        if self.is_fragment:
            text += f" frag off {self.frag_offset}{' MF' if self.mf else ''}"
        if self.inner is not None:
            text += f" | vxlan vni {self.vni}: {self.inner.summary()}"
        return text


def mac_text(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def decode(data: bytes, meta: Optional[Dict] = None) -> Packet:
    """Decode an Ethernet frame (truncated frames decode as far as they go)."""
    meta = dict(meta or {})
    if len(data) < 14:
        return Packet(frame_len=len(data), meta=meta)
    dst, src = mac_text(data[0:6]), mac_text(data[6:12])
    ethertype = struct.unpack("!H", data[12:14])[0]
    offset = 14
    if ethertype == ETH_VLAN and len(data) >= 18:
        ethertype = struct.unpack("!H", data[16:18])[0]
        offset = 18
    base = {"eth_src": src, "eth_dst": dst, "ethertype": ethertype, "frame_len": len(data),
            "meta": meta}
    if ethertype != ETH_IPV4:
        return Packet(**base)
    return Packet(**base, **decode_ipv4(data[offset:]))


def decode_ipv4(data: bytes) -> Dict:
    """The IPv4 and L4 fields of an IP packet, as keyword arguments of Packet."""
    if len(data) < 20 or data[0] >> 4 != 4:
        return {}
    ihl = (data[0] & 0x0F) * 4
    total_len, ident, frag = struct.unpack("!HHH", data[2:8])
    ttl, proto = data[8], data[9]
    out: Dict = {
        "src": str(ipaddress.IPv4Address(data[12:16])),
        "dst": str(ipaddress.IPv4Address(data[16:20])),
        "proto": PROTO_NAMES.get(proto, str(proto)), "ttl": ttl, "ident": ident,
        "total_len": total_len, "df": bool(frag & 0x4000), "mf": bool(frag & 0x2000),
        "frag_offset": (frag & 0x1FFF) * 8,
    }
    body = data[ihl:total_len] if total_len >= ihl else data[ihl:]
    if out["frag_offset"]:
        out["payload"] = bytes(body)
        return out
    if proto == PROTO_ICMP and len(body) >= 8:
        icmp_type, code, _sum, icmp_id, seq = struct.unpack("!BBHHH", body[:8])
        out.update(icmp_type=icmp_type, icmp_code=code, payload=bytes(body[8:]))
        if icmp_type in (0, 8):
            out.update(icmp_id=icmp_id, icmp_seq=seq)
    elif proto == PROTO_TCP and len(body) >= 20:
        sport, dport = struct.unpack("!HH", body[:4])
        data_off = (body[12] >> 4) * 4
        out.update(sport=sport, dport=dport, tcp_flags=body[13], payload=bytes(body[data_off:]))
    elif proto == PROTO_UDP and len(body) >= 8:
        sport, dport = struct.unpack("!HH", body[:4])
        out.update(sport=sport, dport=dport, payload=bytes(body[8:]))
        if dport == VXLAN_PORT and len(body) >= 16 and body[8] & 0x08:
            out["vni"] = int.from_bytes(body[12:15], "big")
            out["inner"] = decode(bytes(body[16:]))
    return out


def decode_record(record: Dict) -> Packet:
    """Decode one capture record from an agent (keeps iface, ts, outgoing in meta)."""
    meta = {k: v for k, v in record.items() if k != "hex"}
    return decode(bytes.fromhex(record["hex"]), meta)


def decode_all(records: Iterable[Dict]) -> List[Packet]:
    return [decode_record(r) for r in records]


def with_marker(packets: Iterable[Packet], marker: bytes) -> List[Packet]:
    """Packets whose (innermost) payload contains ``marker``."""
    return [p for p in packets if marker in p.innermost().payload]
