"""Cluster DNS verdicts: pure functions over what the probe observed.

- `dns_service`: each probe Pod resolved a Service's short, namespaced and
  fully qualified names (through its own resolv.conf) to the ClusterIP and
  reached the Service by its short name;
- `dns_headless`: a headless Service's name gave exactly its ready endpoints;
- `dns_path`: queries left the client Pod for the kube-dns ClusterIP from the
  Pod's own address, crossed the fabric (seen on another node's uplink) and
  reached a DNS Pod there still from the Pod's address: DNAT, no SNAT;
- `dns_external`: a name outside the cluster resolved to what the external
  host's resolver holds, and that resolver saw the forwarded query.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterable, List, Sequence, Tuple

from k8snet.probe.model import Verdict, failed, passed, skipped
from k8snet.probe.packets import Packet

DNS_PORT = 53


@dataclass(frozen=True)
class Lookup:
    """One name resolved from inside a Pod (getaddrinfo, the Pod's resolv.conf)."""

    pod: str
    name: str
    addresses: Tuple[str, ...] = ()
    error: str = ""

    def line(self) -> str:
        got = ", ".join(self.addresses) if self.addresses else f"error {self.error or '?'}"
        return f"{self.pod}: {self.name} -> {got}"


@dataclass(frozen=True)
class Fetch:
    """An HTTP GET by name from inside a Pod."""

    pod: str
    url: str
    ok: bool
    detail: str = ""


def dns_service(service: str, cluster_ip: str, lookups: Sequence[Lookup],
                fetches: Sequence[Fetch]) -> Verdict:
    if not lookups:
        return skipped("no probe Pod to resolve names from")
    problems = [f"{lk.line()} (want {cluster_ip})" for lk in lookups
                if tuple(lk.addresses) != (cluster_ip,)]
    problems += [f"{f.pod}: GET {f.url} failed: {f.detail}" for f in fetches if not f.ok]
    evidence = [lk.line() for lk in lookups] + \
        [f"{f.pod}: GET {f.url} -> {f.detail}" for f in fetches]
    if problems:
        return failed("; ".join(problems[:3]), evidence)
    pods = len({lk.pod for lk in lookups})
    return passed(f"{pods} Pod(s) resolved {len(lookups) // max(1, pods)} names of {service} "
                  f"to {cluster_ip} and reached it by name", evidence)


def dns_headless(service: str, lookup: Lookup, ready: Sequence[str]) -> Verdict:
    want, got = sorted(set(ready)), sorted(set(lookup.addresses))
    evidence = [lookup.line(), f"ready endpoints of {service}: {', '.join(want) or 'none'}"]
    if not want:
        return skipped(f"{service} has no ready endpoint", evidence)
    if got != want:
        return failed(f"{lookup.name} gave {got or lookup.error or 'nothing'}, want the ready "
                      f"endpoints {want}", evidence)
    return passed(f"{lookup.name} gave exactly the {len(want)} ready endpoint(s)", evidence)


@dataclass(frozen=True)
class DnsPath:
    """What was captured for a burst of queries from one Pod."""

    client: str                     # "pod default/k8snet-probe-a"
    client_ip: str
    client_node: str
    dns_ip: str                     # kube-dns ClusterIP
    dns_pods: Dict[str, str]        # DNS Pod IP -> its node
    needles: Tuple[bytes, ...]      # one unique label per query name
    leaving: Tuple[Packet, ...]     # the client's eth0
    arriving: Dict[str, Tuple[Packet, ...]]   # DNS Pod IP -> its eth0
    uplinks: Dict[str, Tuple[Packet, ...]]    # node -> its fabric interface


def _queries(packets: Sequence[Packet], needle: bytes) -> List[Packet]:
    out = []
    for p in packets:
        inner = p.innermost()
        if inner.proto == "udp" and inner.dport == DNS_PORT and needle in inner.payload:
            out.append(inner)
    return out


def path_client(pods: Sequence[Tuple[str, str]], dns_nodes: Iterable[str]) -> str:
    """Which probe Pod, of (name, node) in order of preference, looks up names for the
    DNS path check: the first with a DNS Pod on another node, so there is a path across
    the fabric to watch (both DNS Pods may have been scheduled on the first worker);
    else the first (pure)."""
    nodes = set(dns_nodes)
    for name, node in pods:
        if nodes - {node}:
            return name
    return pods[0][0]


def dns_path(obs: DnsPath) -> Verdict:
    remote = {ip: node for ip, node in obs.dns_pods.items() if node != obs.client_node}
    if not obs.dns_pods:
        return skipped("no ready DNS Pod behind kube-dns")
    if not remote:
        return skipped(f"every DNS Pod runs on {obs.client_node}, the client's node: no "
                       "path across the fabric to look at")
    problems: List[str] = []
    evidence: List[str] = []
    crossed = 0
    for needle in obs.needles:
        name = needle.decode(errors="replace")
        out = [p for p in _queries(obs.leaving, needle) if p.dst == obs.dns_ip]
        if not out:
            problems.append(f"{name}: no query to {obs.dns_ip}:53 left {obs.client}")
            continue
        if any(p.src != obs.client_ip for p in out):
            problems.append(f"{name}: left with source {out[0].src}, not {obs.client_ip}")
        landed = {ip: _queries([p for p in pkts if not p.meta.get("outgoing")], needle)
                  for ip, pkts in obs.arriving.items()}  # (the Pod's own forwards go out)
        landed = {ip: pkts for ip, pkts in landed.items() if pkts}
        if not landed:
            problems.append(f"{name}: reached no DNS Pod")
            continue
        for ip, pkts in landed.items():
            bad = [p for p in pkts if p.src != obs.client_ip or p.dst != ip]
            if bad:
                problems.append(f"{name}: arrived at DNS Pod {ip} as {bad[0].src} -> "
                                f"{bad[0].dst} (NAT on the way)")
            where = obs.dns_pods.get(ip, "?")
            evidence.append(f"{name}: {obs.client_ip} -> {obs.dns_ip}:53 left the Pod, "
                            f"arrived at DNS Pod {ip} on {where} from {pkts[0].src}")
            if ip in remote:
                seen = [p for p in _queries(obs.uplinks.get(where, ()), needle)
                        if p.src == obs.client_ip and p.dst == ip]
                if seen:
                    crossed += 1
                    evidence.append(f"{name}: on {where}'s fabric link as {seen[0].src} -> "
                                    f"{seen[0].dst}")
                else:
                    problems.append(f"{name}: reached {ip} on {where} but was not seen on "
                                    f"{where}'s fabric link with source {obs.client_ip}")
    if not problems and not crossed:
        problems.append(f"none of {len(obs.needles)} queries went to a DNS Pod on another "
                        f"node ({', '.join(sorted(remote))})")
    if problems:
        return failed("; ".join(problems[:3]), problems + evidence)
    return passed(f"{crossed} of {len(obs.needles)} queries crossed the fabric to a DNS Pod on "
                  f"another node with the Pod's own source {obs.client_ip} (DNAT only)",
                  evidence)


def dns_external(lookup: Lookup, want: str, upstream: str, seen_at_upstream: Sequence[Packet],
                 dns_pod_ips: Sequence[str]) -> Verdict:
    evidence = [lookup.line(), f"upstream {upstream}: {len(seen_at_upstream)} query packet(s) "
                f"from {sorted({p.innermost().src for p in seen_at_upstream})}"]
    if tuple(lookup.addresses) != (want,):
        return failed(f"{lookup.name} gave {list(lookup.addresses) or lookup.error}, want "
                      f"{want}", evidence)
    if not any(p.innermost().src in dns_pod_ips for p in seen_at_upstream):
        return failed(f"the upstream resolver {upstream} saw no query for {lookup.name} from a "
                      "DNS Pod", evidence)
    return passed(f"{lookup.name} resolved to {want} through the upstream {upstream}",
                  evidence)
