"""The Kubernetes DNS specification as pure functions.

`build_index` turns Services, EndpointSlices (and, for ``pods verified``,
Pods) into every record the cluster zone holds, keyed by owner name, plus
the reverse map for PTR; `resolve` answers one question from an index the
way CoreDNS's kubernetes plugin does:

- ``svc.ns.svc.ZONE``: A/AAAA of the ClusterIP(s); for a headless Service one
  record per ready endpoint (every endpoint with publishNotReadyAddresses);
  CNAME for an ExternalName Service;
- ``host.svc.ns.svc.ZONE`` for each headless endpoint: its hostname
  (StatefulSet Pods: ``web-0.nginx.default.svc.cluster.local``) or its
  address with dashes;
- SRV ``_port._proto.svc.ns.svc.ZONE`` for each named port;
- PTR for ClusterIPs and headless endpoint addresses;
- ``a-b-c-d.ns.pod.ZONE`` Pod records (``pods insecure``: any address;
  ``verified``: only a Pod's own);
- NXDOMAIN for a name that does not exist, NOERROR without records (NODATA)
  for one that exists without the asked type, both with the zone's SOA.

Records are plain `RR` tuples in presentation form; the server turns them
into wire format.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

from k8snet.dns.corefile import KubernetesConfig, in_zone

REVERSE_ZONES = ("in-addr.arpa.", "ip6.arpa.")
SERVICE_LABEL = "kubernetes.io/service-name"
SPEC_VERSION = "1.1.0"
DNS_SERVICE = ("kube-system", "kube-dns")


@dataclass(frozen=True)
class RR:
    name: str       # owner, absolute (ends with a dot)
    rtype: str      # A, AAAA, SRV, PTR, CNAME, SOA, NS, TXT
    ttl: int
    data: str       # presentation form: "10.96.0.1", "0 100 80 web.ns.svc.cluster.local."


@dataclass(frozen=True)
class Answer:
    rcode: str = "NOERROR"                 # NOERROR or NXDOMAIN
    answer: Tuple[RR, ...] = ()
    additional: Tuple[RR, ...] = ()
    authority: Tuple[RR, ...] = ()         # the SOA for NXDOMAIN and NODATA
    fallthrough: bool = False              # not ours after all: next plugin (forward)


@dataclass
class Index:
    """Every record of the kubernetes zones, by lower-case owner name."""

    names: Dict[str, List[RR]] = field(default_factory=dict)
    reverse: Dict[str, List[str]] = field(default_factory=dict)    # ip -> PTR targets
    exists: Set[str] = field(default_factory=set)   # owners and their ancestors (non-terminals)
    pod_ips: Dict[str, Set[str]] = field(default_factory=dict)    # namespace -> Pod IPs

    def add(self, name: str, rtype: str, ttl: int, data: str) -> None:
        rr = RR(name, rtype, ttl, data)
        records = self.names.setdefault(name.lower(), [])
        if rr not in records:
            records.append(rr)
        self.touch(name)

    def touch(self, name: str) -> None:
        """Mark a name and its ancestors as existing (NODATA rather than NXDOMAIN)."""
        labels = name.lower().rstrip(".").split(".")
        for i in range(len(labels)):
            self.exists.add(".".join(labels[i:]) + ".")


def dashed(ip: str) -> str:
    """10.244.1.5 -> 10-244-1-5 (IPv6: colons become dashes)."""
    return ip.replace(".", "-").replace(":", "-")


def undashed(label: str) -> Optional[str]:
    """10-244-1-5 -> 10.244.1.5 (or an IPv6 address), None if it is not one."""
    for text in (label.replace("-", "."), label.replace("-", ":")):
        try:
            return str(ipaddress.ip_address(text))
        except ValueError:
            continue
    return None


def reverse_name(ip: str) -> str:
    return ipaddress.ip_address(ip).reverse_pointer + "."


def reverse_ip(name: str) -> Optional[str]:
    """The address a PTR name stands for, None if it is not a full one."""
    labels = name.lower().rstrip(".").split(".")
    try:
        if labels[-2:] == ["in-addr", "arpa"] and len(labels) == 6:
            return str(ipaddress.IPv4Address(".".join(reversed(labels[:4]))))
        if labels[-2:] == ["ip6", "arpa"] and len(labels) == 34:
            nibbles = "".join(reversed(labels[:32]))
            return str(ipaddress.IPv6Address(int(nibbles, 16)))
    except ValueError:
        return None
    return None


def _rtype(ip: str) -> str:
    return "AAAA" if ":" in ip else "A"


def _ready_addresses(slices: Iterable[Mapping], publish_not_ready: bool
                     ) -> List[Tuple[str, str]]:
    """(address, endpoint label) of a Service's serving endpoints, sorted."""
    out: Dict[str, str] = {}
    for sl in slices:
        for ep in sl.get("endpoints") or []:
            ready = (ep.get("conditions") or {}).get("ready")
            if ready is False and not publish_not_ready:
                continue
            for ip in ep.get("addresses") or []:
                out[ip] = ep.get("hostname") or dashed(ip)
    return sorted(out.items())


