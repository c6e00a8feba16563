"""`k8snet up`: build a cluster, then open the CLI or leave it running."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from k8snet import naming
from k8snet.errors import K8snetError, UsageError
from k8snet.testbed import preflight
from k8snet.testbed.components import check_masters
from k8snet.testbed.spec import ClusterSpec, check_spec, load_topology


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_cluster_arguments(parser)
    parser.add_argument("--detach", action="store_true",
                        help="return once the cluster is up and leave it running")


def add_cluster_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--topology", default="single",
                        help="single, leaf-spine, or PATH.py[:NAME] defining TOPOS")
    parser.add_argument("--workers", type=int, help="worker nodes")
    parser.add_argument("--masters", type=int, default=1, help="master nodes")
    parser.add_argument("--spines", type=int, help="spine switches (leaf-spine)")
    parser.add_argument("--leaves", type=int, help="leaf switches (leaf-spine)")
    parser.add_argument("--mode", default="routed", help="routed, overlay or macvlan Pods")
    parser.add_argument("--store", default="sqlite", help="sqlite or etcd")
    parser.add_argument("--name", default=naming.DEFAULT_CLUSTER, help="cluster name")
    parser.add_argument("--timeout", type=float, default=180.0,
                        help="seconds to wait for the cluster to come up")
    parser.add_argument("--network-only", action="store_true",
                        help="build the fabric and nodes only, no Kubernetes components")


def spec_from_args(args: argparse.Namespace) -> ClusterSpec:
    spec = check_spec(ClusterSpec(
        name=args.name, topology=args.topology, workers=args.workers, masters=args.masters,
        spines=args.spines, leaves=args.leaves, mode=args.mode, store=args.store,
        timeout=args.timeout, components=not args.network_only))
    check_masters(spec.masters, spec.store)
    topo_cls = load_topology(spec.topology)
    try:  # a topology is plain data: building it here catches bad options early
        topo = topo_cls(cluster=spec.name, **spec.topo_params())
    except K8snetError:
        raise
    except Exception as exc:
        raise UsageError(f"topology {spec.topology} cannot be built with these options: "
                         f"{type(exc).__name__}: {exc}") from exc
    if not topo.hosts():
        raise UsageError(f"topology {spec.topology} has no nodes")
    return spec


def preflight_up(spec: ClusterSpec) -> None:
    preflight.require_root("up")
    preflight.require_ovs()
    preflight.require_mininet()


def run(args: argparse.Namespace) -> int:
    spec = spec_from_args(args)
    preflight_up(spec)
    lock = preflight.take_cluster_lock(spec.name)
    if args.detach:
        # From here the supervisor holds the lock and removes its file when it ends.
        return start_detached(spec, lock)
    try:
        clean_leftovers(spec.name)
        return run_interactive(spec)
    finally:
        preflight.release_cluster_lock(spec.name, lock)


def clean_leftovers(cluster: str) -> None:
    """A cluster of this name that died without cleaning up: remove its remains."""
    from k8snet.testbed import cleanup

    plan = cleanup.gather(only=cluster)
    if not plan.empty():
        for line in cleanup.apply(plan):
            print(f"  leftover of an earlier run: {line}")


def start_detached(spec: ClusterSpec, lock_fd: int) -> int:
    try:
        clean_leftovers(spec.name)
        os.makedirs(naming.state_dir(spec.name), exist_ok=True)
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False,
                                         dir=naming.state_dir(spec.name)) as fh:
            json.dump(spec.to_dict(), fh)
            spec_path = fh.name
        started = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "k8snet.testbed.supervisor", spec_path],
            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
            start_new_session=True, pass_fds=(lock_fd,))
    except BaseException:
        preflight.release_cluster_lock(spec.name, lock_fd)
        raise
    os.close(lock_fd)
    for line in proc.stdout:
        kind, _, text = line.strip().partition(" ")
        elapsed = time.monotonic() - started
        if kind == "progress":
            print(f"[{elapsed:5.1f}s] {text}", flush=True)
        elif kind == "ready":
            print(f"[{elapsed:5.1f}s] cluster {spec.name!r} is up; it keeps running in the "
                  f"background (pid {proc.pid}, log {text})")
            print(f"  k8snet status --name {spec.name}    k8snet down --name {spec.name}")
            return 0
        elif kind == "error":
            code, _, message = text.partition(" ")
            proc.wait(timeout=60)
            raise K8snetError(message) if code != "2" else UsageError(message)
    proc.wait(timeout=60)
    raise K8snetError(f"the cluster supervisor exited (status {proc.returncode}) "
                      "before the cluster was up")


def run_interactive(spec: ClusterSpec) -> int:
    from mininet.cli import CLI
    from mininet.log import setLogLevel

    from k8snet.testbed.cluster import Cluster

    started = time.monotonic()

    def progress(text: str) -> None:
        print(f"[{time.monotonic() - started:5.1f}s] {text}", flush=True)

    cluster = Cluster(spec, progress=progress)
    cluster.up()
    try:
        print(f"cluster {spec.name!r} is up; node namespaces: "
              f"{', '.join(n['netns'] for n in cluster.state['nodes'])}")
        print("Mininet CLI: 'nodes', 'w1 ip addr', 'pingall'; 'exit' tears the cluster down.")
        setLogLevel("info")  # the CLI's commands (pingall, iperf...) report at info level
        CLI(cluster.net)
        setLogLevel("error")
    finally:
        print("tearing down", flush=True)
        cluster.down()
    return 0
