"""Fault figures: how long a cluster takes to recover from what `k8snet fault` does.

    sudo python -m benchmarks.bench_faults [--kills 5]

One leaf-spine cluster (two leaves, three workers). Reports:
- apiserver kill (SIGKILL; the supervisor restarts it): seconds until
  ``kubectl get nodes`` answers again, over ``--kills`` kills, with the
  apiserver's own start-up time from its restart to its first answer;
- kubelet kill: seconds until the Node's Lease is renewed by the new kubelet;
- worker crash (``k8snet fault node crash``): seconds until the Node is not
  Ready (Unknown), seconds until every replica of a Deployment runs on the
  other nodes, and after ``node restore`` seconds until the Node is Ready;
  next to the controller-manager's grace period and eviction timeout.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Callable, Dict, List

from benchmarks.common import k8snet, percentile

NAME = "bflt"
GRACE, EVICTION = 20.0, 30.0   # the controller-manager's defaults


def wait(what: str, probe: Callable[[], bool], timeout: float, interval: float = 0.2) -> float:
    """Seconds until ``probe`` is true; SystemExit after ``timeout``."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            if probe():
                return time.monotonic() - start
        except (subprocess.SubprocessError, ValueError, KeyError, StopIteration):
            pass
        time.sleep(interval)
    raise SystemExit(f"timed out after {timeout:.0f}s waiting for {what}")


def kubectl(kubeconfig: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["kubectl", "--kubeconfig", kubeconfig, *args], capture_output=True,
                          text=True, timeout=15)


def kjson(kubeconfig: str, *args: str) -> Dict:
    proc = kubectl(kubeconfig, "get", *args, "-o", "json")
    if proc.returncode:
        raise ValueError(proc.stderr)
    return json.loads(proc.stdout)


def ready(kubeconfig: str, node: str) -> str:
    conditions = kjson(kubeconfig, "node", node)["status"]["conditions"]
    return next(c["status"] for c in conditions if c["type"] == "Ready")


def fault(*args: str) -> None:
    k8snet("fault", "--name", NAME, *args)


def apiserver_kills(kubeconfig: str, kills: int) -> List[float]:
    seconds = []
    for _ in range(kills):
        start = time.monotonic()
        fault("kill", "apiserver")
        time.sleep(0.1)
        wait("kubectl", lambda: kubectl(kubeconfig, "get", "nodes").returncode == 0, 180)
        seconds.append(time.monotonic() - start)
        time.sleep(61)  # past the back-off's stable time: each kill starts from the base delay
    return seconds


def kubelet_kill(kubeconfig: str, node: str) -> float:
    renew = kjson(kubeconfig, "lease", "-n", "kube-node-lease", node)["spec"]["renewTime"]
    start = time.monotonic()
    fault("kill", "kubelet", "--node", node)
    wait("a new Lease renewal", lambda: kjson(kubeconfig, "lease", "-n", "kube-node-lease",
                                               node)["spec"]["renewTime"] != renew, 120)
    return time.monotonic() - start


def worker_crash(kubeconfig: str, node: str) -> Dict[str, float]:
    deploy = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "spread"},
              "spec": {"replicas": 6, "selector": {"matchLabels": {"app": "spread"}},
                       "template": {"metadata": {"labels": {"app": "spread"}}, "spec": {
                           "containers": [{"name": "agnhost", "image":
                                           "registry.k8s.io/e2e-test-images/agnhost:2.45",
                                           "args": ["netexec", "--http-port=8080"]}]}}}}
    subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "apply", "-f", "-"],
                   input=json.dumps(deploy), capture_output=True, text=True, check=True)

    def running(off: str = "") -> int:
        return sum(p["status"].get("phase") == "Running" and p["spec"].get("nodeName") != off
                   and not p["metadata"].get("deletionTimestamp")
                   for p in kjson(kubeconfig, "pods", "-l", "app=spread")["items"])

    wait("6 Pods Running", lambda: running() == 6, 300, 1.0)
    on_node = 6 - running(off=node)
    start = time.monotonic()
    fault("node", "crash", node)
    unknown = wait("Node not Ready", lambda: ready(kubeconfig, node) != "True", 180, 0.5)
    wait("replacements Running", lambda: running(off=node) == 6, 300, 0.5)
    replaced = time.monotonic() - start
    fault("node", "restore", node)
    back = wait("Node Ready again", lambda: ready(kubeconfig, node) == "True", 180, 0.5)
    kubectl(kubeconfig, "delete", "deployment", "spread")
    return {"pods on the node": on_node, "unknown": unknown, "replaced": replaced,
            "ready again": back}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=5)
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("bench_faults needs root")
        return 1
    k8snet("up", "--detach", "--name", NAME, "--topology", "leaf-spine", "--leaves", "2",
           "--spines", "1", "--workers", "3", "--timeout", "600")
    try:
        status = json.loads(k8snet("status", "--json", "--name", NAME).stdout)["clusters"][0]
        kubeconfig = status["kubeconfig"]
        kills = apiserver_kills(kubeconfig, args.kills)
        lease = kubelet_kill(kubeconfig, "w2")
        crash = worker_crash(kubeconfig, "w3")
    finally:
        k8snet("down", "--name", NAME, check=False)
    print(f"apiserver kill -> kubectl answers: median {percentile(kills, 50):.1f}s, "
          f"max {max(kills):.1f}s over {len(kills)} kills "
          f"({', '.join(f'{s:.1f}' for s in kills)}; back-off before restart 1s)")
    print(f"kubelet kill -> Lease renewed by the new kubelet: {lease:.1f}s")
    print(f"worker crash ({crash['pods on the node']} of 6 Pods on it): Node Unknown after "
          f"{crash['unknown']:.1f}s (grace {GRACE:g}s), all 6 Running elsewhere after "
          f"{crash['replaced']:.1f}s (grace + eviction timeout = {GRACE + EVICTION:g}s), "
          f"Ready {crash['ready again']:.1f}s after restore")
    return 0


if __name__ == "__main__":
    sys.exit(main())
