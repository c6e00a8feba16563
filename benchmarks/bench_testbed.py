"""Testbed figures: time to bring clusters up, and the fabric's data plane
next to a bare veth pair measured in the same run.

    sudo python -m benchmarks.bench_testbed [--big-workers 50]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from benchmarks.common import k8snet


def timed(*args: str) -> float:
    """Seconds that ``k8snet ARGS`` took."""
    start = time.monotonic()
    k8snet(*args)
    return time.monotonic() - start


def up_and_down(name: str, *args: str) -> tuple:
    """(up seconds, down seconds) for a detached cluster built with ``args``."""
    try:
        t_up = timed("up", "--detach", "--name", name, "--timeout", "600", *args)
    finally:
        t_down = timed("down", "--name", name)
    return t_up, t_down


def iperf_and_ping(server_ns, client_ns, server_ip):
    """(Gbit/s, RTT ms) from client to server, both namespaces by name."""
    srv = subprocess.Popen(["ip", "netns", "exec", server_ns, "iperf3", "-s", "-1"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        gbps = None
        for _ in range(50):
            out = subprocess.run(["ip", "netns", "exec", client_ns, "iperf3", "-c", server_ip,
                                  "-t", "3", "-J"], capture_output=True, text=True)
            end = json.loads(out.stdout or "{}").get("end", {}) if out.returncode == 0 else {}
            if "sum_received" in end:
                gbps = end["sum_received"]["bits_per_second"] / 1e9
                break
            time.sleep(0.2)
        if gbps is None:
            raise RuntimeError(f"iperf3 from {client_ns} to {server_ip} never ran: "
                               f"{(out.stdout + out.stderr)[-300:]}")
    finally:
        srv.kill()
        srv.wait()
    ping = subprocess.run(["ip", "netns", "exec", client_ns, "ping", "-c", "20", "-i", "0.05",
                           "-q", server_ip], capture_output=True, text=True).stdout
    rtt = float(ping.rsplit("=", 1)[1].split("/")[1])
    return gbps, rtt


def veth_baseline():
    """Two namespaces joined by a bare veth pair."""
    a, b = "k8snet-bench-a", "k8snet-bench-b"
    cmds = [["ip", "netns", "add", a], ["ip", "netns", "add", b],
            ["ip", "link", "add", "knbench-a", "netns", a, "type", "veth", "peer", "name",
             "knbench-b", "netns", b],
            ["ip", "-n", a, "addr", "add", "192.168.250.1/24", "dev", "knbench-a"],
            ["ip", "-n", b, "addr", "add", "192.168.250.2/24", "dev", "knbench-b"],
            ["ip", "-n", a, "link", "set", "knbench-a", "up"],
            ["ip", "-n", b, "link", "set", "knbench-b", "up"]]
    try:
        for cmd in cmds:
            subprocess.run(cmd, check=True)
        return iperf_and_ping(a, b, "192.168.250.1")
    finally:
        subprocess.run(["ip", "netns", "delete", a], check=False)
        subprocess.run(["ip", "netns", "delete", b], check=False)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--big-workers", type=int, default=50)
    args = parser.parse_args(argv)
    rows = []
    try:
        t_ls = timed("up", "--detach", "--name", "bls", "--timeout", "600", "--topology",
                     "leaf-spine", "--spines", "2", "--leaves", "4", "--workers", "8")
        state = json.loads(k8snet("status", "--json", "--name", "bls").stdout)["clusters"][0]
        nodes = {n["name"]: n for n in state["nodes"]}
        fabric = iperf_and_ping(nodes["w1"]["netns"], nodes["w4"]["netns"], nodes["w1"]["ip"])
        same_leaf = iperf_and_ping(nodes["w1"]["netns"], nodes["w5"]["netns"],
                                   nodes["w1"]["ip"])
    finally:
        t_ls_down = timed("down", "--name", "bls")
    rows.append(("up --detach leaf-spine 2x4, 8 workers", f"{t_ls:.1f} s (down {t_ls_down:.1f} s)"))
    veth = veth_baseline()
    rows.append(("bare veth pair", f"{veth[0]:.2f} Gbit/s, RTT {veth[1]:.3f} ms (baseline)"))
    for label, (gbps, rtt) in (("node-node, same leaf", same_leaf),
                               ("node-node, across a spine", fabric)):
        rows.append((label, f"{gbps:.2f} Gbit/s ({gbps / veth[0]:.3f} x veth), "
                            f"RTT {rtt:.3f} ms ({rtt / veth[1]:.1f} x veth)"))
    n = str(args.big_workers)
    t_up, t_down = up_and_down("bbign", "--workers", n, "--network-only")
    rows.append((f"up --detach --network-only single, {n} workers",
                 f"{t_up:.1f} s (down {t_down:.1f} s)"))
    t_up, t_down = up_and_down("bbig", "--workers", n)
    rows.append((f"up --detach single, {n} workers, all Ready",
                 f"{t_up:.1f} s (down {t_down:.1f} s)"))
    width = max(len(r[0]) for r in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
