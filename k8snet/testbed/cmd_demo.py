"""`k8snet demo`: the main job, end to end, leaving the machine as it was.

Brings up the default cluster, shows it, proves node-to-node reachability
(ICMP from every node, TCP throughput across the fabric), then tears it all
down. Later stages (Pods, Services, probes, traces) join as they land.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time

from k8snet import naming
from k8snet.testbed import cmd_status, cmd_up, preflight
from k8snet.testbed import state as st


def add_arguments(parser: argparse.ArgumentParser) -> None:
    cmd_up.add_cluster_arguments(parser)
    parser.set_defaults(topology="leaf-spine", workers=4, spines=2, leaves=2, name="demo")
    parser.add_argument("--keep", action="store_true", help="leave the cluster running")


def in_node(state, node: str, *cmd: str, timeout: float = 60) -> subprocess.CompletedProcess:
    netns = naming.node_netns(state["name"], node)
    return subprocess.run(["ip", "netns", "exec", netns, *cmd], capture_output=True, text=True,
                          timeout=timeout, check=False)


def tcp_throughput(state, server: dict, client: dict) -> str:
    srv = subprocess.Popen(["ip", "netns", "exec", server["netns"], "iperf3", "-s", "-1"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            out = in_node(state, client["name"], "iperf3", "-c", server["ip"], "-t", "2", "-J")
            if out.returncode == 0:
                result = json.loads(out.stdout)["end"]["sum_received"]
                return f"{result['bits_per_second'] / 1e9:.2f} Gbit/s"
            time.sleep(0.3)
        return "failed: " + (out.stderr.strip() or out.stdout.strip())[:200]
    finally:
        srv.kill()
        srv.wait()


def run(args: argparse.Namespace) -> int:
    spec = cmd_up.spec_from_args(args)
    cmd_up.preflight_up(spec)
    print(f"== k8snet demo: a {spec.topology} cluster named {spec.name!r}")
    lock = preflight.take_cluster_lock(spec.name)
    cmd_up.clean_leftovers(spec.name)
    cmd_up.start_detached(spec, lock)
    try:
        state = st.read_state(spec.name)
        print("\n== k8snet status")
        print(cmd_status.render([cmd_status.summarize(state, True)]))
        nodes = state["nodes"]
        print("\n== ICMP from each node to every other node")
        failures = 0
        for src in nodes:
            answered = [dst["name"] for dst in nodes if dst is not src and in_node(
                state, src["name"], "ping", "-c1", "-W2", dst["ip"]).returncode == 0]
            failures += len(nodes) - 1 - len(answered)
            print(f"  {src['name']:<5} reaches {len(answered)}/{len(nodes) - 1}")
        workers = [n for n in nodes if n["role"] == "worker"]
        if len(workers) >= 2:
            a, b = workers[0], workers[-1]
            print(f"\n== TCP {b['name']} -> {a['name']} across the fabric (iperf3, 2 s): "
                  f"{tcp_throughput(state, a, b)}")
        print(f"\n== {'all nodes reach each other' if not failures else f'{failures} failures'}")
        return 0 if not failures else 1
    finally:
        if not args.keep:
            print(f"\n== k8snet down --name {spec.name}")
            from k8snet.testbed import cmd_down

            cmd_down.run(argparse.Namespace(name=spec.name, timeout=60.0))
