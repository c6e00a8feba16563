"""Issue 15's performance figures in one run, each next to a baseline measured in
the same run, its target, and the previous run's figure (root).

    sudo python -m benchmarks.bench_perf [--out bench-report/perf.json] [--scale]
    sudo python -m benchmarks.bench_perf --profile [--py-spy PATH]

Writes ``--out`` (JSON) and the same path with ``.md`` (the table); an existing
``--out`` is first moved to ``perf.prev.json`` next to it and compared with
(``--previous PATH`` compares with another file). What it measures:

- ``up --detach`` wall time (command start to exit: every worker Node Ready) of a
  leaf-spine 1 master + 4 workers, a leaf-spine 2x4 1 master + 8 workers, and the
  2x4 again with ``--network-only``; baseline: Mininet building and starting the
  same topology (same switch class, userspace datapath, no controller, no
  reachability wait, no Kubernetes), run just before. The milestones of each
  bring-up come from its progress lines, and the CPU seconds each component had
  used when it returned from /proc/<pid>/stat;
- with ``--scale``: one switch, 50 workers, all Ready (takes minutes);
- on the 4-worker cluster: 200 busybox Pods (``sleep 3600``,
  terminationGracePeriodSeconds 1) created by 4 threads and scheduled over the 4
  workers, first create call to the last Pod seen Ready on a watch (Pods/s); Pod
  startup P50/P99 from the create call's answer (the apiserver stored it, that is
  creationTimestamp, with sub-second precision) to the watch event that first
  shows it Ready; baseline: a bare loop making as many network namespaces with a
  veth pair each (``ip netns add``, ``ip link add ... type veth``, address, up);
- those 200 deleted (first delete call to the last DELETED event), then 300 Pods
  with the default grace period (30 s; busybox's sleep as PID 1 ignores SIGTERM, so
  each is killed when its grace ends) created and deleted; Pods/s also counted
  after the grace period: N / (seconds - grace); baseline: deleting as many bare
  namespaces;
- memory as PSS (/proc/<pid>/smaps_rollup): per worker, kubelet + runtime +
  kube-proxy + policy agent, idle before the Pods (mean over workers); per idle
  Pod, (a) the machine's used memory (MemTotal - MemAvailable) after the 200 Pods
  minus before, / 200 (other users of the machine add noise), (b) the PSS of every
  process in the cluster's namespaces (nodes and Pods) and under its supervisor,
  after minus before, / 200; a container's shim's PSS (mean over shims); the
  apiserver's PSS with the 200 Pods and the other objects (counted) stored;
- ``k8snet control-plane`` stop: SIGINT to its process group (Ctrl-C) once the
  scheduler and controller-manager hold their Leases, until the command exits;
  baseline: a bare ``python -c pass``.

``--profile`` instead records where the seconds go with py-spy (``pip install
.[profile]``, or ``--py-spy PATH``): the 2x4 bring-up with every process it starts,
and the 200-Pod add and delete with every process under the cluster's supervisor
(shims are outside it); it writes perf-profile.md (CPU seconds per component,
share in imports, top functions) and the raw stacks next to ``--out``.

Cluster names pb1..pb9; everything it makes is taken down. It prints figures and
asserts nothing.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import Dict, List, Optional, Sequence, Tuple

from benchmarks.common import K8SNET, is_ready, percentile
from k8snet.machinery.informer import Informer
from k8snet.report import perf
from k8snet.report.measure import cpu_seconds_of
from k8snet.report.perf import Figure

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LABEL = "app=pb-perf"
AGNHOST = "registry.k8s.io/e2e-test-images/agnhost:2.53"
PACED_PODS, PACED_RATE = 100, 20.0   # the target: P99 startup 1 s at 20 Pods/s
# a worker's processes: its node agent, or (--separate-agents) one per component
WORKER_COMPONENTS = ("node-agent", "kubelet", "runtime", "kube-proxy", "policy-agent")
SEPARATE_NAME = "pb5"   # the same workers with --separate-agents, for memory
BASE_NS = "pbbl"        # the bare-namespace baseline's names: pbbl<i>, pbblhost
PLAIN_NAME = "pb9"      # the plain Mininet baseline's bridge names


def log(text: str) -> None:
    print(text, flush=True)


# -- /proc ----------------------------------------------------------------------

def pss_kib(pid: int) -> int:
    """Proportional set size of ``pid`` in KiB (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def used_kib() -> int:
    """MemTotal - MemAvailable of the whole machine."""
    info = {}
    with open("/proc/meminfo") as fh:
        for line in fh:
            key, _, rest = line.partition(":")
            info[key] = int(rest.split()[0])
    return info["MemTotal"] - info["MemAvailable"]


def loadavg() -> str:
    with open("/proc/loadavg") as fh:
        return " ".join(fh.read().split()[:3])


def exited(pid: int) -> bool:
    """``pid`` is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def all_pids() -> List[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def ppid_of(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return int(fh.read().rsplit(")", 1)[1].split()[1])
    except OSError:
        return 0


def descendants(root: int) -> List[int]:
    children: Dict[int, List[int]] = {}
    for pid in all_pids():
        children.setdefault(ppid_of(pid), []).append(pid)
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return out


def cluster_pids(name: str, supervisor: int) -> List[int]:
    """Every process of a cluster: in one of its network namespaces (nodes and
    Pods, /run/netns/k8snet-NAME-*) or under its supervisor."""
    inodes = set()
    prefix = f"k8snet-{name}-"
    for entry in os.listdir("/run/netns"):
        if entry.startswith(prefix):
            try:
                inodes.add(os.stat(os.path.join("/run/netns", entry)).st_ino)
            except OSError:
                pass
    out = set(descendants(supervisor))
    for pid in all_pids():
        try:
            if os.stat(f"/proc/{pid}/ns/net").st_ino in inodes:
                out.add(pid)
        except OSError:
            pass
    return sorted(out)


def shim_pids(name: str) -> List[int]:
    """The per-container monitors of cluster ``name``: conmon (or the old Python shim),
    whose command line names a container directory under /run/k8snet/NAME/."""
    return [pid for pid in all_pids()
            if ("k8snet.cri.shim" in (cl := cmdline(pid)) or os.path.basename(
                cl.split(" ", 1)[0]) == "conmon") and f"/k8snet/{name}/" in cl]


# -- the k8snet command -------------------------------------------------------------

def k8snet_run(*args: str, timeout: float = 1200) -> Tuple[float, str]:
    """(seconds, output) of ``k8snet ARGS``; SystemExit with its output if it fails."""
    t0 = time.monotonic()
    proc = subprocess.run([*K8SNET, *args], capture_output=True, text=True, timeout=timeout)
    took = time.monotonic() - t0
    if proc.returncode != 0:
        raise SystemExit(f"k8snet {' '.join(args)} failed:\n{proc.stdout}{proc.stderr}")
    return took, proc.stdout


def down(name: str) -> float:
    t0 = time.monotonic()
    subprocess.run([*K8SNET, "down", "--name", name], capture_output=True, text=True,
                   timeout=600, check=False)
    return time.monotonic() - t0


def topo_args(topology: str, workers: int, spines: Optional[int] = None,
              leaves: Optional[int] = None) -> List[str]:
    out = ["--topology", topology, "--workers", str(workers)]
    if spines:
        out += ["--spines", str(spines)]
    if leaves:
        out += ["--leaves", str(leaves)]
    return out


def component_cpu(name: str) -> Dict[str, float]:
    """CPU seconds used so far per component kind of cluster ``name`` (every
    process recorded in its state, summed over nodes)."""
    from k8snet.testbed import api

    state = api.find(name).state
    out: Dict[str, float] = {}
    records = list(state.processes)
    if state.supervisor:
        records.append(state.supervisor)
    if state.controller:
        records.append(state.controller.process)
    for record in records:
        kind = record.name.partition("@")[0]
        out[kind] = out.get(kind, 0.0) + cpu_seconds_of(record.pid)
    return out


def node_timeline(name: str, started: float) -> Dict:
    """When the apiserver and each worker's components reached their start-up
    milestones (seconds since ``started``, from the cluster's files and logs)."""
    from k8snet.testbed import api

    state = api.find(name).state
    out: Dict = {"nodes": {}}
    try:
        out["apiserver ready (kubeconfig written)"] = os.stat(
            os.path.join(state.dir, "kubeconfig.incluster")).st_mtime - started
    except OSError:
        pass
    for node in state.workers:
        times: Dict[str, float] = {}
        for milestone, log_name, needle in perf.NODE_MILESTONES:
            try:
                with open(os.path.join(state.dir, node.name, log_name), errors="replace") as fh:
                    stamp = perf.first_stamp(fh.read(), needle)
            except OSError:
                stamp = None
            if stamp is not None:
                times[milestone] = stamp - started
        out["nodes"][node.name] = times
    return out


def timeline_text(timeline: Dict) -> str:
    parts = []
    if "apiserver ready (kubeconfig written)" in timeline:
        parts.append(f"apiserver ready {timeline['apiserver ready (kubeconfig written)']:.1f}")
    parts += [f"{name} {mean:.1f} (slowest {worst:.1f})"
              for name, mean, worst in perf.timeline_summary(timeline["nodes"])]
    return "; ".join(parts)


def bring_up(name: str, args: Sequence[str]) -> Dict:
    """Time ``up --detach``: total, milestones, per-node start-up, CPU per component."""
    log(f"  up --detach --name {name} {' '.join(args)}")
    started = time.time()
    took, out = k8snet_run("up", "--detach", "--name", name, "--timeout", "900", *args)
    phases = perf.bring_up_phases(perf.progress_lines(out))
    full = "--network-only" not in args
    cpu = component_cpu(name) if full else {}
    timeline = node_timeline(name, started) if full else {}
    log(f"    {took:.1f} s; milestones {json.dumps({k: round(v, 1) for k, v in phases.items()})}")
    if cpu:
        log("    CPU s by component at Ready: " + ", ".join(
            f"{k} {v:.1f}" for k, v in sorted(cpu.items(), key=lambda kv: -kv[1])))
        log("    s since up started, mean over workers: " + timeline_text(timeline))
    return {"seconds": took, "phases": phases, "cpu": cpu, "timeline": timeline}


# -- baselines ----------------------------------------------------------------------

PLAIN_MININET = """
import json, sys, time
from mininet.log import setLogLevel
from k8snet.testbed import network
from k8snet.testbed.cluster import free_port
from k8snet.testbed.spec import load_topology
setLogLevel("error")
topology, params = sys.argv[1], json.loads(sys.argv[2])
t0 = time.monotonic()
topo = load_topology(topology)(cluster=sys.argv[3], **params)
net = network.make_network(topo, free_port())
try:
    net.build()
    net.start()
    took = time.monotonic() - t0
finally:
    net.stop()
print(json.dumps({"seconds": took, "hosts": len(net.hosts), "switches": len(net.switches)}))
"""


def plain_mininet(topology: str, **params) -> float:
    """Seconds Mininet takes to build and start ``topology`` (k8snet's switch
    and host classes, no controller, no reachability wait, no components)."""
    proc = subprocess.run([sys.executable, "-c", PLAIN_MININET, topology, json.dumps(params),
                           PLAIN_NAME],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"plain Mininet baseline failed:\n{proc.stdout}{proc.stderr}")
    doc = json.loads(proc.stdout.strip().splitlines()[-1])
    log(f"  baseline: plain Mininet {topology} {params}: build + start {doc['seconds']:.1f} s "
        f"({doc['hosts']} hosts, {doc['switches']} switches)")
    return doc["seconds"]


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


def netns_loop(count: int) -> Tuple[float, float]:
    """(seconds to make, seconds to delete) ``count`` network namespaces, each
    with a veth pair to a shared one, an address and its links up; one command
    at a time, as a CNI plugin's exec would."""
    host = f"{BASE_NS}host"
    ip("netns", "add", host)
    try:
        t0 = time.monotonic()
        for i in range(count):
            ns = f"{BASE_NS}{i}"
            ip("netns", "add", ns)
            ip("link", "add", "name", f"{ns}h", "netns", host, "type", "veth", "peer",
               "name", "eth0", "netns", ns)
            ip("-n", ns, "addr", "add", f"10.254.{i // 250}.{i % 250 + 1}/32", "dev", "eth0")
            ip("-n", ns, "link", "set", "lo", "up")
            ip("-n", ns, "link", "set", "eth0", "up")
            ip("-n", host, "link", "set", f"{ns}h", "up")
        made = time.monotonic() - t0
        t0 = time.monotonic()
        for i in range(count):
            ip("netns", "delete", f"{BASE_NS}{i}")
        gone = time.monotonic() - t0
    finally:
        for i in range(count):
            subprocess.run(["ip", "netns", "delete", f"{BASE_NS}{i}"], capture_output=True,
                           check=False)
        subprocess.run(["ip", "netns", "delete", host], capture_output=True, check=False)
    log(f"  baseline: {count} bare netns + veth: made in {made:.1f} s, deleted in {gone:.1f} s")
    return made, gone


def bare_python() -> float:
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.monotonic() - t0


def bare_python_pss() -> int:
    """PSS of an idle bare interpreter (what any Python process costs at least)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        time.sleep(1.0)
        return pss_kib(proc.pid)
    finally:
        proc.kill()
        proc.wait()


# -- Pods -----------------------------------------------------------------------------

def pod_doc(name: str, grace: Optional[int]) -> Dict:
    spec: Dict = {"containers": [{"name": "c", "image": "busybox",
                                  "command": ["sleep", "3600"]}]}
    if grace is not None:
        spec["terminationGracePeriodSeconds"] = grace
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": "pb-perf"}}, "spec": spec}


class PodWatch:
    """Watches the benchmark's Pods: when each was first seen Ready and when DELETED."""

    def __init__(self, client):
        self.client = client
        self.ready: Dict[str, float] = {}
        self.deleted: Dict[str, float] = {}
        self.stop = threading.Event()
        self.rv = client.list("pods", "default")["metadata"]["resourceVersion"]
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                for kind, obj in self.client.watch("pods", "default", resource_version=self.rv,
                                                   label_selector=LABEL, timeout_seconds=5):
                    self.rv = obj["metadata"].get("resourceVersion", self.rv)
                    name = obj["metadata"]["name"]
                    now = time.time()
                    if kind == "DELETED":
                        self.deleted.setdefault(name, now)
                    elif is_ready(obj):
                        self.ready.setdefault(name, now)
                    if self.stop.is_set():
                        return
            except Exception as exc:  # a dropped watch: resume from the last version
                print(f"  (watch restarted: {exc})", file=sys.stderr, flush=True)
                time.sleep(0.2)

    def wait(self, what: Dict[str, float], names: Sequence[str], timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if all(n in what for n in names):
                return True
            time.sleep(0.1)
        return False

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=10)


def in_threads(items: Sequence[str], work, threads: int = 4) -> None:
    lock = threading.Lock()
    todo = list(items)

    def run() -> None:
        while True:
            with lock:
                if not todo:
                    return
                item = todo.pop(0)
            work(item)

    pool = [threading.Thread(target=run) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()


def add_pods(client, watch: PodWatch, names: Sequence[str], grace: Optional[int],
             timeout: float) -> Dict:
    """Create ``names`` (4 threads); seconds to all Ready and per-Pod startup."""
    created: Dict[str, float] = {}
    stamps: Dict[str, str] = {}

    def create(name: str) -> None:
        got = client.create("pods", pod_doc(name, grace), "default")
        created[name] = time.time()
        stamps[name] = got["metadata"].get("creationTimestamp", "")

    first = time.time()
    in_threads(names, create)
    ok = watch.wait(watch.ready, names, timeout)
    latency = [watch.ready[n] - created[n] for n in names if n in watch.ready]
    done = max((watch.ready[n] for n in names if n in watch.ready), default=first)
    return {"seconds": done - first, "ready": len(latency), "all_ready": ok,
            "latency": latency, "created": created, "stamps": stamps}


def add_pods_paced(client, watch: PodWatch, names: Sequence[str], rate: float,
                   timeout: float) -> Dict:
    """Create ``names`` at a steady ``rate`` Pods/s (each create in its own thread at its
    time, so a slow answer does not delay the next); per-Pod startup as add_pods."""
    created: Dict[str, float] = {}

    def create(name: str) -> None:
        client.create("pods", pod_doc(name, 1), "default")
        created[name] = time.time()

    first = time.monotonic()
    threads = []
    for i, name in enumerate(names):
        delay = first + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        thread = threading.Thread(target=create, args=(name,))
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join()
    ok = watch.wait(watch.ready, names, timeout)
    latency = [watch.ready[n] - created[n] for n in names if n in watch.ready and n in created]
    return {"ready": len(latency), "all_ready": ok, "latency": latency,
            "created_seconds": time.monotonic() - first}


def delete_pods(client, watch: PodWatch, names: Sequence[str], timeout: float) -> Dict:
    first = time.time()
    in_threads(names, lambda n: client.delete("pods", n, "default"))
    ok = watch.wait(watch.deleted, names, timeout)
    done = max((watch.deleted[n] for n in names if n in watch.deleted), default=first)
    return {"seconds": done - first, "deleted": sum(n in watch.deleted for n in names),
            "all_deleted": ok}


def stamp_latencies(client, names: Sequence[str]) -> List[float]:
    """creationTimestamp -> Ready condition's lastTransitionTime (whole seconds)."""
    def secs(text: str) -> float:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()

    out = []
    wanted = set(names)
    for pod in client.list("pods", "default", label_selector=LABEL)["items"]:
        if pod["metadata"]["name"] not in wanted:
            continue
        cond = next((c for c in pod.get("status", {}).get("conditions", [])
                     if c.get("type") == "Ready" and c.get("status") == "True"), None)
        if cond and cond.get("lastTransitionTime"):
            out.append(secs(cond["lastTransitionTime"]) - secs(pod["metadata"]
                                                               ["creationTimestamp"]))
    return out


def object_count(client) -> Dict[str, int]:
    out = {}
    for resource in ("pods", "events", "nodes", "leases", "services", "endpoints",
                     "endpointslices", "configmaps", "secrets", "serviceaccounts",
                     "namespaces", "deployments", "replicasets", "daemonsets"):
        try:
            out[resource] = len(client.list(resource)["items"])
        except Exception:  # a kind this apiserver does not serve
            pass
    return out


def separate_worker_pss() -> Dict[str, Dict[str, int]]:
    """worker_pss of a 4-worker cluster whose components are processes of their
    own (--separate-agents), idle as the main one is measured; {} if it fails."""
    from k8snet.testbed import api

    try:
        bring_up(SEPARATE_NAME, ["--topology", "single", "--workers", "4",
                                 "--separate-agents"])
        time.sleep(5)   # as for the main cluster: the agents settle after start-up
        return worker_pss(api.find(SEPARATE_NAME).state)
    except Exception as exc:  # noqa: BLE001 - a figure missing, said in the log
        log(f"  --separate-agents cluster: {exc}")
        return {}
    finally:
        down(SEPARATE_NAME)


def worker_pss(state) -> Dict[str, Dict[str, int]]:
    """node -> component -> PSS KiB, for each worker."""
    out: Dict[str, Dict[str, int]] = {}
    for record in state.processes:
        comp, _, node = record.name.partition("@")
        if comp in WORKER_COMPONENTS and node:
            out.setdefault(node, {})[comp] = pss_kib(record.pid)
    return out


def mib(kib: float) -> float:
    return kib / 1024


def pods_section(args, figures: List[Figure], details: Dict) -> None:
    from k8snet.testbed import api

    name = "pb3"
    bl_make, bl_del = netns_loop(args.pods)
    plain = plain_mininet("leaf-spine", workers=4)
    try:
        up = bring_up(name, topo_args("leaf-spine", 4))
        details["up_ls_4w"] = up
        figures.append(Figure("up_ls_4w", "up --detach leaf-spine (default 2 spines, 4 "
                              "leaves), 1 master + 4 workers, all Nodes Ready", up["seconds"],
                              "s", baseline=plain, baseline_label="plain Mininet",
                              note="command start to exit; baseline: Mininet build+start of "
                                   "the same topology, no controller, no Kubernetes"))
        figures.append(Figure("up_ls_4w_apiserver_ready", "  same: apiserver answering at",
                              up["phases"].get("apiserver"), "s",
                              note="from the progress line 'apiserver ready' (seconds "
                                   "since the command started)"))
        cluster = api.find(name, need_api=True)
        state = cluster.state
        client = cluster.client(timeout=30)
        time.sleep(5)   # the agents settle after start-up
        per_worker = worker_pss(state)
        sums = [sum(c.values()) for c in per_worker.values()]
        means = {c: sum(n.get(c, 0) for n in per_worker.values()) / max(1, len(per_worker))
                 for c in WORKER_COMPONENTS}
        log("  idle PSS per worker (MiB): " + ", ".join(
            f"{c} {mib(v):.1f}" for c, v in means.items()))
        details["worker_pss_kib"] = per_worker
        figures.append(Figure("mem_per_worker", "memory per worker, PSS of kubelet + runtime + "
                              "kube-proxy + policy agent (idle, 4 workers)",
                              mib(sum(sums) / max(1, len(sums))), "MiB",
                              baseline=mib(details["bare_python_pss_kib"]),
                              baseline_label="bare python",
                              note="mean over workers of their processes' PSS ("
                                   + ", ".join(f"{c} {mib(v):.1f}"
                                               for c, v in means.items() if v)
                                   + " MiB); baseline: one idle bare interpreter"))
        separate = separate_worker_pss()
        details["worker_pss_separate_kib"] = separate
        if separate:
            seps = [sum(c.values()) for c in separate.values()]
            sep_means = {c: sum(n.get(c, 0) for n in separate.values()) / len(separate)
                         for c in WORKER_COMPONENTS}
            figures.append(Figure(
                "mem_per_worker_separate", "  same, each component its own process "
                "(--separate-agents)", mib(sum(seps) / len(seps)), "MiB",
                baseline=mib(details["bare_python_pss_kib"]), baseline_label="bare python",
                note="a 4-worker cluster up just for this, measured the same way ("
                     + ", ".join(f"{c} {mib(v):.1f}" for c, v in sep_means.items() if v)
                     + " MiB)"))
        supervisor = state.supervisor.pid
        used0 = used_kib()
        cluster0 = sum(pss_kib(p) for p in cluster_pids(name, supervisor))
        watch = PodWatch(client)
        try:
            names = [f"pb-{i:03d}" for i in range(args.pods)]
            got = add_pods(client, watch, names, 1, args.timeout)
            lat = got["latency"]
            log(f"  {args.pods} Pods: {got['ready']} Ready in {got['seconds']:.1f} s; startup "
                f"P50 {percentile(lat, 50):.2f} s, P99 {percentile(lat, 99):.2f} s")
            stamps = stamp_latencies(client, names)
            details["pods_add"] = {k: v for k, v in got.items() if k not in ("created",
                                                                             "stamps")}
            details["pod_startup_stamps"] = stamps
            by_node: Dict[str, int] = {}
            for pod in client.list("pods", "default", label_selector=LABEL)["items"]:
                node = pod["spec"].get("nodeName") or "-"
                by_node[node] = by_node.get(node, 0) + 1
            details["pods_by_node"] = by_node
            note = "" if got["all_ready"] else f" ({args.pods - got['ready']} never Ready)"
            add_rate = Figure("pods_add_rate", f"{args.pods} busybox Pods added on 4 "
                              f"workers, all Ready: Pods/s{note}",
                              got["ready"] / got["seconds"] if got["seconds"] else None,
                              "Pods/s", better="higher", baseline=args.pods / bl_make,
                              baseline_label="bare netns+veth",
                              note="Pods Ready / (first create call -> last Pod seen Ready "
                                   "on a watch); 4 threads create; baseline: namespaces "
                                   "with a veth pair made per second by a bare ip loop, "
                                   "the mean of one run just before the Pods and one "
                                   "just after")
            add_secs = Figure("pods_add_seconds", f"  same: seconds for {args.pods}",
                              got["seconds"], "s", baseline=bl_make,
                              baseline_label="bare netns+veth")
            figures += [add_rate, add_secs]
            figures.append(Figure("pod_startup_p50", "  Pod startup P50", percentile(lat, 50),
                                  "s", note="create call answered (the Pod is stored) -> "
                                            "first watch event showing it Ready with an IP; "
                                            "stamps (creationTimestamp -> Ready "
                                            "lastTransitionTime, whole seconds): P50 "
                                            f"{percentile(stamps, 50)}, P99 "
                                            f"{percentile(stamps, 99)}"))
            figures.append(Figure("pod_startup_p99", "  Pod startup P99 (the same burst)",
                                  percentile(lat, 99), "s"))
            time.sleep(10)  # idle Pods
            used1 = used_kib()
            pids = cluster_pids(name, supervisor)
            cluster1 = sum(pss_kib(p) for p in pids)
            shims = [pss_kib(p) for p in shim_pids(name)]
            apiserver = state.process("apiserver@m1")
            api_pss = pss_kib(apiserver.pid) if apiserver else 0
            objects = object_count(client)
            details["objects"] = objects
            details["memory"] = {"used_before_kib": used0, "used_after_kib": used1,
                                 "cluster_pss_before_kib": cluster0,
                                 "cluster_pss_after_kib": cluster1,
                                 "cluster_processes": len(pids), "shims": len(shims),
                                 "shim_pss_kib": shims}
            n = max(1, got["ready"])
            figures.append(Figure("mem_per_pod_system", "memory per idle Pod, machine-wide "
                                  f"delta over {n} Pods", mib((used1 - used0) / n), "MiB",
                                  note="(MemTotal - MemAvailable) after the Pods and 10 s idle "
                                       "minus before, / Pods; includes whatever else the "
                                       "shared machine did meanwhile"))
            figures.append(Figure("mem_per_pod_cluster", "memory per idle Pod, PSS delta of "
                                  "the cluster's processes", mib((cluster1 - cluster0) / n),
                                  "MiB", note=f"PSS of every process in the cluster's node and "
                                              f"Pod namespaces or under its supervisor "
                                              f"({len(pids)} after), after minus before, / Pods; "
                                              "no kernel memory (netns, veth, conntrack)"))
            figures.append(Figure("mem_shim", "per-container monitor (conmon) PSS (mean)",
                                  mib(sum(shims) / len(shims)) if shims else None, "MiB",
                                  baseline=mib(details["bare_python_pss_kib"]),
                                  baseline_label="bare python",
                                  note=f"mean over {len(shims)} monitors (Debian's conmon; "
                                       "crun exits once the container runs)"))
            total_objects = sum(objects.values())
            figures.append(Figure("mem_apiserver", f"apiserver PSS with {total_objects} "
                                  "objects stored", mib(api_pss), "MiB",
                                  note="objects: " + ", ".join(f"{k} {v}" for k, v in
                                                               objects.items() if v)))
            log(f"  memory: machine {mib(used1 - used0) / n:.2f} MiB/Pod, cluster PSS "
                f"{mib(cluster1 - cluster0) / n:.2f} MiB/Pod, shim "
                f"{mib(sum(shims) / max(1, len(shims))):.1f} MiB, apiserver {mib(api_pss):.1f} "
                f"MiB ({total_objects} objects)")
            bl_make2, bl_del2 = netns_loop(args.pods)
            # the machine's load changes over minutes: the Pods' baseline brackets them
            details["netns_loop_seconds"] = [bl_make, bl_make2]
            add_secs.baseline = (bl_make + bl_make2) / 2
            add_rate.baseline = args.pods / add_secs.baseline
            gone = delete_pods(client, watch, names, args.timeout)
            log(f"  deleted {gone['deleted']} (grace 1) in {gone['seconds']:.1f} s")
            details["pods_delete_grace1"] = gone
            figures.append(Figure("pods_delete_grace1_rate", f"{args.pods} Pods deleted "
                                  "(terminationGracePeriodSeconds 1): Pods/s",
                                  gone["deleted"] / gone["seconds"] if gone["seconds"] else None,
                                  "Pods/s", better="higher", baseline=args.pods / bl_del2,
                                  baseline_label="bare netns delete",
                                  note="first delete call -> last DELETED watch event; after "
                                       "the 1 s grace: "
                                       f"{gone['deleted'] / max(0.1, gone['seconds'] - 1):.1f} "
                                       "Pods/s; baseline: bare namespaces deleted per second"))
            paced = [f"pb-p{i:03d}" for i in range(PACED_PODS)]
            got = add_pods_paced(client, watch, paced, PACED_RATE, args.timeout)
            lat = got["latency"]
            log(f"  {PACED_PODS} Pods at {PACED_RATE:.0f}/s: {got['ready']} Ready; startup "
                f"P50 {percentile(lat, 50):.2f} s, P99 {percentile(lat, 99):.2f} s")
            details["pods_paced"] = got
            paced_note = (f"{PACED_PODS} Pods created at a steady {PACED_RATE:.0f} Pods/s "
                          f"(the target's rate; creates took {got['created_seconds']:.1f} s); "
                          "create call answered -> first watch event showing it Ready with "
                          "an IP")
            figures.append(Figure("pod_startup_paced_p50", f"Pod startup P50, Pods created "
                                  f"at a steady {PACED_RATE:.0f}/s", percentile(lat, 50), "s",
                                  note=paced_note))
            figures.append(Figure("pod_startup_paced_p99", "  Pod startup P99, same",
                                  percentile(lat, 99), "s"))
            delete_pods(client, watch, paced, args.timeout)
            if args.pods_default:
                many = [f"pb-d{i:03d}" for i in range(args.pods_default)]
                got = add_pods(client, watch, many, None, args.timeout)
                log(f"  {args.pods_default} Pods (default grace): {got['ready']} Ready in "
                    f"{got['seconds']:.1f} s")
                details["pods_add_default"] = {k: v for k, v in got.items()
                                               if k not in ("created", "stamps", "latency")}
                _, bl_del3 = netns_loop(args.pods_default)
                gone = delete_pods(client, watch, many, args.timeout + 60)
                grace = 30
                after = gone["seconds"] - grace
                log(f"  deleted {gone['deleted']} (default grace) in {gone['seconds']:.1f} s")
                details["pods_delete_default"] = gone
                figures.append(Figure(
                    "pods_delete_default_rate", f"{args.pods_default} Pods deleted (default "
                    "grace 30 s): Pods/s after the grace period",
                    gone["deleted"] / after if after > 0 else None, "Pods/s", better="higher",
                    baseline=args.pods_default / bl_del3, baseline_label="bare netns delete",
                    note=f"Pods / (first delete call -> last DELETED - 30 s); all took "
                         f"{gone['seconds']:.1f} s ({gone['deleted']} of "
                         f"{args.pods_default} deleted)"))
        finally:
            watch.close()
    finally:
        log(f"  down {name}: {down(name):.1f} s")


def bringup_section(args, figures: List[Figure], details: Dict) -> None:
    ls = topo_args("leaf-spine", 8, 2, 4)
    plain = plain_mininet("leaf-spine", workers=8, spines=2, leaves=4)
    try:
        full = bring_up("pb1", ls)
    finally:
        details["down_ls_8w"] = down("pb1")
    try:
        net = bring_up("pb2", [*ls, "--network-only"])
    finally:
        down("pb2")
    details["up_ls_8w"], details["up_ls_8w_network_only"] = full, net
    durations = "; ".join(f"{k} {v:.1f} s" for k, v in perf.phase_durations(full["phases"]))
    figures.append(Figure("up_ls_8w", "up --detach leaf-spine 2x4, 1 master + 8 workers, all "
                          "Nodes Ready", full["seconds"], "s", baseline=plain,
                          baseline_label="plain Mininet",
                          note=f"command start to exit; {durations}; network-only in the "
                               f"same run {net['seconds']:.1f} s (full is "
                               f"{full['seconds'] / net['seconds']:.1f}x that); seconds since "
                               f"up started: {timeline_text(full['timeline'])}; CPU s by "
                               "component at Ready: " + ", ".join(
                                   f"{k} {v:.1f}" for k, v in sorted(
                                       full["cpu"].items(), key=lambda kv: -kv[1]))))
    figures.append(Figure("up_ls_8w_network_only", "up --detach leaf-spine 2x4 --network-only",
                          net["seconds"], "s", baseline=plain, baseline_label="plain Mininet",
                          note="the fabric, nodes, os-ken controller and all-pairs "
                               "reachability; no Kubernetes"))


def scale_section(args, figures: List[Figure], details: Dict) -> None:
    if not args.scale:
        figures.append(Figure("up_single_50w", "up --detach one switch, 50 workers, all Ready",
                              None, "s", note="skipped; run with --scale (takes minutes)"))
        return
    plain = plain_mininet("single", workers=50)
    try:
        got = bring_up("pb4", topo_args("single", 50))
        if args.scale_pods:
            thousand_pods("pb4", args.scale_pods, args.timeout, figures, details)
    finally:
        details["down_single_50w"] = down("pb4")
    details["up_single_50w"] = got
    durations = "; ".join(f"{k} {v:.1f} s" for k, v in perf.phase_durations(got["phases"]))
    figures.append(Figure("up_single_50w", "up --detach one switch, 50 workers, all Ready",
                          got["seconds"], "s", baseline=plain, baseline_label="plain Mininet",
                          note=f"command start to exit; {durations}; seconds since up "
                               f"started: {timeline_text(got['timeline'])}; CPU s by "
                               "component at Ready: " + ", ".join(
                                   f"{k} {v:.1f}" for k, v in sorted(
                                       got["cpu"].items(), key=lambda kv: -kv[1]))))


def deployment_doc(name: str, replicas: int, image: str, args: List[str]) -> Dict:
    container: Dict = {"name": "c", "image": image, "args": args}
    if image == "busybox":
        container = {"name": "c", "image": image, "command": args}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "strategy": {"rollingUpdate": {"maxSurge": "25%",
                                                    "maxUnavailable": "25%"}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"terminationGracePeriodSeconds": 1,
                                           "containers": [container]}}}}


