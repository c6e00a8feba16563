"""What the shim and an attach session say to each other (pure, standard library only).

The shim keeps a container's stdin (a pipe, or the master side of its
terminal) and its output; an attach session (the runtime's streaming server)
reaches it on an abstract Unix socket named after the container. The shim
binds that socket before it joins the Pod's network namespace, so the name
lives in the node's namespace, where the runtime is; it goes with the shim.

Both directions carry records: one byte naming the stream (the numbers of
k8snet.cri.channels: 0 stdin, 1 stdout, 2 stderr, 4 resize as JSON
``{"Width":W,"Height":H}``, 255 close of stdin), a 4-byte big-endian length,
the data.
"""

from __future__ import annotations

import struct

STDIN, STDOUT, STDERR, RESIZE, CLOSE_STDIN = 0, 1, 2, 4, 255
HEADER = struct.Struct("!BI")
MAX_RECORD = 1 << 20


def socket_name(container_id: str) -> str:
    """The abstract socket a container's shim listens on."""
    return f"\0k8snet-shim/{container_id}"


def pack(kind: int, data: bytes = b"") -> bytes:
    return HEADER.pack(kind, len(data)) + data


class Unpacker:
    """Records out of a byte stream read in arbitrary pieces."""

    def __init__(self) -> None:
        self.buf = b""

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        """The records completed by data; ValueError on a record too large to be ours."""
        self.buf += data
        out = []
        while len(self.buf) >= HEADER.size:
            kind, size = HEADER.unpack_from(self.buf)
            if size > MAX_RECORD:
                raise ValueError(f"record of {size} bytes: not the shim protocol")
            if len(self.buf) < HEADER.size + size:
                break
            out.append((kind, self.buf[HEADER.size:HEADER.size + size]))
            self.buf = self.buf[HEADER.size + size:]
        return out
