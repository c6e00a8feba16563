"""Which Kubernetes components run in which node, and with which flags.

``plan_components`` is pure: from the cluster's nodes and spec it returns
one `Component` per process (etcd, apiserver, controller-manager and
scheduler on masters; runtime, kubelet and kube-proxy on workers, with the
NetworkPolicy agent ready before the kubelet starts; in overlay mode the
overlay agent on every node, after the kubelet). Each names the components
that must be ready before it starts (``after``); ``startable`` says which can
start now, so every node comes up side by side and nothing waits for more
than it needs. Each worker's kube-proxy runs in the spec's ``proxy_mode``
(iptables or nftables). Unless the spec says otherwise (``node_agent``), a
worker's components are then folded into one node agent
(``host_node_components``, k8snet.nodeagent) that runs them as threads.
``cluster.py`` starts them inside the nodes.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Set, Tuple

from k8snet.testbed import addressing
from k8snet.testbed.spec import ClusterSpec, check_masters
from k8snet.testbed.state import NodeInfo

APISERVER_PORT = 6443
KUBELET_PORT = 10250
MODE_LABEL = "k8snet.io/network-mode"


@dataclass
class Component:
    node: str
    name: str
    argv: List[str]
    log: str
    ready_file: Optional[str] = None   # exists once the component is ready
    env: Dict[str, str] = field(default_factory=dict)
    # Components (record names, e.g. "runtime@w1") that must be ready first; one
    # without a ready_file counts as ready once started.
    after: Tuple[str, ...] = ()
    hosts: Tuple[str, ...] = ()        # a node agent: the components it runs

    @property
    def record_name(self) -> str:
        return f"{self.name}@{self.node}"


def node_dir(cluster_dir: str, node: str) -> str:
    return os.path.join(cluster_dir, node)


def pki_dir(cluster_dir: str) -> str:
    """The cluster's shared CA, admin token and ServiceAccount key (see
    k8snet.apiserver.certs.ensure_cluster_pki): every apiserver uses these, and
    anything the cluster's clients must trust is signed by this CA."""
    return os.path.join(cluster_dir, "pki")


def apiserver_url(master: NodeInfo) -> str:
    return f"https://{master.ip}:{APISERVER_PORT}"


