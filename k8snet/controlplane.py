"""`k8snet control-plane --data-dir DIR [--port P] [--store URL]`: the apiserver, the
scheduler and the controller-manager as child processes on loopback.

Stops them all on Ctrl-C or SIGTERM; if one of them dies, stops the others and says
which one and why (the end of its log). With `--simulated-nodes N` it also runs N
simulated kubelets (k8snet.simnodes) so Pods get scheduled and look Running.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Optional

from k8snet.components import stop_on_signals
from k8snet.errors import K8snetError, UsageError
from k8snet.machinery.client import ApiClient, ApiError

READY_DEADLINE = 60.0


@dataclass(frozen=True)
class Child:
    """One component to run: its name and its `k8snet ...` arguments."""

    name: str
    argv: tuple[str, ...]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", required=True, metavar="DIR",
                        help="state, certificates, kubeconfig and logs live here")
    parser.add_argument("--port", type=int, default=6443,
                        help="apiserver port on 127.0.0.1 (default 6443; 0: any free port)")
    parser.add_argument("--store", default=None, metavar="URL",
                        help="sqlite:///PATH (default: in DIR) or etcd://HOST:PORT[,...]")
    parser.add_argument("--cluster-cidr", default="10.244.0.0/16")
    parser.add_argument("--node-monitor-grace-period", type=float, default=20.0, metavar="S")
    parser.add_argument("--pod-eviction-timeout", type=float, default=30.0, metavar="S")
    parser.add_argument("--simulated-nodes", type=int, default=0, metavar="N",
                        help="also register N simulated nodes (sim-1..N; zones a/b "
                             "alternate, odd ones labelled disk=ssd): Pods are scheduled "
                             "and reported Running, but nothing runs")


def simulated_nodes(count: int) -> dict[str, dict]:
    """Names and labels of the simulated nodes (pure)."""
    nodes = {}
    for i in range(1, count + 1):
        labels = {"topology.kubernetes.io/zone": "a" if i % 2 else "b",
                  "k8snet.io/simulated": "true"}
        if i % 2:
            labels["disk"] = "ssd"
        nodes[f"sim-{i}"] = labels
    return nodes


def plan_children(args: argparse.Namespace) -> list[Child]:
    """The three components and their flags (pure)."""
    data_dir = os.path.abspath(args.data_dir)
    kubeconfig = os.path.join(data_dir, "kubeconfig")
    api = ["apiserver", "--data-dir", os.path.join(data_dir, "apiserver"),
           "--bind-address", "127.0.0.1", "--port", str(args.port),
           "--kubeconfig-out", kubeconfig]
    if args.store:
        api += ["--store", args.store]
    return [
        Child("apiserver", tuple(api)),
        Child("scheduler", ("scheduler", "--kubeconfig", kubeconfig)),
        Child("controller-manager", (
            "controller-manager", "--kubeconfig", kubeconfig,
            "--cluster-cidr", args.cluster_cidr,
            "--node-monitor-grace-period", str(args.node_monitor_grace_period),
            "--pod-eviction-timeout", str(args.pod_eviction_timeout),
            "--volume-dir", os.path.join(data_dir, "volumes", "{node}"))),
    ]


def _tail(path: str, lines: int = 15) -> str:
    try:
        with open(path, errors="replace") as fh:
            return "".join(fh.readlines()[-lines:])
    except OSError:
        return "(no log)"


class Supervisor:
    """Starts children with logs under DIR/logs and stops them in reverse order."""

    def __init__(self, data_dir: str):
        self.log_dir = os.path.join(os.path.abspath(data_dir), "logs")
        self.procs: list[tuple[Child, subprocess.Popen, str]] = []

    def start(self, child: Child) -> subprocess.Popen:
        os.makedirs(self.log_dir, exist_ok=True)
        log_path = os.path.join(self.log_dir, f"{child.name}.log")
        with open(log_path, "ab") as log:
            proc = subprocess.Popen([sys.executable, "-m", "k8snet.cli", *child.argv],
                                    stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL)
        self.procs.append((child, proc, log_path))
        return proc

    def dead(self) -> Optional[tuple[Child, int, str]]:
        """The first child that exited, with its status and log path."""
        for child, proc, log_path in self.procs:
            if proc.poll() is not None:
                return child, proc.returncode, log_path
        return None

    def stop_all(self, deadline: float = 10.0) -> None:
        for _child, proc, _log in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
        end = time.monotonic() + deadline
        for _child, proc, _log in reversed(self.procs):
            try:
                proc.wait(timeout=max(0.1, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


def wait_for_apiserver(kubeconfig: str, sup: Supervisor, deadline: float) -> ApiClient:
    """Until the kubeconfig exists and the apiserver answers; says what it waited for."""
    end = time.monotonic() + deadline
    last: object = "no kubeconfig yet"
    while time.monotonic() < end:
        gone = sup.dead()
        if gone:
            child, code, log_path = gone
            raise K8snetError(f"{child.name} exited with status {code} while starting; "
                              f"end of {log_path}:\n{_tail(log_path)}")
        if os.path.exists(kubeconfig):
            try:
                client = ApiClient.from_kubeconfig(kubeconfig, timeout=5)
                client.get("namespaces", "default")
                return client
            except (ApiError, K8snetError) as exc:
                last = exc
        time.sleep(0.2)
    raise K8snetError(f"the apiserver did not answer within {deadline:.0f}s ({last}); "
                      f"see {os.path.join(sup.log_dir, 'apiserver.log')}")


def run(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port} is out of range 0-65535")
    if not 0 <= args.simulated_nodes <= 500:
        raise UsageError(f"--simulated-nodes {args.simulated_nodes}: give 0 to 500")
    data_dir = os.path.abspath(args.data_dir)
    os.makedirs(data_dir, exist_ok=True)
    children = plan_children(args)
    kubeconfig = os.path.join(data_dir, "kubeconfig")
    if os.path.exists(kubeconfig):
        os.unlink(kubeconfig)   # a fresh one tells us this apiserver is up
    stop = stop_on_signals()
    sup = Supervisor(data_dir)
    sims = None
    try:
        sup.start(children[0])
        client = wait_for_apiserver(kubeconfig, sup, READY_DEADLINE)
        for child in children[1:]:
            sup.start(child)
        print(f"k8snet control-plane: apiserver {client.server}, scheduler and "
              f"controller-manager running (logs in {sup.log_dir})", flush=True)
        print(f"kubeconfig: {kubeconfig}", flush=True)
        print(f"try: kubectl --kubeconfig {kubeconfig} get namespaces", flush=True)
        if args.simulated_nodes:
            from k8snet.simnodes import SimulatedNodes

            sims = SimulatedNodes(client, simulated_nodes(args.simulated_nodes)).start()
            print(f"{args.simulated_nodes} simulated nodes (sim-1..): Pods are scheduled and "
                  "reported Running, but no container runs; Ctrl-C stops everything",
                  flush=True)
        else:
            print("(no nodes run here: Pods stay Pending until kubelets register, e.g. "
                  "with 'k8snet up' or --simulated-nodes N; Ctrl-C stops everything)",
                  flush=True)
        while not stop.wait(0.5):
            gone = sup.dead()
            if gone:
                child, code, log_path = gone
                raise K8snetError(f"{child.name} exited with status {code}; end of "
                                  f"{log_path}:\n{_tail(log_path)}")
        print("k8snet control-plane: stopping", file=sys.stderr, flush=True)
        return 0
    finally:
        if sims is not None:
            sims.stop()
        sup.stop_all()
