"""Test helper: run `k8snet apiserver` as a subprocess on a free loopback port."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Optional


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ApiServerProc:
    """One apiserver process; restartable on the same port and data dir."""

    def __init__(self, tmp: str, port: Optional[int] = None, extra: tuple = ()) -> None:
        self.tmp = tmp
        self.data_dir = os.path.join(tmp, "data")
        self.kubeconfig = os.path.join(tmp, "kubeconfig")
        self.port = port or free_port()
        self.extra = list(extra)
        self.proc: Optional[subprocess.Popen] = None
        self.log_path = os.path.join(tmp, "apiserver.log")

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def token(self) -> str:
        with open(os.path.join(self.data_dir, "token")) as f:
            return f.read().strip()

    @property
    def ca_file(self) -> str:
        return os.path.join(self.data_dir, "ca.crt")

    def start(self, deadline: float = 30.0) -> ApiServerProc:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "k8snet.cli", "apiserver", "--data-dir", self.data_dir,
             "--port", str(self.port), "--kubeconfig-out", self.kubeconfig] + self.extra,
            stdout=log, stderr=subprocess.STDOUT,
            cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
        log.close()
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"apiserver exited with {self.proc.returncode}: "
                                   f"{self.log()}")
            try:
                if os.path.exists(self.kubeconfig) and self.get("/readyz", raw=True) == b"ok":
                    return self
            except (OSError, urllib.error.URLError, ssl.SSLError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"apiserver not ready on {self.url} within {deadline}s: {self.log()}")

    def log(self) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def log_text(self) -> str:
        """The whole log (log() is its tail, for messages)."""
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_file)

    def request(self, method: str, path: str, body: object = None, token: Optional[str] = "",
                ctype: str = "application/json", raw: bool = False, accept: str = ""):
        """(code, decoded body); token '' means the real one, None means none."""
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        tok = self.token if token == "" else token
        if tok:
            req.add_header("Authorization", f"Bearer {tok}")
        if data is not None:
            req.add_header("Content-Type", ctype)
        if accept:
            req.add_header("Accept", accept)
        try:
            with urllib.request.urlopen(req, context=self.ssl_context(), timeout=30) as r:
                payload, code = r.read(), r.status
        except urllib.error.HTTPError as e:
            payload, code = e.read(), e.code
        if raw:
            return payload
        return code, (json.loads(payload) if payload.strip() else None)

    def get(self, path: str, raw: bool = False):
        return self.request("GET", path, raw=raw)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=15)

    def kill9(self) -> None:
        self.stop(signal.SIGKILL)


class EtcdForTest:
    """A single-member etcd on free loopback ports (skips when etcd is not installed)."""

    def __init__(self, tmp: str) -> None:
        from k8snet.store.etcd_process import EtcdMember
        self.tmp = tmp
        self.member = EtcdMember("apitest", "127.0.0.1", free_port(), free_port())
        self.proc: Optional[subprocess.Popen] = None

    def start(self) -> str:
        """Start it; the store URL."""
        from k8snet.store.etcd_process import (
            render_etcd_command,
            start_etcd,
            store_url,
            wait_healthy,
        )
        log = os.path.join(self.tmp, "etcd.log")
        self.proc = start_etcd(render_etcd_command(self.member, [self.member],
                                                   os.path.join(self.tmp, "etcd")), log)
        wait_healthy(self.member.client_url, time.monotonic() + 30, self.proc, log)
        return store_url([self.member])

    def stop(self) -> None:
        from k8snet.store.etcd_process import stop_etcd
        if self.proc is not None:
            stop_etcd(self.proc)
