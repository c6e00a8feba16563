"""Plain data of the overlay: what a node needs and what the kernel has."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

DEVICE = "k8snet.1"          # like flannel.1: VNI 1
VNI = 1
VXLAN_PORT = 4789            # IANA VXLAN port
VXLAN_OVERHEAD = 50          # outer Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8
MAC_ANNOTATION = "k8snet.io/vtep-mac"
IP_ANNOTATION = "k8snet.io/public-ip"


@dataclass(frozen=True)
class Peer:
    """Another node's VTEP, read from its Node object."""

    name: str
    pod_cidr: str      # e.g. 10.244.1.0/24
    public_ip: str     # where its VXLAN packets go (its node address)
    vtep_mac: str      # its VXLAN device's MAC, lower case

    @property
    def vtep_ip(self) -> str:
        """Its VXLAN device's address: the podCIDR's network address (flannel's rule)."""
        return self.pod_cidr.split("/")[0]


@dataclass(frozen=True)
class Device:
    """The VXLAN device this node should have."""

    name: str
    vni: int
    local_ip: str
    port: int
    mtu: int
    mac: str
    learning: bool = False


@dataclass(frozen=True, order=True)
class Route:
    dst: str           # a podCIDR
    gateway: str       # the peer's VTEP address, reached onlink through the device


@dataclass(frozen=True, order=True)
class Neighbour:
    ip: str
    mac: str


@dataclass(frozen=True, order=True)
class Fdb:
    mac: str
    dst: str           # the peer's node address


@dataclass(frozen=True)
class Plan:
    """The node's desired overlay state; ``address`` is None without a podCIDR."""

    device: Device
    address: Optional[str]                 # "10.244.0.0/32"
    routes: Tuple[Route, ...] = ()
    neighbours: Tuple[Neighbour, ...] = ()
    fdb: Tuple[Fdb, ...] = ()
    skipped: Tuple[str, ...] = ()          # why some Nodes are not programmed


@dataclass(frozen=True)
class Observed:
    """What the kernel has on the device (None: the device does not exist)."""

    device: Optional[Device] = None
    up: bool = False
    tx_csum: bool = False                  # tx-checksum offload still on
    addresses: Tuple[str, ...] = ()        # "a.b.c.d/len", IPv4 only
    routes: Tuple[Route, ...] = ()
    neighbours: Tuple[Neighbour, ...] = ()  # permanent ones only (the agent's)
    fdb: Tuple[Fdb, ...] = ()
