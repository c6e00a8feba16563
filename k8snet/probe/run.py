"""Running the probe: gather evidence for each check, hand it to the verdicts.

`run_probes(cluster, only, keep)` deploys the probe Pods, starts an agent
in each probe Pod, each worker node and the outside host, runs the checks
in `model.CHECKS` order and returns ``(rows, ok)``. Every probe Pod (unless
``keep``) and every agent process is gone when it returns.
"""

from __future__ import annotations

import glob
import json
import os
import random
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from k8snet.errors import K8snetError
from k8snet.machinery.client import ApiClient, ApiError
from k8snet.probe import checks, deploy, run_dns
from k8snet.probe import cluster as cl
from k8snet.probe.agents import Agents, node_netns_path
from k8snet.probe.model import CHECKS, Exchange, Row, Verdict, failed, row, skipped
from k8snet.probe.packets import decode_all
from k8snet.testbed import api, components
from k8snet.testbed.state import NodeInfo

Progress = Callable[[str], None]
REMOVAL_DEADLINE = 30.0


@dataclass
class Context:
    """Everything the checks share during one run."""

    cluster: api.Cluster
    client: ApiClient
    agents: Agents
    pods: List[deploy.ProbePod]
    netns: Dict[str, str]                 # probe Pod name -> netns path
    workers: List[NodeInfo]
    external: Optional[NodeInfo]
    notes: List[str] = field(default_factory=list)

    def pod(self, role_or_name: str) -> Optional[deploy.ProbePod]:
        for p in self.pods:
            if p.name.endswith("-" + role_or_name) or p.name == role_or_name:
                return p
        return None


def label(pod: deploy.ProbePod) -> str:
    return f"pod {pod.name}"


# ------------------------------------------------------------------ exchanges

def exchange_calls(agent: str, src: str, src_ip: str, dst: str, dst_ip: str,
                   protos: Sequence[str], tcp_port: int = deploy.HTTP_PORT,
                   tcp_path: Optional[str] = "/clientip") -> List[Tuple]:
    """Agent calls for one direction, each tagged with how to read its answer."""
    calls = []
    for proto in protos:
        if proto == "icmp":
            calls.append((agent, "ping", {"dst": dst_ip, "count": 2, "timeout": 1.0}))
        elif proto == "tcp":
            calls.append((agent, "tcp", {"dst": dst_ip, "port": tcp_port, "path": tcp_path,
                                         "timeout": 3.0}))
        else:
            calls.append((agent, "udp", {"dst": dst_ip, "port": deploy.UDP_PORT,
                                         "message": "clientip", "timeout": 2.0}))
    return [(c, (src, dst, src_ip, dst_ip, p, tcp_path)) for c, p in zip(calls, protos)]


def to_exchange(tag: Tuple, answer: Dict) -> Exchange:
    src, dst, src_ip, dst_ip, proto, path = tag
    if proto == "icmp":
        ok = answer.get("answered", 0) > 0
        detail = (f"{answer.get('answered')}/{answer.get('sent')} echo replies"
                  + (f", rtt {answer['replies'][0]['rtt_ms']} ms" if ok else "")
                  + (f"; {answer['errors'][0]}" if answer.get("errors") else ""))
    else:
        ok = bool(answer.get("ok"))
        body = answer.get("body", "").strip()
        seen = f"server saw client {body!r}" if path == "/clientip" else f"{path} said {body!r}"
        detail = (seen if ok and body else "connected" if ok else answer.get("error", "?"))
    return Exchange(src, dst, src_ip, dst_ip, proto, ok, detail)


def run_exchanges(ctx: Context, tagged: List[Tuple]) -> List[Exchange]:
    answers = ctx.agents.parallel([c for c, _ in tagged])
    return [to_exchange(tag, a) for (_c, tag), a in zip(tagged, answers)]


def pod_pair(ctx: Context, a: deploy.ProbePod, b: deploy.ProbePod) -> List[Exchange]:
    protos = ("icmp", "tcp", "udp")
    return run_exchanges(ctx, exchange_calls(a.name, label(a), a.ip, label(b), b.ip, protos)
                         + exchange_calls(b.name, label(b), b.ip, label(a), a.ip, protos))


# ---------------------------------------------------------------------- checks

