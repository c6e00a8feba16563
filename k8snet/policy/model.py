"""Plain records the policy code decides from, parsed from NetworkPolicy, Pod and
Namespace dicts.

Everything here is pure: no I/O, no clock. The parsing follows
networking.k8s.io/v1 as the apiserver stores it (policyTypes defaulted, port
protocols defaulted to TCP), and repeats those defaults so that a manifest
read straight from a user's file means the same thing.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Iterable, List, Optional, Tuple, Union

from k8snet.api.selectors import LabelSelector, label_selector_from_dict
from k8snet.errors import UsageError

PROTOCOLS = ("TCP", "UDP", "SCTP")
INGRESS, EGRESS = "Ingress", "Egress"


@dataclass(frozen=True)
class ContainerPort:
    """A port a Pod's container declares (what named ports resolve against)."""

    name: str
    port: int
    protocol: str = "TCP"


@dataclass(frozen=True)
class PodFacts:
    """What policy needs of one Pod."""

    namespace: str
    name: str
    labels: dict = field(default_factory=dict, compare=False, hash=False)
    ip: Optional[str] = None
    node: Optional[str] = None
    host_network: bool = False
    ports: tuple[ContainerPort, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def named_port(self, name: str, protocol: str) -> Optional[int]:
        """The number of the container port called ``name`` with ``protocol``."""
        for port in self.ports:
            if port.name == name and port.protocol == protocol:
                return port.port
        return None


@dataclass(frozen=True)
class IpBlock:
    """A CIDR minus its exceptions."""

    cidr: str
    excepts: tuple[str, ...] = ()

    def contains(self, ip: str) -> bool:
        addr = ipaddress.ip_address(ip)
        if addr not in ipaddress.ip_network(self.cidr, strict=False):
            return False
        return not any(addr in ipaddress.ip_network(e, strict=False) for e in self.excepts)


@dataclass(frozen=True)
class Peer:
    """One item of a rule's from/to: selectors (either or both) or an ipBlock.

    A pod selector alone means Pods in the policy's own namespace; a namespace
    selector alone means every Pod in the matching namespaces; both in one peer
    mean the matching Pods in the matching namespaces (an AND, where two peers
    are an OR).
    """

    pod_selector: Optional[LabelSelector] = None
    namespace_selector: Optional[LabelSelector] = None
    ip_block: Optional[IpBlock] = None


@dataclass(frozen=True)
class PortMatch:
    """One item of a rule's ports: a protocol and a number, a range or a name.

    ``port`` None means every port of the protocol.
    """

    protocol: str = "TCP"
    port: Union[int, str, None] = None
    end_port: Optional[int] = None

    def numbers(self, pod: Optional[PodFacts]) -> Optional[tuple[int, int]]:
        """The (first, last) port this item means on ``pod``; None if a named port
        does not resolve there (a name only ever resolves on a Pod). (0, 65535) is
        every port."""
        if self.port is None:
            return (0, 65535)
        if isinstance(self.port, int):
            return (self.port, self.end_port or self.port)
        number = pod.named_port(self.port, self.protocol) if pod is not None else None
        return (number, number) if number is not None else None


@dataclass(frozen=True)
class Rule:
    """One ingress or egress rule. No peers means every peer; no ports every port."""

    peers: tuple[Peer, ...] = ()
    ports: tuple[PortMatch, ...] = ()


@dataclass(frozen=True)
class Policy:
    """One NetworkPolicy, parsed."""

    namespace: str
    name: str
    pod_selector: LabelSelector
    types: frozenset = frozenset({INGRESS})
    ingress: tuple[Rule, ...] = ()
    egress: tuple[Rule, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def selects(self, pod: PodFacts) -> bool:
        """Whether this policy applies to ``pod`` (hostNetwork Pods never are)."""
        return (not pod.host_network and pod.namespace == self.namespace
                and self.pod_selector.matches(pod.labels))

    def rules(self, direction: str) -> tuple[Rule, ...]:
        return self.ingress if direction == INGRESS else self.egress


# ----------------------------------------------------------------- parsing


def _selector(raw: object, where: str) -> LabelSelector:
    try:
        return label_selector_from_dict(raw if raw is not None else {})
    except ValueError as exc:
        raise UsageError(f"{where}: {exc}") from None


def _port(raw: dict, where: str) -> PortMatch:
    protocol = raw.get("protocol") or "TCP"
    if protocol not in PROTOCOLS:
        raise UsageError(f"{where}.protocol: {protocol!r} is not one of TCP, UDP, SCTP")
    port = raw.get("port")
    end = raw.get("endPort")
    if isinstance(port, str) and port.isdigit():
        port = int(port)
    if port is not None and not isinstance(port, (int, str)):
        raise UsageError(f"{where}.port: give a number or a named port")
    if end is not None and not (isinstance(port, int) and isinstance(end, int) and end >= port):
        raise UsageError(f"{where}.endPort: needs a numeric port and endPort >= port")
    return PortMatch(protocol, port, end)


def _peer(raw: dict, where: str) -> Peer:
    block = raw.get("ipBlock")
    if block is not None:
        try:
            ipaddress.ip_network(block["cidr"], strict=False)
            for item in block.get("except") or ():
                ipaddress.ip_network(item, strict=False)
        except (KeyError, ValueError, TypeError) as exc:
            raise UsageError(f"{where}.ipBlock: bad CIDR ({exc})") from None
        if "podSelector" in raw or "namespaceSelector" in raw:
            raise UsageError(f"{where}: ipBlock may not be combined with selectors")
        return Peer(ip_block=IpBlock(block["cidr"], tuple(block.get("except") or ())))
    pods = raw.get("podSelector")
    namespaces = raw.get("namespaceSelector")
    if pods is None and namespaces is None:
        raise UsageError(f"{where}: give podSelector, namespaceSelector or ipBlock")
    return Peer(pod_selector=None if pods is None else _selector(pods, f"{where}.podSelector"),
                namespace_selector=None if namespaces is None else
                _selector(namespaces, f"{where}.namespaceSelector"))


def _rules(raw: object, side: str, where: str) -> tuple[Rule, ...]:
    rules = []
    for i, rule in enumerate(raw or ()):
        rule = rule or {}
        here = f"{where}[{i}]"
        rules.append(Rule(
            peers=tuple(_peer(p or {}, f"{here}.{side}[{j}]")
                        for j, p in enumerate(rule.get(side) or ())),
            ports=tuple(_port(p or {}, f"{here}.ports[{j}]")
                        for j, p in enumerate(rule.get("ports") or ()))))
    return tuple(rules)


def parse_policy(obj: dict, default_namespace: str = "default") -> Policy:
    """A NetworkPolicy dict as a Policy; UsageError naming the bad field."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    where = f"NetworkPolicy {meta.get('name', '?')}"
    types = spec.get("policyTypes")
    if not types:  # upstream's default: Ingress, and Egress when egress rules exist
        types = [INGRESS, EGRESS] if spec.get("egress") else [INGRESS]
    for ptype in types:
        if ptype not in (INGRESS, EGRESS):
            raise UsageError(f"{where}: policyTypes has {ptype!r}; use Ingress or Egress")
    return Policy(
        namespace=meta.get("namespace") or default_namespace,
        name=str(meta.get("name", "")),
        pod_selector=_selector(spec.get("podSelector"), f"{where} spec.podSelector"),
        types=frozenset(types),
        ingress=_rules(spec.get("ingress"), "from", f"{where} spec.ingress"),
        egress=_rules(spec.get("egress"), "to", f"{where} spec.egress"))


def parse_policies(objs: Iterable[dict]) -> Tuple[List[Policy], List[str]]:
    """The policies that parse, and why each other one did not: the apiserver
    validates, so a stale object is reported, never a reason to stop."""
    parsed, skipped = [], []
    for obj in objs:
        try:
            parsed.append(parse_policy(obj))
        except UsageError as exc:
            skipped.append(str(exc))
    return parsed, skipped


def parse_pod(obj: dict) -> PodFacts:
    """A Pod dict as PodFacts (its IP from status.podIP, ports from every container)."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    ports = []
    for container in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        for port in container.get("ports") or ():
            if port.get("name") and port.get("containerPort"):
                ports.append(ContainerPort(port["name"], int(port["containerPort"]),
                                           port.get("protocol") or "TCP"))
    return PodFacts(namespace=meta.get("namespace") or "default", name=meta.get("name", ""),
                    labels=dict(meta.get("labels") or {}),
                    ip=(obj.get("status") or {}).get("podIP") or None,
                    node=spec.get("nodeName"), host_network=bool(spec.get("hostNetwork")),
                    ports=tuple(ports))


def namespace_labels(objs: Iterable[dict]) -> dict[str, dict]:
    """Namespace name -> labels (with kubernetes.io/metadata.name, as upstream sets)."""
    out = {}
    for obj in objs:
        meta = obj.get("metadata") or {}
        name = meta.get("name", "")
        out[name] = {"kubernetes.io/metadata.name": name, **(meta.get("labels") or {})}
    return out


def pod_is_live(obj: dict) -> bool:
    """Whether a Pod still counts (not finished, not deleted)."""
    phase = (obj.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed")
