"""Topology facts handed over by the testbed: parsing and validation.

Format: see the package docstring (``k8snet/fabric/__init__.py``). Bad facts
raise :class:`k8snet.errors.UsageError` with one line saying what to fix.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

from k8snet.errors import UsageError

SWITCH_ROLES = ("leaf", "spine", "edge")
_MAC_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


@dataclass(frozen=True)
class Switch:
    """An OpenFlow switch of the fabric."""

    name: str
    dpid: int
    role: str = "leaf"


@dataclass(frozen=True)
class Link:
    """An inter-switch link: port ``a_port`` of ``a`` to port ``b_port`` of ``b``."""

    a: str
    a_port: int
    b: str
    b_port: int


@dataclass(frozen=True)
class Host:
    """A host (node) attached to port ``port`` of switch ``switch``."""

    name: str
    ip: str
    prefixlen: int
    mac: str
    switch: str
    port: int
    role: str = "host"

    @property
    def network(self) -> ipaddress.IPv4Network:
        """The host's on-link subnet."""
        return ipaddress.ip_interface(f"{self.ip}/{self.prefixlen}").network


@dataclass(frozen=True)
class Gateway:
    """A fabric router address that the controller answers ARP for."""

    ip: str
    prefixlen: int
    mac: str

    @property
    def network(self) -> ipaddress.IPv4Network:
        """The subnet this gateway serves."""
        return ipaddress.ip_interface(f"{self.ip}/{self.prefixlen}").network


@dataclass(frozen=True)
class Route:
    """Traffic for ``prefix`` is routed to host ``via``; with ``mac`` (macvlan mode's
    Pod /32s) the last hop delivers to that MAC on the host's port instead of the host's."""

    prefix: str
    via: str
    mac: Optional[str] = None


@dataclass(frozen=True)
class Facts:
    """Everything the testbed knows about the fabric."""

    switches: tuple[Switch, ...]
    links: tuple[Link, ...] = ()
    hosts: tuple[Host, ...] = ()
    gateways: tuple[Gateway, ...] = ()
    routes: tuple[Route, ...] = field(default=())

    def switch(self, name: str) -> Switch:
        """The switch called ``name``."""
        for sw in self.switches:
            if sw.name == name:
                return sw
        raise KeyError(name)

    def host(self, name: str) -> Optional[Host]:
        """The host called ``name``, or None."""
        for h in self.hosts:
            if h.name == name:
                return h
        return None


def _need(obj: dict, key: str, kind: type, where: str) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise UsageError(f"fabric facts: {where} needs field {key!r}")
    value = obj[key]
    if kind is int and isinstance(value, bool) or not isinstance(value, kind):
        raise UsageError(f"fabric facts: {where}.{key} must be {kind.__name__}, got {value!r}")
    return value


