"""A server-side WebSocket on a socket whose HTTP upgrade request is already read.

Built on wsproto, the sans-I/O WebSocket library: the servers here are
threaded http.server handlers that have parsed the request line and headers
already, so only the frame layer (wsproto.connection.Connection) is needed
and the socket stays ours. A lock serialises wsproto's state, since the
output pumps and the input reader of an exec run in different threads.
"""

from __future__ import annotations

import socket
import threading
from typing import Callable, Iterator

from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, TextMessage
from wsproto.utilities import generate_accept_token


def handshake_response(key: str, subprotocol: str) -> bytes:
    """The 101 reply accepting a client's upgrade with Sec-WebSocket-Key `key`."""
    accept = generate_accept_token(key.encode("ascii")).decode("ascii")
    return ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept}\r\n"
            f"Sec-WebSocket-Protocol: {subprotocol}\r\n\r\n").encode("ascii")


class WebSocket:
    """Send binary messages from any thread; iterate the client's messages in one."""

    def __init__(self, sock: socket.socket, recv: Callable[[int], bytes]):
        self.sock = sock
        self._recv = recv
        self._conn = Connection(ConnectionType.SERVER)
        self._lock = threading.Lock()

    def _sendall(self, data: bytes) -> None:
        if data:
            self.sock.sendall(data)

    def send(self, data: bytes) -> bool:
        """Send one binary message; False when the connection is gone."""
        with self._lock:
            if self._conn.state is not ConnectionState.OPEN:
                return False
            try:
                self._sendall(self._conn.send(BytesMessage(data=data)))
                return True
            except OSError:
                return False

    def messages(self) -> Iterator[bytes]:
        """The client's messages until it closes or the connection drops."""
        parts: list = []
        while True:
            try:
                data = self._recv(65536)
            except OSError:
                return
            if not data:
                return
            with self._lock:
                self._conn.receive_data(data)
                events = list(self._conn.events())
            for ev in events:
                if isinstance(ev, (BytesMessage, TextMessage)):
                    chunk = ev.data if isinstance(ev.data, bytes) else ev.data.encode()
                    parts.append(chunk)
                    if ev.message_finished:
                        yield b"".join(parts)
                        parts = []
                elif isinstance(ev, Ping):
                    with self._lock:
                        try:
                            self._sendall(self._conn.send(ev.response()))
                        except OSError:
                            return
                elif isinstance(ev, CloseConnection):
                    with self._lock:
                        try:
                            if self._conn.state is ConnectionState.REMOTE_CLOSING:
                                self._sendall(self._conn.send(ev.response()))
                        except OSError:
                            pass
                    return

    def close(self, code: int = 1000) -> None:
        """Send a close frame (once) and shut the socket's writing side."""
        with self._lock:
            try:
                if self._conn.state is ConnectionState.OPEN:
                    self._sendall(self._conn.send(CloseConnection(code=code)))
            except OSError:
                pass
