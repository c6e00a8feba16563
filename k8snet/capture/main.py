"""`k8snet capture TARGET [-w FILE] [--filter BPF] [--duration S] [-c N] [--iface I]`.

TARGET: a switch port, a node or a Pod (see `k8snet.capture.plan`). Without
``-w`` (or with ``-w -``) the pcap goes to stdout, for
``k8snet capture p1 | wireshark -k -i -``; tcpdump's own messages go to stderr.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from typing import Optional

from k8snet.capture import plan
from k8snet.errors import K8snetError, UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", help="switch port (knlab-l1p3), node (w1) or Pod ([ns/]name)")
    parser.add_argument("-w", "--write", default="-", metavar="FILE",
                        help="pcap file to write (default: stdout)")
    parser.add_argument("--filter", default="", metavar="BPF",
                        help="tcpdump filter, e.g. 'icmp or udp port 4789'")
    parser.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    parser.add_argument("-c", "--count", type=int, metavar="N", help="stop after N packets")
    parser.add_argument("--iface", help="interface inside a node or Pod (default eth0)")
    parser.add_argument("-n", "--namespace", default="default", help="the Pod's namespace")
    parser.add_argument("--name", help="cluster (needed when several run)")


def check_filter(bpf: str) -> None:
    """Compile the filter before anything starts: a clear error, not a half capture."""
    if not bpf:
        return
    out = subprocess.run(["tcpdump", "-i", "lo", "-d", bpf], capture_output=True, text=True,
                         timeout=10, check=False)
    if out.returncode != 0:
        why = out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "rejected"
        raise UsageError(f"--filter {bpf!r} is not a valid tcpdump filter ({why})")


def netns_path(cluster, where: plan.Where) -> Optional[str]:
    """The namespace file the capture point lives in (None: the root namespace)."""
    from k8snet.probe import cluster as cl
    from k8snet.probe.agents import node_netns_path

    if where.kind == "port":
        return None
    if where.kind == "node":
        return node_netns_path(cluster.node(where.node))
    path = cl.pod_netns(cluster.state, where.node, where.uid)
    if not path:
        raise UsageError(f"pod {where.name} has no running sandbox on {where.node}")
    return path


def capture_argv(cluster, target: str, write: str, bpf: str = "", count: Optional[int] = None,
                 duration: Optional[float] = None, iface: Optional[str] = None,
                 namespace: str = "default") -> list:
    """The command that captures at ``target`` (the library call tests use)."""
    state = cluster.state
    pods = []
    if not (plan.port_of(target) or state.node(target)) and state.kubeconfig:
        pods = cluster.client().list("pods")["items"]
    where = plan.locate(target, [s.name for s in state.switches],
                        [n.name for n in state.nodes], pods, iface, namespace)
    argv = plan.tcpdump_argv(where.iface, write, bpf, count)
    path = netns_path(cluster, where)
    if path:
        argv = ["nsenter", f"--net={path}", *argv]
    if duration:
        argv = ["timeout", "--signal=INT", f"{duration:g}", *argv]
    return argv


def run(args: argparse.Namespace) -> int:
    from k8snet.testbed import api, preflight

    preflight.require_root("capture")
    if args.duration is not None and args.duration <= 0:
        raise UsageError("--duration must be a positive number of seconds")
    if args.count is not None and args.count <= 0:
        raise UsageError("-c must be a positive number of packets")
    if args.write != "-" and not os.path.isdir(os.path.dirname(os.path.abspath(args.write))):
        raise UsageError(f"-w {args.write}: its directory does not exist")
    check_filter(args.filter)
    cluster = api.find(args.name)
    argv = capture_argv(cluster, args.target, args.write, args.filter, args.count,
                        args.duration, args.iface, args.namespace)
    if args.write == "-" and sys.stdout.isatty():
        raise UsageError("the pcap would go to a terminal: add -w FILE.pcap or pipe it "
                         "(| wireshark -k -i -)")
    proc = subprocess.run(argv, check=False)
    # timeout(1) returns 124 when the duration ran out: that is the normal end.
    if proc.returncode in (0, 124):
        return 0
    raise K8snetError(f"tcpdump at {args.target} failed (status {proc.returncode})")
