"""What the web view shows, as plain data built by pure functions.

`build_view` turns the fabric facts, the recorded nodes, the apiserver's
objects (as the informers hold them), the switch ports' state and rates,
and any active faults into one JSON-able document: graph elements in
Cytoscape.js's shape (``{"group", "data", "position", "classes"}``) plus
side-panel lists. The server sends that document to the page on every
change; the page only draws it. Nothing here reads the machine, so the
tests feed it recorded watch events and counter samples.

Element ids, written once here (the page and the browser test rely on them):

- ``sw:<bridge>`` a switch, ``node:<name>`` a node, ``pod:<ns>/<name>`` a Pod,
  ``svc:<ns>/<name>`` a Service;
- ``link:<bridge>:<port>`` the link whose end is switch port ``port`` of
  ``bridge`` (for an inter-switch link, its ``a`` end);
- ``on:<ns>/<name>`` a Pod's edge to its node, ``ep:<svc>:<pod>`` a
  Service's edge to an endpoint Pod;
- ``np:<ns>/<name>`` a NetworkPolicy, ``sel:<policy>:<pod>`` its edge to
  a Pod it selects (applies to).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from k8snet import naming
from k8snet.errors import UsageError
from k8snet.fabric.facts import Facts

# Layout grid (pixels): spines on top, leaves below, nodes under their leaf,
# Pods under their node; Services on a row above the spines, NetworkPolicies
# on a row above those.
ROW_POLICY, ROW_SERVICE, ROW_SPINE, ROW_LEAF, ROW_NODE, ROW_POD = -240, -120, 0, 160, 320, 470
COLUMN = 150
POD_STEP = 36


@dataclass(frozen=True)
class PortSample:
    """One switch port as OVS reports it at one moment."""

    name: str
    link_state: str        # "up" or "down" (carrier)
    admin_state: str       # "up" or "down"
    rx_bytes: int = 0
    tx_bytes: int = 0


@dataclass(frozen=True)
class PortView:
    """A port's state and its rate between two samples."""

    up: bool
    bps: float = 0.0       # bits per second, both directions together


@dataclass(frozen=True)
class NodeFact:
    """A node as the testbed recorded it (role and address)."""

    name: str
    role: str
    ip: str


@dataclass
class Inputs:
    """Everything a view is built from."""

    cluster: str
    mode: str
    facts: Facts
    nodes: Sequence[NodeFact]
    k8s_nodes: Mapping[str, dict] = field(default_factory=dict)   # informer items
    pods: Mapping[str, dict] = field(default_factory=dict)
    services: Mapping[str, dict] = field(default_factory=dict)
    endpoints: Mapping[str, dict] = field(default_factory=dict)
    ports: Mapping[str, PortView] = field(default_factory=dict)    # by port name
    faults: Sequence[dict] = ()    # active faults: `k8snet.testbed.faults.Fault` dicts
    policies: Mapping[str, dict] = field(default_factory=dict)   # NetworkPolicies


# -- ports --------------------------------------------------------------------------

def parse_ovs_interfaces(doc: dict, bridges: Iterable[str]) -> Dict[str, PortSample]:
    """Samples from ``ovs-vsctl --format=json --columns=name,link_state,
    admin_state,statistics list Interface``, kept to the ports of ``bridges``."""
    prefixes = tuple(f"{b}p" for b in bridges)
    out: Dict[str, PortSample] = {}
    for row in doc.get("data", []):
        name, link, admin, stats = row[0], row[1], row[2], row[3]
        if not isinstance(name, str) or not name.startswith(prefixes):
            continue
        counters = dict(stats[1]) if isinstance(stats, list) and stats[0] == "map" else {}
        out[name] = PortSample(name, ovs_str(link), ovs_str(admin),
                               int(counters.get("rx_bytes", 0)),
                               int(counters.get("tx_bytes", 0)))
    return out


def ovs_str(value) -> str:
    """OVSDB JSON writes an empty optional column as ``["set", []]``."""
    return value if isinstance(value, str) else ""


def port_views(before: Mapping[str, PortSample], after: Mapping[str, PortSample],
               seconds: float) -> Dict[str, PortView]:
    """State from the later sample, rate from the byte counters' growth
    (a counter that went back, e.g. a port re-created, counts as no traffic)."""
    views = {}
    for name, now in after.items():
        prev = before.get(name)
        grown = 0
        if prev is not None and seconds > 0:
            grown = max(0, (now.rx_bytes + now.tx_bytes) - (prev.rx_bytes + prev.tx_bytes))
        views[name] = PortView(up=now.link_state == "up" and now.admin_state == "up",
                               bps=grown * 8 / seconds if seconds > 0 else 0.0)
    return views


