"""`k8snet fault`: break a running cluster on purpose, and mend it.

    k8snet fault link down|up A B          a wire (node-switch or switch-switch)
    k8snet fault node crash|restore NODE   every process of a node, and its links
    k8snet fault kill COMPONENT [--node N] SIGKILL; the supervisor restarts it
    k8snet fault stop COMPONENT [--node N] SIGKILL, and held down until started
    k8snet fault start COMPONENT [--node N] let the supervisor start it again
    k8snet fault partition NODE...         cut these nodes from the others
    k8snet fault clear                     undo every fault still active

Each prints what it did; ``k8snet status`` lists the faults still active.
What a fault touches is decided in ``k8snet.testbed.faults``; this module
carries it out.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import time
from typing import Dict, List, Tuple

from k8snet import naming
from k8snet.errors import K8snetError, UsageError
from k8snet.testbed import api, cleanup, components, preflight
from k8snet.testbed import faults as flt
from k8snet.testbed import state as st


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", help="cluster (needed when several run)")
    sub = parser.add_subparsers(dest="what", metavar="FAULT", required=True)
    link = sub.add_parser("link", help="take a link down or up")
    link.add_argument("action", choices=("down", "up"))
    link.add_argument("a", help="a node or switch (w1, l1, s1, ...)")
    link.add_argument("b", help="the node or switch at the other end")
    node = sub.add_parser("node", help="crash a node (all its processes, its links) "
                                       "or restore it")
    node.add_argument("action", choices=("crash", "restore"))
    node.add_argument("node")
    kill = sub.add_parser("kill", help="SIGKILL a component (the supervisor restarts it)")
    kill.add_argument("component", help="apiserver, kubelet, kube-proxy, runtime, etcd, "
                                        "scheduler, controller-manager, controller, "
                                        "node-agent, ... (a worker's kubelet, runtime, "
                                        "kube-proxy and policy agent share its node "
                                        "agent's process unless up --separate-agents)")
    kill.add_argument("--node", help="only on this node (default: on every node)")
    for verb, text in (("stop", "SIGKILL a component and keep it down (a dead controller, "
                                 "a kubelet that stays dead) until 'fault start'; one a "
                                 "node agent runs is stopped by it, the rest run on"),
                       ("start", "let the supervisor start a stopped component again")):
        held = sub.add_parser(verb, help=text)
        held.add_argument("component", help="as for kill")
        held.add_argument("--node", help="only on this node (default: on every node)")
    part = sub.add_parser("partition", help="cut the named nodes from the others")
    part.add_argument("nodes", nargs="+")
    sub.add_parser("clear", help="undo every active fault")


def run(args: argparse.Namespace) -> int:
    preflight.require_root("fault")
    cluster = api.find(args.name)
    if not preflight.cluster_running(cluster.name):
        raise UsageError(f"cluster {cluster.name!r} is not running (its supervisor is "
                         "gone); see 'k8snet status'")
    for line in inject(cluster, args):
        print(line, flush=True)
    return 0


def inject(cluster: api.Cluster, args: argparse.Namespace) -> List[str]:
    if args.what == "link":
        return link(cluster, args.a, args.b, up=args.action == "up")
    if args.what == "node":
        return restore(cluster, args.node) if args.action == "restore" else \
            crash(cluster, args.node)
    if args.what == "kill":
        return kill(cluster, args.component, args.node)
    if args.what == "stop":
        return stop(cluster, args.component, args.node)
    if args.what == "start":
        return start(cluster, args.component, args.node)
    if args.what == "partition":
        return partition(cluster, args.nodes)
    return clear(cluster)


# -- the faults ---------------------------------------------------------------------

def facts(cluster: api.Cluster) -> Dict:
    if not cluster.state.controller:
        raise K8snetError(f"cluster {cluster.name!r} recorded no fabric facts")
    with open(cluster.state.controller.facts) as fh:
        return json.load(fh)


def update(cluster: api.Cluster, change) -> None:
    flt.save(cluster.state.dir, change(flt.load(cluster.state.dir)))


def set_links(ports: List[str], up: bool) -> None:
    for port in ports:
        proc = subprocess.run(["ip", "link", "set", port, "up" if up else "down"],
                              capture_output=True, text=True)
        if proc.returncode:
            raise K8snetError(f"ip link set {port}: {proc.stderr.strip()}")


def link(cluster: api.Cluster, a: str, b: str, up: bool) -> List[str]:
    ports = flt.link_ports(facts(cluster), a, b)
    set_links(ports, up)
    fault = flt.new("link", [a, b])
    update(cluster, lambda old: flt.removed(old, fault) if up else flt.added(old, fault))
    return [f"link {a} <-> {b} {'up' if up else 'down'} (switch ports {', '.join(ports)})"]


def crash(cluster: api.Cluster, node: str) -> List[str]:
    cluster.node(node)  # UsageError for an unknown node
    # Recorded first: the supervisor must hold the node's processes down
    # before they die, or it would start them again.
    update(cluster, lambda old: flt.added(old, flt.new("crash", [node])))
    done = []
    records = [r for r in cluster.state.processes if r.node == node]
    records += cleanup.runtime_records(os.path.join(cluster.state.node_dir(node), "runtime"))
    for record in records:
        if st.signal_process(record, signal.SIGKILL):
            done.append(f"killed {record.name} (pid {record.pid})")
    own = naming.node_netns(cluster.name, node)
    spaces = [n for n in cleanup.list_netns() if n == own or n.startswith(own + "-")]
    # The node's Mininet shell holds its namespaces, as the machine itself
    # would: it stays, and so the node can be restored.
    shell = cluster.node(node).pid
    for pids in cleanup.netns_members(spaces).values():
        for pid in (p for p in pids if p != shell):
            try:
                os.kill(pid, signal.SIGKILL)
                done.append(f"killed pid {pid} (in {node}'s namespaces)")
            except ProcessLookupError:
                pass
    ports = flt.node_ports(facts(cluster), node)
    set_links(ports, up=False)
    done.append(f"node {node} crashed: {len(records)} recorded processes stopped, "
                f"links down ({', '.join(ports) or 'none'}); "
                f"'k8snet fault node restore {node}' brings it back")
    return done


def restore(cluster: api.Cluster, node: str) -> List[str]:
    cluster.node(node)
    ports = flt.node_ports(facts(cluster), node)
    set_links(ports, up=True)
    update(cluster, lambda old: flt.removed(old, flt.Fault("crash", (node,))))
    return [f"node {node} restored: links up ({', '.join(ports) or 'none'}); "
            "the supervisor starts its processes again"]


def component_records(cluster: api.Cluster, component: str,
                      node: str = None) -> List[st.ProcessRecord]:
    """The recorded processes of ``component`` (on ``node``); a UsageError naming the
    components there are when none matches."""
    if node:
        cluster.node(node)
    records = [r for r in cluster.state.records()
               if r.name != "supervisor" and (r.name.split("@")[0] == component
                                              or component in r.hosts)
               and (node is None or r.node == node)]
    if not records:
        names = sorted({n for r in cluster.state.records()
                        for n in (r.name.split("@")[0], *r.hosts)} - {"supervisor"})
        raise UsageError(f"no component {component!r}"
                         + (f" on node {node}" if node else "")
                         + f" in cluster {cluster.name!r} (components: {', '.join(names)})")
    return records


def described(record: st.ProcessRecord) -> str:
    """A process as a fault message names it: ``kubelet@w1 (pid 42)``, or for a
    node agent ``node-agent@w1 (pid 42: runtime, kubelet, kube-proxy)``: a fault
    on one of its components is a fault on all of them."""
    if record.hosts:
        return f"{record.name} (pid {record.pid}: {', '.join(record.hosts)})"
    return f"{record.name} (pid {record.pid})"


def fault_targets(cluster: api.Cluster, component: str,
                  node: str = None) -> List[Tuple[str, st.ProcessRecord]]:
    """(what a stop fault names, the process) for each instance of ``component``:
    a process by its record's name; a component hosted by a node agent by its
    own (``kube-proxy@w1``), which the agent holds down while its other
    components run on (k8snet.nodeagent)."""
    return [(f"{component}@{r.node}" if component in r.hosts else r.name, r)
            for r in component_records(cluster, component, node)]


def hosted_stopped(cluster: api.Cluster, record: st.ProcessRecord, component: str,
                   timeout: float = 20.0) -> bool:
    """Wait until the node agent ``record`` says ``component`` no longer runs
    (or the agent is gone); False if it still runs after ``timeout``."""
    path = components.agent_status_file(cluster.state.node_dir(record.node))
    deadline = time.monotonic() + timeout
    while True:
        try:
            with open(path) as fh:
                running = json.load(fh).get("running", [])
        except (OSError, ValueError, AttributeError):
            running = [component]
        if component not in running or not st.is_alive(record):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)


def stop(cluster: api.Cluster, component: str, node: str = None) -> List[str]:
    pairs = fault_targets(cluster, component, node)
    fault = flt.new("stop", sorted(target for target, _record in pairs))
    # Recorded first, so the supervisor (or node agent) holds them down before they die.
    update(cluster, lambda old: flt.added(old, fault))
    until = f"'k8snet fault start {component}" + (f" --node {node}'" if node else "'")
    done = []
    for target, record in pairs:
        if target != record.name:
            if hosted_stopped(cluster, record, component):
                done.append(f"stopped {target} (a thread of {described(record)}, which "
                            f"runs on): held down until {until}")
            else:
                done.append(f"{target}: held down, but {record.name} has not stopped it "
                            f"yet; see {record.log}")
        elif st.signal_process(record, signal.SIGKILL):
            st.wait_gone(record, 10)
            done.append(f"stopped {described(record)}: held down until {until}")
        else:
            done.append(f"{described(record)} was not running; held down")
    return done


def start(cluster: api.Cluster, component: str, node: str = None) -> List[str]:
    names = {target for target, _record in fault_targets(cluster, component, node)}
    active = flt.load(cluster.state.dir)
    held = [f for f in active if f.kind == "stop" and names & set(f.targets)]
    if not held:
        raise UsageError(f"{component}" + (f" on {node}" if node else "")
                         + " is not stopped (see 'k8snet status')")
    kept = [f for f in active if f not in held]
    for f in held:  # a fault on several processes keeps those not started now
        rest = tuple(t for t in f.targets if t not in names)
        if rest:
            kept.append(flt.Fault("stop", rest, f.since))
    flt.save(cluster.state.dir, kept)
    return [f"{', '.join(sorted(names))}: the supervisor (or node agent) starts it again"]


def kill(cluster: api.Cluster, component: str, node: str = None) -> List[str]:
    records = component_records(cluster, component, node)
    done = []
    for record in records:
        if st.signal_process(record, signal.SIGKILL):
            done.append(f"killed {described(record)} with SIGKILL; "
                        "the supervisor restarts it")
        else:
            done.append(f"{described(record)} was not running")
    return done


def node_addresses(cluster: api.Cluster) -> Dict[str, List[str]]:
    """Every node's IP, and its Pod CIDR when the apiserver says it."""
    cidrs: Dict[str, str] = {}
    if cluster.state.kubeconfig:
        try:
            for item in cluster.client(timeout=5).list("nodes").get("items", []):
                cidr = item.get("spec", {}).get("podCIDR")
                if cidr:
                    cidrs[item["metadata"]["name"]] = cidr
        except Exception:  # noqa: BLE001 -- without an apiserver, node IPs only
            pass
    return {n.name: [n.ip] + ([cidrs[n.name]] if n.name in cidrs else [])
            for n in cluster.state.nodes}


