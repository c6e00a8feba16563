"""The faults a user injected into a cluster with ``k8snet fault`` (pure).

Faults are kept in ``<cluster dir>/faults.json``, apart from the state file
(which only the supervisor writes): ``k8snet fault`` adds and removes them,
the supervisor reads them to hold a crashed node's processes down, and
``k8snet status`` lists them. What each fault changes in the network is
decided here from the fabric facts (which switch port a node or link uses)
and carried out by ``k8snet.testbed.cmd_fault``.

A link is taken down on the switch side, in the root namespace, by its OVS
port: the switch and the controller see the port go down as they would see
a pulled cable, and the node's end loses its carrier.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple

from k8snet import naming
from k8snet.errors import UsageError

FAULTS_FILE = "faults.json"
KINDS = ("link", "crash", "partition", "stop")
NFT_TABLE = "k8snet_fault"


@dataclass(frozen=True)
class Fault:
    """One active fault: a link down, a crashed node, a partition, or components
    stopped and held down (not restarted until started again)."""

    kind: str                          # link, crash, partition or stop
    targets: Tuple[str, ...]           # the link's two ends, the node, the cut-off nodes,
                                       # the stopped processes' names (kubelet@w2, controller)
    since: float = 0.0

    def describe(self) -> str:
        if self.kind == "link":
            return f"link {self.targets[0]} <-> {self.targets[1]} down"
        if self.kind == "crash":
            return f"node {self.targets[0]} crashed"
        if self.kind == "stop":
            return f"{', '.join(self.targets)} stopped (held down)"
        return f"nodes {', '.join(self.targets)} partitioned from the rest"

    def to_dict(self) -> Dict:
        return {"kind": self.kind, "targets": list(self.targets), "since": self.since}


def fault_from(doc: Dict) -> Optional[Fault]:
    if not isinstance(doc, dict) or doc.get("kind") not in KINDS:
        return None
    targets = doc.get("targets")
    if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
        return None
    return Fault(doc["kind"], tuple(targets), float(doc.get("since") or 0.0))


def load(cluster_dir: str) -> List[Fault]:
    """The active faults of a cluster (none when the file is missing or damaged)."""
    try:
        with open(os.path.join(cluster_dir, FAULTS_FILE)) as fh:
            docs = json.load(fh)
    except (OSError, ValueError):
        return []
    return [f for f in map(fault_from, docs if isinstance(docs, list) else []) if f]


def save(cluster_dir: str, faults: Sequence[Fault]) -> None:
    path = os.path.join(cluster_dir, FAULTS_FILE)
    tmp = f"{path}.tmp"
    with open(tmp, "w") as fh:
        json.dump([f.to_dict() for f in faults], fh, indent=2)
    os.replace(tmp, path)


def same(a: Fault, b: Fault) -> bool:
    """The same fault, whichever way round a link's ends were given."""
    if a.kind != b.kind:
        return False
    if a.kind == "link":
        return set(a.targets) == set(b.targets)
    return a.targets == b.targets


def added(faults: Sequence[Fault], fault: Fault) -> List[Fault]:
    """The faults with ``fault`` added (once)."""
    return [*[f for f in faults if not same(f, fault)], fault]


def removed(faults: Sequence[Fault], fault: Fault) -> List[Fault]:
    return [f for f in faults if not same(f, fault)]


def crashed_nodes(faults: Iterable[Fault]) -> Set[str]:
    """Nodes whose processes the supervisor must leave down."""
    return {f.targets[0] for f in faults if f.kind == "crash"}


def stopped_processes(faults: Iterable[Fault]) -> Set[str]:
    """Names of processes (``kubelet@w2``, ``controller``) the supervisor must leave
    down because a user stopped them."""
    return {name for f in faults if f.kind == "stop" for name in f.targets}


def new(kind: str, targets: Sequence[str]) -> Fault:
    return Fault(kind, tuple(targets), time.time())


# -- where a fault acts, from the fabric facts --------------------------------------

def switch_names(facts: Dict) -> Dict[str, str]:
    """Every way a user may name a switch (``l1`` or ``knlab-l1``) -> its name."""
    names = {}
    for switch in facts.get("switches", []):
        name = switch["name"]
        names[name] = name
        parsed = naming.parse_bridge_name(name)
        if parsed:
            names[f"{parsed[1]}{parsed[2]}"] = name
    return names


def link_ports(facts: Dict, a: str, b: str) -> List[str]:
    """The switch-side interfaces (root namespace) of the wire(s) between
    ``a`` and ``b`` (each a node or a switch); UsageError when there is none."""
    switches = switch_names(facts)
    a_name, b_name = switches.get(a, a), switches.get(b, b)
    ports = []
    for link in facts.get("links", []):
        if {link["a"], link["b"]} == {a_name, b_name}:
            ports += [naming.switch_port_name(link["a"], link["a_port"]),
                      naming.switch_port_name(link["b"], link["b_port"])]
    for host in facts.get("hosts", []):
        if {host["name"], host["switch"]} == {a_name, b_name}:
            ports.append(naming.switch_port_name(host["switch"], host["port"]))
    if not ports:
        known = sorted({*(h["name"] for h in facts.get("hosts", [])), *switches})
        raise UsageError(f"no link between {a!r} and {b!r}; links join a node and its "
                         f"switch or two switches (names: {', '.join(known)})")
    return ports


def node_ports(facts: Dict, node: str) -> List[str]:
    """The switch-side interfaces of every wire of ``node``."""
    return [naming.switch_port_name(h["switch"], h["port"])
            for h in facts.get("hosts", []) if h["name"] == node]


def partition_script(cut: Iterable[str]) -> str:
    """An nft script for one node that drops everything to and from the
    addresses (node IPs, Pod CIDRs) in ``cut``, ahead of kube-proxy's and
    the CNI's own rules; its own table, so ``clear`` removes only it."""
    addrs = ", ".join(sorted(cut))
    if not addrs:
        return f"table inet {NFT_TABLE} {{\n}}\n"
    rules = []
    for chain, hook in (("input", "input"), ("output", "output"), ("forward", "forward")):
        rules.append(f"  chain {chain} {{\n"
                     f"    type filter hook {hook} priority -400; policy accept;\n"
                     f"    ip saddr {{ {addrs} }} drop\n"
                     f"    ip daddr {{ {addrs} }} drop\n"
                     f"  }}\n")
    return f"table inet {NFT_TABLE} {{\n{''.join(rules)}}}\n"


def partition_plan(nodes: Dict[str, List[str]], group: Sequence[str]) -> Dict[str, List[str]]:
    """For each node, the addresses it must stop talking to when ``group``
    is cut from the rest. ``nodes`` maps every node to its addresses (its
    IP and Pod CIDR); UsageError for a name that is no node."""
    unknown = [n for n in group if n not in nodes]
    if unknown:
        raise UsageError(f"no node {', '.join(map(repr, unknown))} (nodes: "
                         f"{', '.join(sorted(nodes))})")
    if not group or set(group) == set(nodes):
        raise UsageError("name some of the nodes, not none or all of them, to partition")
    inside = set(group)
    plan = {}
    for node in nodes:
        other_side = [n for n in nodes if (n in inside) != (node in inside)]
        plan[node] = sorted({a for n in other_side for a in nodes[n]})
    return plan
