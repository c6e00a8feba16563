"""Scheduler figures with 50 nodes: the pure decision's rate, and end to end against a
real apiserver (a scheduler process binding Pods created as fast as the client can).

    python -m benchmarks.bench_scheduler [--nodes 50] [--pods 200] [--store URL]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from k8snet.machinery.client import ApiClient, ApiError
from k8snet.scheduler.decide import schedule
from k8snet.scheduler.nodeinfo import build_node_infos


def node(i: int) -> dict:
    res = {"cpu": "8", "memory": "32Gi", "pods": "110"}
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": f"n{i:02d}", "labels": {
                "kubernetes.io/hostname": f"n{i:02d}",
                "topology.kubernetes.io/zone": f"z{i % 3}",
                **({"disk": "ssd"} if i % 2 else {})}},
            "status": {"capacity": res, "allocatable": res,
                       "conditions": [{"type": "Ready", "status": "True"}]}}


def pod(i: int) -> dict:
    spec: dict = {"containers": [{"name": "c", "image": "busybox", "resources": {
        "requests": {"cpu": "100m", "memory": "64Mi"}}}]}
    if i % 4 == 0:
        spec["nodeSelector"] = {"disk": "ssd"}
    if i % 4 == 1:
        spec["affinity"] = {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 50, "podAffinityTerm": {"labelSelector": {"matchLabels": {"app": "b"}},
                                               "topologyKey": "kubernetes.io/hostname"}}]}}
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"p{i:04d}", "namespace": "default",
                         "labels": {"app": "a" if i % 2 else "b"},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                              "name": "rs", "uid": "rs-uid",
                                              "controller": True}]},
            "spec": spec}


def bench_decisions(nodes: int, pods: int) -> None:
    infos = build_node_infos([node(i) for i in range(nodes)], [])
    start = time.perf_counter()
    for i in range(pods):
        p = pod(i)
        decision = schedule(p, infos)
        p["spec"]["nodeName"] = decision.node
        next(info for info in infos if info.name == decision.node).add_pod(p)
    took = time.perf_counter() - start
    print(f"pure decisions: {pods} Pods on {nodes} nodes in {took:.2f}s "
          f"= {pods / took:.0f} Pods/s ({1000 * took / pods:.1f} ms per Pod)")


def _wait_kubeconfig(path: str, proc: subprocess.Popen, deadline: float) -> ApiClient:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError("apiserver exited while starting")
        if os.path.exists(path):
            try:
                client = ApiClient.from_kubeconfig(path)
                client.get("namespaces", "default")
                return client
            except ApiError:
                pass
        time.sleep(0.2)
    raise RuntimeError(f"apiserver not ready within {deadline}s")


def bench_end_to_end(nodes: int, pods: int, store: str, writers: int) -> None:
    tmp = tempfile.mkdtemp(prefix="k8snet-bench-sched-")
    kubeconfig = os.path.join(tmp, "kubeconfig")
    procs = []
    try:
        api_args = [sys.executable, "-m", "k8snet.cli", "apiserver", "--data-dir",
                    os.path.join(tmp, "api"), "--port", "0", "--kubeconfig-out", kubeconfig]
        if store:
            api_args += ["--store", store]
        log = open(os.path.join(tmp, "apiserver.log"), "wb")
        procs.append(subprocess.Popen(api_args, stdout=log, stderr=subprocess.STDOUT))
        client = _wait_kubeconfig(kubeconfig, procs[0], 60)
        for i in range(nodes):
            created = client.create("nodes", node(i))
            created["status"] = node(i)["status"]
            client.update("nodes", created, subresource="status")
        bound_at: dict[str, float] = {}
        done = threading.Event()
        stream = client.watch("pods", "default", resource_version=client.list(
            "pods", "default")["metadata"]["resourceVersion"])

        def watch() -> None:
            for _kind, obj in stream:
                if obj.get("spec", {}).get("nodeName"):
                    bound_at.setdefault(obj["metadata"]["name"], time.perf_counter())
                    if len(bound_at) >= pods:
                        done.set()
                        return

        threading.Thread(target=watch, daemon=True).start()
        slog = open(os.path.join(tmp, "scheduler.log"), "wb")
        procs.append(subprocess.Popen([sys.executable, "-m", "k8snet.cli", "scheduler",
                                       "--kubeconfig", kubeconfig, "--no-leader-elect",
                                       "--log-level", "warning"],
                                      stdout=slog, stderr=subprocess.STDOUT))
        time.sleep(2.0)  # the scheduler lists and starts watching
        created_at: dict[str, float] = {}

        def create(i: int) -> None:
            p = pod(i)
            created_at[p["metadata"]["name"]] = time.perf_counter()
            client.create("pods", p, "default")

        start = time.perf_counter()
        with ThreadPoolExecutor(writers) as pool:
            list(pool.map(create, range(pods)))
        create_took = time.perf_counter() - start
        finished = done.wait(max(60.0, pods * 0.5))
        stream.close()
        took = max(bound_at.values(), default=start) - start
        lat = sorted(bound_at[n] - created_at[n] for n in bound_at)
        print(f"end to end ({store or 'sqlite'}, {writers} creating clients): created {pods} "
              f"Pods in {create_took:.2f}s; "
              f"{len(bound_at)} bound in {took:.2f}s = {len(bound_at) / took:.1f} Pods/s"
              + ("" if finished else " (DEADLINE: not all bound)"))
        if lat:
            p50 = statistics.median(lat)
            p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
            print(f"  create->bound latency: P50 {p50 * 1000:.0f} ms, P99 {p99 * 1000:.0f} ms")
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="bench_scheduler")
    parser.add_argument("--nodes", type=int, default=50)
    parser.add_argument("--pods", type=int, default=200)
    parser.add_argument("--store", default="", help="apiserver --store URL (default SQLite)")
    parser.add_argument("--writers", type=int, default=4, help="concurrent Pod creators")
    args = parser.parse_args(argv)
    bench_decisions(args.nodes, args.pods)
    bench_end_to_end(args.nodes, args.pods, args.store, args.writers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