def _slice_ports(slices: Iterable[Mapping]) -> List[Tuple[str, str, int]]:
    ports = {(p.get("name") or "", (p.get("protocol") or "TCP").lower(), p.get("port"))
             for sl in slices for p in sl.get("ports") or [] if p.get("port")}
    return sorted(ports)


def _service_records(index: Index, svc: Mapping, slices: List[Mapping], zone: str,
                     ttl: int) -> None:
    meta, spec = svc.get("metadata") or {}, svc.get("spec") or {}
    base = f"{meta.get('name')}.{meta.get('namespace')}.svc.{zone}"
    index.touch(base)
    if spec.get("type") == "ExternalName":
        target = (spec.get("externalName") or "").rstrip(".") + "."
        index.add(base, "CNAME", ttl, target)
        return
    cluster_ips = [ip for ip in (spec.get("clusterIPs") or [spec.get("clusterIP")])
                   if ip and ip != "None"]
    if cluster_ips:
        for ip in cluster_ips:
            index.add(base, _rtype(ip), ttl, ip)
            index.reverse.setdefault(ip, []).append(base)
        ports = [(p.get("name") or "", (p.get("protocol") or "TCP").lower(), p.get("port"))
                 for p in spec.get("ports") or []]
        _srv(index, base, [(base, "")], ports, ttl)
        return
    # headless: the endpoints themselves
    endpoints = _ready_addresses(slices, bool(spec.get("publishNotReadyAddresses")))
    targets = []
    for ip, label in endpoints:
        host = f"{label}.{base}"
        index.add(base, _rtype(ip), ttl, ip)
        index.add(host, _rtype(ip), ttl, ip)
        index.reverse.setdefault(ip, []).append(host)
        targets.append((host, ip))
    _srv(index, base, targets, _slice_ports(slices), ttl)


