"""Render Service ports as iptables-restore input, in kube-proxy's layout.

nat table:
  PREROUTING, OUTPUT -> KUBE-SERVICES      (jumps ensured by `apply`)
  KUBE-SERVICES   -d ClusterIP -p P --dport port       -> KUBE-SVC-<hash>
                  -d externalIP ...                    -> KUBE-EXT-<hash>
                  last: dst-type LOCAL (or node IPs)   -> KUBE-NODEPORTS
  KUBE-NODEPORTS  -p P --dport nodePort                -> KUBE-EXT-<hash>
  KUBE-SVC-<hash> non-Pod source -> KUBE-MARK-MASQ; affinity checks;
                  statistic random 1/n, 1/(n-1), ...   -> KUBE-SEP-<hash>
  KUBE-EXT-<hash> (Cluster) KUBE-MARK-MASQ, KUBE-SVC; (Local) Pods and local
                  sources to KUBE-SVC, the rest to KUBE-SVL-<hash> (no SNAT)
  KUBE-SEP-<hash> hairpin (source is the endpoint) -> KUBE-MARK-MASQ; DNAT
  KUBE-POSTROUTING MASQUERADE what KUBE-MARK-MASQ marked (from POSTROUTING)
filter table:
  KUBE-SERVICES (FORWARD, OUTPUT) and KUBE-EXTERNAL-SERVICES (INPUT, FORWARD)
  REJECT Services without endpoints; KUBE-FORWARD accepts marked traffic.

Pure: the same inputs give the same text.
"""

from __future__ import annotations

from typing import Iterable, Mapping, Optional

from k8snet.proxy.model import MASQ_MARK, Endpoint, NodeFacts, ServicePort, short_hash

REJECT = "-j REJECT --reject-with icmp-port-unreachable"
# Chains that exist in every sync, per table.
NAT_CHAINS = ("KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-MARK-MASQ")
FILTER_CHAINS = ("KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES", "KUBE-FORWARD")
# Per-service chain prefixes: stale ones are deleted.
DYNAMIC_PREFIXES = ("KUBE-SVC-", "KUBE-SEP-", "KUBE-EXT-", "KUBE-SVL-")

# (table, builtin chain, rule spec) for the jumps into our chains.
JUMPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("nat", "PREROUTING", ("-m", "comment", "--comment", "kubernetes service portals",
                           "-j", "KUBE-SERVICES")),
    ("nat", "OUTPUT", ("-m", "comment", "--comment", "kubernetes service portals",
                       "-j", "KUBE-SERVICES")),
    ("nat", "POSTROUTING", ("-m", "comment", "--comment", "kubernetes postrouting rules",
                            "-j", "KUBE-POSTROUTING")),
    ("filter", "INPUT", ("-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment",
                         "kubernetes externally-visible service portals",
                         "-j", "KUBE-EXTERNAL-SERVICES")),
    ("filter", "FORWARD", ("-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment",
                           "kubernetes externally-visible service portals",
                           "-j", "KUBE-EXTERNAL-SERVICES")),
    ("filter", "FORWARD", ("-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment",
                           "kubernetes service portals", "-j", "KUBE-SERVICES")),
    ("filter", "OUTPUT", ("-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment",
                          "kubernetes service portals", "-j", "KUBE-SERVICES")),
    ("filter", "FORWARD", ("-m", "comment", "--comment", "kubernetes forwarding rules",
                           "-j", "KUBE-FORWARD")),
)


def svc_chain(sp: ServicePort) -> str:
    """KUBE-SVC-<hash> of a Service port (same hash as kube-proxy)."""
    return "KUBE-SVC-" + short_hash(sp.key + sp.proto)


def ext_chain(sp: ServicePort) -> str:
    """KUBE-EXT-<hash>: NodePort and external IP traffic of a Service port."""
    return "KUBE-EXT-" + short_hash(sp.key + sp.proto)


def local_chain(sp: ServicePort) -> str:
    """KUBE-SVL-<hash>: node-local endpoints only (externalTrafficPolicy Local)."""
    return "KUBE-SVL-" + short_hash(sp.key + sp.proto)


def sep_chain(sp: ServicePort, ep: Endpoint) -> str:
    """KUBE-SEP-<hash> of one endpoint of a Service port."""
    return "KUBE-SEP-" + short_hash(sp.key + sp.proto + ep.addr)


