"""The addressing plan: node, external and gateway addresses, and MACs.

Pure: the same inputs always give the same addresses, so a topology file,
the controller's facts and the tests agree without talking to each other.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

NODE_NET = ipaddress.ip_network("10.0.0.0/16")
EXTERNAL_NET = ipaddress.ip_network("10.1.0.0/24")
POD_NET = ipaddress.ip_network("10.244.0.0/16")
SERVICE_NET = ipaddress.ip_network("10.96.0.0/12")


@dataclass(frozen=True)
class Gateway:
    """A fabric gateway: an address the SDN controller answers for."""

    ip: str
    prefixlen: int
    mac: str


def gateway_for(network: ipaddress.IPv4Network, index: int) -> Gateway:
    """The last usable address of ``network`` is its fabric gateway."""
    return Gateway(str(network.broadcast_address - 1), network.prefixlen,
                   f"02:4b:ff:00:00:{index:02x}")


NODE_GATEWAY = gateway_for(NODE_NET, 1)
EXTERNAL_GATEWAY = gateway_for(EXTERNAL_NET, 2)


def node_ip(number: int) -> str:
    """Address of the ``number``-th cluster node (1-based), 10.0.0.1 first."""
    if not 1 <= number < NODE_NET.num_addresses - 2:
        raise ValueError(f"node number {number} outside {NODE_NET}")
    return str(NODE_NET.network_address + number)


def external_ip(number: int) -> str:
    """Address of the ``number``-th host outside the cluster (1-based)."""
    if not 1 <= number < EXTERNAL_NET.num_addresses - 2:
        raise ValueError(f"external host number {number} outside {EXTERNAL_NET}")
    return str(EXTERNAL_NET.network_address + number)


def mac_for(ip: str) -> str:
    """A locally administered MAC derived from an IPv4 address."""
    packed = ipaddress.ip_address(ip).packed
    return "02:4b:" + ":".join(f"{b:02x}" for b in packed)
