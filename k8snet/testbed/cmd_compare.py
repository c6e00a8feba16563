"""`k8snet compare`: the same workload in routed and overlay mode, side by side.

``--modes routed,overlay,macvlan`` adds macvlan (the underlay) as a third column.
For each mode in turn (cluster ``<name>r``, ``<name>o``, ``<name>m``, never two at
once) it brings up the same topology, pins the same agnhost Pods to two
workers under different leaves (``cmp-a`` and ``cmp-b`` on the first,
``cmp-c`` on the second), and measures inside the Pods' network namespaces:

- TCP throughput (iperf3) and RTT (ping): Pod to Pod on the same node, Pod to
  Pod across leaves, node to node across leaves;
- the Pod's MTU (eth0);
- what a spine link carries while one Pod pings the other across leaves
  (tcpdump on every spine port): plain Pod addresses, or VXLAN (UDP 4789)
  between node addresses with the Pod packet inside.

A bare veth pair between two scratch namespaces, measured in the same run,
is the baseline every figure is divided by (the fabric is OVS's userspace
datapath here, so absolute figures say more about the machine than the mode).

``--proxy-mode`` chooses the kube-proxy of every cluster (the Pod paths
measured here do not cross it; it is there to compare with either one).

Parsing, the options and the table are pure (``CompareOptions``,
``parse_*``, ``classify_capture``, ``table``, ``render``); the rest runs
commands. Clusters come and go through the testbed's API
(``k8snet.testbed.api.up``/``down``); each one is taken down whatever happens.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import re
import select
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from k8snet import naming
from k8snet.cni import MODES
from k8snet.errors import K8snetError, UsageError
from k8snet.proxy import MODES as PROXY_MODES
from k8snet.testbed import addressing, api
from k8snet.testbed.spec import ClusterSpec
from k8snet.testbed.state import NodeInfo
from k8snet.testbed.waiting import WaitTimeout, ready_pods, wait_for

DEFAULT_MODES = ("routed", "overlay")
AGNHOST = "registry.k8s.io/e2e-test-images/agnhost:2.45"
ZONE_LABEL = "topology.kubernetes.io/zone"
IPERF_PORT = 5201
# (key, label, client, server): client/server are "pod:NAME" or "node:a|b".
PATHS = (
    ("pod_same_node", "Pod-to-Pod, same node", "pod:cmp-a", "pod:cmp-b"),
    ("pod_across_leaves", "Pod-to-Pod, across leaves", "pod:cmp-a", "pod:cmp-c"),
    ("node_across_leaves", "node-to-node, across leaves", "node:a", "node:b"),
)
PODS = (("cmp-a", "a"), ("cmp-b", "a"), ("cmp-c", "b"))  # Pod -> which picked worker
TIMESTAMP_RE = re.compile(r"^\d\d:\d\d:\d\d\.\d+ ")
ADDR_RE = re.compile(r"IP (\d+\.\d+\.\d+\.\d+)(?:\.(\d+))? > (\d+\.\d+\.\d+\.\d+)(?:\.(\d+))?:")

Extra = Callable[[api.Cluster, object], Dict]  # (cluster, ApiClient) -> extra figures


@dataclass(frozen=True)
class CompareOptions:
    """What to compare: clusters ``<name><mode letter>`` of one topology."""

    name: str = "cmp"
    topology: str = "leaf-spine"
    spines: int = 2
    leaves: int = 2
    workers: int = 2
    modes: Tuple[str, ...] = DEFAULT_MODES
    proxy_mode: str = "iptables"
    seconds: float = 3.0         # iperf3 duration per run
    rounds: int = 1              # iperf3 runs per path
    pings: int = 20              # pings per path
    timeout: float = 300.0       # for each cluster to come up and its Pods to be Ready

    def cluster_name(self, mode: str) -> str:
        return self.name + mode[0]

    def cluster_spec(self, mode: str) -> ClusterSpec:
        """The cluster that measures ``mode``."""
        return ClusterSpec(name=self.cluster_name(mode), topology=self.topology,
                           workers=self.workers, masters=1, spines=self.spines,
                           leaves=self.leaves, mode=mode, store="sqlite",
                           proxy_mode=self.proxy_mode, timeout=self.timeout)


def check_options(options: CompareOptions) -> CompareOptions:
    """UsageError for options compare cannot run with (pure)."""
    if len(options.name) > 5:
        raise UsageError(f"--name {options.name!r} is too long: at most 5 characters "
                         "(a mode letter is added)")
    naming.check_cluster_name(options.name + "r")
    for key in ("seconds", "rounds", "pings"):
        if getattr(options, key) <= 0:
            raise UsageError(f"--{key} must be positive")
    bad = [m for m in options.modes if m not in MODES]
    if bad or not options.modes:
        raise UsageError(f"--modes are {', '.join(MODES)}, comma-separated")
    if options.proxy_mode not in PROXY_MODES:
        raise UsageError(f"--proxy-mode must be one of {', '.join(PROXY_MODES)}, "
                         f"not {options.proxy_mode!r}")
    if options.topology == "single" or (options.topology == "leaf-spine" and (
            (options.leaves or 0) < 2 or (options.workers or 0) < 2)):
        raise UsageError("compare needs two workers under different leaves: use "
                         "--topology leaf-spine with --leaves 2 or more and --workers 2 or more")
    return options


# -- pure: parsing ---------------------------------------------------------------

def parse_iperf(text: str) -> float:
    """Gbit/s received, from ``iperf3 -J`` output; ValueError if it has none."""
    try:
        end = json.loads(text or "{}").get("end") or {}
        return end["sum_received"]["bits_per_second"] / 1e9
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"no iperf3 result in {text[:200]!r}") from exc


def parse_ping(text: str) -> List[float]:
    """The RTT (ms) of every reply in ping's output, in order."""
    return [float(m) for m in re.findall(r"time[=<]([\d.]+) ms", text)]


