"""Carry an HTTP upgrade (WebSocket) one hop further, then copy bytes both ways.

The apiserver does this towards the kubelet, and the kubelet towards the
runtime's streaming server, as upstream's upgrade-aware proxy does: neither
looks inside the WebSocket, so the protocol is spoken once, by the runtime.
"""

from __future__ import annotations

import socket
import ssl
import threading
from typing import Callable, Iterable, Optional
from urllib.parse import urlsplit

# request headers an upgrade needs downstream (hop-by-hop ones included on purpose)
FORWARD_HEADERS = ("Upgrade", "Connection", "Sec-WebSocket-Key", "Sec-WebSocket-Version",
                   "Sec-WebSocket-Protocol", "Sec-WebSocket-Extensions", "User-Agent",
                   "X-Stream-Protocol-Version")
MAX_HEAD = 64 * 1024


class UpstreamError(Exception):
    """The next hop could not be reached or refused the upgrade before answering."""


def upgrade_request(method: str, target: str, host: str,
                    headers: Iterable[tuple[str, str]]) -> bytes:
    """The request head sent to the next hop (pure)."""
    wanted = {h.lower() for h in FORWARD_HEADERS}
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
    lines += [f"{k}: {v}" for k, v in headers if k.lower() in wanted]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def response_status(head: bytes) -> int:
    """The status code of a response head (0 when it is not HTTP)."""
    first = head.split(b"\r\n", 1)[0].split()
    return int(first[1]) if len(first) >= 2 and first[1].isdigit() else 0


def dial(url: str, tls: Optional[ssl.SSLContext], timeout: float = 10.0) -> socket.socket:
    """A connected socket to the URL's host and port (TLS when https)."""
    u = urlsplit(url)
    port = u.port or (443 if u.scheme == "https" else 80)
    try:
        sock = socket.create_connection((u.hostname, port), timeout=timeout)
        if u.scheme == "https":
            ctx = tls or ssl.create_default_context()
            sock = ctx.wrap_socket(sock, server_hostname=u.hostname)
    except (OSError, ssl.SSLError) as exc:
        raise UpstreamError(f"cannot reach {u.scheme}://{u.netloc}: {exc}") from None
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def open_upgrade(url: str, method: str, headers: Iterable[tuple[str, str]],
                 tls: Optional[ssl.SSLContext] = None,
                 timeout: float = 10.0) -> tuple[socket.socket, bytes, bytes]:
    """Send the upgrade request to url: (socket, response head, bytes read past it)."""
    u = urlsplit(url)
    sock = dial(url, tls, timeout)
    target = (u.path or "/") + (f"?{u.query}" if u.query else "")
    try:
        sock.sendall(upgrade_request(method, target, u.netloc, headers))
        buf = b""
        while b"\r\n\r\n" not in buf:
            data = sock.recv(65536)
            if not data:
                raise UpstreamError(f"{u.netloc} closed the connection before answering")
            buf += data
            if len(buf) > MAX_HEAD:
                raise UpstreamError(f"{u.netloc} sent an oversized response head")
    except (OSError, ssl.SSLError) as exc:
        sock.close()
        raise UpstreamError(f"upgrade to {u.netloc} failed: {exc}") from None
    except UpstreamError:
        sock.close()
        raise
    sock.settimeout(None)
    head, rest = buf.split(b"\r\n\r\n", 1)
    return sock, head + b"\r\n\r\n", rest


def _copy(read: Callable[[], bytes], dst: socket.socket, done: threading.Event) -> None:
    try:
        while True:
            data = read()
            if not data:
                break
            dst.sendall(data)
    except (OSError, ValueError, ssl.SSLError):
        pass
    finally:
        done.set()


def splice(client_read: Callable[[], bytes], client: socket.socket,
           upstream: socket.socket) -> None:
    """Copy both ways until either side ends, then close the upstream side.

    `client_read` reads the client (its buffered reader: bytes the HTTP layer
    read ahead must not be lost). The client socket is shut down, not closed:
    its owner (the HTTP server) closes it.
    """
    done = threading.Event()
    threads = [threading.Thread(target=_copy, args=(client_read, upstream, done), daemon=True),
               threading.Thread(target=_copy, args=(lambda: upstream.recv(65536), client, done),
                                daemon=True)]
    for t in threads:
        t.start()
    done.wait()
    for s in (upstream, client):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except (OSError, ValueError):
            pass
    for t in threads:
        t.join(5)
    upstream.close()
