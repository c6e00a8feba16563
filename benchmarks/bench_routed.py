"""Routed mode figures (issue #5) on leaf-spine (2 spines, 2 leaves, 2 workers):

- podCIDR -> routed: a Node appears with its podCIDR (as node IPAM gives it, or set at
  creation); how long until a packet from w1 to an address in that block crosses the fabric
  (ext1, under the other leaf, answers for the whole Pod network, so only the fabric's route
  decides). And how long after the Node is deleted its block stops being routed.
- spine link failure: routed traffic from w1 to such a block through the spine link in use;
  the link goes down; pings lost at 5 ms intervals give the outage.

    sudo python -m benchmarks.bench_routed [--trials 5]

Nothing here asserts: it prints figures (the integration tests assert behaviour).
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
from typing import Optional

CLUSTER = "bnrt"
EXT_IP = "10.1.0.1"
PING_INTERVAL = 0.005


def k8snet(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "k8snet.cli", *args], capture_output=True,
                          text=True, timeout=timeout, check=True)


def netns(node: str) -> str:
    return f"k8snet-{CLUSTER}-{node}"


def start_ping(target: str, seconds: float) -> subprocess.Popen:
    """Timestamped (-D) pings from w1's namespace, one every PING_INTERVAL."""
    return subprocess.Popen(["ip", "netns", "exec", netns("w1"), "ping", "-D", "-n", "-i",
                             str(PING_INTERVAL), "-W", "1", "-w", str(int(seconds)), target],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def reply_times(proc: subprocess.Popen) -> list[float]:
    """Unix times of the replies a ``start_ping`` process saw (waits for it to end)."""
    out, _ = proc.communicate(timeout=120)
    return [float(m.group(1)) for m in re.finditer(r"^\[(\d+\.\d+)\] \d+ bytes from", out,
                                                   re.M)]


def node_doc(name: str, cidr: Optional[str]) -> dict:
    spec = {"podCIDR": cidr, "podCIDRs": [cidr]} if cidr else {}
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}, "spec": spec,
            "status": {"addresses": [{"type": "InternalIP", "address": EXT_IP}]}}


def create_node(client, name: str, cidr: Optional[str]) -> None:
    client.create("nodes", node_doc(name, cidr))
    node = client.get("nodes", name)
    if not any(a.get("address") == EXT_IP for a in node.get("status", {}).get("addresses", [])):
        node["status"] = node_doc(name, None)["status"]  # the apiserver dropped it on create
        client.update("nodes", node, subresource="status")


def wait_cidr(client, name: str, deadline: float = 30) -> tuple[str, float]:
    """(podCIDR, unix time first seen) of Node ``name``, polling every 5 ms."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        cidr = client.get("nodes", name).get("spec", {}).get("podCIDR")
        if cidr:
            return cidr, time.time()
        time.sleep(0.005)
    raise RuntimeError(f"node {name} got no podCIDR within {deadline:.0f}s")


def trial(client, i: int, ipam: bool) -> tuple[float, float]:
    """(seconds podCIDR -> first reply, seconds delete -> last reply) for one Node."""
    name = f"bench-{i}"
    blocks = [f"10.244.{200 + i}.0/24"] if not ipam else [f"10.244.{n}.0/24"
                                                          for n in range(2, 12)]
    pings = {b: start_ping(b.replace(".0/24", ".1"), 12) for b in blocks}
    time.sleep(0.5)
    t_created = time.time()
    create_node(client, name, None if ipam else blocks[0])
    # from creation: with IPAM, that includes the controller-manager assigning the block
    cidr = wait_cidr(client, name)[0] if ipam else blocks[0]
    time.sleep(3)
    t_deleted = time.time()
    client.delete("nodes", name)
    replies = {b: reply_times(p) for b, p in pings.items()}
    got = replies.get(cidr) or []
    if not got:
        raise RuntimeError(f"no reply ever for {cidr} (node {name})")
    added = got[0] - t_created
    removed = max(t for t in got if t <= t_deleted + 10) - t_deleted
    return added, removed


def failover(client, leaf_ports: list[str], trials: int) -> tuple[list[float], list[float]]:
    """Worst gap (s) between replies of routed traffic w1 -> ext1 when a spine link goes
    down, per trial; and the same with no failure (the machine's own jitter)."""
    create_node(client, "bench-fail", "10.244.250.0/24")
    outages = []
    try:
        time.sleep(2)
        for n in range(trials):
            port = leaf_ports[n % len(leaf_ports)]
            proc = start_ping("10.244.250.1", 4)
            time.sleep(1.5)
            subprocess.run(["ip", "link", "set", port, "down"], check=True)
            times = reply_times(proc)
            subprocess.run(["ip", "link", "set", port, "up"], check=True)
            outages.append(worst_gap(times))
            time.sleep(2)
        baseline = [worst_gap(reply_times(start_ping("10.244.250.1", 3))) for _ in range(3)]
    finally:
        client.delete("nodes", "bench-fail")
    return outages, baseline


def worst_gap(times: list[float]) -> float:
    gaps = [b - a for a, b in zip(times, times[1:])]
    return max(gaps) if gaps else float("nan")


def summary(values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    return (f"median {statistics.median(ms):.0f} ms, min {ms[0]:.0f}, max {ms[-1]:.0f} "
            f"(n={len(ms)})")


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_routed")
    p.add_argument("--trials", type=int, default=5)
    args = p.parse_args(argv)
    from k8snet.machinery.client import ApiClient

    k8snet("up", "--detach", "--name", CLUSTER, "--topology", "leaf-spine", "--spines", "2",
           "--leaves", "2", "--workers", "2", "--timeout", "600")
    try:
        # ext1 answers for the whole Pod network: only the fabric's routes decide
        subprocess.run(["ip", "netns", "exec", netns("ext1"), "ip", "route", "add", "local",
                        "10.244.0.0/16", "dev", "lo"], check=True)
        client = ApiClient.from_kubeconfig(f"/run/k8snet/{CLUSTER}/kubeconfig")
        preset = [trial(client, i, ipam=False) for i in range(args.trials)]
        ipam = [trial(client, 100 + i, ipam=True) for i in range(args.trials)]
        print("routed mode, leaf-spine 2x2, ext1 under leaf 2 answering, pings from w1 "
              f"every {PING_INTERVAL * 1000:.0f} ms")
        print(f"  Node created with a podCIDR -> block routed: {summary([a for a, _ in preset])}")
        print(f"  Node created without one, node IPAM assigns it -> block routed: "
              f"{summary([a for a, _ in ipam])}")
        print(f"  Node deleted -> block no longer routed: "
              f"{summary([r for _, r in preset + ipam])}")
        leaf = f"kn{CLUSTER}-l1"
        outages, baseline = failover(client, [f"{leaf}p1", f"{leaf}p2"], args.trials * 2)
        gaps = ", ".join(f"{o * 1000:.0f}" for o in outages)
        print(f"  spine link down, leaf 1's uplinks to s1 and s2 in turn (the flow uses one "
              f"of them): worst gap between replies per trial, ms: {gaps}; with no failure: "
              + ", ".join(f"{b * 1000:.0f}" for b in baseline))
    finally:
        k8snet("down", "--name", CLUSTER)
    return 0


if __name__ == "__main__":
    sys.exit(main())