def parse_mtu(text: str) -> int:
    """The MTU in ``ip -o link show DEV`` output."""
    m = re.search(r"\bmtu (\d+)", text)
    if not m:
        raise ValueError(f"no mtu in {text[:200]!r}")
    return int(m.group(1))


def classify_capture(text: str, pod_net: str = str(addressing.POD_NET)) -> Dict:
    """What ``tcpdump -nn`` saw: packets between Pod addresses with nothing
    around them, and VXLAN (UDP 4789) packets with the outer addresses and
    the inner packet's addresses (tcpdump prints the inner one on the next
    line, without a timestamp)."""
    net = ipaddress.ip_network(pod_net)
    in_pods = lambda ip: ipaddress.ip_address(ip) in net  # noqa: E731
    doc = {"packets": 0, "plain_pod": 0, "vxlan": 0, "other": 0, "outer": [], "inner": []}
    outer, inner = set(), set()
    waiting_inner = False
    for line in text.splitlines():
        m = ADDR_RE.search(line)
        if not TIMESTAMP_RE.match(line):
            if waiting_inner and m:
                inner.add(f"{m.group(1)} > {m.group(3)}")
            waiting_inner = False
            continue
        doc["packets"] += 1
        waiting_inner = False
        if not m:
            doc["other"] += 1
        elif "VXLAN" in line or "4789" in (m.group(2), m.group(4)):
            doc["vxlan"] += 1
            outer.add(f"{m.group(1)} > {m.group(3)}")
            waiting_inner = True
        elif in_pods(m.group(1)) and in_pods(m.group(3)):
            doc["plain_pod"] += 1
        else:
            doc["other"] += 1
    doc["outer"], doc["inner"] = sorted(outer), sorted(inner)
    return doc


# -- pure: choices and the table ---------------------------------------------

def pick_workers(nodes: Sequence[NodeInfo]) -> Tuple[NodeInfo, NodeInfo]:
    """Two workers under different leaves (their zone labels differ)."""
    workers = [n for n in nodes if n.role == "worker"]
    for a in workers:
        for b in workers:
            za, zb = a.labels.get(ZONE_LABEL), b.labels.get(ZONE_LABEL)
            if za and zb and za != zb:
                return a, b
    raise UsageError("compare needs two workers under different leaves: use "
                     "--topology leaf-spine with --leaves 2 or more and --workers 2 or more")