def probability(n: int) -> str:
    """The statistic match probability for picking 1 of ``n`` (kube-proxy's format)."""
    return f"{1.0 / n:0.10f}"


def _comment(text: str) -> str:
    return f'-m comment --comment "{text}"'


def _rule(chain: str, comment: str, spec: str) -> str:
    return f"-A {chain} {_comment(comment)} {spec}"


def _match(sp: ServicePort) -> str:
    return f"-p {sp.proto} -m {sp.proto}"


def _balance(sp: ServicePort, chain: str, endpoints: tuple[Endpoint, ...]) -> list[str]:
    """Affinity checks then random spreading from ``chain`` to endpoint chains."""
    rules = []
    if sp.affinity_timeout:
        for ep in endpoints:
            sep = sep_chain(sp, ep)
            rules.append(f'-A {chain} {_comment(sp.key + " -> " + ep.addr)} -m recent '
                         f"--name {sep} --mask 255.255.255.255 --rsource --rcheck "
                         f"--seconds {sp.affinity_timeout} --reap -j {sep}")
    n = len(endpoints)
    for i, ep in enumerate(endpoints):
        stat = "" if i == n - 1 else \
            f" -m statistic --mode random --probability {probability(n - i)}"
        rules.append(f'-A {chain} {_comment(sp.key + " -> " + ep.addr)}{stat} '
                     f"-j {sep_chain(sp, ep)}")
    return rules


def _sep_rules(sp: ServicePort, ep: Endpoint) -> list[str]:
    chain = sep_chain(sp, ep)
    recent = f" -m recent --name {chain} --mask 255.255.255.255 --rsource --set" \
        if sp.affinity_timeout else ""
    return [
        f"-A {chain} {_comment(sp.key)} -s {ep.ip}/32 -j KUBE-MARK-MASQ",
        f"-A {chain} {_comment(sp.key)}{recent} {_match(sp)} "
        f"-j DNAT --to-destination {ep.addr}",
    ]


def _ext_rules(sp: ServicePort, node: NodeFacts) -> list[str]:
    chain, svc = ext_chain(sp), svc_chain(sp)
    if not sp.external_local:
        return [_rule(chain, f"masquerade traffic for {sp.key} external destinations",
                      "-j KUBE-MARK-MASQ"),
                f"-A {chain} -j {svc}"]
    rules = []
    if node.cluster_cidr:
        rules.append(_rule(chain, f"pod traffic for {sp.key} external destinations",
                           f"-s {node.cluster_cidr} -j {svc}"))
    rules += [
        _rule(chain, f"masquerade LOCAL traffic for {sp.key} external destinations",
              "-m addrtype --src-type LOCAL -j KUBE-MARK-MASQ"),
        _rule(chain, f"route LOCAL traffic for {sp.key} external destinations",
              f"-m addrtype --src-type LOCAL -j {svc}"),
    ]
    if sp.local_endpoints(node.name):
        rules.append(f"-A {chain} -j {local_chain(sp)}")
    return rules


