"""ClusterIP and NodePort allocation decisions (pure).

The server keeps reservations in the store (``/registry/allocations/...``) so
they are unique across apiservers and survive restarts; this module only
decides which address or port a Service gets and whether a request is valid.
"""

from __future__ import annotations

import ipaddress
from typing import Iterable, Optional


class AllocationError(Exception):
    """A requested address/port cannot be had: ``code`` is 422 (invalid) or 409 (taken)."""

    def __init__(self, code: int, field: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.field = field
        self.message = message


def parse_port_range(text: str) -> tuple[int, int]:
    """'30000-32767' -> (30000, 32767); ValueError when malformed."""
    lo_s, sep, hi_s = text.partition("-")
    lo, hi = int(lo_s), int(hi_s if sep else lo_s)
    if not (0 < lo <= hi <= 65535):
        raise ValueError(f"bad port range {text!r}: want LOW-HIGH within 1-65535")
    return lo, hi


def reserved_cluster_ip(cidr: str) -> str:
    """The first host address of the service CIDR (the `kubernetes` Service)."""
    net = ipaddress.ip_network(cidr, strict=False)
    return str(net.network_address + 1)


def pick_cluster_ip(cidr: str, used: Iterable[str], requested: Optional[str] = None,
                    start: int = 0) -> str:
    """Choose a ClusterIP from `cidr` not in `used`.

    A requested IP is honoured if it is inside the range (else 422) and free
    (else 409). Dynamic picks skip the network, broadcast and first host
    address and scan from offset `start` (the caller passes a random one).
    """
    net = ipaddress.ip_network(cidr, strict=False)
    used_set = set(used)
    if requested:
        try:
            ip = ipaddress.ip_address(requested)
        except ValueError:
            raise AllocationError(422, "spec.clusterIP",
                                  f"Invalid value: \"{requested}\": must be a valid IP "
                                  "address") from None
        if ip not in net or ip in (net.network_address, net.broadcast_address):
            raise AllocationError(422, "spec.clusterIP",
                                  f"Invalid value: \"{requested}\": provided IP is not in "
                                  f"the valid range. The range of valid IPs is {cidr}")
        if str(ip) in used_set:
            raise AllocationError(422, "spec.clusterIP",
                                  f"Invalid value: \"{requested}\": provided IP is already "
                                  "allocated")
        return str(ip)
    first = 2
    size = net.num_addresses - first - 1
    if size <= 0:
        raise AllocationError(422, "spec.clusterIP", f"service CIDR {cidr} is too small")
    for i in range(size):
        ip = str(net.network_address + first + (start + i) % size)
        if ip not in used_set:
            return ip
    raise AllocationError(422, "spec.clusterIP",
                          f"Internal error: range is full: no ClusterIP left in {cidr}")


def pick_node_port(port_range: tuple[int, int], used: Iterable[int],
                   requested: Optional[int] = None, start: int = 0,
                   field: str = "spec.ports[0].nodePort") -> int:
    """Choose a NodePort in `port_range` not in `used` (requested one honoured or refused)."""
    lo, hi = port_range
    used_set = set(used)
    if requested:
        if not (lo <= requested <= hi):
            raise AllocationError(422, field,
                                  f"Invalid value: {requested}: provided port is not in the "
                                  f"valid range. The range of valid ports is {lo}-{hi}")
        if requested in used_set:
            raise AllocationError(422, field,
                                  f"Invalid value: {requested}: provided port is already "
                                  "allocated")
        return requested
    size = hi - lo + 1
    for i in range(size):
        port = lo + (start + i) % size
        if port not in used_set:
            return port
    raise AllocationError(422, field, f"no NodePort left in {lo}-{hi}")


def needs_node_ports(service: dict) -> bool:
    """NodePort and LoadBalancer Services get node ports."""
    return (service.get("spec") or {}).get("type") in ("NodePort", "LoadBalancer")


def needs_cluster_ip(service: dict) -> bool:
    """Every Service but ExternalName and headless (clusterIP None) gets a ClusterIP."""
    spec = service.get("spec") or {}
    return spec.get("type") != "ExternalName" and spec.get("clusterIP") != "None"


def service_allocations(service: dict) -> tuple[list[str], list[int]]:
    """The ClusterIPs and NodePorts a stored Service holds."""
    spec = service.get("spec") or {}
    ips = [ip for ip in (spec.get("clusterIPs") or [spec.get("clusterIP")])
           if ip and ip != "None"]
    ports = [p["nodePort"] for p in spec.get("ports") or []
             if isinstance(p, dict) and isinstance(p.get("nodePort"), int) and p["nodePort"]]
    return ips, ports


def allocations_from_services(services: Iterable[dict]) -> tuple[dict, dict]:
    """(ip -> 'ns/name', port -> 'ns/name') derived from stored Services."""
    ips: dict[str, str] = {}
    ports: dict[int, str] = {}
    for svc in services:
        meta = svc.get("metadata") or {}
        owner = f"{meta.get('namespace')}/{meta.get('name')}"
        svc_ips, svc_ports = service_allocations(svc)
        for ip in svc_ips:
            ips[ip] = owner
        for p in svc_ports:
            ports[p] = owner
    return ips, ports