def pod_netns(existing: Sequence[str], node_netns: str, namespace: str, pod: str) -> str:
    """The sandbox netns of a Pod among ``existing`` (the newest attempt)."""
    from k8snet.cri.names import sandbox_netns_name

    found = [n for n in (sandbox_netns_name(node_netns, namespace, pod, attempt)
                         for attempt in range(20)) if n in existing]
    if not found:
        raise K8snetError(f"no network namespace for Pod {namespace}/{pod} under {node_netns}")
    return found[-1]


def median(values: Sequence[float]) -> Optional[float]:
    return statistics.median(values) if values else None


def ratio(value: Optional[float], base: Optional[float]) -> Optional[float]:
    return value / base if value is not None and base else None


def table(result: Dict) -> List[Dict]:
    """One row per path: per mode the median throughput and RTT and their
    ratios to the bare veth pair's medians; then the MTU and capture rows."""
    veth = result["veth"]
    base_gbps, base_rtt = median(veth["gbps"]), median(veth["rtt_ms"])
    rows = [{"path": "bare veth pair (baseline)", "kind": "baseline",
             "modes": {"veth": {"gbps": base_gbps, "rtt_ms": base_rtt,
                                "gbps_ratio": 1.0 if base_gbps else None,
                                "rtt_ratio": 1.0 if base_rtt else None}}}]
    for key, label, _client, _server in PATHS:
        row = {"path": label, "kind": key, "modes": {}}
        for mode, doc in result["modes"].items():
            sample = doc.get("paths", {}).get(key, {})
            gbps, rtt = median(sample.get("gbps", [])), median(sample.get("rtt_ms", []))
            row["modes"][mode] = {"gbps": gbps, "rtt_ms": rtt,
                                  "gbps_ratio": ratio(gbps, base_gbps),
                                  "rtt_ratio": ratio(rtt, base_rtt)}
        rows.append(row)
    return rows


def capture_text(capture: Optional[Dict]) -> str:
    if not capture or not capture.get("packets"):
        return "nothing captured"
    if capture["vxlan"]:
        outer = ", ".join(capture["outer"][:2])
        inner = ", ".join(capture["inner"][:2])
        return f"VXLAN UDP 4789 {outer} (inside: {inner}); {capture['vxlan']} pkts"
    if capture["plain_pod"]:
        return f"plain Pod IPs, no encapsulation; {capture['plain_pod']} pkts"
    return f"{capture['other']} other pkts"


def cell(value: Optional[float], times: Optional[float], digits: int) -> str:
    """``value (ratio x)``, or ``-`` when there is no figure."""
    if value is None:
        return "-"
    return f"{value:.{digits}f} ({times:.{digits}f}x)" if times is not None else f"{value:.3f}"


def render(result: Dict) -> str:
    """The side-by-side table as text."""
    modes = list(result["modes"])
    lines = [f"k8snet compare: {result['topology']}, kube-proxy "
             f"{result.get('proxy_mode', 'iptables')}; iperf3 {result['seconds']:g} s, "
             f"{result['pings']} pings per path; (Nx) = ratio to the bare veth pair, same run"]
    head = f"{'path':28}" + "".join(f" | {m + ' Gbit/s':>20} | {m + ' RTT ms':>20}"
                                    for m in modes)
    lines += [head, "-" * len(head)]
    for row in table(result):
        cells = ""
        for mode in modes:
            c = row["modes"].get(mode) or row["modes"].get("veth") or {}
            cells += (f" | {cell(c.get('gbps'), c.get('gbps_ratio'), 3):>20}"
                      f" | {cell(c.get('rtt_ms'), c.get('rtt_ratio'), 2):>20}")
        lines.append(f"{row['path']:28}{cells}")
    lines.append("")
    for mode in modes:
        doc = result["modes"][mode]
        lines.append(f"{mode:8} cluster {doc.get('cluster')}: Pod MTU {doc.get('pod_mtu')}, "
                     f"node MTU {doc.get('node_mtu')}; spine link sees: "
                     f"{capture_text(doc.get('capture'))}")
    return "\n".join(lines)


# -- effects: commands in namespaces -----------------------------------------

def in_netns(netns: str, *cmd: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", "netns", "exec", netns, *cmd], capture_output=True,
                          text=True, timeout=timeout, check=False)


