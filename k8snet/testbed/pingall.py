"""All-pairs pings from one process, from inside every node's network namespace.

Bring-up checks that every node reaches every other one. One ``ping`` process
per pair is N*(N-1) processes (2,652 for 52 nodes) on a two-core machine;
here the supervisor opens one raw ICMP socket in each node's namespace (a
socket stays in the namespace it was made in; ``setns`` moves only the
calling thread, which moves back at once), then sends an echo request from
every node to every address it has to reach, again every ``interval`` to
those that have not answered (the first packets may wait for ARP), and
collects the replies of all nodes in one ``select`` loop. Needs root, as
``up`` does.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import socket
import struct
import time
from typing import Dict, Iterator, List, Set, Tuple

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)

ECHO_REQUEST, ECHO_REPLY = 8, 0


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of ``data``."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def echo_request(ident: int, seq: int, payload: bytes = b"k8snet") -> bytes:
    header = struct.pack("!BBHHH", ECHO_REQUEST, 0, 0, ident, seq)
    return struct.pack("!BBHHH", ECHO_REQUEST, 0, checksum(header + payload), ident,
                       seq) + payload


def parse_reply(packet: bytes, ident: int) -> bool:
    """True if ``packet`` (an IPv4 datagram from a raw socket) is an echo reply to us."""
    if len(packet) < 20:
        return False
    offset = (packet[0] & 0x0F) * 4
    if len(packet) < offset + 8:
        return False
    kind, _code, _sum, got_ident, _seq = struct.unpack("!BBHHH", packet[offset:offset + 8])
    return kind == ECHO_REPLY and got_ident == ident


@contextlib.contextmanager
def in_netns(path: str) -> Iterator[None]:
    """Run the block's calling thread in the network namespace at ``path``."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    target = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _libc.setns(target, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns {path}: {os.strerror(err)}")
        try:
            yield
        finally:
            if _libc.setns(own, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "cannot return to the original namespace")
    finally:
        os.close(target)
        os.close(own)


def ping_matrix(todo: Dict[str, Tuple[str, List[str]]], timeout: float = 1.0,
                interval: float = 0.2) -> Dict[str, Set[str]]:
    """For each source ``name -> (netns path, addresses)``, the addresses that
    answered an echo request sent from that namespace within ``timeout`` seconds."""
    ident = os.getpid() & 0xFFFF
    socks: Dict[int, str] = {}       # fd -> source
    by_source: Dict[str, socket.socket] = {}
    answered: Dict[str, Set[str]] = {name: set() for name in todo}
    sent: Dict[Tuple[str, str], float] = {}
    seq = 0
    try:
        for name, (path, _addresses) in todo.items():
            with in_netns(path):
                sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
            sock.setblocking(False)
            by_source[name] = sock
            socks[sock.fileno()] = name
        deadline = time.monotonic() + timeout
        while any(len(answered[n]) < len(set(todo[n][1])) for n in todo):
            now = time.monotonic()
            if now >= deadline:
                break
            for name, (_path, addresses) in todo.items():
                for ip in addresses:
                    if ip in answered[name] or now - sent.get((name, ip), -interval) < interval:
                        continue
                    seq = (seq + 1) & 0xFFFF
                    try:
                        by_source[name].sendto(echo_request(ident, seq), (ip, 0))
                    except OSError:
                        pass  # no route yet: again next interval
                    sent[(name, ip)] = now
            readable, _, _ = select.select(list(by_source.values()), [], [],
                                           max(0.0, min(interval, deadline - now)))
            for sock in readable:
                name = socks[sock.fileno()]
                while True:
                    try:
                        packet, (src, _port) = sock.recvfrom(65535)
                    except (BlockingIOError, InterruptedError):
                        break
                    if (name, src) in sent and parse_reply(packet, ident):
                        answered[name].add(src)
    finally:
        for sock in by_source.values():
            sock.close()
    return answered
