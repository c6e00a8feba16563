"""Node IPAM decisions: one Pod CIDR block per Node, never the same block twice."""

from __future__ import annotations

import ipaddress
from typing import Iterable, Optional

from k8snet.errors import UsageError

Network = ipaddress.IPv4Network


def parse_cluster_cidr(cidr: str, mask: int) -> Network:
    """Validate --cluster-cidr and --node-cidr-mask-size together."""
    try:
        net = ipaddress.ip_network(cidr, strict=True)
    except ValueError as exc:
        raise UsageError(f"--cluster-cidr {cidr!r}: {exc}; e.g. 10.244.0.0/16") from None
    if not isinstance(net, ipaddress.IPv4Network):
        raise UsageError("--cluster-cidr must be an IPv4 network, e.g. 10.244.0.0/16")
    if not net.prefixlen <= mask <= 30:
        raise UsageError(f"--node-cidr-mask-size {mask} must be between {net.prefixlen} and 30")
    return net


def node_cidr(node: dict) -> Optional[str]:
    spec = node.get("spec") or {}
    return spec.get("podCIDR") or next(iter(spec.get("podCIDRs") or []), None)


def allocate(nodes: Iterable[dict], cluster: Network, mask: int,
             reserved: Iterable[str] = ()) -> dict[str, str]:
    """New blocks for Nodes without one: lowest free block first, Nodes in name order.

    `reserved` are blocks handed out but not yet seen on a Node (the loop's memory
    between a write and the watch event that shows it).
    """
    nodes = list(nodes)
    used = set(reserved)
    for n in nodes:
        cidr = node_cidr(n)
        if cidr:
            used.add(str(ipaddress.ip_network(cidr, strict=False)))
    wanting = sorted(n["metadata"]["name"] for n in nodes if not node_cidr(n))
    result: dict[str, str] = {}
    if not wanting:
        return result
    free = (str(b) for b in cluster.subnets(new_prefix=mask) if str(b) not in used)
    for name in wanting:
        block = next(free, None)
        if block is None:
            break
        result[name] = block
    return result


def duplicates(nodes: Iterable[dict]) -> dict[str, list[str]]:
    """Blocks held by more than one Node (reported; spec.podCIDR cannot be changed)."""
    holders: dict[str, list[str]] = {}
    for n in nodes:
        cidr = node_cidr(n)
        if cidr:
            holders.setdefault(cidr, []).append(n["metadata"]["name"])
    return {c: sorted(h) for c, h in holders.items() if len(h) > 1}
