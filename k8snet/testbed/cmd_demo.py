"""`k8snet demo`: the main job, end to end, leaving the machine as it was.

1. bring up a leaf-spine cluster (control plane on m1, workers under two
   leaves, an external host);
2. show it (`k8snet status`, `kubectl get nodes`);
3. prove node-to-node reachability (ICMP from every node, TCP across a spine);
4. deploy a sample app with kubectl (agnhost netexec behind a NodePort) and
   show where its Pods landed;
5. reach the app: Pod to Pod across leaves (the server reports the client's
   Pod IP: no NAT), the ClusterIP from a node, the NodePort from outside;
6. run the scapy probes (`k8snet probe`): one row per Kubernetes networking
   requirement, with the packets that prove it;
7. trace one packet hop by hop between Pods under different leaves
   (`k8snet trace`), next to the path the controller intended;
8. tear everything down (unless --keep).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
from typing import Dict, List

from k8snet.testbed import api, status
from k8snet.testbed.options import add_cluster_arguments, spec_from_args
from k8snet.testbed.state import NodeInfo
from k8snet.testbed.waiting import by_name, ready_names, wait_for

APP = os.path.join(os.path.dirname(__file__), "demo_app.yaml")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_cluster_arguments(parser)
    parser.set_defaults(topology="leaf-spine", workers=4, spines=2, leaves=2, name="demo")
    parser.add_argument("--keep", action="store_true", help="leave the cluster running")


def in_node(cluster: api.Cluster, node: str, *cmd: str, timeout: float = 60) -> api.ExecResult:
    return api.exec(cluster, node, cmd, timeout=timeout)


def tcp_throughput(cluster: api.Cluster, server: NodeInfo, client: NodeInfo) -> str:
    srv = subprocess.Popen([*api.node_argv(server), "iperf3", "-s", "-1"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        last = "no answer"
        while time.monotonic() < deadline:
            out = in_node(cluster, client.name, "iperf3", "-c", server.ip, "-t", "2", "-J")
            try:  # a server not listening yet, or a run cut short: no result, try again
                received = json.loads(out.stdout)["end"]["sum_received"]["bits_per_second"]
                return f"{received / 1e9:.2f} Gbit/s"
            except (ValueError, KeyError, TypeError):
                last = (out.stderr or out.stdout).decode(errors="replace").strip()[-200:]
            time.sleep(0.3)
        return f"failed: {last}"
    finally:
        srv.kill()
        srv.wait()


class Kubectl:
    """The real kubectl against the demo cluster, with a private cache."""

    def __init__(self, kubeconfig: str):
        self.home = tempfile.mkdtemp(prefix="k8snet-demo-")
        self.env = {**os.environ, "KUBECONFIG": kubeconfig, "HOME": self.home}

    def __call__(self, *args: str, show: bool = True) -> subprocess.CompletedProcess:
        if show:
            print(f"$ kubectl {' '.join(args)}", flush=True)
        out = subprocess.run(["kubectl", *args], capture_output=True, text=True, env=self.env,
                             timeout=120, check=False)
        if show:
            print((out.stdout + out.stderr).rstrip(), flush=True)
        return out

    def close(self) -> None:
        shutil.rmtree(self.home, ignore_errors=True)


def wait_ready(cluster: api.Cluster, selector: str, count: int,
               timeout: float = 180) -> List[Dict]:
    """Watch the Pods matching ``selector`` until ``count`` of them are Ready."""
    def enough(items: Dict[str, dict]) -> List[Dict]:
        ready = ready_names(items)
        pods = [p for name, p in sorted(by_name(items).items()) if name in ready]
        return pods if len(pods) >= count else []

    return wait_for(cluster.client(), "pods", enough, timeout, f"{count} Pods {selector} Ready",
                    namespace="default", label_selector=selector)


def check(label: str, ok: bool, detail: str, failures: List[str]) -> None:
    print(f"  [{'ok' if ok else 'FAIL'}] {label}: {detail}", flush=True)
    if not ok:
        failures.append(label)


def show_app(cluster: api.Cluster, kubectl: Kubectl, failures: List[str]) -> None:
    print("\n== 4. a sample app, deployed with kubectl", flush=True)
    kubectl("apply", "-f", APP)
    pods = wait_ready(cluster, "app=web", 4)
    kubectl("get", "pods", "-o", "wide")
    kubectl("get", "service", "web")
    svc = json.loads(kubectl("get", "service", "web", "-o", "json", show=False).stdout)
    print("\n== 5. reaching the app", flush=True)
    by_node: Dict[str, Dict] = {}
    for pod in pods:
        by_node.setdefault(pod["spec"]["nodeName"], pod)
    client, server = list(by_node.values())[0], list(by_node.values())[-1]
    url = (f"http://{client['status']['podIP']}:8080/dial?request=clientip&protocol=http"
           f"&host={server['status']['podIP']}&port=8080&tries=1")
    out = in_node(cluster, client["spec"]["nodeName"], "curl", "-s", "-m", "10", url)
    try:
        seen = json.loads(out.stdout)["responses"][0].rsplit(":", 1)[0]
    except (ValueError, KeyError, IndexError):
        seen = out.stdout.decode(errors="replace").strip() or "no answer"
    check(f"Pod {client['metadata']['name']} ({client['spec']['nodeName']}) -> Pod "
          f"{server['metadata']['name']} ({server['spec']['nodeName']})",
          seen == client["status"]["podIP"],
          f"server saw source {seen}, client Pod IP {client['status']['podIP']}", failures)
    cluster_ip = svc["spec"]["clusterIP"]
    answers = {in_node(cluster, "w1", "curl", "-s", "-m", "3",
                       f"http://{cluster_ip}/hostname").stdout.decode().strip()
               for _ in range(12)}
    answers.discard("")
    check(f"ClusterIP {cluster_ip}:80 from node w1", bool(answers),
          f"{len(answers)} distinct Pods answered: {', '.join(sorted(answers))}", failures)
    node_port = svc["spec"]["ports"][0]["nodePort"]
    for node in sorted(cluster.state.workers, key=lambda n: n.name):
        out = in_node(cluster, "ext1", "curl", "-s", "-m", "3",
                      f"http://{node.ip}:{node_port}/hostname")
        answer = out.stdout.decode(errors="replace").strip()
        check(f"NodePort {node.ip}:{node_port} from ext1 (outside the cluster)",
              out.exit_code == 0 and bool(answer), f"answered by {answer or 'nobody'}",
              failures)


def probes_and_trace(cluster: api.Cluster, failures: List[str]) -> None:
    from k8snet.probe import deploy
    from k8snet.probe.report import render
    from k8snet.probe.run import run_probes
    from k8snet.trace.main import render as render_trace
    from k8snet.trace.main import trace

    print("\n== 6. k8snet probe: each Kubernetes networking requirement, packet by packet",
          flush=True)
    rows, ok = run_probes(cluster, keep=True, progress=lambda t: print(f"  {t}", flush=True))
    print(render(rows), flush=True)
    if not ok:
        failures.append("probes: " + ", ".join(r.name for r in rows if r.verdict != "pass"))
    try:
        print("\n== 7. k8snet trace k8snet-probe-a k8snet-probe-c --proto udp --port 8081",
              flush=True)
        doc = trace(cluster, "k8snet-probe-a", "k8snet-probe-c", "udp", 8081)
        print(render_trace(doc), flush=True)
        if not doc.get("matches_intended"):
            failures.append("trace: " + str(doc.get("comparison")))
    finally:
        deploy.safe_remove(cluster.client())


def run(args: argparse.Namespace) -> int:
    spec = spec_from_args(args)
    print(f"== 1. k8snet up: a {spec.topology} cluster named {spec.name!r}", flush=True)
    cluster = api.up(spec, progress=lambda text: print(f"  {text}", flush=True))
    failures: List[str] = []
    kubectl = None
    try:
        print("\n== 2. k8snet status", flush=True)
        print(status.render(api.status(spec.name)), flush=True)
        nodes = cluster.state.nodes
        print("\n== 3. node-to-node reachability through the fabric", flush=True)
        for src in nodes:
            answered = [dst.name for dst in nodes if dst is not src and in_node(
                cluster, src.name, "ping", "-c1", "-W2", dst.ip).exit_code == 0]
            check(f"ICMP from {src.name}", len(answered) == len(nodes) - 1,
                  f"reaches {len(answered)}/{len(nodes) - 1} nodes", failures)
        workers = cluster.state.workers
        if len(workers) >= 2:
            a, b = workers[0], workers[1]
            rate = tcp_throughput(cluster, a, b)
            check(f"TCP {b.name} -> {a.name} across a spine (iperf3, 2 s)",
                  not rate.startswith("failed"), rate, failures)
        if cluster.state.kubeconfig and shutil.which("kubectl"):
            kubectl = Kubectl(cluster.kubeconfig)
            kubectl("get", "nodes", "-o", "wide", "-L", "k8snet.io/network-mode")
            show_app(cluster, kubectl, failures)
            probes_and_trace(cluster, failures)
        print(f"\n== {'every check passed' if not failures else 'FAILED: ' + '; '.join(failures)}")
        return 0 if not failures else 1
    finally:
        if kubectl:
            kubectl.close()
        if not args.keep:
            print(f"\n== 8. k8snet down --name {spec.name}", flush=True)
            api.down(spec.name, progress=lambda text: print(text, flush=True))