def check_unique_pod_ip(ctx: Context) -> Verdict:
    nodes = {n["metadata"]["name"]: n for n in ctx.client.list("nodes")["items"]}
    found: List[checks.PodAddress] = []
    for pod in ctx.client.list("pods")["items"]:
        spec, status = pod.get("spec", {}), pod.get("status", {})
        node = spec.get("nodeName")
        if spec.get("hostNetwork") or not status.get("podIP") or node not in nodes \
                or status.get("phase") != "Running" or pod["metadata"].get("deletionTimestamp"):
            continue
        ref = f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"
        cidr = nodes[node].get("spec", {}).get("podCIDR", "")
        path = cl.pod_netns(ctx.cluster.state, node, pod["metadata"]["uid"])
        eth0 = None
        before = after = 0
        answer: Dict = {"sent": 0, "answered": 0}
        if path:
            try:
                eth0 = cl.ipv4_addresses(path)
                before = cl.out_echo_replies(path)
                answer = ctx.agents[node].call("ping", dst=status["podIP"], count=2, timeout=1.0)
                after = cl.out_echo_replies(path)
            except K8snetError as exc:
                ctx.notes.append(f"{ref}: {exc}")
        found.append(checks.PodAddress(ref, node, status["podIP"], cidr, eth0,
                                       answer.get("sent", 0), answer.get("answered", 0),
                                       after - before))
    return checks.unique_pod_ip(found)


def check_intra_pod_localhost(ctx: Context) -> Verdict:
    a = ctx.pod("a")
    agent = ctx.agents[a.name]
    agent.call("sniff_start", sid="lo", iface="lo", needles_hex=[])
    agent.call("sniff_start", sid="eth0", iface="eth0", needles_hex=["7f000001"])
    tcp = api.exec_in_pod(ctx.cluster, a.name, [
        "wget", "-q", "-O-", f"http://127.0.0.1:{deploy.HTTP_PORT}/clientip"],
        deploy.NAMESPACE, "client", timeout=15)
    udp_script = ("import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);"
                  f"s.settimeout(3);s.sendto(b'clientip',('127.0.0.1',{deploy.UDP_PORT}));"
                  "print(s.recv(200).decode())")
    udp = api.exec_in_pod(ctx.cluster, a.name, ["python3", "-c", udp_script],
                          deploy.NAMESPACE, "client", timeout=15)
    lo = decode_all(agent.call("sniff_stop", sid="lo")["frames"])
    eth0 = decode_all(agent.call("sniff_stop", sid="eth0")["frames"])
    return checks.intra_pod_localhost(
        f"{a.ref} (client -> agnhost)",
        tcp.stdout.decode() if tcp.exit_code == 0 else None,
        udp.stdout.decode() if udp.exit_code == 0 else None,
        lo, eth0, [deploy.HTTP_PORT, deploy.UDP_PORT])


def check_same_node(ctx: Context) -> Verdict:
    return checks.exchanges(pod_pair(ctx, ctx.pod("a"), ctx.pod("b")), "same-node Pod-to-Pod")


def check_cross_node(ctx: Context) -> Verdict:
    if not ctx.pod("c"):
        return skipped("the cluster has one worker: no cross-node pair")
    return checks.exchanges(pod_pair(ctx, ctx.pod("a"), ctx.pod("c")), "cross-node Pod-to-Pod")


def check_no_nat(ctx: Context) -> Verdict:
    a = ctx.pod("a")
    pairs = [(a, p) for p in (ctx.pod("b"), ctx.pod("c")) if p] + \
        [(p, a) for p in (ctx.pod("b"), ctx.pod("c")) if p]
    sent, captured = [], {}
    # A fresh source port per run: an existing conntrack entry would skip NAT rules.
    base_port = random.SystemRandom().randrange(20000, 60000, 16)
    for n, (src, dst) in enumerate(pairs):
        marker = f"K8SNET-NONAT-{os.getpid()}-{n}".encode()
        m = checks.Marked(label(src), label(dst), src.ip, dst.ip, base_port + n, deploy.UDP_PORT,
                          0x4b00 + n, marker)
        rx = ctx.agents[dst.name]
        rx.call("sniff_start", sid=f"nonat{n}", iface="eth0", needles_hex=[marker.hex()])
        ctx.agents[src.name].call("send", dst=dst.ip, src=src.ip, proto="udp", sport=m.sport,
                                  dport=m.dport, ident=m.ident, payload_hex=marker.hex())
        frames = rx.call("sniff_stop", sid=f"nonat{n}")["frames"]
        captured.setdefault(m.receiver, []).extend(decode_all(frames))
        sent.append(m)
    return checks.no_nat(sent, captured)