def nft(cluster: api.Cluster, node: str, script: str) -> None:
    netns = cluster.node(node).netns
    proc = subprocess.run(["ip", "netns", "exec", netns, "nft", "-f", "-"], input=script,
                          capture_output=True, text=True)
    if proc.returncode:
        raise K8snetError(f"nft in {node}: {proc.stderr.strip()}")


def partition(cluster: api.Cluster, group: List[str]) -> List[str]:
    plan = flt.partition_plan(node_addresses(cluster), group)
    unpartition(cluster)
    update(cluster, lambda old: flt.added(
        [f for f in old if f.kind != "partition"], flt.new("partition", group)))
    for node, cut in plan.items():
        nft(cluster, node, flt.partition_script(cut))
    rest = sorted(set(plan) - set(group))
    return [f"partitioned {', '.join(group)} from {', '.join(rest)} "
            f"(nft table inet {flt.NFT_TABLE} in every node)"]


def unpartition(cluster: api.Cluster) -> None:
    for node in cluster.state.nodes:
        subprocess.run(["ip", "netns", "exec", node.netns, "nft", "delete", "table", "inet",
                        flt.NFT_TABLE], capture_output=True)


def clear(cluster: api.Cluster) -> List[str]:
    active = flt.load(cluster.state.dir)
    done = []
    for fault in active:
        if fault.kind == "link":
            done += link(cluster, *fault.targets, up=True)
        elif fault.kind == "crash":
            done += restore(cluster, fault.targets[0])
        elif fault.kind == "stop":
            update(cluster, lambda old, f=fault: flt.removed(old, f))
            done.append(f"{', '.join(fault.targets)} no longer held down: the supervisor "
                        "starts them again")
        else:
            unpartition(cluster)
            update(cluster, lambda old, f=fault: flt.removed(old, f))
            done.append(f"partition of {', '.join(fault.targets)} removed")
    return done or ["no active fault"]
