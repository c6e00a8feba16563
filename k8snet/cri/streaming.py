"""The runtime's streaming server: where CRI Exec and Attach URLs point.

As in runtime.v1, `Exec` does not run anything: it records the request under
a random token and answers ``http://127.0.0.1:PORT/exec/TOKEN``. The kubelet
then brings the client's WebSocket upgrade to that URL (proxying the bytes),
and this server runs the command there, speaking the channel protocol of
k8snet.cri.channels. A token is good once and for TOKEN_TTL seconds. The
server listens on the loopback of the runtime's (the node's) namespace only.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Callable, Iterable, Optional

from k8snet.cri import channels, execproc, monitor, oci, portforward
from k8snet.cri.wsconn import WebSocket, handshake_response
from k8snet.machinery.httpserver import HTTPServer

LOG = logging.getLogger(__name__)
TOKEN_TTL = 60.0
PORTFORWARD_TUNNEL = "SPDY/3.1+portforward.k8s.io"  # SPDY frames inside WebSocket messages


@dataclass(frozen=True)
class Pending:
    """A request CRI Exec (or Attach) accepted and the client has not yet connected to."""

    kind: str                      # "exec", "attach" or "portforward"
    container_id: str              # the sandbox's id for portforward
    options: channels.StreamOptions
    expires: float


class StreamHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "k8snet-runtime-streaming"
    server: StreamingHTTPServer

    def log_message(self, fmt: str, *args: object) -> None:
        LOG.debug(fmt, *args)

    def _fail(self, code: int, message: str) -> None:
        data = (message + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        self.close_connection = True

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        parts = self.path.split("?")[0].strip("/").split("/")
        pending = self.server.owner.take(parts[1]) if len(parts) == 2 else None
        if pending is None or pending.kind != parts[0]:
            self._fail(404, "unknown or expired streaming session; ask CRI Exec again")
            return
        upgrade = self.headers.get("Upgrade", "").lower()
        if pending.kind == "portforward" and upgrade == "spdy/3.1":
            self._spdy_portforward(pending)
            return
        if upgrade != "websocket":
            self._fail(400, "this streaming server speaks WebSocket (v5.channel.k8s.io, "
                       "v4.channel.k8s.io, SPDY/3.1+portforward.k8s.io) and SPDY/3.1 for "
                       "port-forward only")
            return
        offered = self.headers.get("Sec-WebSocket-Protocol", "")
        proto = channels.pick_subprotocol(offered) if pending.kind != "portforward" else \
            (PORTFORWARD_TUNNEL if PORTFORWARD_TUNNEL in
             [p.strip() for p in offered.split(",")] else None)
        key = self.headers.get("Sec-WebSocket-Key")
        if proto is None or not key:
            self._fail(400, f"no supported subprotocol offered ({offered!r}): want "
                       + ("SPDY/3.1+portforward.k8s.io" if pending.kind == "portforward"
                          else "v5.channel.k8s.io or v4.channel.k8s.io"))
            return
        self.wfile.write(handshake_response(key, proto))
        self.wfile.flush()
        self.close_connection = True
        ws = WebSocket(self.connection, self.rfile.read1)
        try:
            self.server.owner.serve(ws, pending)
        finally:
            ws.close()


    def _spdy_portforward(self, pending: Pending) -> None:
        """The SPDY fallback: plain SPDY/3.1 on the upgraded connection."""
        self.wfile.write(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                         b"Upgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: "
                         b"portforward.k8s.io\r\n\r\n")
        self.wfile.flush()
        self.close_connection = True
        sock = self.connection

        def send(data: bytes) -> bool:
            try:
                sock.sendall(data)
                return True
            except OSError:
                return False

        def chunks():
            while True:
                try:
                    data = self.rfile.read1(65536)
                except OSError:
                    return
                if not data:
                    return
                yield data
        self.server.owner.serve_portforward(send, chunks(), pending)


class StreamingHTTPServer(HTTPServer):
    daemon_threads = True

    def __init__(self, addr: tuple, owner: StreamingServer):
        self.owner = owner
        super().__init__(addr, StreamHandler)


class StreamingServer:
    """Tokens for pending sessions, and the sessions themselves.

    `plan(container_id, command)` is the runtime's Runtime.exec_plan; `attach_log`
    gives a container's log path for attach without a monitor (output only, see
    serve_attach); `pod_netns(sandbox_id)` the netns path port-forward connects in;
    `container_dir(container_id)` where its conmon's attach socket and ctl fifo are.
    """

    def __init__(self, plan: Callable, attach_log: Callable[[str], Optional[str]],
                 pod_netns: Callable[[str], str] = lambda _sid: "",
                 host: str = "127.0.0.1", port: int = 0,
                 clock: Callable[[], float] = time.monotonic,
                 container_dir: Callable[[str], str] = lambda _cid: ""):
        self.plan = plan
        self.attach_log = attach_log
        self.pod_netns = pod_netns
        self.container_dir = container_dir
        self.clock = clock
        self._pending: dict = {}
        self._lock = threading.Lock()
        self.httpd = StreamingHTTPServer((host, port), self)
        self.host, self.port = self.httpd.server_address[:2]

    def start(self) -> None:
        threading.Thread(target=self.httpd.serve_forever, name="cri-streaming",
                         daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def register(self, kind: str, container_id: str, options: channels.StreamOptions) -> str:
        """A one-time URL for this session."""
        token = secrets.token_urlsafe(24)
        now = self.clock()
        with self._lock:
            self._pending = {t: p for t, p in self._pending.items() if p.expires > now}
            self._pending[token] = Pending(kind, container_id, options, now + TOKEN_TTL)
        return f"http://{self.host}:{self.port}/{kind}/{token}"

    def take(self, token: str) -> Optional[Pending]:
        with self._lock:
            pending = self._pending.pop(token, None)
        return pending if pending is not None and pending.expires > self.clock() else None

    def serve(self, ws: WebSocket, pending: Pending) -> None:
        if pending.kind == "portforward":
            self.serve_portforward(ws.send, ws.messages(), pending)
        elif pending.kind == "exec":
            serve_exec(ws, pending.options, lambda: self.plan(pending.container_id,
                                                              pending.options.command))
        else:
            cdir = self.container_dir(pending.container_id)
            conn = monitor.connect_attach(cdir) if cdir else None
            if conn is not None:
                serve_attach_monitor(ws, pending.options, conn, cdir)
            else:  # no conmon serves the container (it ended): its output, from the log
                serve_attach(ws, self.attach_log(pending.container_id))


    def serve_portforward(self, send: Callable[[bytes], bool], incoming: Iterable[bytes],
                          pending: Pending) -> None:
        netns = self.pod_netns(pending.container_id)
        session = portforward.PortForwardSession(
            send, lambda port: portforward.connect_in_netns(netns, port))
        try:
            for data in incoming:
                if not session.feed(data):
                    break
        except ValueError as exc:  # not SPDY/3: end the session, say why in the log
            LOG.warning("port-forward session ended: %s", exc)
        finally:
            session.close()


def _pump(read: Callable[[], bytes], ws: WebSocket, stream: int) -> None:
    while True:
        try:
            data = read()
        except OSError:  # EIO: the terminal's last holder closed it
            return
        if not data or not ws.send(channels.frame(stream, data)):
            return


def serve_exec(ws: WebSocket, opts: channels.StreamOptions, plan: Callable) -> None:
    """Run the command, relay its streams, end with its exit Status on the error stream."""
    try:
        p = plan()
        ex = execproc.spawn(p.argv, p.env, p.cgroup_procs, opts.tty, opts.stdin)
    except (ValueError, OSError) as exc:
        ws.send(channels.frame(channels.ERROR, channels.failure_status(str(exc))))
        return
    except Exception as exc:  # noqa: BLE001 - NotFound, FailedPrecondition: tell the client
        ws.send(channels.frame(channels.ERROR, channels.failure_status(str(exc))))
        return
    if ex.master is not None:
        master = ex.master
        pumps = [threading.Thread(target=_pump, args=(lambda: os.read(master, 65536), ws,
                                                      channels.STDOUT), daemon=True)]
    else:
        pumps = [threading.Thread(target=_pump, args=(lambda f=f: f.read1(65536), ws, s),
                                  daemon=True)
                 for f, s in ((ex.proc.stdout, channels.STDOUT), (ex.proc.stderr, channels.STDERR))]
    for t in pumps:
        t.start()
    reader = threading.Thread(target=_read_input, args=(ws, ex), daemon=True)
    reader.start()
    code = ex.proc.wait()
    for t in pumps:
        t.join(5)
    if ex.master is not None:
        os.close(ex.master)
    ws.send(channels.frame(channels.ERROR, channels.exit_status(code, opts.command)))


def _read_input(ws: WebSocket, ex: execproc.ExecProcess) -> None:
    """Client messages -> stdin, resizes, stdin's close; the client gone -> kill the command."""
    stdin_fd = ex.master if ex.master is not None else (
        ex.proc.stdin.fileno() if ex.proc.stdin else None)
    for msg in ws.messages():
        inc = channels.parse_message(msg)
        try:
            if inc.kind == "stdin" and stdin_fd is not None and inc.data:
                view = memoryview(inc.data)
                while view:
                    view = view[os.write(stdin_fd, view):]
            elif inc.kind == "resize":
                ex.resize(inc.width, inc.height)
            elif inc.kind == "close" and inc.stream == channels.STDIN and ex.master is None \
                    and ex.proc.stdin is not None:
                ex.proc.stdin.close()
                stdin_fd = None
        except OSError:
            stdin_fd = None  # the command closed its input: drop the rest
    if ex.proc.stdin is not None and stdin_fd is not None:
        try:
            ex.proc.stdin.close()
        except OSError:
            pass
    if ex.proc.poll() is None:
        time.sleep(0.2)  # a stream closing right after its last input: let the command end
        if ex.proc.poll() is None:
            ex.kill()


