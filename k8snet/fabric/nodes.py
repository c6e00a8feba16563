"""Routed mode's input: which Pod CIDR sits behind which fabric host, from Node objects.

Pure functions over Kubernetes Node dicts (as the apiserver returns them) and
the facts' hosts. A Node is matched to a host by its ``InternalIP`` (the
address the kubelet registered with ``--node-ip``); a Node that reports no
InternalIP at all is matched by name. Nodes without a podCIDR yet, with an
address no host has, or with a block another Node already claimed are left
out, each with a one-line reason.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Iterable, Optional

from k8snet.fabric.facts import Host, Route


@dataclass(frozen=True)
class NodeRoutes:
    """Routes derived from Nodes, and why some Nodes gave none."""

    routes: tuple[Route, ...]
    skipped: tuple[str, ...] = ()


def internal_ip(node: dict) -> Optional[str]:
    """The Node's first InternalIP address, or None."""
    for addr in (node.get("status") or {}).get("addresses") or []:
        if addr.get("type") == "InternalIP" and addr.get("address"):
            return str(addr["address"])
    return None


def pod_cidr(node: dict) -> Optional[str]:
    """The Node's IPv4 Pod CIDR (``spec.podCIDR``, else the first IPv4 of ``podCIDRs``)."""
    spec = node.get("spec") or {}
    candidates = [spec.get("podCIDR")] + list(spec.get("podCIDRs") or [])
    for text in candidates:
        if not text:
            continue
        try:
            net = ipaddress.ip_network(str(text), strict=False)
        except ValueError:
            continue
        if net.version == 4:
            return str(net)
    return None


def routes_from_nodes(nodes: Iterable[dict], hosts: Iterable[Host]) -> NodeRoutes:
    """One route per Node block: ``prefix`` = podCIDR, ``via`` = the matching host.

    Deterministic: Nodes are taken in name order, so when two claim one block
    the first name keeps it; routes come out sorted by prefix.
    """
    by_ip = {h.ip: h for h in hosts}
    by_name = {h.name: h for h in by_ip.values()}
    routes: dict[str, Route] = {}
    owner: dict[str, str] = {}
    skipped = []
    for node in sorted(nodes, key=lambda n: str((n.get("metadata") or {}).get("name"))):
        name = str((node.get("metadata") or {}).get("name"))
        cidr = pod_cidr(node)
        if cidr is None:
            skipped.append(f"node {name}: no IPv4 podCIDR yet")
            continue
        ip = internal_ip(node)
        host = by_ip.get(ip) if ip else by_name.get(name)
        if host is None:
            skipped.append(f"node {name}: {'InternalIP ' + ip if ip else 'name'} "
                           "matches no fabric host")
            continue
        if cidr in routes:
            skipped.append(f"node {name}: podCIDR {cidr} already routed to node {owner[cidr]}")
            continue
        routes[cidr] = Route(cidr, host.name)
        owner[cidr] = name
    ordered = tuple(routes[k] for k in sorted(routes, key=ipaddress.ip_network))
    return NodeRoutes(ordered, tuple(skipped))


def merge_routes(static: Iterable[Route], dynamic: Iterable[Route]) -> tuple[Route, ...]:
    """Routes from a file (``static``) plus those learned from Nodes; on the same
    prefix the file wins (an operator's explicit choice)."""
    out = {r.prefix: r for r in dynamic}
    out.update({r.prefix: r for r in static})
    return tuple(out[k] for k in sorted(out, key=ipaddress.ip_network))


def describe_change(old: Iterable[Route], new: Iterable[Route]) -> str:
    """A short text like ``+10.244.3.0/24 via w2, -10.244.4.0/24 via w3`` (or ``no change``)."""
    before, after = set(old), set(new)
    parts = [f"+{r.prefix} via {r.via}" for r in sorted(after - before, key=_key)]
    parts += [f"-{r.prefix} via {r.via}" for r in sorted(before - after, key=_key)]
    return ", ".join(parts) or "no change"


def _key(route: Route) -> ipaddress.IPv4Network:
    return ipaddress.IPv4Network(route.prefix)
