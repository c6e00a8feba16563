"""Desired vs observed -> the operations that close the gap -> argv (pure).

Operations come in a safe order: the device first (recreated when an
attribute that cannot change in place differs: VNI, local address, port,
learning), then removals (routes, neighbours, FDB entries of Nodes that are
gone), then additions (FDB, neighbour, route: a route is only installed once
the peer's MAC and address are known). Additions use ``replace`` so a
repeated run is harmless.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Tuple

from k8snet.overlay.model import Device, Fdb, Neighbour, Observed, Plan, Route


@dataclass(frozen=True)
class Op:
    """One change: ``what`` names it for logs, ``argv`` does it."""

    what: str
    argv: Tuple[str, ...]


def _fixed(dev: Device) -> tuple:
    return (dev.vni, dev.local_ip, dev.port, dev.learning)


def device_ops(want: Device, have: Observed) -> List[Op]:
    ops: List[Op] = []
    cur = have.device
    if cur is not None and _fixed(cur) != _fixed(want):
        ops.append(Op(f"delete {want.name} (vni/local/port/learning changed)",
                      ("ip", "link", "del", want.name)))
        cur = None
    if cur is None:
        ops.append(Op(f"create {want.name} vni {want.vni} local {want.local_ip}", (
            "ip", "link", "add", want.name, "address", want.mac, "mtu", str(want.mtu),
            "type", "vxlan", "id", str(want.vni), "local", want.local_ip,
            "dstport", str(want.port), "nolearning")))
    else:
        if cur.mac != want.mac:
            ops.append(Op(f"set {want.name} address {want.mac}",
                          ("ip", "link", "set", want.name, "address", want.mac)))
        if cur.mtu != want.mtu:
            ops.append(Op(f"set {want.name} mtu {want.mtu}",
                          ("ip", "link", "set", want.name, "mtu", str(want.mtu))))
    if cur is None or have.tx_csum:
        # Flannel does the same on flannel.1: checksums filled in before the
        # packet leaves, so nothing unfinished reaches a userspace switch.
        ops.append(Op(f"{want.name} tx checksum offload off",
                      ("ethtool", "-K", want.name, "tx", "off")))
    if cur is None or not have.up:
        ops.append(Op(f"set {want.name} up", ("ip", "link", "set", want.name, "up")))
    return ops


def route_argv(verb: str, dev: str, r: Route) -> Tuple[str, ...]:
    return ("ip", "route", verb, r.dst, "via", r.gateway, "dev", dev, "onlink")


def neigh_argv(verb: str, dev: str, n: Neighbour) -> Tuple[str, ...]:
    if verb == "del":
        return ("ip", "neigh", "del", n.ip, "dev", dev)
    return ("ip", "neigh", verb, n.ip, "lladdr", n.mac, "dev", dev, "nud", "permanent")


def fdb_argv(verb: str, dev: str, f: Fdb) -> Tuple[str, ...]:
    if verb == "del":
        return ("bridge", "fdb", "del", f.mac, "dev", dev, "dst", f.dst, "self")
    return ("bridge", "fdb", verb, f.mac, "dev", dev, "dst", f.dst, "self", "permanent")


def diff(plan: Plan, have: Observed) -> List[Op]:
    """Every operation that turns ``have`` into ``plan`` (empty when in sync)."""
    dev = plan.device.name
    ops = device_ops(plan.device, have)
    recreated = any(op.argv[:3] == ("ip", "link", "add") for op in ops)
    if recreated:
        have = Observed()
    want_addr = {plan.address} if plan.address else set()
    for addr in sorted(set(have.addresses) - want_addr):
        ops.append(Op(f"remove address {addr}", ("ip", "addr", "del", addr, "dev", dev)))
    for addr in sorted(want_addr - set(have.addresses)):
        ops.append(Op(f"add address {addr}", ("ip", "addr", "replace", addr, "dev", dev)))
    want_routes, have_routes = set(plan.routes), set(have.routes)
    want_neigh, have_neigh = set(plan.neighbours), set(have.neighbours)
    want_fdb, have_fdb = set(plan.fdb), set(have.fdb)
    route_dsts = {r.dst for r in want_routes}
    for r in sorted(have_routes - want_routes, key=lambda r: r.dst):
        if r.dst not in route_dsts:   # a changed route is replaced below, not removed
            ops.append(Op(f"remove route {r.dst}", route_argv("del", dev, r)))
    neigh_ips = {n.ip for n in want_neigh}
    for n in sorted(have_neigh - want_neigh, key=lambda n: n.ip):
        if n.ip not in neigh_ips:
            ops.append(Op(f"remove neighbour {n.ip}", neigh_argv("del", dev, n)))
    for f in sorted(have_fdb - want_fdb, key=lambda f: (f.mac, f.dst)):
        ops.append(Op(f"remove fdb {f.mac} -> {f.dst}", fdb_argv("del", dev, f)))
    for f in sorted(want_fdb - have_fdb, key=lambda f: f.mac):
        ops.append(Op(f"fdb {f.mac} -> {f.dst}", fdb_argv("replace", dev, f)))
    for n in sorted(want_neigh - have_neigh, key=lambda n: n.ip):
        ops.append(Op(f"neighbour {n.ip} is {n.mac}", neigh_argv("replace", dev, n)))
    for r in sorted(want_routes - have_routes, key=lambda r: r.dst):
        ops.append(Op(f"route {r.dst} via {r.gateway}", route_argv("replace", dev, r)))
    return ops