def serve_attach_monitor(ws: WebSocket, opts: channels.StreamOptions, conn: socket.socket,
                         cdir: str) -> None:
    """Attach through the container's conmon: the client's stdin goes to its attach
    socket, resizes to its ctl fifo, the end of stdin is the end of our writing; the
    container's output comes back. Ends when either side leaves (the container's exit ends
    conmon's sessions: then the client hears Success, as upstream's attach says)."""
    def client_to_monitor() -> None:
        try:
            for msg in ws.messages():
                inc = channels.parse_message(msg)
                if inc.kind == "stdin" and opts.stdin and inc.data:
                    for packet in oci.input_packets(inc.data):
                        conn.sendall(packet)
                elif inc.kind == "resize":
                    monitor.resize(cdir, inc.width, inc.height)
                elif inc.kind == "close" and inc.stream == channels.STDIN and opts.stdin:
                    conn.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        finally:
            try:
                conn.shutdown(socket.SHUT_RDWR)  # wakes the reader below
            except OSError:
                pass

    threading.Thread(target=client_to_monitor, daemon=True).start()
    try:
        while True:
            packet = conn.recv(65536)
            if not packet:
                break
            stream, body = oci.attach_packet(packet)
            wanted = opts.stdout if stream == oci.STDOUT else opts.stderr
            if body and wanted and not ws.send(channels.frame(
                    channels.STDERR if stream == oci.STDERR else channels.STDOUT, body)):
                return
    except (OSError, ValueError):
        return
    finally:
        conn.close()
    ws.send(channels.frame(channels.ERROR, channels.exit_status(0, ())))


def serve_attach(ws: WebSocket, log_path: Optional[str]) -> None:
    """Attach: the container's output as it is written (its stdin is not kept open).

    conmon writes the container's stdout and stderr to the CRI log file,
    so attach follows that file from its end until the client leaves.
    """
    if not log_path or not os.path.exists(log_path):
        ws.send(channels.frame(channels.ERROR, channels.failure_status(
            "the container has no output to attach to")))
        return
    gone = threading.Event()
    threading.Thread(target=lambda: (list(ws.messages()), gone.set()), daemon=True).start()
    with open(log_path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        while not gone.is_set():
            line = fh.readline()
            if not line:
                time.sleep(0.1)
                continue
            # CRI log line: TIMESTAMP STREAM P|F MESSAGE
            fields = line.split(b" ", 3)
            if len(fields) == 4:
                stream = channels.STDERR if fields[1] == b"stderr" else channels.STDOUT
                body = fields[3] if fields[2] == b"F" else fields[3].rstrip(b"\n")
                if not ws.send(channels.frame(stream, body)):
                    return



