"""`kubectl port-forward`'s streams, served by the runtime: SPDY in, Pod sockets out.

kubectl opens, per accepted local connection, two SPDY streams tagged with
headers ``streamType`` (error or data), ``port`` and ``requestID``. Once both
are there, the runtime connects to ``localhost:port`` inside the Pod's network
namespace (as upstream runtimes do, so a port bound to the Pod's loopback is
reachable too) and copies bytes: DATA frames of the data stream to the socket,
the socket back as DATA frames; a failure to connect is written on the error
stream. A FIN from either side half-closes the other.
"""

from __future__ import annotations

import logging
import socket
import threading
from typing import Callable

from k8snet import linuxns
from k8snet.cri import spdy

LOG = logging.getLogger(__name__)


def connect_in_netns(netns_path: str, port: int, timeout: float = 5.0) -> socket.socket:
    """A TCP connection to localhost:port made inside netns_path ("" : this namespace).

    setns() moves the calling thread only, so a throwaway thread enters the
    namespace, connects, and the socket stays in that namespace for its life.
    """
    if not netns_path:
        return socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock = linuxns.run_in(lambda: socket.create_connection(("127.0.0.1", port), timeout=timeout),
                          netns_path, name="portforward-connect")
    sock.settimeout(None)
    return sock


class PortForwardSession:
    """One client connection's SPDY session; `feed` it bytes, it `send`s frames."""

    def __init__(self, send: Callable[[bytes], bool], connect: Callable[[int], socket.socket],
                 codec: spdy.HeaderCodec | None = None):
        self._send_raw = send
        self.connect = connect
        self.codec = codec or spdy.HeaderCodec()
        self.reader = spdy.FrameReader()
        self._lock = threading.Lock()
        self.streams: dict = {}       # stream id -> (streamType, requestID)
        self.pairs: dict = {}         # requestID -> {"error": sid, "data": sid, "port": p}
        self.sockets: dict = {}       # data stream id -> socket
        self.last_stream = 0

    def send(self, frame: bytes) -> bool:
        with self._lock:
            return self._send_raw(frame)

    def feed(self, data: bytes) -> bool:
        """Handle bytes from the client; False when the session is over (GOAWAY)."""
        for frame in self.reader.feed(data):
            if frame.kind == spdy.SYN_STREAM:
                self._syn_stream(frame)
            elif frame.kind == 0:
                self._data(frame)
            elif frame.kind == spdy.RST_STREAM:
                self._close_socket(frame.stream_id)
            elif frame.kind == spdy.PING:
                self.send(spdy.control(spdy.PING, 0, frame.payload))
            elif frame.kind == spdy.GOAWAY:
                return False
        return True

    def _syn_stream(self, frame: spdy.Frame) -> None:
        headers = spdy.syn_stream_headers(frame, self.codec)
        sid = frame.stream_id
        self.last_stream = max(self.last_stream, sid)
        kind, request = headers.get("streamtype", ""), headers.get("requestid", "")
        port = headers.get("port", "")
        with self._lock:  # header compression state is shared: replies in order
            self._send_raw(spdy.syn_reply(sid, self.codec))
        if kind not in ("error", "data") or not port.isdigit():
            self.send(spdy.rst_stream(sid, spdy.RST_PROTOCOL_ERROR))
            return
        self.streams[sid] = (kind, request)
        pair = self.pairs.setdefault(request, {"port": int(port)})
        pair[kind] = sid
        if "error" in pair and "data" in pair:
            self._open(pair)

    def _open(self, pair: dict) -> None:
        try:
            sock = self.connect(pair["port"])
        except OSError as exc:
            msg = f"error forwarding port {pair['port']} to pod: {exc}"
            self.send(spdy.data(pair["error"], msg.encode(), fin=True))
            self.send(spdy.data(pair["data"], b"", fin=True))
            return
        self.sockets[pair["data"]] = sock
        threading.Thread(target=self._pump, args=(sock, pair), daemon=True,
                         name=f"portforward-{pair['port']}").start()

    def _pump(self, sock: socket.socket, pair: dict) -> None:
        """The Pod's side of one forwarded connection -> DATA frames."""
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                if not self.send(spdy.data(pair["data"], chunk)):
                    return
        except OSError:
            pass
        self.send(spdy.data(pair["data"], b"", fin=True))
        self.send(spdy.data(pair["error"], b"", fin=True))

    def _data(self, frame: spdy.Frame) -> None:
        sock = self.sockets.get(frame.stream_id)
        if sock is None:
            return  # the error stream's (empty) close, or a stream that failed to connect
        try:
            if frame.payload:
                sock.sendall(frame.payload)
            if frame.fin:
                sock.shutdown(socket.SHUT_WR)
        except OSError:
            self._close_socket(frame.stream_id)

    def _close_socket(self, sid: int) -> None:
        sock = self.sockets.pop(sid, None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def close(self) -> None:
        for sid in list(self.sockets):
            self._close_socket(sid)
