"""Kubelet figures on one node (root): Pod start latency, agent RSS, RSS per idle Pod.

One worker in a scratch netns (apiserver, runtime, kubelet: the integration
test's stack). N agnhost Pods are created at once; latency is from the
create call returning to the Pod's Ready condition arriving on a watch.
Then RSS of the kubelet and the runtime, and the RSS of each Pod's
processes, are read from /proc.

    python -m benchmarks.bench_kubelet [--pods 30]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from benchmarks.common import percentile as pct
from benchmarks.common import rss_kib

AGNHOST = "registry.k8s.io/e2e-test-images/agnhost:2.53"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_rss_kib(pid: int) -> int:
    """RSS of a process and all its descendants."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += rss_kib(p)
        for task in os.listdir(f"/proc/{p}/task") if os.path.isdir(f"/proc/{p}/task") else []:
            try:
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    todo += [int(c) for c in fh.read().split()]
            except OSError:
                pass
    return total


def measure(kubeconfig: str, count: int, node: str) -> dict:
    """Runs inside the node netns: create Pods, watch until all are Ready."""
    from k8snet.machinery.client import ApiClient

    api = ApiClient.from_kubeconfig(kubeconfig)
    rv = api.list("pods", "default")["metadata"]["resourceVersion"]
    created = {}
    for i in range(count):
        name = f"bench-{i}"
        api.create("pods", {"apiVersion": "v1", "kind": "Pod",
                            "metadata": {"name": name, "namespace": "default"},
                            "spec": {"nodeName": node, "containers": [{
                                "name": "app", "image": AGNHOST,
                                "args": ["netexec", "--http-port=8080"]}]}}, "default")
        created[name] = time.monotonic()
    ready = {}
    deadline = time.monotonic() + 60 + 3 * count
    while len(ready) < count and time.monotonic() < deadline:
        for kind, obj in api.watch("pods", "default", resource_version=rv, timeout_seconds=30):
            rv = obj["metadata"].get("resourceVersion", rv)
            name = obj["metadata"]["name"]
            conds = {c["type"]: c["status"] for c in obj.get("status", {}).get("conditions")
                     or []}
            if kind != "DELETED" and name in created and name not in ready \
                    and conds.get("Ready") == "True":
                ready[name] = time.monotonic() - created[name]
            if len(ready) == count:
                break
    lat = list(ready.values())
    return {"pods": count, "ready": len(ready),
            "p50_s": round(pct(lat, 50), 3) if lat else None,
            "p99_s": round(pct(lat, 99), 3) if lat else None,
            "max_s": round(max(lat), 3) if lat else None,
            "all_ready_s": round(max(created[n] + t for n, t in ready.items())
                                 - min(created.values()), 3) if lat else None}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="bench_kubelet")
    parser.add_argument("--pods", type=int, default=30)
    parser.add_argument("--measure", nargs=2, metavar=("KUBECONFIG", "NODE"))
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.measure[0], args.pods, args.measure[1])))
        return 0
    if os.geteuid() != 0:
        print("bench_kubelet: needs root (network namespaces); skipped")
        return 0
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from tests.integration.kubelet_stack import NODE, POD_CIDR, REPO, NodeStack, wait_for

    stack = NodeStack(tempfile.mkdtemp(prefix="k8snet-test-benchkl-"))
    try:
        stack.start()
        wait_for("node registered", lambda: stack.get("node", NODE))
        cidr = json.dumps({"spec": {"podCIDR": POD_CIDR}})
        wait_for("podCIDR set", lambda: stack.kubectl("patch", "node", NODE, "--type", "merge",
                                                      "-p", cidr, check=False).returncode == 0)
        wait_for("CNI config", lambda: os.path.isdir(stack.conf_dir) and
                 os.listdir(stack.conf_dir))
        time.sleep(2)
        idle = {n: rss_kib(stack.procs[n].pid) for n in ("kubelet", "runtime")}
        out = subprocess.run(
            ["ip", "netns", "exec", stack.ns, sys.executable, "-m", "benchmarks.bench_kubelet",
             "--pods", str(args.pods), "--measure", stack.kubeconfig, NODE],
            capture_output=True, text=True, cwd=REPO, timeout=600)
        if out.returncode != 0:
            print(out.stderr)
            return 1
        result = json.loads(out.stdout)
        time.sleep(5)
        busy = {n: rss_kib(stack.procs[n].pid) for n in ("kubelet", "runtime")}
        cpu0 = {n: cpu_seconds(stack.procs[n].pid) for n in ("kubelet", "runtime")}
        time.sleep(10)
        cpu = {n: round((cpu_seconds(stack.procs[n].pid) - cpu0[n]) * 10, 1)
               for n in ("kubelet", "runtime")}
        for n in ("kubelet", "runtime"):
            if stack.procs[n].poll() is not None:
                print(f"bench_kubelet: the {n} exited during the run:\n{stack.log(n)}")
                return 1
        rt = stack.cri()
        try:
            pod_rss = [tree_rss_kib(stack.container_pid(c.id)) for c in rt.list_containers()]
        finally:
            rt.close()
        result.update({
            "kubelet_rss_mib_idle": round(idle["kubelet"] / 1024, 1),
            "kubelet_rss_mib_with_pods": round(busy["kubelet"] / 1024, 1),
            "runtime_rss_mib_idle": round(idle["runtime"] / 1024, 1),
            "runtime_rss_mib_with_pods": round(busy["runtime"] / 1024, 1),
            "kubelet_cpu_pct_steady": cpu["kubelet"],
            "runtime_cpu_pct_steady": cpu["runtime"],
            "rss_mib_per_idle_pod": round(sum(pod_rss) / max(1, len(pod_rss)) / 1024, 1),
        })
        print("kubelet, one node, agnhost netexec Pods created at once")
        for key, value in result.items():
            print(f"  {key:28} {value}")
    finally:
        stack.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
