"""Pod churn on a real cluster (root): how fast Pods come and go (issue #15).

Phases, on one cluster (``--topology single --workers 4`` by default, name pc1):

- ``add``: N busybox Pods (``sleep``, terminationGracePeriodSeconds 1) created by 4
  client threads through the apiserver, spread by the scheduler: first create ->
  all Ready, Pods/s, create -> Ready P50/P99 (from a watch);
- ``delete``: those N Pods deleted by 4 client threads: first delete -> the last
  DELETED event (the kubelet confirmed every one), Pods/s;
- ``grace``: N Pods whose container ignores SIGTERM, with the default grace period
  (``--grace``, 30 s), created, then deleted: the time past the grace period until
  every deletion is confirmed, and Pods/s over that time;
- ``deploy``: a Deployment of N replicas (grace 1): create -> all Ready, then
  scaled to 0 -> every Pod gone.

Baseline, measured in the same run: ``ip netns add`` + ``ip netns exec ... true`` +
``ip netns del`` for 40 namespaces, one after another (the bare cost of the
per-Pod kernel and process work on this machine); each phase is also printed as
the ratio of its seconds per Pod to the baseline's.

    sudo python -m benchmarks.bench_churn [--pods 200] [--phases add,delete,grace,deploy]
        [--reuse] [--keep] [--name pc1]

``--reuse``: the cluster already runs (not brought up, not taken down); ``--keep``:
leave it up. It prints figures (and a JSON line) and asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Dict, List, Optional

from benchmarks.common import is_ready, k8snet, percentile
from k8snet.testbed import api

LABEL_KEY = "bench-churn"
PHASES = ("add", "delete", "grace", "deploy")
CLIENT_THREADS = 4
BASELINE_NS = 40


def pod_doc(name: str, grace: Optional[int], ignore_term: bool, run: str) -> Dict:
    cmd = ["sh", "-c", "trap '' TERM; sleep 3600"] if ignore_term \
        else ["sleep", "3600"]
    spec: Dict = {"containers": [{"name": "main", "image": "busybox", "command": cmd}]}
    if grace is not None:
        spec["terminationGracePeriodSeconds"] = grace
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {LABEL_KEY: run}}, "spec": spec}


class PodWatch:
    """Watches the labelled Pods of one run: the time each is first Ready, and the
    time each is DELETED."""

    def __init__(self, client, run: str):
        self.client, self.run = client, run
        self.ready: Dict[str, float] = {}
        self.deleted: Dict[str, float] = {}
        self.names: set = set()
        self.cond = threading.Condition()
        self.stop = threading.Event()
        rv = client.list("pods", "default")["metadata"]["resourceVersion"]
        self.thread = threading.Thread(target=self._loop, args=(rv,), daemon=True)
        self.thread.start()

    def _loop(self, rv: str) -> None:
        while not self.stop.is_set():
            try:
                for kind, obj in self.client.watch("pods", "default", resource_version=rv,
                                                   label_selector=f"{LABEL_KEY}={self.run}",
                                                   timeout_seconds=5):
                    rv = obj["metadata"].get("resourceVersion", rv)
                    name, now = obj["metadata"]["name"], time.time()
                    with self.cond:
                        self.names.add(name)
                        if kind == "DELETED":
                            self.deleted.setdefault(name, now)
                        elif name not in self.ready and is_ready(obj):
                            self.ready[name] = now
                        self.cond.notify_all()
                    if self.stop.is_set():
                        return
            except Exception as exc:  # a dropped watch: resume from the last version
                print(f"  (watch restarted: {exc})", file=sys.stderr)
                time.sleep(0.2)

    def wait(self, done: Callable[[], bool], timeout: float) -> bool:
        end = time.monotonic() + timeout
        with self.cond:
            while not done():
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(min(left, 1.0))
        return True

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=10)


def in_threads(fn: Callable[[str], None], names: List[str]) -> None:
    with ThreadPoolExecutor(CLIENT_THREADS) as pool:
        for _ in pool.map(fn, names):
            pass


def create_pods(client, watch: PodWatch, names: List[str], grace: Optional[int],
                ignore_term: bool, timeout: float) -> Dict:
    created: Dict[str, float] = {}

    def one(name: str) -> None:
        created[name] = time.time()
        client.create("pods", pod_doc(name, grace, ignore_term, watch.run), "default")

    first = time.time()
    in_threads(one, names)
    ok = watch.wait(lambda: all(n in watch.ready for n in names), timeout)
    lat = [watch.ready[n] - created[n] for n in names if n in watch.ready]
    last = max((watch.ready[n] for n in names if n in watch.ready), default=first)
    return {"pods": len(names), "ready": len(lat), "complete": ok,
            "seconds": round(last - first, 2), "pods_per_s": round(len(lat) / (last - first), 2)
            if lat else None, "p50_s": _r(percentile(lat, 50)), "p99_s": _r(percentile(lat, 99)),
            "max_s": _r(max(lat) if lat else None)}


def delete_pods(client, watch: PodWatch, names: List[str], timeout: float,
                grace: float = 0.0) -> Dict:
    def one(name: str) -> None:
        client.delete("pods", name, "default")

    first = time.time()
    in_threads(one, names)
    sent = time.time()
    ok = watch.wait(lambda: all(n in watch.deleted for n in names), timeout)
    gone = [watch.deleted[n] for n in names if n in watch.deleted]
    last = max(gone, default=first)
    out = {"pods": len(names), "deleted": len(gone), "complete": ok,
           "requests_s": round(sent - first, 2), "seconds": round(last - first, 2),
           "pods_per_s": round(len(gone) / (last - first), 2) if gone else None}
    if grace:
        past = max(0.01, last - first - grace)
        # past the grace period of the first delete, and of the last (the delete
        # requests themselves take a while on a loaded apiserver)
        out.update(grace_s=grace, after_grace_s=round(last - first - grace, 2),
                   after_last_grace_s=round(last - sent - grace, 2),
                   pods_per_s_after_grace=round(len(gone) / past, 2))
    return out


def deploy(client, watch: PodWatch, replicas: int, timeout: float) -> Dict:
    name = f"churn-{watch.run}"
    doc = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
           "spec": {"replicas": replicas, "selector": {"matchLabels": {LABEL_KEY: watch.run}},
                    "template": {"metadata": {"labels": {LABEL_KEY: watch.run}},
                                 "spec": {"terminationGracePeriodSeconds": 1,
                                          "containers": [{"name": "main", "image": "busybox",
                                                          "command": ["sleep", "3600"]}]}}}}
    first = time.time()
    client.create("deployments", doc, "default")
    ok = watch.wait(lambda: len(watch.ready) >= replicas, timeout)
    up_s = max(watch.ready.values(), default=first) - first
    names = set(watch.ready)
    scaled = time.time()
    client.patch("deployments", name, {"spec": {"replicas": 0}}, "default")
    gone_ok = watch.wait(lambda: names <= set(watch.deleted), timeout)
    down_s = max((watch.deleted[n] for n in names if n in watch.deleted), default=scaled) - scaled
    client.delete("deployments", name, "default")
    return {"replicas": replicas, "ready": len(names), "complete": ok and gone_ok,
            "up_s": round(up_s, 2), "up_pods_per_s": round(len(names) / up_s, 2) if up_s else None,
            "down_s": round(down_s, 2),
            "down_pods_per_s": round(len(names) / down_s, 2) if down_s else None}


def baseline(prefix: str, count: int = BASELINE_NS) -> float:
    """Seconds per namespace for add + exec true + del, one after another."""
    start = time.monotonic()
    for i in range(count):
        ns = f"{prefix}{i}"
        subprocess.run(["ip", "netns", "add", ns], check=True)
        try:
            subprocess.run(["ip", "netns", "exec", ns, "true"], check=True)
        finally:
            subprocess.run(["ip", "netns", "del", ns], check=False)
    return (time.monotonic() - start) / count


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its reaped children (0 when gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def component_cpu(cluster) -> Dict[str, float]:
    """CPU seconds so far per component kind (kubelet = all kubelets summed)."""
    out: Dict[str, float] = {}
    for record in cluster.state.processes:
        kind = record.name.partition("@")[0]
        out[kind] = out.get(kind, 0.0) + cpu_seconds(record.pid)
    return out


class CpuMeter:
    """CPU seconds each component kind spent between `start` and `stop`."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.before: Dict[str, float] = {}

    def start(self) -> None:
        self.before = component_cpu(self.cluster)
        self.wall = time.monotonic()

    def stop(self) -> Dict[str, float]:
        after = component_cpu(self.cluster)
        out = {k: round(v - self.before.get(k, 0.0), 1) for k, v in after.items()
               if v - self.before.get(k, 0.0) >= 0.05}
        out["wall"] = round(time.monotonic() - self.wall, 1)
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def start_profilers(cluster, pyspy: str, outdir: str, kinds: List[str],
                    idle: bool = False) -> List:
    """py-spy record (raw collapsed stacks) on one process of each kind in ``kinds``:
    on-CPU samples only, or every thread's with ``idle`` (where the seconds go)."""
    os.makedirs(outdir, exist_ok=True)
    procs, seen = [], set()
    for record in cluster.state.processes:
        kind = record.name.partition("@")[0]
        if kind in kinds and kind not in seen:
            seen.add(kind)
            out = os.path.join(outdir, f"{kind}.txt")
            procs.append(subprocess.Popen(
                [pyspy, "record", "--nonblocking", "--rate", "25", "--format", "raw",
                 *(["--idle"] if idle else []), "-o", out, "--pid", str(record.pid)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return procs


def stop_profilers(procs: List) -> None:
    for proc in procs:
        proc.send_signal(signal.SIGINT)
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def _r(value: Optional[float]) -> Optional[float]:
    return None if value is None else round(value, 3)


def report(results: Dict) -> None:
    base = results["baseline_s_per_ns"]
    print(f"baseline: ip netns add + exec true + del: {base * 1000:.0f} ms per namespace")

    def ratio(seconds: float, pods: int) -> str:
        return f"{seconds / max(pods, 1) / base:.2f}x baseline per Pod"

    n = results["pods"]
    if "add" in results:
        a = results["add"]
        print(f"add {n} Pods: all Ready in {a['seconds']} s ({a['pods_per_s']} Pods/s, "
              f"{ratio(a['seconds'], n)}); create->Ready P50 {a['p50_s']} s P99 {a['p99_s']} s "
              f"max {a['max_s']} s; Ready {a['ready']}/{n}")
    if "delete" in results:
        d = results["delete"]
        print(f"delete {n} Pods (grace 1): all gone in {d['seconds']} s ({d['pods_per_s']} "
              f"Pods/s, {ratio(d['seconds'], n)}); requests took {d['requests_s']} s; "
              f"gone {d['deleted']}/{n}")
    if "grace" in results:
        g = results["grace"]
        print(f"grace {n} Pods (SIGTERM ignored, grace {g['grace_s']} s): all gone "
              f"{g['seconds']} s after the first delete, {g['after_grace_s']} s past the grace "
              f"period ({g['pods_per_s_after_grace']} Pods/s after it), "
              f"{g['after_last_grace_s']} s past the last delete's; gone {g['deleted']}/{n}"
              f" (their add: {results['grace_add']['seconds']} s)")
    if "deploy" in results:
        d = results["deploy"]
        print(f"deployment of {d['replicas']}: all Ready in {d['up_s']} s "
              f"({d['up_pods_per_s']} Pods/s, {ratio(d['up_s'], d['replicas'])}); "
              f"scaled to 0: all gone in {d['down_s']} s ({d['down_pods_per_s']} Pods/s)")
    for phase in PHASES:
        if phase in results:
            print(f"  {phase} CPU seconds by component: "
                  + ", ".join(f"{k} {v}" for k, v in results[phase]["cpu_s"].items()))
    print("JSON " + json.dumps(results, sort_keys=True))


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_churn",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=200)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--topology", default="single")
    parser.add_argument("--name", default="pc1")
    parser.add_argument("--phases", default=",".join(PHASES),
                        help=f"comma-separated, of {', '.join(PHASES)}")
    parser.add_argument("--grace", type=int, default=30,
                        help="the grace phase's terminationGracePeriodSeconds")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--reuse", action="store_true", help="use the running cluster")
    parser.add_argument("--keep", action="store_true", help="leave the cluster up")
    parser.add_argument("--py-spy", default="", metavar="PATH",
                        help="py-spy binary: record each component kind during the phases")
    parser.add_argument("--profile-dir", default="churn-profile")
    parser.add_argument("--profile-idle", action="store_true",
                        help="sample waiting threads too (default: on-CPU samples only)")
    args = parser.parse_args(argv)
    phases = [p for p in args.phases.split(",") if p]
    bad = [p for p in phases if p not in PHASES]
    if bad:
        parser.error(f"unknown phase {bad[0]!r}: use {', '.join(PHASES)}")
    if not args.reuse:
        started = time.monotonic()
        k8snet("up", "--detach", "--name", args.name, "--topology", args.topology,
               "--workers", str(args.workers), "--timeout", "600")
        print(f"up: {time.monotonic() - started:.1f} s", flush=True)
    results: Dict = {"pods": args.pods, "workers": args.workers, "topology": args.topology}
    try:
        cluster = api.find(args.name, need_api=True)
        client = cluster.client(timeout=30)
        results["baseline_s_per_ns"] = round(baseline(f"k8snet-bl{args.name}-"), 4)
        meter = CpuMeter(cluster)
        profilers = start_profilers(cluster, args.py_spy, args.profile_dir, [
            "apiserver", "scheduler", "controller-manager", "kubelet", "runtime"],
            args.profile_idle) if args.py_spy else []
        run = str(int(time.time()))
        names = [f"ch-{i:04d}" for i in range(args.pods)]
        if "add" in phases or "delete" in phases:
            watch = PodWatch(client, run + "a")
            try:
                meter.start()
                results["add"] = create_pods(client, watch, names, 1, False, args.timeout)
                results["add"]["cpu_s"] = meter.stop()
                print(f"add: {results['add']}", flush=True)
                if "delete" in phases:
                    meter.start()
                    results["delete"] = delete_pods(client, watch, names, args.timeout)
                    results["delete"]["cpu_s"] = meter.stop()
                    print(f"delete: {results['delete']}", flush=True)
            finally:
                watch.close()
        if "grace" in phases:
            watch = PodWatch(client, run + "g")
            try:
                gnames = [f"chg-{i:04d}" for i in range(args.pods)]
                results["grace_add"] = create_pods(client, watch, gnames,
                                                   None if args.grace == 30 else args.grace,
                                                   True, args.timeout)
                print(f"grace add: {results['grace_add']}", flush=True)
                meter.start()
                results["grace"] = delete_pods(client, watch, gnames,
                                               args.timeout + args.grace, grace=args.grace)
                results["grace"]["cpu_s"] = meter.stop()
                print(f"grace delete: {results['grace']}", flush=True)
            finally:
                watch.close()
        if "deploy" in phases:
            watch = PodWatch(client, run + "d")
            try:
                meter.start()
                results["deploy"] = deploy(client, watch, args.pods, args.timeout)
                results["deploy"]["cpu_s"] = meter.stop()
            finally:
                watch.close()
        stop_profilers(profilers)
        report(results)
    finally:
        if not args.reuse and not args.keep:
            k8snet("down", "--name", args.name, check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
