"""A pcapng file with one interface per hop (`k8snet trace --pcap`).

pcapng rather than pcap because one file can then name every place the
marked packet was seen: each hop is an Interface Description Block whose
``if_name`` is the place and interface ("switch knlab-l1 knlab-l1p4 in"),
and the frame seen there is an Enhanced Packet Block on that interface, so
Wireshark's "Interface" column reads as the path. Block layout: the pcapng
specification (IETF draft-ietf-opsawg-pcapng), little-endian, microsecond
timestamps (the default ``if_tsresol``), Ethernet link type.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Iterable, List

LINKTYPE_ETHERNET = 1
SHB, IDB, EPB = 0x0A0D0D0A, 0x00000001, 0x00000006
BYTE_ORDER_MAGIC = 0x1A2B3C4D
OPT_END, OPT_COMMENT, IF_NAME, IF_DESCRIPTION = 0, 1, 2, 3


@dataclass(frozen=True)
class HopFrame:
    """One hop of a trace: where it was seen and the frame's bytes."""

    name: str          # becomes the interface's if_name
    ts: float          # seconds since the epoch
    frame: bytes
    description: str = ""


def pad4(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + pad4(value)


def block(kind: int, body: bytes) -> bytes:
    """A block: type, total length, body (padded), total length again."""
    body = pad4(body)
    total = len(body) + 12
    return struct.pack("<II", kind, total) + body + struct.pack("<I", total)


def section_header(comment: str = "") -> bytes:
    opts = (option(OPT_COMMENT, comment.encode()) + option(OPT_END, b"")) if comment else b""
    return block(SHB, struct.pack("<IHHq", BYTE_ORDER_MAGIC, 1, 0, -1) + opts)


def interface(name: str, description: str = "") -> bytes:
    opts = option(IF_NAME, name.encode())
    if description:
        opts += option(IF_DESCRIPTION, description.encode())
    return block(IDB, struct.pack("<HHI", LINKTYPE_ETHERNET, 0, 0) + opts + option(OPT_END, b""))


def packet(iface_id: int, ts: float, frame: bytes) -> bytes:
    micros = int(round(ts * 1e6))
    return block(EPB, struct.pack("<IIIII", iface_id, micros >> 32, micros & 0xFFFFFFFF,
                                  len(frame), len(frame)) + pad4(frame))


def render(hops: Iterable[HopFrame], comment: str = "") -> bytes:
    """The whole file: the section header, every interface, then the packets in order."""
    hops: List[HopFrame] = list(hops)
    out = [section_header(comment)]
    out += [interface(h.name, h.description) for h in hops]
    out += [packet(i, h.ts, h.frame) for i, h in enumerate(hops)]
    return b"".join(out)