def _srv(index: Index, base: str, targets: Sequence[Tuple[str, str]],
         ports: Sequence[Tuple[str, str, object]], ttl: int) -> None:
    """SRV records for named ports, at _name._proto.base and at base itself."""
    if not targets:
        return
    weight = max(1, 100 // len(targets))
    for name, proto, port in ports:
        if not name or not port:
            continue
        for target, _ip in targets:
            data = f"0 {weight} {port} {target}"
            index.add(f"_{name}._{proto}.{base}", "SRV", ttl, data)
            index.add(base, "SRV", ttl, data)


def build_index(services: Iterable[Mapping], slices: Iterable[Mapping],
                cfg: KubernetesConfig, pods: Iterable[Mapping] = (),
                namespaces: Iterable[str] = ()) -> Index:
    """Every record of the forward zones (and the reverse map) from the objects."""
    index = Index()
    by_service: Dict[Tuple[str, str], List[Mapping]] = {}
    for sl in slices:
        meta = sl.get("metadata") or {}
        owner = (meta.get("labels") or {}).get(SERVICE_LABEL)
        if owner:
            by_service.setdefault((meta.get("namespace"), owner), []).append(sl)
    services = list(services)
    zones = [z for z in cfg.zones if z not in REVERSE_ZONES and z != "."]
    for zone in zones:
        for ns in set(namespaces) | {(s.get("metadata") or {}).get("namespace")
                                      for s in services}:
            if ns:
                index.touch(f"{ns}.svc.{zone}")
                index.touch(f"{ns}.pod.{zone}")
        for svc in services:
            meta = svc.get("metadata") or {}
            key = (meta.get("namespace"), meta.get("name"))
            _service_records(index, svc, by_service.get(key, []), zone, cfg.ttl)
        index.add(f"dns-version.{zone}", "TXT", cfg.ttl, f'"{SPEC_VERSION}"')
    for pod in pods:
        ns = (pod.get("metadata") or {}).get("namespace", "")
        for entry in (pod.get("status") or {}).get("podIPs") or []:
            index.pod_ips.setdefault(ns, set()).add(entry.get("ip"))
    return index


def soa(zone: str, ttl: int, serial: int = 1) -> RR:
    return RR(zone, "SOA", ttl, f"ns.dns.{zone} hostmaster.{zone} {serial} 7200 1800 "
                                f"86400 {ttl}")


def _zone_of(qname: str, zones: Sequence[str]) -> Optional[str]:
    matches = [z for z in zones if in_zone(qname, z)]
    return max(matches, key=len) if matches else None


def _select(records: Sequence[RR], qname: str, qtype: str) -> Tuple[RR, ...]:
    """Records of the asked type, with the question's own spelling of the name."""
    return tuple(RR(qname, r.rtype, r.ttl, r.data) for r in records
                 if qtype in (r.rtype, "ANY"))


def _additional(index: Index, records: Sequence[RR]) -> Tuple[RR, ...]:
    """A/AAAA of SRV targets (as CoreDNS adds them)."""
    extra: List[RR] = []
    for rr in records:
        if rr.rtype == "SRV":
            target = rr.data.split()[-1].lower()
            extra += [r for r in index.names.get(target, []) if r.rtype in ("A", "AAAA")]
    return tuple(dict.fromkeys(extra))


def resolve(index: Index, cfg: KubernetesConfig, qname: str, qtype: str,
            dns_ip: str = "") -> Optional[Answer]:
    """The kubernetes plugin's answer, or None when ``qname`` is in none of its zones."""
    qname = qname if qname.endswith(".") else qname + "."
    zone = _zone_of(qname, cfg.zones)
    if zone is None:
        return None
    key, ttl = qname.lower(), cfg.ttl
    nodata = Answer(authority=(soa(zone, ttl),))
    nxdomain = Answer("NXDOMAIN", authority=(soa(zone, ttl),),
                      fallthrough=cfg.falls_through(qname))
    if key == zone:
        if qtype == "SOA":
            return Answer(answer=(soa(zone, ttl),))
        if qtype == "NS":
            glue = (RR(f"ns.dns.{zone}", "A", ttl, dns_ip),) if dns_ip else ()
            return Answer(answer=(RR(zone, "NS", ttl, f"ns.dns.{zone}"),), additional=glue)
        return nodata
    if zone in REVERSE_ZONES:
        ip = reverse_ip(key)
        targets = index.reverse.get(ip or "", [])
        if not targets:
            return nxdomain
        if qtype not in ("PTR", "ANY"):
            return nodata
        return Answer(answer=tuple(RR(qname, "PTR", ttl, t) for t in targets))
    if key == f"ns.dns.{zone}" and dns_ip:
        return Answer(answer=_select([RR(key, "A", ttl, dns_ip)], qname, qtype)) \
            if qtype in ("A", "ANY") else nodata
    labels = key[: -len(zone) - 1].split(".")
    if len(labels) == 3 and labels[2] == "pod":
        return _pod(index, cfg, qname, labels[0], labels[1], qtype, nodata, nxdomain)
    records = index.names.get(key)
    if records:
        cname = [r for r in records if r.rtype == "CNAME"]
        if cname and qtype != "CNAME":
            return Answer(answer=_select(cname, qname, "CNAME"))
        chosen = _select(records, qname, qtype)
        if chosen:
            return Answer(answer=chosen, additional=_additional(index, chosen))
        return nodata
    if key in index.exists or (len(labels) == 1 and labels[0] in ("svc", "pod")):
        return nodata
    return nxdomain


def _pod(index: Index, cfg: KubernetesConfig, qname: str, label: str, namespace: str,
         qtype: str, nodata: Answer, nxdomain: Answer) -> Answer:
    ip = undashed(label)
    if cfg.pods == "disabled" or ip is None:
        return nxdomain
    if cfg.pods == "verified" and ip not in index.pod_ips.get(namespace, set()):
        return nxdomain
    if qtype not in (_rtype(ip), "ANY"):
        return nodata
    return Answer(answer=(RR(qname, _rtype(ip), cfg.ttl, ip),))
