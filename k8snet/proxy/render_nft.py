"""Render Service ports as one nftables table, in kube-proxy's nftables manner.

Table ``ip k8snet-proxy``:
  nat-prerouting / nat-output (dstnat hooks) -> services
  services:   ip daddr . l4proto . dport vmap @service-ips; then local
              destinations (or the node IPs) -> nodeports
  nodeports:  l4proto . dport vmap @service-nodeports
  service-<hash>-ns/name/proto/port: non-Pod source -> mark-for-masquerade;
              affinity (ip saddr @affinity-... goto endpoint-...);
              numgen random mod N vmap { 0 : goto endpoint-..., ... }
  external-<hash>-...: NodePort / external IP traffic (masquerade; Local policy)
  endpoint-<hash>-...__ip/port: hairpin masquerade mark; affinity update; dnat
  nat-postrouting -> masquerading: masquerade what mark-for-masquerade marked
  filter-input/forward/output -> REJECT Services that have no endpoints
      (vmaps @no-endpoint-services, @no-endpoint-nodeports)

The script is applied in one `nft -f` transaction: the table's rules and
maps are flushed and redefined, stale chains and sets deleted. Affinity sets
are kept (not flushed) so that client stickiness survives a resync.
Pure: the same inputs give the same text.
"""

from __future__ import annotations

from typing import Iterable, Optional

from k8snet.proxy.model import MASQ_MARK, Endpoint, NodeFacts, ServicePort, short_hash

FAMILY = "ip"
TABLE = "k8snet-proxy"
DYNAMIC_PREFIXES = ("service-", "external-", "local-", "endpoint-")
AFFINITY_PREFIX = "affinity-"

# name -> (type, hook, priority)
BASE_CHAINS = {
    "nat-prerouting": ("nat", "prerouting", "dstnat"),
    "nat-output": ("nat", "output", "-100"),
    "nat-postrouting": ("nat", "postrouting", "srcnat"),
    "filter-input": ("filter", "input", "-110"),
    "filter-forward": ("filter", "forward", "-110"),
    "filter-output": ("filter", "output", "-110"),
}
MAPS = {
    "service-ips": "ipv4_addr . inet_proto . inet_service : verdict",
    "service-nodeports": "inet_proto . inet_service : verdict",
    "no-endpoint-services": "ipv4_addr . inet_proto . inet_service : verdict",
    "no-endpoint-nodeports": "inet_proto . inet_service : verdict",
}
FIXED_CHAINS = ("services", "nodeports", "mark-for-masquerade", "masquerading",
                "service-endpoints-check", "nodeport-endpoints-check", "reject-chain")


def _base(sp: ServicePort) -> str:
    port = sp.port_name or str(sp.port)
    return f"{short_hash(sp.key + sp.proto, 8)}-{sp.namespace}/{sp.name}/{sp.proto}/{port}"


def service_chain(sp: ServicePort) -> str:
    """Chain that balances a Service port's ClusterIP traffic."""
    return "service-" + _base(sp)


def external_chain(sp: ServicePort) -> str:
    """Chain for a Service port's NodePort and external IP traffic."""
    return "external-" + _base(sp)


def local_chain(sp: ServicePort) -> str:
    """Chain balancing over node-local endpoints (externalTrafficPolicy Local)."""
    return "local-" + _base(sp)


def endpoint_chain(sp: ServicePort, ep: Endpoint) -> str:
    """Chain that DNATs to one endpoint."""
    digest = short_hash(sp.key + sp.proto + ep.addr, 8)
    return f"endpoint-{digest}-{_base(sp)[9:]}__{ep.ip}/{ep.port}"


def affinity_set(sp: ServicePort, ep: Endpoint) -> str:
    """Set of client IPs stuck to one endpoint; the timeout is part of the name."""
    digest = short_hash(f"{sp.key}{sp.proto}{ep.addr}/{sp.affinity_timeout}", 8)
    return f"affinity-{digest}-{_base(sp)[9:]}__{ep.ip}/{ep.port}"


def _balance(sp: ServicePort, endpoints: tuple[Endpoint, ...]) -> list[str]:
    rules = []
    if sp.affinity_timeout:
        rules += [f"ip saddr @{affinity_set(sp, ep)} goto {endpoint_chain(sp, ep)}"
                  for ep in endpoints]
    if len(endpoints) == 1:
        rules.append(f"goto {endpoint_chain(sp, endpoints[0])}")
    else:
        choices = ", ".join(f"{i} : goto {endpoint_chain(sp, ep)}"
                            for i, ep in enumerate(endpoints))
        rules.append(f"numgen random mod {len(endpoints)} vmap {{ {choices} }}")
    return rules


def _endpoint_rules(sp: ServicePort, ep: Endpoint) -> list[str]:
    rules = [f"ip saddr {ep.ip} jump mark-for-masquerade"]
    if sp.affinity_timeout:
        rules.append(f"update @{affinity_set(sp, ep)} {{ ip saddr }}")
    rules.append(f"meta l4proto {sp.proto} dnat to {ep.addr}")
    return rules


def _external_rules(sp: ServicePort, node: NodeFacts) -> list[str]:
    svc = service_chain(sp)
    if not sp.external_local:
        return ["jump mark-for-masquerade", f"goto {svc}"]
    rules = []
    if node.cluster_cidr:
        rules.append(f"ip saddr {node.cluster_cidr} goto {svc}")
    rules += ["fib saddr type local jump mark-for-masquerade", f"fib saddr type local goto {svc}"]
    if sp.local_endpoints(node.name):
        rules.append(f"goto {local_chain(sp)}")
    else:
        rules.append("drop")
    return rules


