"""What the kernel has on the VXLAN device: parse ``ip -j`` / ``bridge -j``
output (pure) and read it (thin)."""

from __future__ import annotations

import json
import subprocess
from typing import List, Optional, Sequence, Tuple

from k8snet.errors import K8snetError
from k8snet.overlay.model import Device, Fdb, Neighbour, Observed, Route

CMD_TIMEOUT = 10.0


def _load(text: str) -> list:
    text = (text or "").strip()
    if not text:
        return []
    data = json.loads(text)
    return data if isinstance(data, list) else []


def parse_link(text: str) -> Tuple[Optional[Device], bool]:
    """(the device as a Device, whether it is up) from ``ip -j -d link show dev X``.
    A device that exists but is not VXLAN is reported with VNI -1 so it is recreated."""
    links = _load(text)
    if not links:
        return None, False
    link = links[0]
    info = link.get("linkinfo") or {}
    data = info.get("info_data") or {}
    vxlan = info.get("info_kind") == "vxlan"
    dev = Device(name=link.get("ifname", ""), vni=int(data.get("id", -1)) if vxlan else -1,
                 local_ip=str(data.get("local", "")), port=int(data.get("port", 0)),
                 mtu=int(link.get("mtu", 0)), mac=str(link.get("address", "")).lower(),
                 learning=bool(data.get("learning", True)))
    return dev, "UP" in (link.get("flags") or [])


def parse_addresses(text: str) -> Tuple[str, ...]:
    """IPv4 ``addr/len`` on the device from ``ip -j addr show dev X``."""
    out: List[str] = []
    for link in _load(text):
        for a in link.get("addr_info") or []:
            if a.get("family") == "inet":
                out.append(f"{a['local']}/{a['prefixlen']}")
    return tuple(sorted(out))


def parse_routes(text: str) -> Tuple[Route, ...]:
    """Routes through the device (``ip -j route show dev X``); ones without a
    gateway (a kernel prefix route) are not the agent's and are left out."""
    return tuple(sorted(Route(r["dst"], r["gateway"]) for r in _load(text)
                        if r.get("gateway") and r.get("dst") and "/" in r["dst"]))


def parse_neighbours(text: str) -> Tuple[Neighbour, ...]:
    """Permanent neighbours on the device (the agent's; others expire by themselves)."""
    return tuple(sorted(Neighbour(n["dst"], n["lladdr"].lower()) for n in _load(text)
                        if "PERMANENT" in (n.get("state") or []) and n.get("lladdr")))


def parse_fdb(text: str) -> Tuple[Fdb, ...]:
    """Unicast FDB entries with a remote (``bridge -j fdb show dev X``)."""
    return tuple(sorted(Fdb(f["mac"].lower(), f["dst"]) for f in _load(text)
                        if f.get("dst") and f.get("mac")))


def parse_tx_csum(text: str) -> bool:
    """Whether ``ethtool -k X`` reports transmit checksum offload on."""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "tx-checksumming":
            return value.strip().startswith("on")
    return False


def _run(argv: Sequence[str], check: bool = True) -> subprocess.CompletedProcess:
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=CMD_TIMEOUT,
                              check=False)
    except subprocess.TimeoutExpired:
        raise K8snetError(f"{' '.join(argv)}: no answer within {CMD_TIMEOUT:g}s") from None
    if check and proc.returncode != 0:
        raise K8snetError(f"{' '.join(argv)} failed: {proc.stderr.strip()}")
    return proc


def read(device: str) -> Observed:
    """The kernel's current overlay state for ``device``."""
    link = _run(["ip", "-j", "-d", "link", "show", "dev", device], check=False)
    if link.returncode != 0:
        return Observed()
    dev, up = parse_link(link.stdout)
    if dev is None:
        return Observed()
    return Observed(
        device=dev, up=up,
        tx_csum=parse_tx_csum(_run(["ethtool", "-k", device], check=False).stdout),
        addresses=parse_addresses(_run(["ip", "-j", "addr", "show", "dev", device]).stdout),
        routes=parse_routes(_run(["ip", "-j", "route", "show", "dev", device]).stdout),
        neighbours=parse_neighbours(_run(["ip", "-j", "neigh", "show", "dev", device]).stdout),
        fdb=parse_fdb(_run(["bridge", "-j", "fdb", "show", "dev", device]).stdout))


def uplink_mtu(node_ip: str) -> Tuple[str, int]:
    """(name, MTU) of the interface that holds ``node_ip``."""
    links = _load(_run(["ip", "-j", "addr", "show"]).stdout)
    return parse_uplink(links, node_ip)


def parse_uplink(links: list, node_ip: str) -> Tuple[str, int]:
    for link in links:
        if any(a.get("local") == node_ip for a in link.get("addr_info") or []):
            return link["ifname"], int(link["mtu"])
    raise K8snetError(f"no interface holds the node address {node_ip}; check --node-ip")