def plan_components(nodes: List[NodeInfo], spec: ClusterSpec, cluster_dir: str,
                    k8snet: List[str]) -> List[Component]:
    """The processes of a cluster, in start order. ``k8snet`` is the argv
    prefix that runs the k8snet command (e.g. [python, -m, k8snet.cli])."""
    masters = [n for n in nodes if n.role == "master"]
    workers = [n for n in nodes if n.role == "worker"]
    check_masters(len(masters), spec.store)
    kubeconfig = os.path.join(cluster_dir, "kubeconfig.incluster")
    plan: List[Component] = []
    store_url = None
    etcd: List[str] = []
    # The first apiserver makes the cluster's PKI and writes the kubeconfig every
    # other component reads: everything but etcd and the runtimes waits for it.
    api = (f"apiserver@{masters[0].name}",) if masters else ()
    if spec.store == "etcd":
        from k8snet.store.etcd_process import EtcdMember, render_etcd_command
        from k8snet.store.etcd_process import store_url as url

        members = [EtcdMember(m.name, m.ip) for m in masters]
        store_url = url(members)
        for member, node in zip(members, masters):
            etcd.append(f"etcd@{node.name}")
            plan.append(Component(node.name, "etcd", render_etcd_command(
                member, members, os.path.join(node_dir(cluster_dir, node.name), "etcd")),
                log=os.path.join(node_dir(cluster_dir, node.name), "etcd.log")))
    for index, node in enumerate(masters):
        ndir = node_dir(cluster_dir, node.name)
        data = os.path.join(ndir, "apiserver")
        argv = [*k8snet, "apiserver", "--data-dir", data, "--bind-address", node.ip,
                "--port", str(APISERVER_PORT), "--advertise-address", node.ip,
                "--service-cidr", str(addressing.SERVICE_NET),
                "--pki-dir", pki_dir(cluster_dir)]
        # Every serving certificate names every master: a client failing over from
        # one apiserver to another checks the same names.
        for other in masters:
            if other is not node:
                argv += ["--tls-san", other.ip]
        if index == 0:
            argv += ["--kubeconfig-out", kubeconfig]
            if len(masters) > 1:
                for other in masters:
                    argv += ["--kubeconfig-server", apiserver_url(other)]
        if store_url:
            # Its own member first, as a stacked kubeadm master talks to its local
            # etcd: losing another master costs this apiserver nothing.
            argv += ["--store", url(members[index:] + members[:index])]
        else:
            # the cluster's state dies with the machine (its namespaces, processes and
            # run directory do): a commit need not wait for the disk (k8snet.store.sqlite)
            argv += ["--store", f"sqlite://{os.path.join(data, 'state.db')}"
                                "?synchronous=normal"]
        # The first apiserver writes the kubeconfig once it serves; the others
        # write apiserver.url in their data dir when they do.
        plan.append(Component(node.name, "apiserver", argv,
                              log=os.path.join(ndir, "apiserver.log"),
                              ready_file=kubeconfig if index == 0
                              else os.path.join(data, "apiserver.url"),
                              after=tuple(etcd) if index == 0 else api))
    for node in masters:
        ndir = node_dir(cluster_dir, node.name)
        plan.append(Component(node.name, "controller-manager", [
            *k8snet, "controller-manager", "--kubeconfig", kubeconfig,
            "--cluster-cidr", str(addressing.POD_NET), "--node-cidr-mask-size", "24",
            "--volume-dir", os.path.join(node_dir(cluster_dir, "{node}"), "volumes")],
            log=os.path.join(ndir, "controller-manager.log"), after=api))
        plan.append(Component(node.name, "scheduler", [
            *k8snet, "scheduler", "--kubeconfig", kubeconfig],
            log=os.path.join(ndir, "scheduler.log"), after=api))
        if spec.mode == "overlay":
            # No Node for a master: its agent only routes to the Pods of others.
            plan.append(overlay_agent(k8snet, node, kubeconfig, ndir, after=api))
    for node in workers:
        ndir = node_dir(cluster_dir, node.name)
        socket = os.path.join(ndir, "runtime.sock")
        cni_conf = os.path.join(ndir, "cni", "net.d")
        plan.append(Component(node.name, "runtime", [
            *k8snet, "runtime", "--socket", socket, "--root-dir", os.path.join(ndir, "runtime"),
            "--netns-prefix", f"k8snet-{spec.name}-{node.name}",
            "--cni-conf-dir", cni_conf, "--cni-bin-dir", "/usr/lib/cni",
            "--cgroup-parent", f"k8snet/{spec.name}/{node.name}"],
            log=os.path.join(ndir, "runtime.log"), ready_file=socket))
        # Policy rules exist before the kubelet can start a Pod (see k8snet.policy).
        plan.append(policy_agent(k8snet, node, kubeconfig, ndir, after=api))
        # The Pod network mode shows on every Node: kubectl get nodes -L k8snet.io/network-mode
        node_labels = {**node.labels, MODE_LABEL: spec.mode}
        labels = ",".join(f"{k}={v}" for k, v in sorted(node_labels.items()))
        plan.append(Component(node.name, "kubelet", [
            *k8snet, "kubelet", "--kubeconfig", kubeconfig, "--node-name", node.name,
            "--node-ip", node.ip, "--runtime-socket", socket, "--root-dir",
            os.path.join(ndir, "kubelet"), "--cni-conf-dir", cni_conf,
            "--cni-data-dir", os.path.join(ndir, "ipam"),
            "--cpu", str(node.cpu or "2"), "--memory", str(node.memory or "4Gi"),
            "--max-pods", str(node.pods or 110), "--node-labels", labels,
            "--mode", spec.mode, "--cluster-cidr", str(addressing.POD_NET)],
            log=os.path.join(ndir, "kubelet.log"),
            after=(*api, f"runtime@{node.name}", f"policy-agent@{node.name}")))
        proxy_after = api
        if spec.mode == "overlay":
            plan.append(overlay_agent(k8snet, node, kubeconfig, ndir,
                                      after=(*api, f"kubelet@{node.name}")))
            proxy_after = (*api, f"overlay-agent@{node.name}")
        plan.append(Component(node.name, "kube-proxy",
                              proxy_argv(k8snet, node, kubeconfig, spec.proxy_mode),
                              log=os.path.join(ndir, "kube-proxy.log"), after=proxy_after))
        if spec.node_agent:
            plan = host_node_components(plan, node.name, ndir, k8snet)
    return plan


NODE_AGENT = "node-agent"


def agent_status_file(ndir: str) -> str:
    """Where a node agent says which of its components run and which are held."""
    return os.path.join(ndir, "node-agent.status")


