"""API latency of the apiserver over HTTPS: P50/P99 of create, get and list (a namespace of
50 Pods) at 20 and 200 requests/s (open loop), with the SQLite and the etcd store.

    python -m benchmarks.bench_api [--seconds 5] [--dir DIR]

Each request is timed from the moment it is sent until its reply is read; requests go out
on a fixed schedule from a pool of keep-alive connections, so a slow server shows as
higher latency and an achieved rate below the target.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Optional

import requests

from k8snet.store.etcd_process import (
    ETCD_BIN,
    EtcdMember,
    render_etcd_command,
    start_etcd,
    stop_etcd,
    store_url,
    wait_healthy,
)

LIST_SIZE = 50  # Pods in the listed namespace
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """An apiserver subprocess for the benchmark."""

    def __init__(self, tmp: str, store: Optional[str]) -> None:
        os.makedirs(tmp, exist_ok=True)
        self.data = os.path.join(tmp, "apiserver")
        self.port = free_port()
        argv = [sys.executable, "-m", "k8snet.cli", "apiserver", "--data-dir", self.data,
                "--port", str(self.port)] + (["--store", store] if store else [])
        self.log = open(os.path.join(tmp, "apiserver.log"), "wb")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, cwd=REPO)
        self.url = f"https://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(self.url + "/readyz", verify=False, timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError("apiserver did not become ready within 30s")
            time.sleep(0.1)
        with open(os.path.join(self.data, "token")) as f:
            self.token = f.read().strip()
        self.ca = os.path.join(self.data, "ca.crt")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def percentile(values: list, q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))] if s else float("nan")


def run_rate(srv: Server, rate: float, seconds: float,
             request: Callable[[requests.Session, int], int]) -> dict:
    """Send rate*seconds requests on schedule; latencies in ms and the achieved rate."""
    local = threading.local()

    def session() -> requests.Session:
        if not hasattr(local, "s"):
            s = requests.Session()
            s.trust_env = False
            s.verify = srv.ca
            s.headers["Authorization"] = f"Bearer {srv.token}"
            local.s = s
        return local.s

    lat: list = []
    errors = [0]

    def one(i: int) -> None:
        t = time.perf_counter()
        code = request(session(), i)
        lat.append((time.perf_counter() - t) * 1000)
        if code >= 400:
            errors[0] += 1
    n = int(rate * seconds)
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=64) as pool:
        for i in range(n):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(one, i)
    took = time.perf_counter() - start
    return {"n": n, "p50": percentile(lat, 0.5), "p99": percentile(lat, 0.99),
            "rate": n / took, "errors": errors[0]}


def bench(srv: Server, name: str, seconds: float) -> None:
    base = srv.url + "/api/v1/namespaces/default/pods"
    tag = [0]

    def pod(i: int) -> bytes:
        return json.dumps({"apiVersion": "v1", "kind": "Pod",
                           "metadata": {"name": f"b{tag[0]}-{i}", "labels": {"bench": "1"}},
                           "spec": {"containers": [{"name": "c", "image": "busybox"}]}}).encode()

    lst = srv.url + "/api/v1/namespaces/bench-list/pods"
    with requests.Session() as s:
        s.trust_env = False
        s.verify = srv.ca
        s.headers["Authorization"] = f"Bearer {srv.token}"
        s.headers["Content-Type"] = "application/json"
        s.post(srv.url + "/api/v1/namespaces", timeout=30,
               data=json.dumps({"metadata": {"name": "bench-list"}}))
        for i in range(LIST_SIZE):
            s.post(lst, data=pod(i), timeout=30)
    ops = {
        "create": lambda s, i: s.post(base, data=pod(i), timeout=30,
                                      headers={"Content-Type": "application/json"}).status_code,
        "get": lambda s, i: s.get(f"{base}/b1-{i % 50}", timeout=30).status_code,
        "list": lambda s, i: s.get(lst + "?limit=500", timeout=30).status_code,
    }
    for rate in (20, 200):
        for op, fn in ops.items():
            tag[0] += 1
            if op != "create":
                tag[0] -= 1
            r = run_rate(srv, rate, seconds, fn)
            print(f"  {name:6} {op:6} target {rate:3}/s: achieved {r['rate']:6.1f}/s  "
                  f"P50 {r['p50']:7.1f} ms  P99 {r['p99']:7.1f} ms  "
                  f"(n={r['n']}, errors={r['errors']})", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0, help="per rate and verb")
    parser.add_argument("--dir", default=None, help="where data goes (default: temp dir)")
    args = parser.parse_args(argv)
    import urllib3
    urllib3.disable_warnings()
    with tempfile.TemporaryDirectory(prefix="k8snet-bench-api-", dir=args.dir) as tmp:
        srv = Server(os.path.join(tmp, "sqlite"), None)
        try:
            bench(srv, "sqlite", args.seconds)
        finally:
            srv.stop()
        if not os.access(ETCD_BIN, os.X_OK):
            print(f"  etcd: skipped ({ETCD_BIN} missing)")
            return 0
        member = EtcdMember("benchapi", "127.0.0.1", free_port(), free_port())
        log = os.path.join(tmp, "etcd.log")
        proc = start_etcd(render_etcd_command(member, [member], os.path.join(tmp, "etcd")), log)
        try:
            wait_healthy(member.client_url, time.monotonic() + 30, proc, log)
            srv = Server(os.path.join(tmp, "etcd-api"), store_url([member]))
            try:
                bench(srv, "etcd", args.seconds)
            finally:
                srv.stop()
        finally:
            stop_etcd(proc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
