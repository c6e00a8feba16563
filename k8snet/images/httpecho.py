"""hashicorp/http-echo: an HTTP server answering every request with one text.

Flags as the original: ``-text`` (required), ``-listen`` (default ``:5678``),
``-status-code`` (default 200). `/health` answers ``{"status":"ok"}``.
"""

from __future__ import annotations

import http.server
import signal
import sys
from typing import Sequence, Tuple

from k8snet.images.flags import parse_flags
from k8snet.machinery.httpserver import HTTPServer

DEFAULTS = {"text": "", "listen": ":5678", "status_code": 200}


def parse(argv: Sequence[str]) -> Tuple[str, str, int, int]:
    """(text, host, port, status); ValueError with the original's message."""
    values, _pos, unknown = parse_flags(argv, DEFAULTS)
    if unknown:
        raise ValueError(f"flag provided but not defined: -{unknown[0]}")
    if not values["text"]:
        raise ValueError("Missing -text option!")
    host, _, port = values["listen"].rpartition(":")
    return values["text"], host, int(port), int(values["status_code"])


def main(argv: Sequence[str]) -> int:
    try:
        text, host, port, status = parse(argv)
    except ValueError as exc:
        print(f"[ERR] {exc}", file=sys.stderr)
        return 127
    body = (text + "\n").encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        server_version = "http-echo"

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            if self.path == "/health":
                self._answer(200, b'{"status":"ok"}\n', "application/json")
            else:
                self._answer(status, body, "text/plain; charset=utf-8")

        do_POST = do_PUT = do_DELETE = do_HEAD = do_GET  # noqa: N815

        def _answer(self, code: int, data: bytes, ctype: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-App-Name", "http-echo")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def log_message(self, fmt: str, *args: object) -> None:
            print(f"{self.address_string()} {fmt % args}", flush=True)

    server = HTTPServer((host, port), Handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"[INFO] server is listening on {host}:{port}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