def iperf(server_ns: str, client_ns: str, ip: str, seconds: float,
          deadline: float = 20) -> float:
    """Gbit/s of one iperf3 run from ``client_ns`` to a server in ``server_ns``."""
    srv = subprocess.Popen(["ip", "netns", "exec", server_ns, "iperf3", "-s", "-1", "-p",
                            str(IPERF_PORT)], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        end, last = time.monotonic() + deadline, ""
        while time.monotonic() < end:
            out = in_netns(client_ns, "iperf3", "-c", ip, "-p", str(IPERF_PORT), "-t",
                           f"{seconds:g}", "-J", timeout=seconds + 30)
            try:
                return parse_iperf(out.stdout)
            except ValueError:
                last = (out.stdout + out.stderr).strip()[-200:]
            time.sleep(0.2)
        raise K8snetError(f"iperf3 {client_ns} -> {ip} gave no result in {deadline:.0f}s: {last}")
    finally:
        srv.kill()
        srv.wait()


def ping(client_ns: str, ip: str, count: int) -> List[float]:
    out = in_netns(client_ns, "ping", "-n", "-c", str(count), "-i", "0.05", "-W", "2", ip,
                   timeout=count * 2 + 10)
    rtts = parse_ping(out.stdout)
    if not rtts:
        raise K8snetError(f"no ping reply from {ip} in {client_ns}: "
                          f"{(out.stdout + out.stderr).strip()[-200:]}")
    return rtts


def measure_path(server_ns: str, client_ns: str, ip: str, seconds: float, pings: int,
                 rounds: int = 1) -> Dict:
    return {"gbps": [iperf(server_ns, client_ns, ip, seconds) for _ in range(rounds)],
            "rtt_ms": ping(client_ns, ip, pings)}


def capture(ports: Sequence[str], client_ns: str, ip: str, pings: int = 5,
            deadline: float = 10) -> Dict:
    """tcpdump on every port in ``ports`` while ``client_ns`` pings ``ip``."""
    procs = [subprocess.Popen(["tcpdump", "-nn", "-l", "-c", str(4 * pings), "-i", port,
                               "icmp or udp port 4789"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) for port in ports]
    try:
        end = time.monotonic() + deadline
        for proc in procs:  # tcpdump says "listening on" once it captures
            wait_output(proc, "listening on", end)
        ping(client_ns, ip, pings)
        time.sleep(0.5)
    finally:
        for proc in procs:
            proc.terminate()
    text = "".join(proc.communicate(timeout=10)[0].decode(errors="replace") for proc in procs)
    return {**classify_capture(text), "ports": list(ports)}


def wait_output(proc: subprocess.Popen, needle: str, end: float) -> None:
    """Read ``proc``'s stderr (unbuffered bytes) until it holds ``needle``, up to
    monotonic ``end``."""
    fd, seen = proc.stderr.fileno(), b""
    while time.monotonic() < end:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            chunk = os.read(fd, 4096)
            seen += chunk
            if needle.encode() in seen:
                return
            if not chunk:
                break
    raise K8snetError(f"{' '.join(proc.args)} did not say {needle!r} in time: "
                      f"{seen.decode(errors='replace').strip()[-200:]}")


@contextlib.contextmanager
def veth_pair(base: str) -> Iterator[Tuple[str, str, str]]:
    """Two scratch namespaces joined by a bare veth: (server ns, client ns, server ip)."""
    a, b = f"k8snet-{base}v-a", f"k8snet-{base}v-b"
    cmds = [["ip", "netns", "add", a], ["ip", "netns", "add", b],
            ["ip", "link", "add", f"kn{base}va", "netns", a, "type", "veth", "peer", "name",
             f"kn{base}vb", "netns", b],
            ["ip", "-n", a, "addr", "add", "192.168.250.1/24", "dev", f"kn{base}va"],
            ["ip", "-n", b, "addr", "add", "192.168.250.2/24", "dev", f"kn{base}vb"]]
    cmds += [["ip", "-n", ns, "link", "set", dev, "up"]
             for ns in (a, b) for dev in ("lo", f"kn{base}v{ns[-1]}")]
    for ns in (a, b):  # left by a run that was killed: ours by name
        subprocess.run(["ip", "netns", "delete", ns], capture_output=True, check=False)
    try:
        for cmd in cmds:
            out = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if out.returncode != 0:
                raise K8snetError(f"{' '.join(cmd)}: {out.stderr.strip()}")
        yield a, b, "192.168.250.1"
    finally:
        for ns in (a, b):
            subprocess.run(["ip", "netns", "delete", ns], capture_output=True, check=False)


# -- effects: a cluster per mode ---------------------------------------------

def take_down(name: str) -> None:
    try:
        api.down(name, progress=progress)
    except UsageError:
        pass  # never came up: nothing to take down


def pod_doc(name: str, node: str) -> Dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": "k8snet-compare"}},
            "spec": {"nodeSelector": {"kubernetes.io/hostname": node},
                     "containers": [{"name": "agnhost", "image": AGNHOST,
                                     "args": ["netexec", "--http-port=8080"]}]}}


def wait_ready(client, names: Sequence[str], timeout: float = 120) -> Dict[str, Dict]:
    """Watch Pods until every one of ``names`` is Ready (and has an IP); them."""
    try:
        return wait_for(client, "pods", lambda items: ready_pods(items, names), timeout,
                        f"Pods {', '.join(names)} Ready with an IP", namespace="default",
                        label_selector="app=k8snet-compare")
    except WaitTimeout as exc:
        raise K8snetError(str(exc)) from None


def spine_ports(cluster: api.Cluster) -> List[str]:
    ports = []
    for sw in cluster.state.switches:
        if sw.role == "spine":
            out = subprocess.run(["ovs-vsctl", "--timeout=5", "list-ports", sw.name],
                                 capture_output=True, text=True, timeout=10, check=False)
            ports += out.stdout.split()
    return ports


def measure_mode(options: CompareOptions, mode: str, extra: Optional[Extra] = None) -> Dict:
    """Bring up the cluster of ``mode``, measure, take it down. A cluster of
    that name that already runs is someone else's: ``api.up`` refuses it and
    it is left alone."""
    spec = options.cluster_spec(mode)
    doc: Dict = {"cluster": spec.name, "paths": {}}
    cluster = api.up(spec, progress=progress)  # fails leaving nothing behind
    try:
        client = cluster.client(timeout=30)
        a, b = pick_workers(cluster.state.nodes)
        picked = {"a": a, "b": b}
        doc["nodes"] = {"a": a.name, "b": b.name}
        for pod, which in PODS:
            client.create("pods", pod_doc(pod, picked[which].name), "default")
        pods = wait_ready(client, [p for p, _ in PODS], timeout=options.timeout)
        existing = os.listdir("/run/netns")
        ns = {f"pod:{p}": pod_netns(existing, picked[w].netns, "default", p)
              for p, w in PODS}
        ns.update({f"node:{k}": v.netns for k, v in picked.items()})
        ips = {f"pod:{p}": pods[p]["status"]["podIP"] for p, _ in PODS}
        ips.update({f"node:{k}": v.ip for k, v in picked.items()})
        for key, _label, cl, sv in PATHS:
            progress(f"{mode}: {key} {cl} -> {sv} ({ips[sv]})")
            doc["paths"][key] = measure_path(ns[sv], ns[cl], ips[sv], options.seconds,
                                             options.pings, options.rounds)
        doc["pod_mtu"] = parse_mtu(in_netns(ns["pod:cmp-a"], "ip", "-o", "link", "show",
                                            "eth0").stdout)
        doc["node_mtu"] = parse_mtu(in_netns(ns["node:a"], "ip", "-o", "link", "show",
                                             "eth0").stdout)
        doc["capture"] = capture(spine_ports(cluster), ns["pod:cmp-a"], ips["pod:cmp-c"])
        if extra:
            doc["extra"] = extra(cluster, client)
    finally:
        take_down(spec.name)
    return doc


def progress(text: str) -> None:
    print(f"[compare] {text}", file=sys.stderr, flush=True)


def compare(options: CompareOptions, extra: Optional[Extra] = None) -> Dict:
    """The raw result: the veth baseline, then each mode in turn."""
    from k8snet.testbed import preflight

    check_options(options)
    preflight.require_root("compare")
    for tool in ("iperf3", "tcpdump", "ping"):
        if not shutil.which(tool):
            raise UsageError(f"{tool} is missing: run 'sudo make setup'")
    result = {"topology": f"{options.topology} {options.spines} spines x {options.leaves} "
                          f"leaves, {options.workers} workers",
              "proxy_mode": options.proxy_mode, "seconds": options.seconds,
              "pings": options.pings, "modes": {}}
    progress("bare veth pair baseline")
    with veth_pair(options.name) as (srv, cli, ip):
        result["veth"] = measure_path(srv, cli, ip, options.seconds, options.pings,
                                      options.rounds)
    for mode in options.modes:
        progress(f"{mode} mode: cluster {options.cluster_name(mode)}")
        with contextlib.redirect_stdout(sys.stderr):
            result["modes"][mode] = measure_mode(options, mode, extra)
    return result


# -- the command -----------------------------------------------------------------

def modes_arg(text: str) -> List[str]:
    modes = [m.strip() for m in text.split(",") if m.strip()]
    bad = [m for m in modes if m not in MODES]
    if bad or not modes:
        raise argparse.ArgumentTypeError(f"modes are {', '.join(MODES)}, comma-separated")
    return modes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--topology", default="leaf-spine", help="leaf-spine or PATH.py[:NAME]")
    parser.add_argument("--spines", type=int, default=2, help="spine switches")
    parser.add_argument("--leaves", type=int, default=2, help="leaf switches")
    parser.add_argument("--workers", type=int, default=2, help="worker nodes")
    parser.add_argument("--modes", type=modes_arg, default=list(DEFAULT_MODES),
                        help="comma-separated, in order, of routed, overlay, macvlan "
                             "(default routed,overlay)")
    parser.add_argument("--proxy-mode", default="iptables",
                        help="every cluster's kube-proxy: iptables (default) or nftables")
    parser.add_argument("--name", default="cmp",
                        help="cluster name base (1-5 chars): clusters <name>r, <name>o, <name>m")
    parser.add_argument("--seconds", type=float, default=3.0, help="iperf3 duration per run")
    parser.add_argument("--rounds", type=int, default=1, help="iperf3 runs per path")
    parser.add_argument("--pings", type=int, default=20, help="pings per path")
    parser.add_argument("--timeout", type=float, default=300.0,
                        help="seconds for each cluster to come up and its Pods to be Ready")
    parser.add_argument("--json", action="store_true", help="raw samples and the table as JSON")
    parser.add_argument("--report", metavar="DIR", help="also write DIR/report.html with "
                        "plots (PNG and SVG) and the raw figures as report.json and report.csv")
    parser.add_argument("--repeat", type=int, help="run the whole comparison N times "
                        "(default 3 with --report, else 1)")


def options_from_args(args: argparse.Namespace) -> CompareOptions:
    return CompareOptions(
        name=args.name, topology=args.topology, spines=args.spines, leaves=args.leaves,
        workers=args.workers, modes=tuple(args.modes), proxy_mode=args.proxy_mode,
        seconds=args.seconds, rounds=args.rounds, pings=args.pings, timeout=args.timeout)


def report_extra(seconds: float) -> Extra:
    """The report's own figures for each mode (parallel streams, UDP, request/
    response, CPU per Gbit, Ready to reachable, DF and fragments), with
    iperf3 runs of ``seconds`` as compare's own."""
    from k8snet.report.measure import extra_figures

    return lambda cluster, client: extra_figures(cluster, client, seconds)


def run(args: argparse.Namespace) -> int:
    options = check_options(options_from_args(args))
    repeat = args.repeat if args.repeat is not None else (3 if args.report else 1)
    if repeat < 1:
        raise UsageError(f"--repeat {repeat}: give at least 1 run")
    if args.report and os.path.exists(args.report) and not os.path.isdir(args.report):
        raise UsageError(f"--report {args.report} is a file, not a directory")
    runs = []
    for i in range(repeat):
        if repeat > 1:
            progress(f"run {i + 1} of {repeat}")
        runs.append(compare(options, report_extra(options.seconds) if args.report else None))
    result = runs[-1]
    if args.report:
        from k8snet.report.write import write_report

        write_report(args.report, runs, {key: label for key, label, _c, _s in PATHS})
        progress(f"report: {os.path.join(os.path.abspath(args.report), 'report.html')}")
    if args.json:
        print(json.dumps({"raw": result, "table": table(result)}, indent=2))
    else:
        print(render(result))
    return 0