def host_node_components(plan: List[Component], node: str, ndir: str,
                         k8snet: List[str]) -> List[Component]:
    """``plan`` with the components of worker ``node`` (runtime, policy agent,
    kubelet, overlay agent, kube-proxy) folded into one node agent
    (k8snet.nodeagent) that starts them in plan order. It waits for what the
    first of them waited for outside the node (the apiserver), and is ready when
    they all are."""
    from k8snet.nodeagent import HOSTABLE

    names = {name for name, _flag, _loggers in HOSTABLE.values()}
    mine = [c for c in plan if c.node == node and c.name in names]
    if not mine:
        return plan
    inside = {c.record_name for c in mine}
    after = tuple(dict.fromkeys(a for c in mine for a in c.after if a not in inside))
    ready = os.path.join(ndir, "node-agent.ready")
    argv = [*k8snet, NODE_AGENT, "--node-name", node, "--log-dir", ndir,
            "--ready-file", ready, "--status-file", agent_status_file(ndir),
            "--faults-dir", os.path.dirname(ndir)]
    for comp in mine:
        argv += ["--component", shlex.join(comp.argv[len(k8snet):])]
    agent = Component(node, NODE_AGENT, argv, log=os.path.join(ndir, "node-agent.log"),
                      ready_file=ready, after=after,
                      env={k: v for c in mine for k, v in c.env.items()},
                      hosts=tuple(c.name for c in mine))
    at = plan.index(mine[0])
    rest = [c for c in plan if c.record_name not in inside]
    # Whatever waited for a hosted component now waits for the agent.
    rest = [dataclasses.replace(c, after=tuple(dict.fromkeys(
        f"{NODE_AGENT}@{node}" if a in inside else a for a in c.after))) for c in rest]
    return rest[:at] + [agent] + rest[at:]


def proxy_argv(k8snet: List[str], node: NodeInfo, kubeconfig: str,
               proxy_mode: str) -> List[str]:
    """The command line of one worker's kube-proxy, programming Services in
    ``proxy_mode`` (iptables or nftables)."""
    return [*k8snet, "proxy", "--kubeconfig", kubeconfig, "--node-name", node.name,
            "--node-ip", node.ip, "--mode", proxy_mode, "--cluster-cidr",
            str(addressing.POD_NET)]


def policy_agent(k8snet: List[str], node: NodeInfo, kubeconfig: str, ndir: str,
                 after: Tuple[str, ...] = ()) -> Component:
    """The NetworkPolicy agent of one worker (see k8snet.policy), ready once its
    first rules are in the kernel."""
    ready = os.path.join(ndir, "policy.ready")
    return Component(node.name, "policy-agent", [
        *k8snet, "policy-agent", "--kubeconfig", kubeconfig, "--node-name", node.name,
        "--cluster-cidr", str(addressing.POD_NET), "--ready-file", ready,
        "--status-file", os.path.join(ndir, "policy.status"), "--verbose"],
        log=os.path.join(ndir, "policy-agent.log"), ready_file=ready, after=after)


def overlay_agent(k8snet: List[str], node: NodeInfo, kubeconfig: str,
                  ndir: str, after: Tuple[str, ...] = ()) -> Component:
    """The VXLAN overlay agent of one node (overlay mode; see k8snet.overlay)."""
    return Component(node.name, "overlay-agent", [
        *k8snet, "overlay-agent", "--kubeconfig", kubeconfig, "--node-name", node.name,
        "--node-ip", node.ip, "--cluster-cidr", str(addressing.POD_NET),
        "--no-masquerade-to", str(addressing.NODE_NET),
        "--ready-file", os.path.join(ndir, "overlay.ready")],
        log=os.path.join(ndir, "overlay-agent.log"),
        ready_file=os.path.join(ndir, "overlay.ready"), after=after)


def startable(plan: Iterable[Component], started: Set[str],
              ready: Set[str]) -> List[Component]:
    """The components not yet started whose ``after`` are all ready, in plan order."""
    return [c for c in plan if c.record_name not in started
            and all(name in ready for name in c.after)]


def start_rounds(plan: List[Component]) -> List[List[str]]:
    """The order ``startable`` gives when every component gets ready at once:
    the rounds of components that start side by side (for tests and docs)."""
    started: Set[str] = set()
    rounds: List[List[str]] = []
    while True:
        batch = startable(plan, started, started)
        if not batch:
            break
        rounds.append([c.record_name for c in batch])
        started.update(rounds[-1])
    missing = [c.record_name for c in plan if c.record_name not in started]
    if missing:
        raise ValueError(f"components that can never start: {', '.join(missing)}")
    return rounds


def forward_targets(masters: List[NodeInfo]) -> List[str]:
    """The arguments of the loopback forwarder (k8snet.testbed.portforward) that
    lets kubectl on this machine reach the apiservers: every master's, each from
    its own namespace; with several, a dead one is passed over after 2 s."""
    argv: List[str] = []
    for master in masters:
        argv += ["--to", f"{master.netns}={master.ip}:{APISERVER_PORT}"]
    if len(masters) > 1:
        argv += ["--connect-timeout", "2"]
    return argv


def user_kubeconfig(incluster_text: str, local_port: int) -> str:
    """The kubeconfig for kubectl on this machine: same CA and token, server
    on the loopback port forwarded into the master."""
    import yaml

    doc = yaml.safe_load(incluster_text)
    for cluster in doc.get("clusters", []):
        cluster["cluster"]["server"] = f"https://127.0.0.1:{local_port}"
        # The forwarder fails over between masters: one server is all kubectl needs.
        cluster["cluster"].pop("extensions", None)
    return yaml.safe_dump(doc, sort_keys=False)