def check_node_to_pod(ctx: Context) -> Verdict:
    tagged = []
    for node in ctx.workers:
        for p in ctx.pods:
            tagged += exchange_calls(node.name, f"node {node.name}", node.ip, label(p),
                                     p.ip, ("icmp", "tcp"), tcp_path="/healthz")
    return checks.exchanges(run_exchanges(ctx, tagged), "node-to-Pod", both_ways=False)


def check_pod_to_node(ctx: Context) -> Verdict:
    tagged = []
    for p in ctx.pods:
        for node in ctx.workers:
            tagged += exchange_calls(p.name, label(p), p.ip, f"node {node.name}", node.ip,
                                     ("icmp", "tcp"), tcp_port=components.KUBELET_PORT,
                                     tcp_path=None)
    return checks.exchanges(run_exchanges(ctx, tagged), "Pod-to-node", both_ways=False)


def check_nodeport(ctx: Context) -> Verdict:
    if not ctx.external:
        return skipped("the topology has no host outside the cluster (ext1)")
    info = deploy.service_info(ctx.client)
    ext = ctx.external.name
    results = []
    for node in ctx.workers:
        answers, errors, tries = [], [], 6
        for _ in range(tries):
            got = ctx.agents[ext].call("tcp", dst=node.ip, port=info["node_port"],
                                       path="/hostname", timeout=3.0)
            (answers if got.get("ok") else errors).append(got.get("body") or got.get("error"))
        results.append(checks.NodePortTry(node.name, node.ip, info["node_port"], tries,
                                          checks.hits_of(answers), errors))
    servers = [p.name for p in ctx.pods if p.role == "server"]
    return checks.service_nodeport(f"host {ext} ({ctx.external.ip})", results, servers)


def service_hits(ctx: Context, ip: str, port: int, tries: int) -> Tuple[List[str], List[str]]:
    answers, errors = [], []
    agent = ctx.agents[ctx.pod("a").name]
    for _ in range(tries):
        got = agent.call("tcp", dst=ip, port=port, path="/hostname", timeout=2.0)
        (answers if got.get("ok") else errors).append(got.get("body") or got.get("error"))
    return answers, errors


def check_clusterip(ctx: Context) -> Verdict:
    info = deploy.service_info(ctx.client)
    ip, port = info["cluster_ip"], info["http_port"]
    answers, errors = service_hits(ctx, ip, port, 4 * max(1, len(info["endpoints"])))
    hits = checks.hits_of(answers)
    extra = 0
    while set(info["endpoints"]) - set(hits) and extra < 12:
        more, errs = service_hits(ctx, ip, port, 2)
        answers += more
        errors += errs
        hits = checks.hits_of(answers)
        extra += 2
    udp = [ctx.agents[ctx.pod("a").name].call("udp", dst=ip, port=info["udp_port"],
                                              message="hostname", timeout=2.0)
           for _ in range(3)]
    probe = checks.ServiceProbe(f"{deploy.NAMESPACE}/{deploy.SERVICE}", ip, port,
                                info["endpoints"], hits, len(answers) + len(errors), errors,
                                sum(1 for u in udp if u.get("ok")))
    first = checks.service_clusterip(probe)
    victim = ctx.pod("c") or ctx.pod("b")
    if first.verdict != "pass" or len(info["endpoints"]) < 2:
        return first
    deploy.set_serving(ctx.client, victim.name, False)
    removed_at = time.monotonic()
    stopped = None
    try:
        streak, streak_start = 0, 0.0
        while time.monotonic() - removed_at < REMOVAL_DEADLINE:
            now = time.monotonic()
            got, _ = service_hits(ctx, ip, port, 1)
            if victim.name in [g.strip() for g in got] or not got:
                streak = 0
                continue
            streak, streak_start = streak + 1, streak_start if streak else now
            if streak >= 20:   # twenty answers in a row from the others
                stopped = streak_start - removed_at
                break
    finally:
        deploy.set_serving(ctx.client, victim.name, True)
    return checks.service_clusterip(checks.ServiceProbe(
        probe.service, ip, port, info["endpoints"], hits, probe.tries, errors,
        probe.udp_answers, victim.name, stopped, REMOVAL_DEADLINE))


