"""The kubelet's server on :10250: container logs, and exec/attach handed to the runtime.

``GET /exec/<ns>/<pod>/<container>?command=..&stdin=..&stdout=..&stderr=..&tty=..``
and ``GET /attach/<ns>/<pod>/<container>?..`` carry a WebSocket upgrade (the
apiserver proxies kubectl's). The kubelet finds the running container through
CRI, asks CRI Exec/Attach for a streaming URL, and takes the upgrade there
(k8snet.machinery.upgradeproxy), as upstream's kubelet does with its
runtime's streaming server. Logs are served as before (k8snet.kubelet.logserver);
``/stats/summary`` and ``/metrics/resource`` from cgroups (k8snet.kubelet.stats).
"""

from __future__ import annotations

import json
import ssl
import time
from typing import Any, Optional
from urllib.parse import parse_qs, unquote, urlsplit

from k8snet.cri.channels import parse_options
from k8snet.kubelet import crispec, stats
from k8snet.kubelet.logserver import LogHandler, LogServer
from k8snet.machinery import upgradeproxy

STREAM_VERBS = ("exec", "attach")


class KubeletHandler(LogHandler):
    """LogHandler plus exec and attach."""

    runtime: Any = None          # a machinery.cri.RuntimeClient
    collector: Any = None        # a statscollector.StatsCollector (None: no /stats)
    node_name = ""
    started = 0.0

    def setup(self) -> None:
        super().setup()
        conn = self.connection
        if isinstance(conn, ssl.SSLSocket):  # the handshake in this thread, not accept()'s
            try:
                conn.settimeout(30)
                conn.do_handshake()
                conn.settimeout(None)
            except (OSError, ssl.SSLError):
                self.close_connection = True
                raise ConnectionResetError("TLS handshake failed") from None

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        url = urlsplit(self.path)
        parts = [unquote(p) for p in url.path.strip("/").split("/")]
        if parts[0] == "portForward":
            self.close_connection = True
            self._port_forward(parts, url.query)
            return
        if url.path in ("/stats/summary", "/metrics/resource") and self.collector is not None:
            self._stats(url.path)
            return
        if parts[0] not in STREAM_VERBS:
            super().do_GET()
            return
        self.close_connection = True
        if len(parts) != 4 or not all(parts[1:]):
            self._fail(404, f"not found: {url.path}; use /{parts[0]}/<ns>/<pod>/<container>")
            return
        verb, ns, pod, container = parts
        opts = parse_options(url.query)
        if verb == "exec" and not opts.command:
            self._fail(400, "you must specify at least one command for the container")
            return
        from k8snet.machinery.cri import CriError
        try:
            cid = self._running_container(ns, pod, container)
        except CriError as exc:
            self._fail(503, f"cannot ask the runtime for the container: {exc}")
            return
        if cid is None:
            self._fail(404, f'container "{container}" in pod "{pod}" (namespace {ns}) is not '
                       "running on this node")
            return
        try:
            if verb == "exec":
                target = self.runtime.exec_url(cid, opts.command, tty=opts.tty, stdin=opts.stdin,
                                               stdout=opts.stdout, stderr=opts.stderr)
            else:
                target = self.runtime.attach_url(cid, tty=opts.tty, stdin=opts.stdin,
                                                 stdout=opts.stdout, stderr=opts.stderr)
            upstream, head, rest = upgradeproxy.open_upgrade(target, "GET",
                                                             self.headers.items())
        except CriError as exc:
            self._fail(500, f"the runtime refused {verb}: {exc}")
            return
        except upgradeproxy.UpstreamError as exc:
            self._fail(502, f"the runtime's streaming server: {exc}")
            return
        self._take_over(upstream, head, rest)

    def _stats(self, path: str) -> None:
        figures = self.collector.latest()
        now = time.time()
        if path == "/stats/summary":
            body = json.dumps(stats.summary(self.node_name, self.started, now, figures)).encode()
            ctype = "application/json"
        else:
            body = stats.resource_metrics(figures, now).encode()
            ctype = "text/plain; version=0.0.4; charset=utf-8"
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802 - kubectl's SPDY fallback posts its upgrades
        self.do_GET()

    def _take_over(self, upstream, head: bytes, rest: bytes) -> None:
        self.wfile.write(head + rest)
        self.wfile.flush()
        self.connection.settimeout(None)  # an idle shell is not a dead connection
        upgradeproxy.splice(self.rfile.read1, self.connection, upstream)

    def _port_forward(self, parts: list, query: str) -> None:
        """/portForward/<ns>/<pod>: the sandbox's session on the runtime's streaming server."""
        from k8snet.machinery.cri import CriError
        if len(parts) != 3 or not all(parts[1:]):
            self._fail(404, "not found; use /portForward/<ns>/<pod>")
            return
        ns, pod = parts[1], parts[2]
        try:
            found = self.runtime.list_pod_sandboxes(
                labels={crispec.POD_NAMESPACE: ns, crispec.POD_NAME: pod}, ready_only=True)
            if not found:
                self._fail(404, f'pod "{pod}" (namespace {ns}) has no running sandbox on '
                           "this node")
                return
            sandbox = max(found, key=lambda sb: sb["created_at"])["id"]
            ports = [int(p) for p in parse_qs(query).get("port", []) if p.isdigit()]
            target = self.runtime.port_forward_url(sandbox, ports)
            upstream, head, rest = upgradeproxy.open_upgrade(target, "GET",
                                                             self.headers.items())
        except CriError as exc:
            self._fail(500, f"the runtime refused port-forward: {exc}")
            return
        except upgradeproxy.UpstreamError as exc:
            self._fail(502, f"the runtime's streaming server: {exc}")
            return
        self._take_over(upstream, head, rest)

    def _running_container(self, ns: str, pod: str, container: str) -> Optional[str]:
        found = self.runtime.list_containers(labels={
            crispec.POD_NAMESPACE: ns, crispec.POD_NAME: pod,
            crispec.CONTAINER_NAME: container}, state="CONTAINER_RUNNING")
        return max(found, key=lambda c: c["created_at"])["id"] if found else None


class KubeletServer(LogServer):
    """The kubelet's port: logs, exec, attach; TLS when given a context."""

    def __init__(self, host: str, port: int, root_dir: str, runtime: Any,
                 tls: Optional[ssl.SSLContext] = None, collector: Any = None,
                 node_name: str = ""):
        handler = type("BoundKubeletHandler", (KubeletHandler,),
                       {"root_dir": root_dir, "runtime": runtime, "collector": collector,
                        "node_name": node_name, "started": time.time()})
        super().__init__(host, port, root_dir, handler=handler)
        self.tls = tls
        if tls is not None:
            plain_get_request = self.httpd.get_request

            def get_request():
                sock, addr = plain_get_request()
                return tls.wrap_socket(sock, server_side=True,
                                       do_handshake_on_connect=False), addr
            self.httpd.get_request = get_request  # type: ignore[method-assign]
