"""k8snet's agnhost: the `netexec`, `serve-hostname` and `pause` subcommands.

Behaves like Kubernetes' e2e test image for the endpoints and flags that
networking tests use (`python -m k8snet.images.agnhost netexec --http-port=8080`).

netexec HTTP: / (NOW: time), /clientip (the ip:port the server saw),
/echo?msg=, /hostname and /hostName, /header?key=, /healthz, /exit?code=,
/shell?cmd=, /dial?request=&host=&port=&protocol=&tries=, /shutdown.
netexec UDP: "hostname", "echo X", "clientip". SCTP is not served.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler
from typing import Callable, Optional, Sequence

from k8snet.images.flags import parse_flags
from k8snet.machinery.httpserver import HTTPServer

USAGE = """agnhost (k8snet): a subset of Kubernetes' e2e test image.

Usage: agnhost SUBCOMMAND [flags]

Subcommands:
  netexec         HTTP and UDP servers with echo, clientip, hostname, dial, shell, exit
                  --http-port=8080 --udp-port=8081 --sctp-port=-1
  serve-hostname  answers with the hostname; --port=9376 --http=true --tcp --udp --close
  pause           sleeps until SIGTERM
"""


# ------------------------------------------------------------ pure parts


def udp_reply(message: str, hostname: str, client: str) -> Optional[str]:
    """netexec's answer to one UDP datagram (None: no answer)."""
    text = message.strip()
    if text == "hostname":
        return hostname
    if text == "clientip":
        return client
    if text.startswith("echo "):
        return text[len("echo "):]
    return None


def parse_dial(query: dict) -> tuple[str, str, int, str, int]:
    """(request, host, port, protocol, tries) from /dial's query; ValueError if bad."""
    def one(name: str, default: Optional[str] = None) -> str:
        values = query.get(name)
        if not values:
            if default is None:
                raise ValueError(f"missing parameter {name}")
            return default
        return values[0]

    request, host = one("request"), one("host")
    try:
        port, tries = int(one("port")), int(one("tries", "1"))
    except ValueError as exc:
        raise ValueError(f"bad port or tries: {exc}") from exc
    protocol = one("protocol", "http").lower()
    if protocol not in ("http", "udp"):
        raise ValueError(f"unsupported protocol {protocol!r} (http or udp)")
    return request, host, port, protocol, max(1, tries)


def dial_once(request: str, host: str, port: int, protocol: str, timeout: float = 5.0) -> str:
    """One /dial try: the peer's answer text; raises OSError on failure."""
    if protocol == "udp":
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.settimeout(timeout)
            sock.sendto(request.encode(), (host, port))
            return sock.recv(65535).decode("utf-8", "replace").strip()
    hostport = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    path = request if request.startswith("/") else "/" + request
    # http.client, which http.server has loaded already: every Pod of this image
    # starts faster and smaller without urllib.request (hashlib, mimetypes, ...).
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Host": hostport})
        resp = conn.getresponse()
        body = resp.read().decode("utf-8", "replace").strip()
    except http.client.HTTPException as exc:
        raise OSError(f"bad HTTP answer: {exc!r}") from exc
    finally:
        conn.close()
    if resp.status >= 400:
        raise OSError(f"HTTP Error {resp.status}: {resp.reason}")
    return body


def dial(query: dict, dial_fn: Callable[..., str] = dial_once) -> dict:
    """The /dial answer: every successful try's response, and the errors."""
    request, host, port, protocol, tries = parse_dial(query)
    out: dict = {"responses": []}
    for _ in range(tries):
        try:
            out["responses"].append(dial_fn(request, host, port, protocol))
        except (OSError, ValueError) as exc:
            out.setdefault("errors", []).append(f"reading from {host}:{port}: {exc}")
    return out


# ---------------------------------------------------------------- netexec


class QuietHTTPServer(HTTPServer):
    """An HTTP server that does not resolve its own name at bind time
    (see k8snet.machinery.httpserver) and rebinds a port in TIME_WAIT."""

    allow_reuse_address = True


def exit_on_sigterm() -> None:
    """Like the Go binary: SIGTERM ends the process (even as PID 1 of a namespace)."""
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))