def render(ports: Iterable[ServicePort], node: NodeFacts,
           existing: Optional[Mapping[str, Iterable[str]]] = None) -> str:
    """iptables-restore input (for --noflush) for every Service port.

    ``existing`` maps table name to the chains there now; k8snet's per-service
    chains that are no longer wanted get flushed and deleted.
    """
    ports = list(ports)
    mark = f"{MASQ_MARK:#x}"
    f_chains: list[str] = list(FILTER_CHAINS)
    f_rules = [
        f'-A KUBE-FORWARD {_comment("kubernetes forwarding rules")} '
        f"-m mark --mark {mark}/{mark} -j ACCEPT",
        f'-A KUBE-FORWARD {_comment("kubernetes forwarding conntrack rule")} '
        "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
    ]
    n_chains: list[str] = list(NAT_CHAINS)
    n_rules = [
        f"-A KUBE-POSTROUTING -m mark ! --mark {mark}/{mark} -j RETURN",
        f"-A KUBE-POSTROUTING -j MARK --xor-mark {mark}",
        f'-A KUBE-POSTROUTING {_comment("kubernetes service traffic requiring SNAT")} '
        "-j MASQUERADE --random-fully",
        f"-A KUBE-MARK-MASQ -j MARK --or-mark {mark}",
    ]
    nodeport_rules: list[str] = []
    for sp in ports:
        match = _match(sp)
        svc = svc_chain(sp)
        has_eps = bool(sp.endpoints)
        external = bool(sp.node_port or sp.external_ips)
        if not has_eps:
            f_rules.append(f'-A KUBE-SERVICES {_comment(sp.key + " has no endpoints")} '
                           f"-d {sp.cluster_ip}/32 {match} --dport {sp.port} "
                           "-j REJECT --reject-with icmp-port-unreachable")
            for eip in sp.external_ips:
                f_rules.append(_rule("KUBE-EXTERNAL-SERVICES", f"{sp.key} has no endpoints",
                                     f"-d {eip}/32 {match} --dport {sp.port} {REJECT}"))
            if sp.node_port:
                f_rules.append(_rule("KUBE-EXTERNAL-SERVICES", f"{sp.key} has no endpoints",
                                     f"-m addrtype --dst-type LOCAL {match} "
                                     f"--dport {sp.node_port} {REJECT}"))
            continue
        n_chains.append(svc)
        n_rules.append(f'-A KUBE-SERVICES {_comment(sp.key + " cluster IP")} '
                       f"-d {sp.cluster_ip}/32 {match} --dport {sp.port} -j {svc}")
        if node.masquerade_all:
            n_rules.append(f'-A {svc} {_comment(sp.key + " cluster IP")} '
                           f"-d {sp.cluster_ip}/32 {match} --dport {sp.port} -j KUBE-MARK-MASQ")
        elif node.cluster_cidr:
            n_rules.append(f'-A {svc} {_comment(sp.key + " cluster IP")} '
                           f"! -s {node.cluster_cidr} -d {sp.cluster_ip}/32 {match} "
                           f"--dport {sp.port} -j KUBE-MARK-MASQ")
        n_rules += _balance(sp, svc, sp.endpoints)
        for ep in sp.chained_endpoints(node.name):
            n_chains.append(sep_chain(sp, ep))
            n_rules += _sep_rules(sp, ep)
        if external:
            n_chains.append(ext_chain(sp))
            n_rules += _ext_rules(sp, node)
            for eip in sp.external_ips:
                n_rules.append(f'-A KUBE-SERVICES {_comment(sp.key + " external IP")} '
                               f"-d {eip}/32 {match} --dport {sp.port} -j {ext_chain(sp)}")
            if sp.node_port:
                nodeport_rules.append(f"-A KUBE-NODEPORTS {_comment(sp.key)} "
                                      f"{match} --dport {sp.node_port} -j {ext_chain(sp)}")
            if sp.external_local:
                local = sp.local_endpoints(node.name)
                if local:
                    n_chains.append(local_chain(sp))
                    n_rules += _balance(sp, local_chain(sp), local)
                elif sp.node_port:
                    f_rules.append(
                        f'-A KUBE-EXTERNAL-SERVICES {_comment(sp.key + " has no local endpoints")} '
                        f"-m addrtype --dst-type LOCAL {match} --dport {sp.node_port} -j DROP")
    n_rules += nodeport_rules
    nodeport_ips = node.nodeport_ips()
    note = "kubernetes service nodeports; NOTE: this must be the last rule in this chain"
    if nodeport_ips is None:
        n_rules.append(f"-A KUBE-SERVICES {_comment(note)} ! -d 127.0.0.0/8 "
                       "-m addrtype --dst-type LOCAL -j KUBE-NODEPORTS")
    else:
        n_rules += [f"-A KUBE-SERVICES {_comment(note)} -d {ip}/32 -j KUBE-NODEPORTS"
                    for ip in nodeport_ips]
    existing = existing or {}
    out = ["*filter"]
    out += [f":{c} - [0:0]" for c in f_chains]
    out += f_rules
    out.append("COMMIT")
    out.append("*nat")
    stale = sorted(c for c in existing.get("nat", ()) if c.startswith(DYNAMIC_PREFIXES)
                   and c not in set(n_chains))
    out += [f":{c} - [0:0]" for c in n_chains + stale]
    out += n_rules
    out += [f"-X {c}" for c in stale]
    out.append("COMMIT")
    return "\n".join(out) + "\n"
