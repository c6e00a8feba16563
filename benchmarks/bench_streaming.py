"""Streaming figures on one node (root): `kubectl exec` round trip, port-forward throughput.

One worker in a scratch netns (the integration tests' stack: apiserver,
runtime, kubelet). `kubectl exec POD -- true` is timed N times end to end
(kubectl start, discovery cache warm, apiserver -> kubelet over TLS -> CRI
streaming -> nsenter); next to it, the same kubectl start for `kubectl get
pod POD`, which does one plain request. Then 100 MiB from a Pod's port read
through `kubectl port-forward` and read directly from the Pod's IP, in the
same run.

    python -m benchmarks.bench_streaming [--execs 40] [--mib 100]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from benchmarks.common import fmt_ms
from benchmarks.common import percentile as pct

# the source Pod: every connection to :9000 gets `size` bytes, written in 1 MiB blocks
SOURCE = """
import socket
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("0.0.0.0", 9000))
srv.listen(4)
block = bytes(1 << 20)
while True:
    conn, _ = srv.accept()
    left = {size}
    while left > 0:
        conn.sendall(block[:min(left, len(block))])
        left -= len(block)
    conn.close()
"""

READ_ALL = """
import socket, time
for _ in range(100):
    try:
        s = socket.create_connection(("{host}", {port})); break
    except ConnectionRefusedError:
        time.sleep(0.05)
t, n = time.monotonic(), 0
while True:
    d = s.recv(1 << 20)
    if not d:
        break
    n += len(d)
print(n, time.monotonic() - t)
"""


def timed(argv: list, env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, check=True, capture_output=True, timeout=60)
    return time.perf_counter() - start


def read_through(node, host: str, port: int) -> tuple[int, float]:
    out = subprocess.run(["ip", "netns", "exec", node.ns, sys.executable, "-c",
                          READ_ALL.format(host=host, port=port)], capture_output=True,
                         text=True, check=True, timeout=300).stdout.split()
    return int(out[0]), float(out[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--execs", type=int, default=40)
    parser.add_argument("--mib", type=int, default=100)
    args = parser.parse_args()
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from tests.integration.kubelet_stack import NODE, POD_CIDR, NodeStack, wait_for

    node = NodeStack(tempfile.mkdtemp(prefix="k8snet-bench-stream-"))
    try:
        node.start()
        wait_for("node registered", lambda: node.get("node", NODE), deadline=60)
        cidr = json.dumps({"spec": {"podCIDR": POD_CIDR, "podCIDRs": [POD_CIDR]}})
        wait_for("podCIDR", lambda: node.kubectl("patch", "node", NODE, "--type", "merge",
                                                 "-p", cidr, check=False).returncode == 0)
        node.apply({"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": "bench", "namespace": "default"},
                    "spec": {"nodeName": NODE, "terminationGracePeriodSeconds": 1,
                             "containers": [{"name": "c", "image": "busybox",
                                             "command": ["sleep", "3600"]}]}})
        node.apply({"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": "source", "namespace": "default"},
                    "spec": {"nodeName": NODE, "terminationGracePeriodSeconds": 1,
                             "containers": [{"name": "c", "image": "python", "command": [
                                 "python3", "-c", SOURCE.format(size=args.mib << 20)]}]}})
        for name in ("bench", "source"):
            wait_for(f"pod {name} running", lambda n=name: (node.get("pod", n) or {}).get(
                "status", {}).get("phase") == "Running", deadline=90)
        pod = node.get("pod", "source")
        env = dict(os.environ, HOME=node.home, KUBECONFIG=node.kubeconfig)
        base = ["ip", "netns", "exec", node.ns, "kubectl"]
        timed(base + ["exec", "bench", "--", "true"], env)  # warm the discovery cache
        execs = [timed(base + ["exec", "bench", "--", "true"], env) for _ in range(args.execs)]
        gets = [timed(base + ["get", "pod", "bench"], env) for _ in range(args.execs)]
        print(f"kubectl exec POD -- true ({args.execs} runs): P50 {fmt_ms(pct(execs, 50))}, "
              f"P99 {fmt_ms(pct(execs, 99))}")
        print(f"kubectl get pod POD (same kubectl start): P50 {fmt_ms(pct(gets, 50))}, "
              f"P99 {fmt_ms(pct(gets, 99))}; exec/get P50 ratio "
              f"{pct(execs, 50) / pct(gets, 50):.2f}")

        size = args.mib << 20
        n_direct, t_direct = read_through(node, pod["status"]["podIP"], 9000)
        pf = subprocess.Popen(base + ["port-forward", "pod/source", "19000:9000"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            pf.stdout.readline()
            n_pf, t_pf = read_through(node, "127.0.0.1", 19000)
        finally:
            pf.kill()
            pf.wait()
        mb = 1 << 20
        print(f"{args.mib} MiB direct from the Pod IP: {n_direct / mb / t_direct:.0f} MiB/s "
              f"({n_direct == size and 'complete' or f'{n_direct} bytes'})")
        print(f"{args.mib} MiB through kubectl port-forward: {n_pf / mb / t_pf:.1f} MiB/s "
              f"({n_pf == size and 'complete' or f'{n_pf} bytes'}); "
              f"port-forward/direct {(n_pf / t_pf) / (n_direct / t_direct):.3f}")
    finally:
        node.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