def configured_mtu(cluster: api.Cluster, node: str) -> Optional[int]:
    """The MTU in the CNI configuration the node's kubelet wrote."""
    for path in sorted(glob.glob(os.path.join(cluster.state.node_dir(node), "cni", "net.d",
                                              "*.conflist"))):
        with open(path) as fh:
            return checks_mtu_of(json.load(fh))
    return None


def checks_mtu_of(conflist: Dict) -> Optional[int]:
    for plugin in conflist.get("plugins", []):
        if plugin.get("mtu"):
            return int(plugin["mtu"])
    return None


def check_pod_mtu(ctx: Context) -> Verdict:
    a = ctx.pod("a")
    want = configured_mtu(ctx.cluster, a.node)
    if want is None:
        return failed(f"no MTU in {a.node}'s CNI configuration", [])
    probes = []
    for n, dst in enumerate(p for p in (ctx.pod("b"), ctx.pod("c")) if p):
        marker = f"K8SNET-MTU-{n}".encode()
        ctx.agents[dst.name].call("sniff_start", sid=f"mtu{n}", iface="eth0",
                                  needles_hex=[marker.hex()])
        res = ctx.agents[a.name].call("mtu", dst=dst.ip, lo=576, hi=9000, timeout=1.0,
                                      icmp_id=0x4d00 + n, marker_hex=marker.hex(), deadline=180)
        frames = [p for p in decode_all(ctx.agents[dst.name].call("sniff_stop",
                                                                  sid=f"mtu{n}")["frames"])
                  if not p.meta.get("outgoing")]
        probes.append(checks.MtuProbe(label(a), label(dst), res.get("largest"),
                                      res.get("smallest_failed"), res.get("failure", ""),
                                      frames))
    return checks.pod_mtu(want, probes)


RUNNERS: Dict[str, Callable[[Context], Verdict]] = {
    "unique-pod-ip": check_unique_pod_ip,
    "intra-pod-localhost": check_intra_pod_localhost,
    "pod-to-pod-same-node": check_same_node,
    "pod-to-pod-cross-node": check_cross_node,
    "no-nat": check_no_nat,
    "node-to-pod": check_node_to_pod,
    "pod-to-node": check_pod_to_node,
    "service-nodeport-external": check_nodeport,
    "service-clusterip": check_clusterip,
    "pod-mtu": check_pod_mtu,
    **run_dns.RUNNERS,
}
assert tuple(RUNNERS) == CHECKS


# ------------------------------------------------------------------------ run

API_TIMEOUT = 70.0


def run_probes(cluster: api.Cluster, only: Sequence[str] = (), keep: bool = False,
               progress: Progress = lambda _text: None,
               ready_timeout: float = 120.0) -> Tuple[List[Row], bool]:
    """Run the checks (all, or ``only``) against a running cluster; the probe Pods
    get ``ready_timeout`` seconds to be Ready."""
    # a busy apiserver queues requests (up to 60 s: k8snet.apiserver.inflight); the probe
    # checks the data plane, so it waits for the API as long as the queue may take
    client = cluster.client(timeout=API_TIMEOUT)
    workers = cluster.state.workers
    external = cluster.state.external
    wanted = [c for c in CHECKS if not only or c in only]
    progress(f"deploying probe Pods on {', '.join(w.name for w in workers[:2])}")
    try:
        pods = deploy.ensure(client, [w.name for w in workers], ready_timeout)
        netns = {}
        for p in pods:
            path = cl.pod_netns(cluster.state, p.node, p.uid)
            if not path:
                raise K8snetError(f"the runtime on {p.node} reports no network namespace "
                                  f"for {p.name}")
            netns[p.name] = path
        with Agents() as agents:
            places = {p.name: netns[p.name] for p in pods}
            places.update({w.name: node_netns_path(w) for w in workers})
            if external:
                places[external.name] = node_netns_path(external)
            progress(f"starting {len(places)} probe agents")
            agents.start(places)
            ctx = Context(cluster, client, agents, pods, netns, workers, external)
            rows = []
            for name in wanted:
                progress(f"checking {name}")
                started = time.monotonic()
                try:
                    verdict = RUNNERS[name](ctx)
                except (K8snetError, ApiError) as exc:
                    verdict = failed(f"could not run: {exc}", [])
                rows.append(row(name, verdict, time.monotonic() - started))
    finally:
        if not keep:
            progress("removing probe Pods: " + deploy.safe_remove(client))
    return rows, all(r.verdict == "pass" for r in rows)