def running_pods(items, image: str) -> Dict[str, Dict]:
    """name -> Pod of those Running with an IP whose container runs `image`."""
    out = {}
    for pod in items:
        spec = pod.get("spec", {}).get("containers") or [{}]
        status = pod.get("status", {})
        if spec[0].get("image") == image and status.get("phase") == "Running" \
                and status.get("podIP") and not pod["metadata"].get("deletionTimestamp"):
            out[pod["metadata"]["name"]] = pod
    return out


def wait_deployment(pods_informer, replicas: int, image: str, timeout: float,
                    ) -> Tuple[float, Dict[str, Dict], int]:
    """(seconds, Pods, Pods of the Deployment still existing) once `replicas` of its
    Pods run `image` and no other of its Pods is left, or at the deadline. Reads an
    informer's cache (one watch): a list of 1,000 Pods every 2 s was, in a first run,
    the apiserver's largest single cost, so the benchmark measured itself."""
    t0 = time.monotonic()
    pods: Dict[str, Dict] = {}
    total = 0
    last_log = t0
    generation = -1
    while time.monotonic() - t0 < timeout:
        generation = pods_informer.wait_change(generation, 2.0)
        items = list(pods_informer.snapshot().values())
        pods, total = running_pods(items, image), len(items)
        if len(pods) >= replicas and total == len(pods):
            break
        if time.monotonic() - last_log > 30:
            log(f"    {len(pods)}/{replicas} running {image} ({total} Pods exist) after "
                f"{time.monotonic() - t0:.0f} s")
            last_log = time.monotonic()
        time.sleep(0.5)   # at most two looks a second at a cache that changes constantly
    return time.monotonic() - t0, pods, total


