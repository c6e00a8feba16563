"""`k8snet up`: build a cluster, then open the CLI or leave it running."""

from __future__ import annotations

import argparse
import time
from typing import Callable

from k8snet.testbed import api
from k8snet.testbed.options import add_cluster_arguments, spec_from_args
from k8snet.testbed.spec import ClusterSpec


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_cluster_arguments(parser)
    parser.add_argument("--detach", action="store_true",
                        help="return once the cluster is up and leave it running")


def timed_progress() -> Callable[[str], None]:
    """Print progress lines with the seconds since the command started."""
    started = time.monotonic()

    def progress(text: str) -> None:
        print(f"[{time.monotonic() - started:5.1f}s] {text}", flush=True)

    return progress


def run(args: argparse.Namespace) -> int:
    spec = spec_from_args(args)
    if args.detach:
        cluster = api.up(spec, progress=timed_progress())
        pid = cluster.state.supervisor.pid if cluster.state.supervisor else "?"
        print(f"cluster {spec.name!r} is up; it keeps running in the background "
              f"(pid {pid}, log {cluster.supervisor_log})")
        print(f"  k8snet status --name {spec.name}    k8snet down --name {spec.name}")
        return 0
    return run_interactive(spec)


def run_interactive(spec: ClusterSpec) -> int:
    from mininet.cli import CLI
    from mininet.log import setLogLevel

    with api.attached(spec, progress=timed_progress()) as cluster:
        print(f"cluster {spec.name!r} is up; node namespaces: "
              f"{', '.join(n.netns for n in cluster.state.nodes)}")
        print("Mininet CLI: 'nodes', 'w1 ip addr', 'pingall'; 'exit' tears the cluster down.")
        setLogLevel("info")  # the CLI's commands (pingall, iperf...) report at info level
        try:
            CLI(cluster.net)
        finally:
            setLogLevel("error")
            print("tearing down", flush=True)
    return 0