def _dpid(value: Any, where: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        dpid = value
    elif isinstance(value, str):
        try:
            dpid = int(value, 16)
        except ValueError:
            raise UsageError(f"fabric facts: {where}.dpid {value!r} is not hex") from None
    else:
        raise UsageError(f"fabric facts: {where}.dpid must be an int or hex string")
    if not 0 < dpid < 2**64:
        raise UsageError(f"fabric facts: {where}.dpid {dpid} out of range")
    return dpid


def _mac(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _MAC_RE.match(value.lower()):
        raise UsageError(f"fabric facts: {where}.mac {value!r} is not like 02:4b:00:00:00:01")
    return value.lower()


def _ipv4(value: Any, prefixlen: Any, where: str) -> tuple[str, int]:
    try:
        iface = ipaddress.IPv4Interface(f"{value}/{prefixlen}")
    except (ValueError, TypeError):
        raise UsageError(f"fabric facts: {where} has a bad IPv4 address/prefixlen "
                         f"{value!r}/{prefixlen!r}") from None
    return str(iface.ip), iface.network.prefixlen


def parse_routes(raw: Any, hosts: Iterable[Host]) -> tuple[Route, ...]:
    """Validate a list of ``{"prefix", "via"}`` dicts against known hosts."""
    if not isinstance(raw, list):
        raise UsageError("fabric facts: routes must be a list of {prefix, via}")
    names = {h.name for h in hosts}
    routes = []
    seen: set[str] = set()
    for i, r in enumerate(raw):
        where = f"routes[{i}]"
        prefix = _need(r, "prefix", str, where)
        via = _need(r, "via", str, where)
        try:
            net = ipaddress.IPv4Network(prefix)
        except ValueError as exc:
            raise UsageError(f"fabric facts: {where}.prefix {prefix!r}: {exc}") from None
        if via not in names:
            raise UsageError(f"fabric facts: {where}.via {via!r} is not a host in the facts")
        if str(net) in seen:
            raise UsageError(f"fabric facts: {where}.prefix {net} listed twice")
        seen.add(str(net))
        routes.append(Route(str(net), via))
    return tuple(routes)


def _parse_switches(raw: Any) -> tuple[Switch, ...]:
    if not isinstance(raw, list) or not raw:
        raise UsageError("fabric facts: 'switches' must be a non-empty list")
    out: list[Switch] = []
    for i, s in enumerate(raw):
        where = f"switches[{i}]"
        name = _need(s, "name", str, where)
        dpid = _dpid(s.get("dpid"), where)
        role = s.get("role", "leaf")
        if role not in SWITCH_ROLES:
            raise UsageError(f"fabric facts: {where}.role must be one of {SWITCH_ROLES}")
        if any(o.name == name for o in out) or any(o.dpid == dpid for o in out):
            raise UsageError(f"fabric facts: {where} repeats name {name!r} or dpid {dpid}")
        out.append(Switch(name, dpid, role))
    return tuple(out)


def facts_from_dict(raw: Any) -> Facts:
    """Build and validate :class:`Facts` from the decoded JSON document."""
    if not isinstance(raw, dict):
        raise UsageError("fabric facts: the document must be a JSON object")
    switches = _parse_switches(raw.get("switches"))
    names = {s.name for s in switches}
    used: set[tuple[str, int]] = set()

    def claim(sw: str, port: int, where: str) -> None:
        if sw not in names:
            raise UsageError(f"fabric facts: {where} names unknown switch {sw!r}")
        if port <= 0 or port >= 0xFFFFFF00:
            raise UsageError(f"fabric facts: {where} port {port} is not a physical port")
        if (sw, port) in used:
            raise UsageError(f"fabric facts: {where} reuses port {port} of {sw}")
        used.add((sw, port))

    links = []
    for i, ln in enumerate(raw.get("links", [])):
        where = f"links[{i}]"
        link = Link(_need(ln, "a", str, where), _need(ln, "a_port", int, where),
                    _need(ln, "b", str, where), _need(ln, "b_port", int, where))
        if link.a == link.b:
            raise UsageError(f"fabric facts: {where} connects {link.a} to itself")
        claim(link.a, link.a_port, where)
        claim(link.b, link.b_port, where)
        links.append(link)
    hosts: list[Host] = []
    for i, h in enumerate(raw.get("hosts", [])):
        where = f"hosts[{i}]"
        name = _need(h, "name", str, where)
        ip, plen = _ipv4(h.get("ip"), h.get("prefixlen", 32), where)
        host = Host(name, ip, plen, _mac(h.get("mac"), where), _need(h, "switch", str, where),
                    _need(h, "port", int, where), str(h.get("role", "host")))
        claim(host.switch, host.port, where)
        if any(o.name == name or o.ip == ip or o.mac == host.mac for o in hosts):
            raise UsageError(f"fabric facts: {where} repeats a name, IP or MAC")
        hosts.append(host)
    gateways = []
    for i, g in enumerate(raw.get("gateways", [])):
        where = f"gateways[{i}]"
        ip, plen = _ipv4(g.get("ip"), g.get("prefixlen", 32), where)
        gw = Gateway(ip, plen, _mac(g.get("mac"), where))
        if any(h.ip == ip or h.mac == gw.mac for h in hosts):
            raise UsageError(f"fabric facts: {where} shares an IP or MAC with a host")
        gateways.append(gw)
    return Facts(switches, tuple(links), tuple(hosts), tuple(gateways),
                 parse_routes(raw.get("routes", []), hosts))


def load_facts(path: str) -> Facts:
    """Read and validate a facts file."""
    try:
        with open(path, encoding="utf-8") as fh:
            raw = json.load(fh)
    except OSError as exc:
        raise UsageError(f"fabric facts: cannot read {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"fabric facts: {path} is not JSON: {exc}") from None
    return facts_from_dict(raw)


def load_routes(path: str, facts: Facts) -> tuple[Route, ...]:
    """Read a routes file: ``{"routes": [...]}`` or a bare list."""
    try:
        with open(path, encoding="utf-8") as fh:
            raw = json.load(fh)
    except OSError as exc:
        raise UsageError(f"fabric routes: cannot read {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"fabric routes: {path} is not JSON: {exc}") from None
    if isinstance(raw, dict):
        raw = raw.get("routes", [])
    return parse_routes(raw, facts.hosts)