def thousand_pods(name: str, count: int, timeout: float, figures: List[Figure],
                  details: Dict) -> None:
    """A Deployment of `count` busybox Pods on the cluster, then rolled to agnhost: every
    Pod Running with its own address and network namespace, the probe still passing,
    the machine's memory with them all."""
    from k8snet.testbed import api

    cluster = api.find(name, need_api=True)
    client = cluster.client(timeout=60)
    used0 = used_kib()
    netns0 = len(subprocess.run(["ip", "netns", "list"], capture_output=True,
                                text=True).stdout.splitlines())
    dep = "pb-scale"
    stop = threading.Event()
    informer = Informer(client, "pods", namespace="default", label_selector=f"app={dep}")
    informer.start(stop)
    try:
        thousand_pods_in(client, informer, dep, name, count, timeout, figures, details,
                         used0, netns0)
    finally:
        stop.set()


def thousand_pods_in(client, informer, dep: str, name: str, count: int, timeout: float,
                     figures: List[Figure], details: Dict, used0: int, netns0: int) -> None:
    informer.wait_synced(60)
    client.create("deployments", deployment_doc(dep, count, "busybox", ["sleep", "86400"]),
                  "default")
    secs, pods, total = wait_deployment(informer, count, "busybox", timeout)
    ips = {p["status"]["podIP"] for p in pods.values()}
    nodes = {p["spec"].get("nodeName") for p in pods.values()}
    netns1 = len(subprocess.run(["ip", "netns", "list"], capture_output=True,
                                text=True).stdout.splitlines())
    used1 = used_kib()
    log(f"  {count} busybox Pods: {len(pods)} Running in {secs:.1f} s on {len(nodes)} nodes; "
        f"{len(ips)} distinct Pod IPs; network namespaces on the machine +{netns1 - netns0}; "
        f"memory used +{mib(used1 - used0):.0f} MiB")
    details["scale_busybox"] = {"seconds": secs, "running": len(pods), "ips": len(ips),
                                "nodes": len(nodes), "netns_added": netns1 - netns0,
                                "used_kib_before": used0, "used_kib_after": used1}
    note = "" if len(pods) >= count else f" ({count - len(pods)} not Running)"
    figures.append(Figure("scale_busybox_rate", f"{count} busybox Pods (one Deployment) on "
                          f"50 workers, all Running: Pods/s{note}",
                          len(pods) / secs if secs else None, "Pods/s", better="higher",
                          note=f"{len(pods)} Running in {secs:.0f} s; {len(ips)} distinct "
                               f"IPs on {len(nodes)} nodes; network namespaces on the "
                               f"machine +{netns1 - netns0}"))
    figures.append(Figure("scale_memory_per_pod", "  same: machine memory per Pod",
                          mib((used1 - used0) / max(1, len(pods))), "MiB",
                          note=f"(MemTotal - MemAvailable) delta {mib(used1 - used0):.0f} MiB "
                               f"over {len(pods)} Pods"))
    # the same Deployment rolled to agnhost: every Pod replaced under maxSurge 25%
    client.patch("deployments", dep, {"spec": {"template": {"spec": {"containers": [
        {"name": "c", "image": AGNHOST, "command": None,
         "args": ["netexec", "--http-port=8080"]}]}}}}, "default")
    secs2, pods2, total2 = wait_deployment(informer, count, AGNHOST, timeout)
    ips2 = {p["status"]["podIP"] for p in pods2.values()}
    used2 = used_kib()
    log(f"  rolled to agnhost: {len(pods2)} Running in {secs2:.1f} s ({total2} Pods exist); "
        f"{len(ips2)} distinct Pod IPs; memory used +{mib(used2 - used0):.0f} MiB")
    details["scale_agnhost"] = {"seconds": secs2, "running": len(pods2), "ips": len(ips2),
                                "pods_left": total2, "used_kib_after": used2}
    figures.append(Figure("scale_rollout_seconds", f"  same Deployment rolled to agnhost "
                          f"netexec, all {count} replaced", secs2, "s",
                          note=f"{len(pods2)} Running, {len(ips2)} distinct IPs; machine "
                               f"memory +{mib(used2 - used0):.0f} MiB over the cluster "
                               "without Pods"))
    t0 = time.monotonic()
    proc = subprocess.run([*K8SNET, "probe", "--name", name, "--json"], capture_output=True,
                          text=True, timeout=1200)
    probe_secs = time.monotonic() - t0
    try:
        checks = json.loads(proc.stdout).get("checks", [])
    except ValueError:
        checks = []
    failed = [c.get("name") for c in checks if c.get("verdict") != "pass"]
    log(f"  k8snet probe with {len(pods2)} Pods: exit {proc.returncode} in {probe_secs:.0f} "
        f"s; {len(checks) - len(failed)}/{len(checks)} checks passed"
        + (f"; failed: {', '.join(map(str, failed))}" if failed else "")
        + (f"; it said: {proc.stderr.strip().splitlines()[-1]}"
           if proc.returncode and proc.stderr.strip() else ""))
    details["scale_probe"] = {"rc": proc.returncode, "seconds": probe_secs,
                              "checks": len(checks), "failed": failed,
                              "stderr": proc.stderr[-2000:]}
    figures.append(Figure("scale_probe", f"  k8snet probe beside {count} Pods: checks "
                          "passed", len(checks) - len(failed), "checks", better="higher",
                          note=f"of {len(checks)}; exit {proc.returncode}; {probe_secs:.0f} s"))


