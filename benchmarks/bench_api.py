"""API latency of the apiserver over HTTPS: P50/P99 of create, get and list (a namespace of
50 objects) of a large kind (Pod) and a small one (Lease) at 20 and 200 requests/s (open
loop), with the SQLite and the etcd store, for this checkout and, in the same run, for a
baseline commit (default: the last commit before the machinery layer and the generic API).

    python -m benchmarks.bench_api [--seconds 5] [--dir DIR] [--baseline REF|none]

The baseline's apiserver runs from a temporary `git worktree` of REF, so both are measured
on the same machine under the same load; each line prints now, baseline and the ratio.

Each request is timed from the moment it is sent until its reply is read; requests go out
on a fixed schedule from a pool of keep-alive connections, so a slow server shows as
higher latency and an achieved rate below the target.
"""

from __future__ import annotations

import argparse
import contextlib
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

LIST_SIZE = 50  # objects in the listed namespace
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASELINE = "72a4890"  # main before issue 9 (machinery layer, every built-in kind)
RATES = (20, 200)


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """An apiserver subprocess for the benchmark."""

    def __init__(self, tmp: str, store: Optional[str], repo: str = REPO) -> None:
        os.makedirs(tmp, exist_ok=True)
        self.data = os.path.join(tmp, "apiserver")
        self.port = free_port()
        argv = [sys.executable, "-m", "k8snet.cli", "apiserver", "--data-dir", self.data,
                "--port", str(self.port)] + (["--store", store] if store else [])
        self.log = open(os.path.join(tmp, "apiserver.log"), "wb")
        env = dict(os.environ, PYTHONPATH=repo)
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, cwd=repo,
                                     env=env)
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


KINDS = {
    # name: (collection path in a namespace, body for object name N)
    "pod": ("/api/v1/namespaces/{ns}/pods", lambda n: {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": n, "labels": {"bench": "1"}},
        "spec": {"containers": [{"name": "c", "image": "busybox",
                                 "command": ["sleep", "3600"],
                                 "resources": {"requests": {"cpu": "10m"}}}]}}),
    "lease": ("/apis/coordination.k8s.io/v1/namespaces/{ns}/leases", lambda n: {
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": n},
        "spec": {"holderIdentity": "bench"}}),
}


def _session(srv: Server) -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    s.verify = srv.ca
    s.headers["Authorization"] = f"Bearer {srv.token}"
    s.headers["Content-Type"] = "application/json"
    return s


def bench(srv: Server, seconds: float) -> dict:
    """{(kind, op, rate): run_rate result} for every kind, verb and rate."""
    out: dict = {}
    with _session(srv) as s:
        for ns in ("bench", "bench-list"):
            s.post(srv.url + "/api/v1/namespaces", timeout=30,
                   data=json.dumps({"metadata": {"name": ns}}))
        for path, body in KINDS.values():
            for i in range(LIST_SIZE):
                s.post(srv.url + path.format(ns="bench-list"), timeout=30,
                       data=json.dumps(body(f"l-{i}")))
    for kind, (path, body) in KINDS.items():
        base = srv.url + path.format(ns="bench")
        lst = srv.url + path.format(ns="bench-list")
        for rate in RATES:
            tag = f"r{rate}"
            ops = {
                "create": lambda s, i, base=base, body=body, tag=tag: s.post(
                    base, data=json.dumps(body(f"{tag}-{i}")), timeout=30).status_code,
                "get": lambda s, i, base=base, tag=tag: s.get(
                    f"{base}/{tag}-{i % 50}", timeout=30).status_code,
                "list": lambda s, i, lst=lst: s.get(lst + "?limit=500",
                                                    timeout=30).status_code,
            }
            for op, fn in ops.items():
                out[(kind, op, rate)] = run_rate(srv, rate, seconds, fn)
    return out


@contextlib.contextmanager
def checkout(ref: str, tmp: str):
    """A temporary git worktree of `ref` (removed afterwards)."""
    path = os.path.join(tmp, "baseline-src")
    subprocess.run(["git", "-C", REPO, "worktree", "add", "--detach", "-q", path, ref],
                   check=True)
    try:
        yield path
    finally:
        subprocess.run(["git", "-C", REPO, "worktree", "remove", "--force", path],
                       check=False)


def report(store: str, now: dict, base: Optional[dict]) -> None:
    for key, r in now.items():
        kind, op, rate = key
        line = (f"  {store:6} {kind:5} {op:6} {rate:3}/s: achieved {r['rate']:6.1f}/s  "
                f"P50 {r['p50']:6.1f} ms  P99 {r['p99']:7.1f} ms  (errors {r['errors']})")
        b = (base or {}).get(key)
        if b:
            line += (f" | baseline P50 {b['p50']:6.1f}  P99 {b['p99']:7.1f} ms "
                     f"(errors {b['errors']}) | P50 x{r['p50'] / b['p50']:.2f} "
                     f"P99 x{r['p99'] / b['p99']:.2f}")
        print(line, flush=True)


@contextlib.contextmanager
def etcd(tmp: str):
    """A fresh single-member etcd; yields the apiserver's --store URL."""
    os.makedirs(tmp, exist_ok=True)
    member = EtcdMember("benchapi", "127.0.0.1", free_port(), free_port())
    log = os.path.join(tmp, "etcd.log")
    proc = start_etcd(render_etcd_command(member, [member], os.path.join(tmp, "etcd")), log)
    try:
        wait_healthy(member.client_url, time.monotonic() + 30, proc, log)
        yield store_url([member])
    finally:
        stop_etcd(proc)


def run_store(tmp: str, label: str, repos: dict, seconds: float) -> None:
    """Benchmark each checkout against its own fresh store of kind `label`."""
    results = {}
    for which, repo in repos.items():
        work = os.path.join(tmp, f"{label}-{which}")
        with contextlib.ExitStack() as stack:
            store = stack.enter_context(etcd(work)) if label == "etcd" else None
            srv = Server(work, store, repo)
            try:
                results[which] = bench(srv, seconds)
            finally:
                srv.stop()
    report(label, results["now"], results.get("baseline"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0, help="per rate and verb")
    parser.add_argument("--dir", default=None, help="where data goes (default: temp dir)")
    parser.add_argument("--baseline", default=BASELINE,
                        help=f"git ref to compare with (default {BASELINE}); 'none' to skip")
    args = parser.parse_args(argv)
    import urllib3
    urllib3.disable_warnings()
    with tempfile.TemporaryDirectory(prefix="k8snet-bench-api-", dir=args.dir) as tmp, \
            contextlib.ExitStack() as stack:
        repos = {"now": REPO}
        if args.baseline != "none":
            repos["baseline"] = stack.enter_context(checkout(args.baseline, tmp))
        print(f"  baseline: {args.baseline}; {args.seconds:.0f} s per kind, verb and rate")
        run_store(tmp, "sqlite", repos, args.seconds)
        if not os.access(ETCD_BIN, os.X_OK):
            print(f"  etcd: skipped ({ETCD_BIN} missing)")
            return 0
        run_store(tmp, "etcd", repos, args.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
