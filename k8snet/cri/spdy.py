"""SPDY/3.1 framing, the part port-forwarding needs (pure).

kubectl 1.32 forwards ports over SPDY streams, tunnelled inside a WebSocket
(subprotocol ``SPDY/3.1+portforward.k8s.io``) or over a plain SPDY upgrade.
No maintained Python SPDY library exists (the protocol was retired for
HTTP/2), so this module frames what Go's spdystream sends: SYN_STREAM,
SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE and DATA frames,
with name/value header blocks compressed by one zlib stream per direction and
direction's connection, preset with the SPDY/3 dictionary (spdy3_dictionary.bin,
the spec's bytes; its Adler-32 is checked on load).
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass, field
from typing import Optional

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = \
    1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN = 0x01
RST_PROTOCOL_ERROR, RST_INVALID_STREAM, RST_REFUSED_STREAM, RST_CANCEL = 1, 2, 3, 5
DICTIONARY_ADLER32 = 0xE3C6A7C2  # zlib DICTID of the 1423-byte SPDY/3 dictionary
MAX_FRAME = 1 << 24


def load_dictionary() -> bytes:
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "spdy3_dictionary.bin")
    with open(path, "rb") as fh:
        data = fh.read()
    if zlib.adler32(data) != DICTIONARY_ADLER32:
        raise ValueError(f"{path} is not the SPDY/3 header dictionary (Adler-32 mismatch)")
    return data


@dataclass(frozen=True)
class Frame:
    """One frame: control (`kind` > 0) or data (`kind` == 0, `stream_id` set)."""

    kind: int
    flags: int
    payload: bytes = b""
    stream_id: int = 0

    @property
    def fin(self) -> bool:
        return bool(self.flags & FLAG_FIN)


@dataclass
class FrameReader:
    """Bytes in, whole frames out."""

    buf: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes) -> list[Frame]:
        self.buf += data
        out = []
        while len(self.buf) >= 8:
            length = int.from_bytes(self.buf[5:8], "big")
            if len(self.buf) < 8 + length:
                break
            head, payload = bytes(self.buf[:8]), bytes(self.buf[8:8 + length])
            del self.buf[:8 + length]
            flags = head[4]
            if head[0] & 0x80:
                version = int.from_bytes(head[0:2], "big") & 0x7FFF
                if version != VERSION:
                    raise ValueError(f"SPDY version {version} is not served (want 3)")
                kind = int.from_bytes(head[2:4], "big")
                sid = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF if len(payload) >= 4 \
                    else 0
                out.append(Frame(kind, flags, payload, sid))
            else:
                out.append(Frame(0, flags, payload,
                                 int.from_bytes(head[:4], "big") & 0x7FFFFFFF))
        return out


def control(kind: int, flags: int, payload: bytes) -> bytes:
    return struct.pack(">HHI", 0x8000 | VERSION, kind, (flags << 24) | len(payload)) + payload


def data(stream_id: int, payload: bytes, fin: bool = False) -> bytes:
    if len(payload) >= MAX_FRAME:
        raise ValueError("a DATA frame carries less than 16 MiB")
    return struct.pack(">II", stream_id & 0x7FFFFFFF,
                       ((FLAG_FIN if fin else 0) << 24) | len(payload)) + payload


def encode_headers(headers: dict) -> bytes:
    """An uncompressed name/value block (names lower-case, as SPDY/3 requires)."""
    out = [struct.pack(">I", len(headers))]
    for name, value in headers.items():
        n, v = name.lower().encode(), str(value).encode()
        out += [struct.pack(">I", len(n)), n, struct.pack(">I", len(v)), v]
    return b"".join(out)


def decode_headers(block: bytes) -> dict:
    """name -> value from an uncompressed block (several values joined by NUL kept)."""
    count, = struct.unpack_from(">I", block, 0)
    pos, out = 4, {}
    for _ in range(count):
        n, = struct.unpack_from(">I", block, pos)
        name = block[pos + 4:pos + 4 + n].decode()
        pos += 4 + n
        v, = struct.unpack_from(">I", block, pos)
        out[name] = block[pos + 4:pos + 4 + v].decode()
        pos += 4 + v
    return out


class HeaderCodec:
    """The two zlib streams of one connection's header blocks."""

    def __init__(self, dictionary: Optional[bytes] = None):
        d = dictionary if dictionary is not None else load_dictionary()
        self._inflate = zlib.decompressobj(zdict=d)
        self._deflate = zlib.compressobj(zdict=d)

    def decode(self, compressed: bytes) -> dict:
        return decode_headers(self._inflate.decompress(compressed))

    def encode(self, headers: dict) -> bytes:
        return self._deflate.compress(encode_headers(headers)) + \
            self._deflate.flush(zlib.Z_SYNC_FLUSH)


def syn_stream_headers(frame: Frame, codec: HeaderCodec) -> dict:
    """The headers of a SYN_STREAM frame (stream id, associated id, priority, slot first)."""
    return codec.decode(frame.payload[10:])


def syn_reply(stream_id: int, codec: HeaderCodec, headers: Optional[dict] = None,
              fin: bool = False) -> bytes:
    return control(SYN_REPLY, FLAG_FIN if fin else 0,
                   struct.pack(">I", stream_id) + codec.encode(headers or {}))


def rst_stream(stream_id: int, status: int) -> bytes:
    return control(RST_STREAM, 0, struct.pack(">II", stream_id, status))


def goaway(last_stream_id: int) -> bytes:
    return control(GOAWAY, 0, struct.pack(">II", last_stream_id, 0))