def human_rate(bps: float) -> str:
    for unit, scale in (("Gbit/s", 1e9), ("Mbit/s", 1e6), ("kbit/s", 1e3)):
        if bps >= scale:
            return f"{bps / scale:.1f} {unit}"
    return f"{bps:.0f} bit/s"


# -- Kubernetes objects ---------------------------------------------------------------

def node_ready(obj: Optional[dict]) -> Optional[bool]:
    """The Node's Ready condition (None when the Node object is not there)."""
    if obj is None:
        return None
    for cond in obj.get("status", {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


def pod_row(key: str, pod: dict) -> dict:
    status = pod.get("status", {})
    return {"key": key, "node": pod.get("spec", {}).get("nodeName") or "",
            "ip": status.get("podIP") or "", "phase": status.get("phase") or "Pending",
            "deleting": bool(pod.get("metadata", {}).get("deletionTimestamp"))}


def service_endpoints(endpoints: Optional[dict]) -> List[Tuple[str, str, bool]]:
    """(ip, target "ns/pod" or "", ready) for every address of an Endpoints object."""
    out = []
    for subset in (endpoints or {}).get("subsets") or []:
        for ready, key in ((True, "addresses"), (False, "notReadyAddresses")):
            for addr in subset.get(key) or []:
                ref = addr.get("targetRef") or {}
                target = f"{ref.get('namespace')}/{ref.get('name')}" \
                    if ref.get("kind") == "Pod" else ""
                out.append((addr.get("ip", ""), target, ready))
    return out


# -- the view -----------------------------------------------------------------------

def layout(facts: Facts, nodes: Sequence[NodeFact]) -> Dict[str, Tuple[float, float]]:
    """Positions for switches and nodes: a fixed, readable grid (a force
    layout would move things on every update)."""
    pos: Dict[str, Tuple[float, float]] = {}
    spines = [s for s in facts.switches if s.role == "spine"]
    lower = [s for s in facts.switches if s.role != "spine"]
    hosts_on: Dict[str, List[str]] = {}
    for h in facts.hosts:
        hosts_on.setdefault(h.switch, []).append(h.name)
    # Each lower switch gets a column block wide enough for its hosts.
    x = 0.0
    for sw in lower:
        width = max(1, len(hosts_on.get(sw.name, [])))
        pos[f"sw:{sw.name}"] = (x + (width - 1) * COLUMN / 2, ROW_LEAF if spines else ROW_SPINE)
        for i, host in enumerate(hosts_on.get(sw.name, [])):
            pos[f"node:{host}"] = (x + i * COLUMN, ROW_NODE if spines else ROW_LEAF + 40)
        x += width * COLUMN
    span = max(x - COLUMN, 0.0)
    for i, sw in enumerate(spines):
        pos[f"sw:{sw.name}"] = (span * (i + 1) / (len(spines) + 1), ROW_SPINE)
    # Nodes the facts do not place (should not happen) go on the right.
    for node in nodes:
        if f"node:{node.name}" not in pos:
            pos[f"node:{node.name}"] = (x, ROW_NODE)
            x += COLUMN
    return pos


def link_rows(facts: Facts, ports: Mapping[str, PortView]) -> List[dict]:
    """Every fabric link with its state: down when either switch end is down,
    unknown when neither end has been sampled yet."""
    rows = []

    def state(*names: str) -> Tuple[str, float]:
        seen = [ports[n] for n in names if n in ports]
        if not seen:
            return "unknown", 0.0
        return ("up" if all(p.up for p in seen) else "down"), max(p.bps for p in seen)

    for link in facts.links:
        a = naming.switch_port_name(link.a, link.a_port)
        b = naming.switch_port_name(link.b, link.b_port)
        st, bps = state(a, b)
        rows.append({"id": f"link:{link.a}:{link.a_port}", "source": f"sw:{link.a}",
                     "target": f"sw:{link.b}", "ports": [a, b], "state": st, "bps": bps})
    for host in facts.hosts:
        port = naming.switch_port_name(host.switch, host.port)
        st, bps = state(port)
        rows.append({"id": f"link:{host.switch}:{host.port}", "source": f"sw:{host.switch}",
                     "target": f"node:{host.name}", "ports": [port], "state": st, "bps": bps})
    return rows


def switch_aliases(facts: Facts) -> Dict[str, str]:
    """Every name ``k8snet fault`` accepts for a switch (``l1``, ``knt-l1``) -> its bridge."""
    names = {}
    for sw in facts.switches:
        names[sw.name] = sw.name
        parsed = naming.parse_bridge_name(sw.name)
        if parsed:
            names[f"{parsed[1]}{parsed[2]}"] = sw.name
    return names


def fault_elements(fault: dict, facts: Facts) -> List[str]:
    """The element ids a fault touches: a link's edge(s), a crashed or
    partitioned node (names as the user gave them to ``k8snet fault``)."""
    targets = [t for t in fault.get("targets") or [] if isinstance(t, str)]
    if fault.get("kind") != "link":
        return [f"node:{t}" for t in targets]
    if len(targets) != 2:
        return []
    aliases = switch_aliases(facts)
    ends = {aliases.get(t, t) for t in targets}
    out = [f"link:{link.a}:{link.a_port}" for link in facts.links if {link.a, link.b} == ends]
    out += [f"link:{h.switch}:{h.port}" for h in facts.hosts if {h.switch, h.name} == ends]
    return out


def fault_rows(faults: Sequence[dict], facts: Facts) -> List[dict]:
    """The active faults as the page lists them, each with what it touches."""
    return [{**f, "elements": fault_elements(f, facts)} for f in faults]


def build_view(inp: Inputs) -> dict:
    """The document the page draws (see the module docstring for ids)."""
    pos = layout(inp.facts, inp.nodes)
    elements: List[dict] = []
    faults = fault_rows(inp.faults, inp.facts)
    faulted = {el for f in faults for el in f["elements"]}

    def add(group: str, data: dict, classes: str = "", at: Optional[Tuple] = None) -> None:
        if data["id"] in faulted:
            classes += " fault"
        el = {"group": group, "data": {"label": "", **data}, "classes": classes}
        if at is not None:
            el["position"] = {"x": at[0], "y": at[1]}
        elements.append(el)

    for sw in inp.facts.switches:
        add("nodes", {"id": f"sw:{sw.name}", "label": sw.name, "kind": "switch",
                      "role": sw.role}, f"switch {sw.role}", pos.get(f"sw:{sw.name}"))
    node_rows = []
    for node in inp.nodes:
        ready = node_ready(inp.k8s_nodes.get(node.name)) if node.role != "external" else None
        obj = inp.k8s_nodes.get(node.name) or {}
        row = {"name": node.name, "role": node.role, "ip": node.ip,
               "ready": ready, "podCIDR": obj.get("spec", {}).get("podCIDR", "")}
        node_rows.append(row)
        state = {True: "ready", False: "notready", None: "nostatus"}[ready]
        add("nodes", {"id": f"node:{node.name}", "label": f"{node.name}\n{node.ip}",
                      "kind": "node", **row}, f"node {node.role} {state}",
            pos.get(f"node:{node.name}"))
    links = link_rows(inp.facts, inp.ports)
    for link in links:
        add("edges", {**link, "kind": "link", "label": human_rate(link["bps"])
                      if link["bps"] else ""}, f"link {link['state']}")
    pods = [pod_row(k, inp.pods[k]) for k in sorted(inp.pods)]
    per_node: Dict[str, int] = {}
    known_nodes = {f"node:{n.name}" for n in inp.nodes}
    for pod in pods:
        parent = f"node:{pod['node']}"
        if parent not in known_nodes:
            continue  # not scheduled yet (listed in the side panel only)
        i = per_node[parent] = per_node.get(parent, -1) + 1
        x, _y = pos[parent]
        add("nodes", {"id": f"pod:{pod['key']}", "label": f"{pod['key'].split('/', 1)[1]}"
                      f"\n{pod['ip']}", "kind": "pod", **pod},
            f"pod {pod['phase'].lower()}{' deleting' if pod['deleting'] else ''}",
            (x - POD_STEP + 2 * POD_STEP * (i % 2), ROW_POD + POD_STEP * i))
        add("edges", {"id": f"on:{pod['key']}", "source": f"pod:{pod['key']}",
                      "target": parent, "kind": "on"}, "on")
    services = []
    drawn = {f"pod:{p['key']}" for p in pods if f"node:{p['node']}" in known_nodes}
    for i, key in enumerate(sorted(inp.services)):
        svc = inp.services[key]
        eps = service_endpoints(inp.endpoints.get(key))
        spec = svc.get("spec", {})
        row = {"key": key, "type": spec.get("type", "ClusterIP"),
               "clusterIP": spec.get("clusterIP", ""),
               "ports": [f"{p.get('port')}/{p.get('protocol', 'TCP')}"
                         for p in spec.get("ports") or []],
               "endpoints": [{"ip": ip, "pod": t, "ready": r} for ip, t, r in eps]}
        services.append(row)
        add("nodes", {"id": f"svc:{key}", "label": f"{key}\n{row['clusterIP']}",
                      "kind": "service", **row}, "service", (i * COLUMN, ROW_SERVICE))
        for _ip, target, ready in eps:
            if target and f"pod:{target}" in drawn:
                add("edges", {"id": f"ep:{key}:{target}", "source": f"svc:{key}",
                              "target": f"pod:{target}", "kind": "endpoint"},
                    f"endpoint {'ready' if ready else 'notready'}")
    policies = [policy_row(k, inp.policies[k], inp.pods) for k in sorted(inp.policies)]
    for i, row in enumerate(policies):
        add("nodes", {"id": f"np:{row['key']}", "label": row["key"], "kind": "policy", **row},
            "policy" + (" invalid" if row["error"] else ""), (i * COLUMN, ROW_POLICY))
        for target in row["pods"]:
            if f"pod:{target}" in drawn:
                add("edges", {"id": f"sel:{row['key']}:{target}", "source": f"np:{row['key']}",
                              "target": f"pod:{target}", "kind": "selects"}, "selects")
    return {"cluster": inp.cluster, "mode": inp.mode, "elements": elements,
            "nodes": node_rows, "pods": pods, "services": services,
            "links": links,
            "faults": faults,
            "policies": policies}


def policy_row(key: str, policy: dict, pods: Mapping[str, dict]) -> dict:
    """A NetworkPolicy as the page shows it: its selector, which ways it
    isolates, and the live Pods it selects, decided by the policy agent's own
    `k8snet.policy.model` (so the page and the enforcement cannot disagree)."""
    from k8snet.policy.model import parse_pod, parse_policy, pod_is_live

    spec = policy.get("spec") or {}
    row = {"key": key, "selects": "", "types": [],
           "ingress_rules": len(spec.get("ingress") or []),
           "egress_rules": len(spec.get("egress") or []), "pods": [], "error": ""}
    try:
        parsed = parse_policy(policy)
    except UsageError as exc:  # the agent skips it too; say why
        return {**row, "error": str(exc)}
    row["selects"] = str(parsed.pod_selector) or f"all Pods in {parsed.namespace}"
    row["types"] = sorted(parsed.types)
    row["pods"] = sorted(k for k, obj in pods.items()
                         if pod_is_live(obj) and parsed.selects(parse_pod(obj)))
    return row


def trace_path(doc: dict, facts: Facts) -> List[str]:
    """Element ids to light up for a `k8snet trace` report: the places the
    marked packet was seen (Pods, nodes, switches), in order, and the links
    joining consecutive ones."""
    ids: List[str] = []
    for hop in doc.get("hops", []):
        kind, _, name = hop.get("place", "").partition(" ")
        el = {"pod": f"pod:{name}", "node": f"node:{name}", "switch": f"sw:{name}"}.get(kind)
        if el and (not ids or ids[-1] != el):
            ids.append(el)
    ends = {}
    for link in facts.links:
        ends[frozenset((f"sw:{link.a}", f"sw:{link.b}"))] = f"link:{link.a}:{link.a_port}"
    for host in facts.hosts:
        ends[frozenset((f"sw:{host.switch}", f"node:{host.name}"))] = \
            f"link:{host.switch}:{host.port}"
    out: List[str] = []
    for i, el in enumerate(ids):
        if i:
            prev = ids[i - 1]
            if el.startswith("pod:") or prev.startswith("pod:"):
                pod = el if el.startswith("pod:") else prev
                out.append(f"on:{pod[4:]}")
            elif frozenset((prev, el)) in ends:
                out.append(ends[frozenset((prev, el))])
        out.append(el)
    return out