def stop_section(args, figures: List[Figure], details: Dict) -> None:
    """``k8snet control-plane`` stopped by SIGINT to its process group."""
    from k8snet.machinery.client import ApiClient

    base = min(bare_python() for _ in range(3))
    tmp = tempfile.mkdtemp(prefix="pb-cp-")
    proc = subprocess.Popen([*K8SNET, "control-plane", "--data-dir", tmp, "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        kubeconfig = os.path.join(tmp, "kubeconfig")
        end = time.monotonic() + 120
        client = None
        while time.monotonic() < end and client is None:
            if proc.poll() is not None:
                raise SystemExit(f"control-plane exited: {proc.stdout.read()}")
            if os.path.exists(kubeconfig):
                try:
                    client = ApiClient.from_kubeconfig(kubeconfig, timeout=5)
                    client.get("namespaces", "default")
                except Exception:
                    client = None
            time.sleep(0.2)
        if client is None:
            raise SystemExit("control-plane: the apiserver never answered")
        for lease in ("kube-scheduler", "kube-controller-manager"):
            while time.monotonic() < end:
                try:
                    if client.get("leases", lease, "kube-system")["spec"].get("holderIdentity"):
                        break
                except Exception:
                    pass
                time.sleep(0.2)
        time.sleep(2.0)   # informers listed, loops at work
        children = {perf.component_of(cmdline(p)): p
                    for p in descendants(proc.pid) if p != proc.pid}
        exits: Dict[str, float] = {}
        t0 = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)
        while proc.poll() is None and time.monotonic() - t0 < 60:
            for comp, pid in children.items():
                if comp not in exits and exited(pid):
                    exits[comp] = time.monotonic() - t0
            time.sleep(0.02)
        took = time.monotonic() - t0
        if proc.poll() is None:
            proc.kill()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    details["control_plane_stop"] = {"seconds": took, "children": exits,
                                     "returncode": proc.returncode}
    log(f"  control-plane stop {took:.2f} s (exit {proc.returncode}); children gone after: "
        + ", ".join(f"{k} {v:.2f} s" for k, v in exits.items()))
    figures.append(Figure("control_plane_stop", "k8snet control-plane stop (Ctrl-C to exit)",
                          took, "s", baseline=base, baseline_label="python -c pass",
                          note="SIGINT to the process group once scheduler and "
                               "controller-manager hold their Leases, until the command "
                               f"exits (status {proc.returncode}); children gone after: "
                               + ", ".join(f"{k} {v:.1f} s" for k, v in exits.items())))


# -- profiling ----------------------------------------------------------------------

def find_py_spy(given: Optional[str]) -> str:
    for candidate in (given, shutil.which("py-spy"),
                      os.path.join(os.path.dirname(sys.executable), "py-spy")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise SystemExit("py-spy not found: pip install '.[profile]' (or pip install --target DIR "
                     "py-spy) and give --py-spy DIR/bin/py-spy")


def stop_py_spy(spy: subprocess.Popen) -> None:
    """SIGINT: py-spy stops sampling and writes its output."""
    spy.send_signal(signal.SIGINT)
    try:
        out, _ = spy.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        spy.kill()
        out, _ = spy.communicate()
    last = [line for line in (out or "").splitlines() if "Samples" in line or "rror" in line]
    log(f"  py-spy: {last[-1] if last else (out or '').strip()[-200:]}")


def profile_run(args, out_dir: str) -> str:
    from k8snet.testbed import api

    py_spy = find_py_spy(args.py_spy)
    rate = args.rate
    # --gil: only the thread holding the interpreter lock is sampled, so a sample is
    # Python code on a CPU. Without it py-spy counts threads blocked on a lock as busy
    # (it said the apiserver spent 78% in Condition.wait).
    sections = [f"# Where the seconds go (py-spy --gil, {rate} samples/s per process; a "
                "sample counts the thread holding the interpreter lock; waits, I/O and "
                "time in C with the lock released are not sampled; processes py-spy found "
                "late or could not read are missing: the /proc CPU line is complete)", "",
                f"load average before: {loadavg()} ({os.cpu_count()} cores)", ""]
    # 1. bring-up of the 2x4 cluster, every process it starts
    raw = os.path.join(out_dir, "profile-bringup.txt")
    log("profiling up --detach leaf-spine 2x4 (pb5)")
    # py-spy follows the up command's process tree; it would go on sampling the detached
    # supervisor and its components after up returns, so it is stopped (SIGINT: it
    # writes its output) as soon as up exits. The first few ms of up are not sampled.
    t0, started = time.monotonic(), time.time()
    up = subprocess.Popen([*K8SNET, "up", "--detach", "--name", "pb5", "--timeout", "900",
                           *topo_args("leaf-spine", 8, 2, 4)], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    try:
        spy = subprocess.Popen([py_spy, "record", "-r", str(rate), "--gil", "--nonblocking",
                                "--subprocesses", "-f", "raw", "-o", raw, "--pid",
                                str(up.pid)], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
        output, _ = up.communicate(timeout=1200)
        wall = time.monotonic() - t0
        stop_py_spy(spy)
        if up.returncode != 0:
            raise SystemExit(f"profiled up failed:\n{output[-3000:]}")
        cpu = component_cpu("pb5")
        timeline = node_timeline("pb5", started)
    finally:
        if up.poll() is None:
            up.terminate()
            up.wait()
        down("pb5")
    phases = perf.bring_up_phases(perf.progress_lines(output))
    with open(raw) as fh:
        profiles = perf.profile_headlines(perf.parse_raw(fh.read()), ROOT + "/")
    sections += ["## Bring-up of leaf-spine 2x4, 1 master + 8 workers (under py-spy)", "",
                 "Milestones (wall, from the progress lines): " + "; ".join(
                     f"{k} {v:.1f} s" for k, v in perf.phase_durations(phases)), "",
                 "CPU seconds per component from /proc when `up` returned (whole processes, "
                 "including what py-spy missed): " + ", ".join(
                     f"{k} {v:.1f}" for k, v in sorted(cpu.items(), key=lambda kv: -kv[1])),
                 "", "Start-up milestones, seconds since up started, mean over workers "
                 "(from the components' logs): " + timeline_text(timeline), "",
                 perf.profile_markdown("py-spy: bring-up", profiles, rate, wall)]
    # 2. Pod churn on a 4-worker cluster: everything under its supervisor
    name = "pb6"
    try:
        log(f"profiling {args.pods} Pods added and deleted (pb6)")
        bring_up(name, topo_args("leaf-spine", 4))
        cluster = api.find(name, need_api=True)
        client = cluster.client(timeout=30)
        time.sleep(5)
        raw2 = os.path.join(out_dir, "profile-churn.txt")
        spy = subprocess.Popen([py_spy, "record", "-r", str(rate), "--gil", "--nonblocking",
                                "--subprocesses", "-f", "raw", "-o", raw2, "--pid",
                                str(cluster.state.supervisor.pid)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(2)
        watch = PodWatch(client)
        cpu0 = component_cpu(name)
        t0 = time.monotonic()
        try:
            names = [f"pb-{i:03d}" for i in range(args.pods)]
            got = add_pods(client, watch, names, 1, args.timeout)
            t_add = time.monotonic() - t0
            gone = delete_pods(client, watch, names, args.timeout)
            wall = time.monotonic() - t0
            cpu = {k: v - cpu0.get(k, 0.0) for k, v in component_cpu(name).items()}
        finally:
            watch.close()
            stop_py_spy(spy)
    finally:
        down(name)
    with open(raw2) as fh:
        profiles = perf.profile_headlines(perf.parse_raw(fh.read()), ROOT + "/")
    sections += [f"## {args.pods} Pods added (Ready in {got['seconds']:.1f} s) and deleted "
                 f"(in {gone['seconds']:.1f} s), 4 workers (under py-spy; add phase "
                 f"{t_add:.1f} s)", "",
                 "CPU seconds per component from /proc over the churn (whole processes): "
                 + ", ".join(f"{k} {v:.1f}" for k, v in sorted(cpu.items(),
                                                                key=lambda kv: -kv[1])), "",
                 perf.profile_markdown("py-spy: Pod churn", profiles, rate, wall)]
    path = os.path.join(out_dir, "perf-profile.md")
    with open(path, "w") as fh:
        fh.write("\n".join(sections))
    return path


# -- main ---------------------------------------------------------------------------

def load_previous(path: Optional[str]) -> Dict[str, Figure]:
    if not path or not os.path.exists(path):
        return {}
    try:
        with open(path) as fh:
            doc = json.load(fh)
        return {f["key"]: Figure.from_dict(f) for f in doc.get("figures", [])}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log(f"(previous results {path} unreadable: {exc}; not compared)")
        return {}


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench_perf",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="bench-report/perf.json",
                    help="results file (JSON); the table goes next to it as .md")
    ap.add_argument("--previous", help="results to compare with (default: the --out that "
                                       "exists, kept as perf.prev.json)")
    ap.add_argument("--scale", action="store_true",
                    help="also one switch with 50 workers (several minutes)")
    ap.add_argument("--pods", type=int, default=200)
    ap.add_argument("--scale-pods", type=int, default=1000,
                    help="with --scale: a Deployment of this many Pods on the 50 workers "
                         "(0: skip)")
    ap.add_argument("--pods-default", type=int, default=300,
                    help="Pods deleted with the default grace period (0: skip)")
    ap.add_argument("--timeout", type=float, default=900, help="seconds per Pod wave")
    ap.add_argument("--only", default="bringup,pods,stop,scale",
                    help="sections to run, comma separated (bringup,pods,stop,scale)")
    ap.add_argument("--profile", action="store_true",
                    help="record py-spy profiles of bring-up and Pod churn instead")
    ap.add_argument("--py-spy", help="the py-spy program (default: on PATH or in the venv)")
    ap.add_argument("--rate", type=int, default=50, help="py-spy samples per second")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("bench_perf needs root (clusters, namespaces)")
    out = os.path.abspath(args.out)
    out_dir = os.path.dirname(out)
    os.makedirs(out_dir, exist_ok=True)
    if args.profile:
        path = profile_run(args, out_dir)
        with open(path) as fh:
            log(fh.read())
        log(f"profile: {path}")
        return 0
    sections = set(args.only.split(","))
    unknown = sections - {"bringup", "pods", "stop", "scale"}
    if unknown:
        raise SystemExit(f"--only: unknown section(s) {', '.join(sorted(unknown))}")
    started = time.time()
    figures: List[Figure] = []
    details: Dict = {"load_before": loadavg(), "cores": os.cpu_count(),
                     "bare_python_pss_kib": bare_python_pss(),
                     "bare_python_seconds": min(bare_python() for _ in range(3))}
    log(f"load average {details['load_before']} ({details['cores']} cores); bare python: "
        f"{details['bare_python_seconds']:.2f} s, {details['bare_python_pss_kib']} KiB PSS")
    # the commit measured is the one checked out now, not when the run ends
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=ROOT, check=False).stdout.strip()
    # Pods before scale: tearing 1,000 Pods' namespaces down keeps the machine busy for
    # a while, and the Pod figures measured after it were the run's slowest
    if "bringup" in sections:
        bringup_section(args, figures, details)
    if "pods" in sections:
        pods_section(args, figures, details)
    if "scale" in sections:
        scale_section(args, figures, details)
    if "stop" in sections:
        stop_section(args, figures, details)
    details["load_after"] = loadavg()
    order = list(perf.TARGETS)
    figures.sort(key=lambda f: order.index(f.key) if f.key in order else len(order))
    prev_path = args.previous
    if prev_path is None and os.path.exists(out):
        prev_path = os.path.join(out_dir, "perf.prev.json")
        os.replace(out, prev_path)
    previous = load_previous(prev_path)
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started))
    doc = {"when": when, "commit": commit, "seconds": time.time() - started,
           "args": vars(args), "figures": [f.to_dict() for f in figures], "details": details}
    with open(out, "w") as fh:
        json.dump(doc, fh, indent=1)
    context = [f"{when}, commit {commit or '?'}, {details['cores']} cores, load average "
               f"{details['load_before']} before, {details['load_after']} after; previous: "
               f"{prev_path if previous else 'none'}",
               "cost ratio: this figure in units of its same-run baseline (time / baseline "
               "time; for a rate, baseline rate / rate); compare runs by it"]
    table = perf.markdown(figures, previous, context=context)
    md = os.path.splitext(out)[0] + ".md"
    with open(md, "w") as fh:
        fh.write(table)
    log("")
    log(table)
    worse = perf.regressions(figures, previous)
    if worse:
        log(f"worse than the previous run by {perf.REGRESSION:.0%} or more: {', '.join(worse)}")
    log(f"results: {out}  table: {md}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