def ruleset(ports: Iterable[ServicePort], node: NodeFacts) -> dict:
    """The wanted table as data: chains (name -> rules), map elements, affinity sets."""
    mark = f"{MASQ_MARK:#x}"
    chains: dict[str, list[str]] = {name: [] for name in BASE_CHAINS}
    chains.update({name: [] for name in FIXED_CHAINS})
    chains["nat-prerouting"] = ["jump services"]
    chains["nat-output"] = ["jump services"]
    chains["nat-postrouting"] = ["jump masquerading"]
    chains["filter-input"] = ["ct state new jump nodeport-endpoints-check"]
    chains["filter-forward"] = ["ct state new jump service-endpoints-check",
                                "ct state new jump nodeport-endpoints-check"]
    chains["filter-output"] = ["ct state new jump service-endpoints-check"]
    chains["mark-for-masquerade"] = [f"meta mark set meta mark | {mark}"]
    chains["masquerading"] = [f"meta mark & {mark} == 0 return",
                              f"meta mark set meta mark ^ {mark}",
                              "masquerade fully-random"]
    chains["reject-chain"] = ["reject"]
    chains["service-endpoints-check"] = [
        "ip daddr . meta l4proto . th dport vmap @no-endpoint-services"]
    nodeport_ips = node.nodeport_ips()
    if nodeport_ips is None:
        dest = "fib daddr type local ip daddr != 127.0.0.0/8"
    elif nodeport_ips:
        dest = "ip daddr { " + ", ".join(nodeport_ips) + " }"
    else:
        dest = None
    chains["services"] = ["ip daddr . meta l4proto . th dport vmap @service-ips"]
    if dest:
        chains["services"].append(f"{dest} jump nodeports")
        chains["nodeport-endpoints-check"] = [
            f"{dest} meta l4proto . th dport vmap @no-endpoint-nodeports"]
    chains["nodeports"] = ["meta l4proto . th dport vmap @service-nodeports"]
    elements: dict[str, list[str]] = {name: [] for name in MAPS}
    sets: dict[str, int] = {}
    for sp in ports:
        proto = sp.proto
        if not sp.endpoints:
            elements["no-endpoint-services"].append(
                f"{sp.cluster_ip} . {proto} . {sp.port} : goto reject-chain")
            elements["no-endpoint-services"] += [
                f"{eip} . {proto} . {sp.port} : goto reject-chain" for eip in sp.external_ips]
            if sp.node_port:
                elements["no-endpoint-nodeports"].append(
                    f"{proto} . {sp.node_port} : goto reject-chain")
            continue
        svc = service_chain(sp)
        masq: list[str] = []
        match = f"ip daddr {sp.cluster_ip} meta l4proto {proto} th dport {sp.port}"
        if node.masquerade_all:
            masq = [f"{match} jump mark-for-masquerade"]
        elif node.cluster_cidr:
            masq = [f"{match} ip saddr != {node.cluster_cidr} jump mark-for-masquerade"]
        chains[svc] = masq + _balance(sp, sp.endpoints)
        elements["service-ips"].append(f"{sp.cluster_ip} . {proto} . {sp.port} : goto {svc}")
        for ep in sp.chained_endpoints(node.name):
            chains[endpoint_chain(sp, ep)] = _endpoint_rules(sp, ep)
            if sp.affinity_timeout:
                sets[affinity_set(sp, ep)] = sp.affinity_timeout
        if sp.node_port or sp.external_ips:
            ext = external_chain(sp)
            chains[ext] = _external_rules(sp, node)
            elements["service-ips"] += [f"{eip} . {proto} . {sp.port} : goto {ext}"
                                        for eip in sp.external_ips]
            if sp.node_port:
                elements["service-nodeports"].append(f"{proto} . {sp.node_port} : goto {ext}")
            local = sp.local_endpoints(node.name) if sp.external_local else ()
            if local:
                chains[local_chain(sp)] = _balance(sp, local)
    return {"chains": chains, "elements": elements, "sets": sets}


def render(ports: Iterable[ServicePort], node: NodeFacts,
           existing_chains: Iterable[str] = (), existing_sets: Iterable[str] = ()) -> str:
    """An `nft -f` script that makes the table exactly what ``ports`` need, atomically."""
    want = ruleset(ports, node)
    chains: dict[str, list[str]] = want["chains"]
    t = f"{FAMILY} {TABLE}"
    out = [f"add table {t}", f"flush table {t}"]
    for name in chains:
        if name in BASE_CHAINS:
            kind, hook, prio = BASE_CHAINS[name]
            out.append(f"add chain {t} {name} {{ type {kind} hook {hook} priority {prio} ; }}")
        else:
            out.append(f"add chain {t} {name}")
    for name, spec in MAPS.items():
        out.append(f"add map {t} {name} {{ type {spec} ; }}")
        out.append(f"flush map {t} {name}")
    for name, timeout in sorted(want["sets"].items()):
        out.append(f"add set {t} {name} {{ type ipv4_addr ; flags dynamic,timeout ; "
                   f"timeout {timeout}s ; }}")
    for name, rules in chains.items():
        out += [f"add rule {t} {name} {rule}" for rule in rules]
    for name, elems in want["elements"].items():
        if elems:
            out.append(f"add element {t} {name} {{ " + ", ".join(elems) + " }")
    out += [f"delete chain {t} {name}" for name in sorted(existing_chains)
            if name.startswith(DYNAMIC_PREFIXES) and name not in chains]
    out += [f"delete set {t} {name}" for name in sorted(existing_sets)
            if name.startswith(AFFINITY_PREFIX) and name not in want["sets"]]
    return "\n".join(out) + "\n"


def cleanup_script() -> Optional[str]:
    """Script that removes the whole table (used when switching to iptables mode)."""
    return f"add table {FAMILY} {TABLE}\ndelete table {FAMILY} {TABLE}\n"
