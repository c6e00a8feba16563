"""Overlay mode figures (root): VXLAN sync latency and Pod-to-Pod throughput.

    sudo /opt/k8snet/venv/bin/python benchmarks/bench_overlay.py [--mode overlay|routed]

Brings up a leaf-spine cluster (2 spines, 2 leaves, 2 workers under
different leaves), pins an agnhost Pod to each worker and prints, in one run:
- sync latency (overlay only): a new Node (VTEP annotations published)
  until every other node has its route, and its deletion until the route is
  gone, N rounds, median and max (podCIDR assignment by node IPAM included);
- TCP throughput (iperf3, 3 s) and RTT (ping) Pod-to-Pod across leaves,
  node-to-node across leaves and a bare veth pair, with ratios to the veth.
Always takes the cluster down.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from k8snet.testbed.state import load_state

K8SNET = [sys.executable, "-m", "k8snet.cli"]
AGNHOST = "registry.k8s.io/e2e-test-images/agnhost:2.45"


def sh(argv, timeout=60, check=True):
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {proc.stdout}{proc.stderr}")
    return proc


def wait(what, probe, timeout=120.0, interval=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe():
            return
        time.sleep(interval)
    raise SystemExit(f"timed out after {timeout:.0f}s waiting for {what}")


class Bench:
    def __init__(self, name: str, mode: str):
        self.name, self.mode = name, mode
        self.env = {**os.environ, "KUBECONFIG": f"/run/k8snet/{name}/kubeconfig"}

    def kubectl(self, *args, stdin=None, check=True):
        proc = subprocess.run(["kubectl", *args], capture_output=True, text=True, env=self.env,
                              input=stdin, timeout=60)
        if check and proc.returncode != 0:
            raise SystemExit(f"kubectl {' '.join(args)}: {proc.stderr}")
        return proc.stdout

    def node(self, node, *cmd, **kw):
        return sh(["ip", "netns", "exec", f"k8snet-{self.name}-{node}", *cmd], **kw)

    def pod_argv(self, pod, node):
        prefix = f"k8snet-{self.name}-{node}-default-{pod}"
        netns = sorted(n for n in os.listdir("/run/netns") if n.startswith(prefix))[0]
        argv = ["ip", "netns", "exec", netns]
        if subprocess.run([*argv, "true"], capture_output=True).returncode == 0:
            return argv
        rt = load_state(self.name).process(f"runtime@{node}").pid
        return ["nsenter", f"--mount=/proc/{rt}/ns/mnt", *argv]

    def routes(self, node):
        out = self.node(node, "ip", "-j", "route", "show", "dev", "k8snet.1", check=False)
        return {r["dst"] for r in json.loads(out.stdout or "[]")}

    def sync_latency(self, rounds: int):
        times = [self.one_node(i) for i in range(rounds)]
        return [t[0] for t in times], [t[1] for t in times]

    def one_node(self, i: int):
        """(seconds until routed everywhere, seconds until unrouted) for one new Node."""
        name = f"bench{i}"
        doc = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "annotations": {
            "k8snet.io/vtep-mac": f"0e:be:00:00:00:{i:02x}",
            "k8snet.io/public-ip": f"10.0.200.{i + 1}"}}}
        t0 = time.monotonic()
        self.kubectl("create", "-f", "-", stdin=json.dumps(doc))
        cidr = {}

        def routed():
            if "c" not in cidr:
                got = self.kubectl("get", "node", name, "-o", "jsonpath={.spec.podCIDR}").strip()
                if not got:
                    return False
                cidr["c"] = got
            return all(cidr["c"] in self.routes(n) for n in ("m1", "w1", "w2"))
        wait(f"route to {name}", routed, interval=0.01)
        added = time.monotonic() - t0
        t0 = time.monotonic()
        self.kubectl("delete", "node", name, "--wait=false")
        wait(f"{name}'s route gone", lambda: all(
            cidr["c"] not in self.routes(n) for n in ("m1", "w1", "w2")), interval=0.01)
        return added, time.monotonic() - t0

    def iperf(self, server_argv, client_argv, ip):
        srv = subprocess.Popen([*server_argv, "iperf3", "-s", "-1", "-p", "5299"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(50):
                out = subprocess.run([*client_argv, "iperf3", "-c", ip, "-p", "5299", "-t", "3",
                                      "-J"], capture_output=True, text=True, timeout=30)
                end = json.loads(out.stdout or "{}").get("end") or {}
                if out.returncode == 0 and "sum_received" in end:
                    gbps = end["sum_received"]["bits_per_second"] / 1e9
                    break
                time.sleep(0.2)
            else:
                raise SystemExit("iperf3 never connected")
        finally:
            srv.kill()
            srv.wait()
        ping = subprocess.run([*client_argv, "ping", "-c", "20", "-i", "0.05", "-q", ip],
                              capture_output=True, text=True, timeout=30).stdout
        rtt = float(ping.rsplit("=", 1)[1].split("/")[1]) if "rtt" in ping else float("nan")
        return gbps, rtt


def veth_baseline():
    a, b = "knbench-va", "knbench-vb"
    try:
        for ns in (a, b):
            sh(["ip", "netns", "add", ns])
        sh(["ip", "link", "add", "kbv0", "netns", a, "type", "veth", "peer", "kbv1", "netns", b])
        sh(["ip", "-n", a, "addr", "add", "192.168.250.1/24", "dev", "kbv0"])
        sh(["ip", "-n", b, "addr", "add", "192.168.250.2/24", "dev", "kbv1"])
        for ns, dev in ((a, "kbv0"), (b, "kbv1")):
            sh(["ip", "-n", ns, "link", "set", dev, "up"])
            sh(["ip", "-n", ns, "link", "set", "lo", "up"])
        return Bench("", "").iperf(["ip", "netns", "exec", b], ["ip", "netns", "exec", a],
                                   "192.168.250.2")
    finally:
        for ns in (a, b):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("overlay", "routed"), default="overlay")
    parser.add_argument("--name", default="bov")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    b = Bench(args.name, args.mode)
    sh([*K8SNET, "up", "--detach", "--name", args.name, "--mode", args.mode, "--topology",
        "leaf-spine", "--spines", "2", "--leaves", "2", "--workers", "2"], timeout=600)
    try:
        for pod, node in (("bench-a", "w1"), ("bench-b", "w2")):
            b.kubectl("apply", "-f", "-", stdin=json.dumps({
                "apiVersion": "v1", "kind": "Pod", "metadata": {"name": pod},
                "spec": {"nodeName": node, "containers": [{
                    "name": "agnhost", "image": AGNHOST, "args": ["netexec"]}]}}))
        b.kubectl("wait", "--for=condition=Ready", "pod/bench-a", "pod/bench-b",
                  "--timeout=120s")
        ip_b = b.kubectl("get", "pod", "bench-b", "-o", "jsonpath={.status.podIP}").strip()
        print(f"k8snet {args.mode} mode, leaf-spine 2x2, Pods on w1 (leaf 1) and w2 (leaf 2)")
        if args.mode == "overlay":
            add, remove = b.sync_latency(args.rounds)
            print(f"new Node -> routed on m1,w1,w2: median {statistics.median(add):.3f}s "
                  f"max {max(add):.3f}s ({args.rounds} rounds, podCIDR assignment included)")
            print(f"deleted Node -> routes gone:    median {statistics.median(remove):.3f}s "
                  f"max {max(remove):.3f}s")
        veth = veth_baseline()
        node = b.iperf(["ip", "netns", "exec", f"k8snet-{args.name}-w2"],
                       ["ip", "netns", "exec", f"k8snet-{args.name}-w1"], "10.0.0.3")
        pod = b.iperf(b.pod_argv("bench-b", "w2"), b.pod_argv("bench-a", "w1"), ip_b)
        print(f"{'path':32} {'TCP Gbit/s':>10} {'ratio':>6} {'RTT ms':>7}")
        for label, (gbps, rtt) in (("bare veth pair", veth), ("node-to-node across leaves", node),
                                   (f"Pod-to-Pod across leaves ({args.mode})", pod)):
            print(f"{label:32} {gbps:10.3f} {gbps / veth[0]:6.3f} {rtt:7.3f}")
    finally:
        subprocess.run([*K8SNET, "down", "--name", args.name], capture_output=True, timeout=300)
    return 0


if __name__ == "__main__":
    sys.exit(main())
