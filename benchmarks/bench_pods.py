"""Worker agents' figures (issue #4), on a real cluster (root):

- Pod startup latency, create to Ready, P50 and P99, for N agnhost netexec
  Pods (default 100) created one after another through the apiserver and
  scheduled over 4 workers: from just before each create call to the watch
  event that first shows the Pod Ready; the same from the Pod's own
  timestamps (creationTimestamp -> Ready condition's lastTransitionTime, whole
  seconds) as a cross-check;
- RSS of kubelet, runtime and kube-proxy on each worker (the PIDs recorded in
  /run/k8snet/<cluster>/state.json), idle before the Pods and with them;
- RSS per idle Pod: the processes in the Pod's network namespace (its
  containers' processes, ``ip netns pids``) and their monitors (conmon, in
  the node's namespace: the runtime's started.json names them), summed.

    sudo /opt/k8snet/venv/bin/python -m benchmarks.bench_pods [--pods 100] [--workers 4]

One cluster (``--topology single --workers 4``, name bp), always taken down.
It prints figures and asserts nothing.
"""

from __future__ import annotations

import argparse
import datetime
import glob
import json
import os
import statistics
import sys
import threading
import time
from typing import Dict, List, Optional

from benchmarks.common import (
    component_pids,
    is_ready,
    k8snet,
    netns_pids,
    percentile,
    rss_kib,
)
from k8snet.testbed import api, cmd_compare

COMPONENTS = ("kubelet", "runtime", "kube-proxy")
LABEL = {"app": "bench-pods"}


def watch_ready(client, rv: str, ready: Dict[str, float], stop: threading.Event) -> None:
    """Record the wall-clock time each labelled Pod is first seen Ready."""
    while not stop.is_set():
        try:
            for kind, obj in client.watch("pods", "default", resource_version=rv,
                                          label_selector="app=bench-pods", timeout_seconds=5):
                rv = obj["metadata"].get("resourceVersion", rv)
                name = obj["metadata"]["name"]
                if kind != "DELETED" and name not in ready and is_ready(obj):
                    ready[name] = time.time()
                if stop.is_set():
                    return
        except Exception as exc:  # a dropped watch: resume from the last version
            print(f"  (watch restarted: {exc})", file=sys.stderr)
            time.sleep(0.2)


def start_pods(client, count: int, timeout: float) -> Dict:
    """Create ``count`` Pods; create-to-Ready seconds per Pod."""
    rv = client.list("pods", "default")["metadata"]["resourceVersion"]
    ready: Dict[str, float] = {}
    stop = threading.Event()
    watcher = threading.Thread(target=watch_ready, args=(client, rv, ready, stop), daemon=True)
    watcher.start()
    created: Dict[str, float] = {}
    first = time.time()
    try:
        for i in range(count):
            name = f"bp-{i:03d}"
            doc = cmd_compare.pod_doc(name, "")
            doc["metadata"]["labels"] = dict(LABEL)
            del doc["spec"]["nodeSelector"]  # the scheduler spreads them
            created[name] = time.time()
            client.create("pods", doc, "default")
        end = time.monotonic() + timeout
        while len(ready) < count and time.monotonic() < end:
            time.sleep(0.2)
    finally:
        stop.set()
        watcher.join(timeout=10)
    latency = {n: ready[n] - created[n] for n in created if n in ready}
    return {"latency": latency, "not_ready": sorted(set(created) - set(ready)),
            "all_ready_s": (max(ready.values()) - first) if ready else None}


def stamp(text: str) -> float:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def stamp_latencies(pods: List[Dict]) -> List[float]:
    """creationTimestamp -> Ready lastTransitionTime, per Ready Pod."""
    out = []
    for pod in pods:
        cond = next((c for c in pod.get("status", {}).get("conditions", [])
                     if c.get("type") == "Ready" and c.get("status") == "True"), None)
        if cond and cond.get("lastTransitionTime"):
            out.append(stamp(cond["lastTransitionTime"]) - stamp(pod["metadata"]
                                                                 ["creationTimestamp"]))
    return out


def component_rss(state) -> Dict[str, Dict[str, int]]:
    """component -> node -> RSS KiB."""
    return {c: {node: rss_kib(pid) for node, pid in sorted(component_pids(state, c).items())}
            for c in COMPONENTS}


