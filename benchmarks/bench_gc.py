"""Garbage collection and namespace deletion with `k8snet control-plane --simulated-nodes`:
how long each propagation policy takes for a Deployment of R replicas, how long deleting
a namespace takes, and what the controller-manager's informers (one per resource) cost
while nothing happens.

    python -m benchmarks.bench_gc [--replicas 100] [--nodes 10] [--store etcd://...]

Times run from the DELETE request until an informer shows the end state (all Pods gone
for background and foreground, the Deployment gone and its ReplicaSet without owner for
orphan, the Namespace gone).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import Optional

from k8snet.machinery.client import ApiClient
from k8snet.machinery.informer import Informer, wait_until

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(x) for x in fh.read().split()]
    except OSError:
        return []


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def deployment(name: str, replicas: int) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {
                         "containers": [{"name": "c", "image": "busybox"}]}}}}


def pods_of(name: str, items: dict) -> list:
    return [p for p in items.values() if (p["metadata"].get("labels") or {}).get("app") == name]


def one_policy(client: ApiClient, policy: str, replicas: int, ready, pods: Informer,
               rss: Informer, deps: Informer, kcm: int) -> tuple[float, float]:
    """Create a Deployment, wait until it is available, delete it with `policy` and wait
    for the end state: (seconds, controller-manager CPU seconds)."""
    name = policy.lower()
    client.create("deployments", deployment(name, replicas), "default")
    ready(name)
    c0, t0 = cpu_seconds(kcm), time.monotonic()
    client.delete("deployments", name, "default", propagation_policy=policy)
    if policy == "Orphan":
        wait_until(rss, lambda items: any(
            r["metadata"]["name"].startswith(name + "-") and
            not r["metadata"].get("ownerReferences") for r in items.values()),
            timeout=300, what="the ReplicaSet orphaned")
    else:
        wait_until(pods, lambda items: not pods_of(name, items), timeout=300,
                   what=f"Pods of {name} gone")
    wait_until(deps, lambda items: f"default/{name}" not in items, timeout=300,
               what="the Deployment gone")
    took, cpu = time.monotonic() - t0, cpu_seconds(kcm) - c0
    if policy == "Orphan":  # tidy up
        for r in list(rss.snapshot().values()):
            if r["metadata"]["name"].startswith(name + "-"):
                client.delete("replicasets", r["metadata"]["name"], "default",
                              propagation_policy="Background")
        wait_until(pods, lambda items: not pods_of(name, items), timeout=300,
                   what="orphaned Pods cleaned up")
    return took, cpu


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="bench_gc")
    ap.add_argument("--replicas", type=int, default=100)
    ap.add_argument("--nodes", type=int, default=10)
    ap.add_argument("--store", default="")
    ap.add_argument("--idle-seconds", type=float, default=30.0)
    args = ap.parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="k8snet-bench-gc-")
    data = os.path.join(tmp, "cp")
    cmd = [sys.executable, "-m", "k8snet.cli", "control-plane", "--data-dir", data,
           "--port", "0", "--simulated-nodes", str(args.nodes)]
    if args.store:
        cmd += ["--store", args.store]
    out = open(os.path.join(tmp, "out.log"), "wb")
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
    stop = threading.Event()
    try:
        end = time.monotonic() + 90
        while "simulated nodes" not in open(os.path.join(tmp, "out.log")).read():
            if proc.poll() is not None or time.monotonic() > end:
                raise SystemExit(open(os.path.join(tmp, "out.log")).read())
            time.sleep(0.2)
        client = ApiClient.from_kubeconfig(os.path.join(data, "kubeconfig"), timeout=30)
        kcm = next(p for p in children(proc.pid) if "controller-manager" in cmdline(p))
        pods = Informer(client, "pods")
        rss = Informer(client, "replicasets")
        deps = Informer(client, "deployments")
        nss = Informer(client, "namespaces")
        for inf in (pods, rss, deps, nss):
            inf.start(stop)
            inf.wait_synced(30)
        time.sleep(5)
        c0, t0 = cpu_seconds(kcm), time.monotonic()
        time.sleep(args.idle_seconds)
        idle = (cpu_seconds(kcm) - c0) / (time.monotonic() - t0)
        print(f"controller-manager idle CPU with {args.nodes} simulated nodes: "
              f"{100 * idle:.1f}% of a core")

        def ready(name: str, ns: str = "default") -> None:
            wait_until(deps, lambda items: ((items.get(f"{ns}/{name}") or {}).get(
                "status") or {}).get("availableReplicas") == args.replicas,
                timeout=300, what=f"{name} available")

        for policy in ("Background", "Foreground", "Orphan"):
            took, cpu = one_policy(client, policy, args.replicas, ready, pods, rss, deps, kcm)
            print(f"{policy:10s} {args.replicas} Pods: {took:6.2f} s "
                  f"(controller-manager CPU {cpu:.2f} s)")
        client.create("namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                     "metadata": {"name": "bench"}})
        client.create("deployments", deployment("nsweb", args.replicas), "bench")
        for i in range(20):
            client.create("services", {"apiVersion": "v1", "kind": "Service",
                                       "metadata": {"name": f"s{i}"},
                                       "spec": {"ports": [{"port": 80}]}}, "bench")
        ready("nsweb", "bench")
        c0, t0 = cpu_seconds(kcm), time.monotonic()
        client.delete("namespaces", "bench")
        wait_until(nss, lambda items: "bench" not in items, timeout=600,
                   what="namespace bench gone")
        print(f"namespace with {args.replicas} Pods + 20 Services deleted in "
              f"{time.monotonic() - t0:6.2f} s (controller-manager CPU "
              f"{cpu_seconds(kcm) - c0:.2f} s)")
        return 0
    finally:
        stop.set()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)


if __name__ == "__main__":
    sys.exit(main())
