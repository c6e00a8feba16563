"""The kubelet's log endpoint: GET /containerLogs/<ns>/<pod>/<container>.

Plain HTTP bound to the node IP (inside the node's network namespace), as
agreed with the apiserver (k8snet/apiserver/podlog.py), which proxies
`kubectl logs` here. It takes no credentials: the apiserver sends none, and
only hosts on the emulated fabric can reach the node IP. Query parameters:
tailLines, timestamps, sinceSeconds, sinceTime, limitBytes, previous, follow
(follow streams new lines until the container's log gets a newer attempt, the
Pod goes away, or the client hangs up).
"""

from __future__ import annotations

import glob
import logging
import os
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Callable, Optional
from urllib.parse import parse_qsl, unquote, urlsplit

from k8snet.kubelet import logs
from k8snet.machinery.httpserver import HTTPServer

FOLLOW_POLL = 0.2


def find_container_dir(root_dir: str, namespace: str, pod: str, container: str) -> Optional[str]:
    """The newest log directory of that Pod's container (Pod uid unknown to the caller)."""
    pattern = os.path.join(glob.escape(os.path.join(root_dir, "pods")),
                           glob.escape(f"{namespace}_{pod}_") + "*", glob.escape(container))
    dirs = [d for d in glob.glob(pattern) if os.path.isdir(d)]
    return max(dirs, key=os.path.getmtime) if dirs else None


class LogHandler(BaseHTTPRequestHandler):
    server_version = "k8snet-kubelet"
    root_dir = ""
    clock: Callable[[], float] = staticmethod(time.time)

    def log_message(self, fmt: str, *args: object) -> None:
        logging.getLogger("k8snet.kubelet.logs").debug(fmt, *args)

    def _fail(self, code: int, message: str) -> None:
        data = (message + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        url = urlsplit(self.path)
        parts = [unquote(p) for p in url.path.strip("/").split("/")]
        if url.path == "/healthz":
            self._fail(200, "ok")
            return
        if len(parts) != 4 or parts[0] != "containerLogs" or not all(parts[1:]):
            self._fail(404, f"not found: {url.path}; use /containerLogs/<ns>/<pod>/<container>")
            return
        _, ns, pod, container = parts
        try:
            query = logs.parse_query(dict(parse_qsl(url.query)), self.clock())
        except ValueError as exc:
            self._fail(400, str(exc))
            return
        cdir = find_container_dir(self.root_dir, ns, pod, container)
        path = logs.pick_log_file(cdir, os.listdir(cdir), query.previous) if cdir else None
        if path is None:
            what = "previous terminated container" if query.previous else "container"
            self._fail(404, f'{what} "{container}" in pod "{pod}" not found (no log yet)')
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        if not query.follow:
            with open(path, encoding="utf-8", errors="replace") as fh:
                text = "".join(logs.render(e, query.timestamps)
                               for e in logs.select(logs.parse(fh), query))
            data = text.encode()
            if query.limit_bytes is not None:
                data = data[:query.limit_bytes]
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            self._follow(path, cdir or "", query)
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _chunk(self, text: str) -> None:
        data = text.encode()
        if data:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

    def _follow(self, path: str, cdir: str, query: logs.LogQuery) -> None:
        with open(path, encoding="utf-8", errors="replace") as fh:
            lines = fh.readlines()
            tail = "" if not lines or lines[-1].endswith("\n") else lines.pop()
            self._chunk("".join(logs.render(e, query.timestamps)
                                for e in logs.select(logs.parse(lines), query)))
            pending: list = []
            while os.path.exists(path):
                chunk = fh.readline()
                if not chunk:
                    newest = logs.pick_log_file(cdir, os.listdir(cdir), False) \
                        if os.path.isdir(cdir) else None
                    if newest != path:
                        return  # the container restarted or the Pod is gone
                    time.sleep(FOLLOW_POLL)
                    continue
                tail += chunk
                if not tail.endswith("\n"):
                    continue
                pending.append(tail)
                tail = ""
                rec = logs.parse_line(pending[-1])
                if rec is not None and rec[3] == "P":
                    continue  # a partial record: wait for the rest of the line
                self._chunk("".join(logs.render(e, query.timestamps)
                                    for e in logs.parse(pending)))
                pending = []


class LogServer:
    """An HTTP server serving container logs from `root_dir`."""

    def __init__(self, host: str, port: int, root_dir: str, handler: Optional[type] = None):
        handler = handler or type("BoundLogHandler", (LogHandler,), {"root_dir": root_dir})
        self.httpd = HTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]

    def start(self) -> threading.Thread:
        t = threading.Thread(target=self.httpd.serve_forever, daemon=True, name="logserver")
        t.start()
        return t

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
