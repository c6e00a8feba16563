"""Nodes -> the overlay state one node should have (pure)."""

from __future__ import annotations

import hashlib
import ipaddress
import re
from typing import Dict, Iterable, List, Optional, Tuple

from k8snet.overlay.model import (
    DEVICE,
    IP_ANNOTATION,
    MAC_ANNOTATION,
    VNI,
    VXLAN_OVERHEAD,
    VXLAN_PORT,
    Device,
    Fdb,
    Neighbour,
    Peer,
    Plan,
    Route,
)

MAC_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


def vtep_mac(node_ip: str) -> str:
    """A stable, locally administered unicast MAC for a node's VXLAN device.

    Derived from the node address so a restarted agent (or a recreated
    device) keeps the MAC its peers already have in their FDB.
    """
    digest = hashlib.sha256(f"k8snet-vtep-{node_ip}".encode()).digest()
    return ":".join(f"{b:02x}" for b in (0x0e, *digest[:5]))


def vxlan_mtu(uplink_mtu: int) -> int:
    """The VXLAN device MTU: room for the 50-byte outer headers."""
    if uplink_mtu - VXLAN_OVERHEAD < 576:
        raise ValueError(f"uplink MTU {uplink_mtu} leaves less than 576 bytes for Pods")
    return uplink_mtu - VXLAN_OVERHEAD


def node_pod_cidr(node: dict) -> Optional[str]:
    """The Node's IPv4 podCIDR (spec.podCIDR, else the first IPv4 of podCIDRs)."""
    spec = node.get("spec") or {}
    for cidr in [spec.get("podCIDR"), *(spec.get("podCIDRs") or [])]:
        if cidr and ":" not in cidr:
            return cidr
    return None


def peer_of(node: dict) -> Tuple[Optional[Peer], str]:
    """The Node's VTEP, or None and why it cannot be programmed (yet)."""
    meta = node.get("metadata") or {}
    name = meta.get("name", "?")
    notes = meta.get("annotations") or {}
    cidr = node_pod_cidr(node)
    mac = (notes.get(MAC_ANNOTATION) or "").lower()
    ip = notes.get(IP_ANNOTATION) or ""
    if not cidr:
        return None, f"{name}: no podCIDR yet"
    if not mac or not ip:
        return None, f"{name}: no VTEP published yet ({MAC_ANNOTATION}, {IP_ANNOTATION})"
    if not MAC_RE.match(mac) or int(mac[:2], 16) & 1:
        return None, f"{name}: {MAC_ANNOTATION} {mac!r} is not a unicast MAC"
    try:
        net = ipaddress.ip_network(cidr, strict=True)
        addr = ipaddress.ip_address(ip)
    except ValueError as exc:
        return None, f"{name}: {exc}"
    if net.version != 4 or addr.version != 4:
        return None, f"{name}: only IPv4 is supported ({cidr}, {ip})"
    return Peer(name, str(net), str(addr), mac), ""


def peers(nodes: Iterable[dict], self_name: str, self_ip: str, self_cidr: Optional[str]
          ) -> Tuple[List[Peer], List[str]]:
    """Every other node that can be programmed, sorted by name, and the reasons
    the rest cannot: a podCIDR or VTEP that clashes with one already taken
    (ours, or a peer's earlier by name) is skipped, never half-programmed."""
    found: List[Peer] = []
    skipped: List[str] = []
    taken_nets = [ipaddress.ip_network(self_cidr)] if self_cidr else []
    taken_macs = {vtep_mac(self_ip)}
    taken_ips = {self_ip}
    for node in sorted(nodes, key=lambda n: (n.get("metadata") or {}).get("name", "")):
        if (node.get("metadata") or {}).get("name") == self_name:
            continue
        peer, why = peer_of(node)
        if peer is None:
            skipped.append(why)
            continue
        net = ipaddress.ip_network(peer.pod_cidr)
        if any(net.overlaps(t) for t in taken_nets):
            skipped.append(f"{peer.name}: podCIDR {peer.pod_cidr} overlaps another node's")
        elif peer.vtep_mac in taken_macs:
            skipped.append(f"{peer.name}: VTEP MAC {peer.vtep_mac} is already another node's")
        elif peer.public_ip in taken_ips:
            skipped.append(f"{peer.name}: address {peer.public_ip} is already another node's")
        else:
            found.append(peer)
            taken_nets.append(net)
            taken_macs.add(peer.vtep_mac)
            taken_ips.add(peer.public_ip)
    return found, skipped


def make_plan(nodes: Iterable[dict], self_name: str, self_ip: str, uplink_mtu: int,
              device: str = DEVICE) -> Plan:
    """The desired overlay state of node ``self_name`` (address ``self_ip``).

    Without its own Node or podCIDR (a master that runs no kubelet) the node
    still gets the device and the routes to every peer: it reaches Pods, it
    just hosts none.
    """
    nodes = list(nodes)
    own = next((n for n in nodes if (n.get("metadata") or {}).get("name") == self_name), None)
    cidr = node_pod_cidr(own) if own else None
    found, skipped = peers(nodes, self_name, self_ip, cidr)
    dev = Device(device, VNI, self_ip, VXLAN_PORT, vxlan_mtu(uplink_mtu), vtep_mac(self_ip))
    return Plan(
        device=dev,
        address=f"{cidr.split('/')[0]}/32" if cidr else None,
        routes=tuple(Route(p.pod_cidr, p.vtep_ip) for p in found),
        neighbours=tuple(Neighbour(p.vtep_ip, p.vtep_mac) for p in found),
        fdb=tuple(Fdb(p.vtep_mac, p.public_ip) for p in found),
        skipped=tuple(skipped))


def annotations_to_publish(node: Optional[dict], plan: Plan) -> Dict[str, str]:
    """The VTEP annotations our own Node lacks (empty: nothing to patch)."""
    if node is None:
        return {}
    have = (node.get("metadata") or {}).get("annotations") or {}
    want = {MAC_ANNOTATION: plan.device.mac, IP_ANNOTATION: plan.device.local_ip}
    return {k: v for k, v in want.items() if have.get(k) != v}


MASQ_CHAIN = "K8SNET-OVL-MASQ"


def masquerade_rules(cluster_cidr: str, keep: Iterable[str] = ()) -> str:
    """iptables-restore input (nat table, ``--noflush``) for Flannel's ``--ip-masq``:
    a Pod's packet to an address outside the Pod network and outside ``keep`` (the
    node network) leaves with its node's address. The fabric only routes node
    addresses in overlay mode, so a host outside the cluster could not answer a Pod
    address. Declaring the chain flushes it, so applying twice changes nothing."""
    lines = ["*nat", f":{MASQ_CHAIN} - [0:0]"]
    for net in (cluster_cidr, *keep):
        lines.append(f"-A {MASQ_CHAIN} -d {net} -j RETURN")
    lines += [f"-A {MASQ_CHAIN} -j MASQUERADE", "COMMIT", ""]
    return "\n".join(lines)


def masquerade_hook(cluster_cidr: str) -> List[str]:
    """The POSTROUTING rule (arguments after ``-t nat -[CI] POSTROUTING``) that sends
    what the Pods send to the masquerade chain."""
    return ["-s", cluster_cidr, "-m", "comment", "--comment",
            "k8snet overlay: Pod traffic leaving the cluster", "-j", MASQ_CHAIN]