def monitor_pids(node_dir: str) -> Dict[int, int]:
    """A container's first process -> its monitor's PID, from the runtime's started.json."""
    out = {}
    for path in glob.glob(os.path.join(node_dir, "runtime", "containers", "*",
                                       "started.json")):
        try:
            with open(path, encoding="utf-8") as fh:
                started = json.load(fh)
            out[int(started["pid"])] = int(started["shim_pid"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return out


def pod_rss(state, pods: List[Dict]) -> List[Dict]:
    """Per Pod: its processes (those in its network namespace, and their monitors) and
    their RSS."""
    existing = os.listdir("/run/netns")
    monitors = {node.name: monitor_pids(state.node_dir(node.name)) for node in state.workers}
    out = []
    for pod in pods:
        node = pod["spec"]["nodeName"]
        netns = cmd_compare.pod_netns(existing, state.node(node).netns, "default",
                                      pod["metadata"]["name"])
        pids = netns_pids(netns)
        pids += [monitors[node][p] for p in pids if p in monitors.get(node, {})
                 and monitors[node][p] not in pids]
        out.append({"pod": pod["metadata"]["name"], "node": node, "processes": len(pids),
                    "rss_kib": sum(rss_kib(p) for p in pids)})
    return out


def mib(kib: float) -> str:
    return f"{kib / 1024:.1f} MiB"


def secs(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.2f} s"


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_pods",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=100)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--name", default="bp")
    parser.add_argument("--timeout", type=float, default=900,
                        help="seconds for every Pod to be Ready")
    args = parser.parse_args(argv)
    k8snet("up", "--detach", "--name", args.name, "--topology", "single", "--workers",
           str(args.workers), "--timeout", "600")
    try:
        cluster = api.find(args.name, need_api=True)
        state = cluster.state
        client = cluster.client()
        time.sleep(5)  # let the agents settle after start-up
        idle = component_rss(state)
        run = start_pods(client, args.pods, args.timeout)
        time.sleep(10)  # idle Pods: nothing talks to them
        busy = component_rss(state)
        pods = [p for p in client.list("pods", "default", label_selector="app=bench-pods")
                ["items"] if is_ready(p)]
        per_pod = pod_rss(state, pods)
        lat = list(run["latency"].values())
        by_node: Dict[str, int] = {}
        for p in pods:
            by_node[p["spec"]["nodeName"]] = by_node.get(p["spec"]["nodeName"], 0) + 1
        print(f"{args.pods} agnhost netexec Pods on {args.workers} workers (single switch), "
              f"created one after another; Ready: {len(lat)}/{args.pods} "
              f"({', '.join(f'{n}: {c}' for n, c in sorted(by_node.items()))})")
        if run["not_ready"]:
            print(f"  never Ready: {', '.join(run['not_ready'][:10])}")
        print(f"  create -> Ready (watch):       P50 {secs(percentile(lat, 50))}, "
              f"P99 {secs(percentile(lat, 99))}, max {secs(max(lat) if lat else None)}; "
              f"first create -> all Ready {secs(run['all_ready_s'])}")
        stamps = stamp_latencies(pods)
        print(f"  create -> Ready (timestamps):  P50 {secs(percentile(stamps, 50))}, "
              f"P99 {secs(percentile(stamps, 99))} (whole-second stamps)")
        print("  agent RSS per worker, mean (max) over workers: idle -> "
              f"with ~{args.pods // args.workers} Pods each")
        for comp in COMPONENTS:
            a, b = list(idle[comp].values()), list(busy[comp].values())
            if not a:
                print(f"    {comp:11} no PID recorded")
                continue
            print(f"    {comp:11} {mib(statistics.mean(a))} ({mib(max(a))}) -> "
                  f"{mib(statistics.mean(b))} ({mib(max(b))})")
        if per_pod:
            rss = [p["rss_kib"] for p in per_pod]
            procs = [p["processes"] for p in per_pod]
            print(f"  RSS per idle Pod (its processes and their conmon monitors): mean "
                  f"{mib(statistics.mean(rss))}, P50 {mib(percentile(rss, 50))}, "
                  f"max {mib(max(rss))}; {statistics.mean(procs):.1f} processes per Pod; "
                  f"all {len(per_pod)} Pods {mib(sum(rss))}")
    finally:
        k8snet("down", "--name", args.name, check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
