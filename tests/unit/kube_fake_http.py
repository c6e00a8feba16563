"""A tiny scripted HTTP(S) server for testing k8snet.machinery.client without an apiserver.

Routes map (method, path-without-query) to a handler returning
(status, body-or-list-of-watch-events, content_type). Every request is recorded.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Optional

Handler = Callable[[dict], tuple]


class FakeServer:
    """Serve scripted answers on 127.0.0.1:<free port>."""

    def __init__(self, token: Optional[str] = "secret", ssl_context: Any = None):
        self.token = token
        self.routes: dict[tuple[str, str], Handler] = {}
        self.requests: list[dict] = []
        self._ssl = ssl_context
        self._httpd: Optional[ThreadingHTTPServer] = None

    def route(self, method: str, path: str, handler: Handler) -> None:
        self.routes[(method, path)] = handler

    @property
    def url(self) -> str:
        scheme = "https" if self._ssl else "http"
        return f"{scheme}://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> FakeServer:
        fake = self

        class Req(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                path, _, query = self.path.partition("?")
                req = {"method": self.command, "path": path, "query": query,
                       "headers": dict(self.headers), "body": raw,
                       "peer": self.client_address}
                fake.requests.append(req)
                if fake.token and self.headers.get("Authorization") != f"Bearer {fake.token}":
                    return self._send(401, {"kind": "Status", "code": 401,
                                            "reason": "Unauthorized", "message": "no token"})
                handler = fake.routes.get((self.command, path))
                if handler is None:
                    return self._send(404, {"kind": "Status", "code": 404, "reason": "NotFound",
                                            "message": f"{path} not found"})
                status, body, *rest = handler(req)
                if isinstance(body, list):
                    return self._stream(status, body)
                self._send(status, body, rest[0] if rest else "application/json")

            def _send(self, status: int, body: Any, ctype: str = "application/json") -> None:
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, status: int, events: list) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for event in events:
                    line = json.dumps(event).encode() + b"\n"
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
                self.close_connection = True

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Req)
        self._httpd.daemon_threads = True
        if self._ssl:
            self._httpd.socket = self._ssl.wrap_socket(self._httpd.socket, server_side=True)
        threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()