class NetexecHandler(BaseHTTPRequestHandler):
    server_version = "agnhost-k8snet"
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt: str, *args: object) -> None:
        sys.stdout.write(f"{self.address_string()} {fmt % args}\n")
        sys.stdout.flush()

    def _send(self, body: str, code: int = 200, ctype: str = "text/plain; charset=utf-8") -> None:
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        arg = lambda name, default="": query.get(name, [default])[0]  # noqa: E731
        path = url.path
        if path == "/":
            self._send(f"NOW: {time.strftime('%Y-%m-%d %H:%M:%S %z')}")
        elif path == "/clientip":
            host, port = self.client_address[:2]
            self._send(f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
        elif path == "/echo":
            self._send(arg("msg"), int(arg("code", "200") or 200))
        elif path in ("/hostname", "/hostName"):
            self._send(socket.gethostname())
        elif path == "/header":
            self._send(self.headers.get(arg("key"), ""))
        elif path in ("/healthz", "/readyz"):
            self._send("ok")
        elif path == "/exit":
            code = arg("code", "0")
            if not code.isdigit() or int(code) > 127:
                self._send(f"bad exit code {code!r}", 400)
                return
            sys.stdout.flush()
            os._exit(int(code))
        elif path == "/shell":
            self._shell(arg("cmd"))
        elif path == "/dial":
            try:
                self._send(json.dumps(dial(query)), ctype="application/json")
            except ValueError as exc:
                self._send(str(exc), 400)
        elif path == "/shutdown":
            self._send("shutting down")
            threading.Thread(target=self.server.shutdown, daemon=True).start()
        else:
            self._send("404 page not found", 404)

    do_POST = do_GET  # noqa: N815

    def _shell(self, cmd: str) -> None:
        import subprocess  # only here: most Pods of this image never run a shell
        try:
            proc = subprocess.run(["sh", "-c", cmd], stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, timeout=30, check=False)
            out: dict = {"output": proc.stdout.decode("utf-8", "replace")}
            if proc.returncode != 0:
                out["error"] = f"exit status {proc.returncode}"
        except (OSError, subprocess.TimeoutExpired) as exc:
            out = {"output": "", "error": str(exc)}
        self._send(json.dumps(out), ctype="application/json")


def serve_udp(port: int, reply: Callable[[str, str], Optional[str]]) -> threading.Thread:
    """A UDP server thread answering each datagram with reply(text, client)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("", port))

    def loop() -> None:
        while True:
            data, addr = sock.recvfrom(65535)
            answer = reply(data.decode("utf-8", "replace"), f"{addr[0]}:{addr[1]}")
            if answer is not None:
                sock.sendto(answer.encode(), addr)

    thread = threading.Thread(target=loop, name=f"udp-{port}", daemon=True)
    thread.start()
    return thread


def netexec(argv: Sequence[str]) -> int:
    values, _pos, unknown = parse_flags(argv, {"http_port": 8080, "udp_port": 8081,
                                               "sctp_port": -1, "delay_shutdown": 0})
    for name in unknown:
        print(f"netexec: ignoring unsupported flag --{name}", file=sys.stderr)
    hostname = socket.gethostname()
    if values["udp_port"] > 0:
        serve_udp(values["udp_port"], lambda text, client: udp_reply(text, hostname, client))
        print(f"Started UDP server on port {values['udp_port']}", flush=True)
    if values["sctp_port"] > 0:
        print("netexec: SCTP is not served by k8snet's agnhost", file=sys.stderr, flush=True)
    server = QuietHTTPServer(("", values["http_port"]), NetexecHandler)
    print(f"Started HTTP server on port {values['http_port']}", flush=True)
    server.serve_forever()
    server.server_close()
    return 0


# --------------------------------------------------------- serve-hostname


class HostnameHandler(BaseHTTPRequestHandler):
    def log_message(self, fmt: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        data = socket.gethostname().encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def serve_hostname(argv: Sequence[str]) -> int:
    values, _pos, unknown = parse_flags(argv, {"port": 9376, "tcp": False, "udp": False,
                                               "http": True, "close": False})
    for name in unknown:
        print(f"serve-hostname: ignoring unsupported flag --{name}", file=sys.stderr)
    if values["http"] and (values["tcp"] or values["udp"]):
        print("serve-hostname: can't use both --http and --tcp/--udp", file=sys.stderr)
        return 2
    hostname, port = socket.gethostname(), values["port"]
    if values["udp"]:
        serve_udp(port, lambda _text, _client: hostname)
        print(f"Serving on port {port}/udp", flush=True)
    if values["tcp"]:
        threading.Thread(target=_serve_tcp_hostname, args=(port, hostname), daemon=True).start()
        print(f"Serving on port {port}/tcp", flush=True)
    if values["http"]:
        server = QuietHTTPServer(("", port), HostnameHandler)
        print(f"Serving on port {port}/http", flush=True)
        server.serve_forever()
        return 0
    threading.Event().wait()
    return 0


def _serve_tcp_hostname(port: int, hostname: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("", port))
        sock.listen(64)
        while True:
            conn, _addr = sock.accept()
            with conn:
                conn.sendall(hostname.encode())


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    sub, rest = args[0], args[1:]
    exit_on_sigterm()
    if sub == "netexec":
        return netexec(rest)
    if sub == "serve-hostname":
        return serve_hostname(rest)
    if sub == "pause":
        from k8snet.images.pause import main as pause_main

        return pause_main()
    print(f'agnhost: unknown command "{sub}" (k8snet implements netexec, serve-hostname, '
          "pause)", file=sys.stderr)
    return 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ValueError as exc:
        print(f"agnhost: {exc}", file=sys.stderr)
        sys.exit(2)
