"""Plain records kube-proxy renders from, built from Service and EndpointSlice dicts.

Everything here is pure: no I/O, no clock.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
from dataclasses import dataclass, field
from typing import Iterable, Optional

PROTOCOLS = ("TCP", "UDP", "SCTP")
DEFAULT_AFFINITY_TIMEOUT = 10800  # seconds, the Kubernetes default for ClientIP
MASQ_MARK = 0x4000


@dataclass(frozen=True)
class NodeFacts:
    """What kube-proxy knows about its node.

    ``nodeport_addresses`` are CIDRs: NodePorts answer only on the node IPs
    inside them. Empty means every local address (kube-proxy's default).
    ``cluster_cidr`` tells Pod sources (never masqueraded for ClusterIP
    traffic) from everything else.
    """

    name: str
    ips: tuple[str, ...] = ()
    cluster_cidr: Optional[str] = None
    masquerade_all: bool = False
    nodeport_addresses: tuple[str, ...] = ()

    def nodeport_ips(self) -> Optional[tuple[str, ...]]:
        """Node IPs NodePorts listen on; None means every local address."""
        if not self.nodeport_addresses:
            return None
        nets = [ipaddress.ip_network(c, strict=False) for c in self.nodeport_addresses]
        return tuple(ip for ip in self.ips
                     if any(ipaddress.ip_address(ip) in n for n in nets))


@dataclass(frozen=True)
class Endpoint:
    """One backend of a Service port."""

    ip: str
    port: int
    node_name: Optional[str] = None

    @property
    def addr(self) -> str:
        """``ip:port``, as kube-proxy hashes it."""
        return f"{self.ip}:{self.port}"


@dataclass(frozen=True)
class ServicePort:
    """One port of one Service, with its endpoints (the ready ones, else the serving
    terminating ones) and, apart, the serving terminating ones not among them (the
    node-local fallback of externalTrafficPolicy Local)."""

    namespace: str
    name: str
    port_name: str
    protocol: str
    cluster_ip: str
    port: int
    node_port: Optional[int] = None
    affinity_timeout: Optional[int] = None  # seconds when sessionAffinity is ClientIP
    external_local: bool = False  # externalTrafficPolicy: Local
    external_ips: tuple[str, ...] = ()
    endpoints: tuple[Endpoint, ...] = field(default_factory=tuple)
    terminating: tuple[Endpoint, ...] = field(default_factory=tuple)

    @property
    def key(self) -> str:
        """``ns/name:port`` (``ns/name`` for an unnamed port), kube-proxy's ServicePortName."""
        suffix = f":{self.port_name}" if self.port_name else ""
        return f"{self.namespace}/{self.name}{suffix}"

    @property
    def proto(self) -> str:
        """Lower-case protocol, as iptables and nft spell it."""
        return self.protocol.lower()

    def local_endpoints(self, node_name: str) -> tuple[Endpoint, ...]:
        """Endpoints running on ``node_name``: the usable ones, else (as kube-proxy
        categorizes them) the serving terminating ones there."""
        local = tuple(ep for ep in self.endpoints if ep.node_name == node_name)
        return local or tuple(ep for ep in self.terminating if ep.node_name == node_name)

    def chained_endpoints(self, node_name: str) -> tuple[Endpoint, ...]:
        """The endpoints that need a chain on ``node_name``: the usable ones, and the
        node-local fallback ones of externalTrafficPolicy Local."""
        extra = tuple(ep for ep in self.local_endpoints(node_name)
                      if ep not in self.endpoints) if self.external_local else ()
        return self.endpoints + extra


def short_hash(text: str, length: int = 16) -> str:
    """kube-proxy's chain hash: base32 of sha256, first ``length`` characters."""
    return base64.b32encode(hashlib.sha256(text.encode()).digest()).decode()[:length]


SERVICE_NAME_LABEL = "kubernetes.io/service-name"


def _conditions(endpoint: dict) -> tuple[bool, bool, bool]:
    """(ready, serving, terminating) of a slice endpoint; an absent ready means ready,
    an absent serving means as ready (discovery.k8s.io/v1's rules)."""
    cond = endpoint.get("conditions") or {}
    ready = cond.get("ready") is not False
    serving = ready if cond.get("serving") is None else bool(cond["serving"])
    return ready, serving, bool(cond.get("terminating"))


def _endpoints_for(port: dict, slices: Iterable[dict]
                   ) -> tuple[tuple[Endpoint, ...], tuple[Endpoint, ...]]:
    """(usable, other serving terminating) endpoints of one Service port from its
    EndpointSlices: usable are the ready ones or, when none is ready, those that still
    serve while terminating (as kube-proxy's ProxyTerminatingEndpoints). Only IPv4
    slices; an endpoint's first address."""
    ready: set[Endpoint] = set()
    terminating: set[Endpoint] = set()
    want_name = port.get("name") or ""
    want_proto = port.get("protocol") or "TCP"
    for eps in slices:
        if eps.get("addressType", "IPv4") != "IPv4":
            continue
        target = None
        for ep_port in eps.get("ports") or ():
            if (ep_port.get("name") or "") == want_name and \
                    (ep_port.get("protocol") or "TCP") == want_proto:
                target = ep_port.get("port")
                break
        if not target:
            continue
        for endpoint in eps.get("endpoints") or ():
            addresses = endpoint.get("addresses") or ()
            if not addresses:
                continue
            is_ready, serving, ending = _conditions(endpoint)
            ep = Endpoint(addresses[0], int(target), endpoint.get("nodeName"))
            if is_ready:
                ready.add(ep)
            elif serving and ending:
                terminating.add(ep)
    def ordered(eps: set[Endpoint]) -> tuple[Endpoint, ...]:
        return tuple(sorted(eps, key=lambda e: (ipaddress.ip_address(e.ip), e.port)))
    if ready:
        return ordered(ready), ordered(terminating)
    return ordered(terminating), ()


def slices_by_service(slices: Iterable[dict]) -> dict[tuple[str, str], list[dict]]:
    """(namespace, Service name) -> its EndpointSlices (by the service-name label)."""
    out: dict[tuple[str, str], list[dict]] = {}
    for eps in slices:
        meta = eps.get("metadata") or {}
        name = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
        if name:
            out.setdefault((meta.get("namespace", "default"), name), []).append(eps)
    return out


def service_ports(services: Iterable[dict], slices: Iterable[dict]) -> list[ServicePort]:
    """Every renderable Service port, sorted, with its endpoints (from its EndpointSlices).

    Skipped: headless Services (clusterIP None), ExternalName Services,
    non-IPv4 cluster IPs, protocols other than TCP/UDP/SCTP.
    """
    by_name = slices_by_service(slices)
    result = []
    for svc in services:
        meta, spec = svc.get("metadata", {}), svc.get("spec", {})
        ns, name = meta.get("namespace", "default"), meta.get("name", "")
        cluster_ip = spec.get("clusterIP") or ""
        if spec.get("type") == "ExternalName" or not _is_ipv4(cluster_ip):
            continue
        timeout = None
        if spec.get("sessionAffinity") == "ClientIP":
            cfg = (spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}
            timeout = int(cfg.get("timeoutSeconds") or DEFAULT_AFFINITY_TIMEOUT)
        svc_type = spec.get("type") or "ClusterIP"
        local = spec.get("externalTrafficPolicy") == "Local" and \
            svc_type in ("NodePort", "LoadBalancer")
        external_ips = tuple(ip for ip in spec.get("externalIPs") or () if _is_ipv4(ip))
        for port in spec.get("ports") or ():
            usable, terminating = _endpoints_for(port, by_name.get((ns, name), ()))
            protocol = port.get("protocol") or "TCP"
            if protocol not in PROTOCOLS or not port.get("port"):
                continue
            node_port = port.get("nodePort") if svc_type in ("NodePort", "LoadBalancer") \
                else None
            result.append(ServicePort(
                namespace=ns, name=name, port_name=port.get("name") or "",
                protocol=protocol, cluster_ip=cluster_ip, port=int(port["port"]),
                node_port=int(node_port) if node_port else None,
                affinity_timeout=timeout, external_local=local, external_ips=external_ips,
                endpoints=usable, terminating=terminating))
    result.sort(key=lambda sp: (sp.key, sp.protocol))
    return result


def _is_ipv4(text: str) -> bool:
    try:
        return ipaddress.ip_address(text).version == 4
    except ValueError:
        return False


def conntrack_flushes(old: Iterable[ServicePort], new: Iterable[ServicePort]) -> list[list[str]]:
    """``conntrack`` argument lists that drop stale UDP flows after a change.

    UDP has no connection end, so a flow DNATed to a removed endpoint would
    keep going there; and a flow that hit a Service while it had no endpoints
    must be forgotten once it has some. TCP flows end by themselves.
    """
    new_by_id = {(sp.key, sp.protocol): sp for sp in new}
    commands: list[list[str]] = []
    for sp in old:
        if sp.protocol != "UDP":
            continue
        now = new_by_id.get((sp.key, sp.protocol))
        kept = {ep.ip for ep in now.endpoints} if now else set()
        for ep_ip in sorted({ep.ip for ep in sp.endpoints} - kept):
            commands.append(["-D", "-p", "udp", "--orig-dst", sp.cluster_ip,
                             "--dst-nat", ep_ip])
            if sp.node_port:
                commands.append(["-D", "-p", "udp", "--dport", str(sp.node_port),
                                 "--dst-nat", ep_ip])
    old_ids = {(sp.key, sp.protocol): sp for sp in old}
    for ident, sp in new_by_id.items():
        before = old_ids.get(ident)
        if sp.protocol == "UDP" and sp.endpoints and before is not None \
                and not before.endpoints:
            commands.append(["-D", "-p", "udp", "--orig-dst", sp.cluster_ip])
    return commands
