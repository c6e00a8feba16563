"""Compile policies into per-Pod allow lists: what every renderer renders from.

For one Pod and one direction the answer is None (not isolated: everything
passes) or a tuple of `Allow` entries, each traced back to the policy and rule
index it came from (so a dropped packet can be explained). Selectors are
resolved to the Pod IPs they name at compile time; named ports are resolved on
the Pod that owns them: the local Pod for ingress, each destination Pod for
egress. Pure: the agent recompiles on every change and diffs the text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional

from k8snet.policy.model import EGRESS, INGRESS, IpBlock, PodFacts, Policy, PortMatch, Rule
from k8snet.policy.oracle import Endpoint, peer_matches

ANY_PORT = (0, 65535)


@dataclass(frozen=True)
class PortRange:
    """One protocol and an inclusive port range; (0, 65535) means every port."""

    protocol: str
    first: int
    last: int

    @property
    def every(self) -> bool:
        return (self.first, self.last) == ANY_PORT


@dataclass(frozen=True)
class Allow:
    """Packets to/from these peers on these ports pass. ``ports`` None: any protocol, any port."""

    policy: str
    direction: str
    index: int
    any_peer: bool = False
    addresses: tuple[str, ...] = ()
    blocks: tuple[IpBlock, ...] = ()
    ports: Optional[tuple[PortRange, ...]] = None

    @property
    def origin(self) -> str:
        return f"{self.policy} {self.direction.lower()}[{self.index}]"


@dataclass(frozen=True)
class PodRules:
    """One Pod's compiled policy: None for a direction that is not isolated."""

    pod: str
    ip: str
    ingress: Optional[tuple[Allow, ...]]
    egress: Optional[tuple[Allow, ...]]
    isolated_by: tuple[str, ...] = ()
    ingress_by: tuple[str, ...] = ()   # the policies isolating each direction (a drop's origin)
    egress_by: tuple[str, ...] = ()


def _ranges(items: Iterable[PortMatch], pod: Optional[PodFacts]) -> tuple[PortRange, ...]:
    out = []
    for item in items:
        numbers = item.numbers(pod)
        if numbers is not None:
            out.append(PortRange(item.protocol, *numbers))
    return tuple(sorted(set(out), key=lambda r: (r.protocol, r.first, r.last)))


def _peers(policy: Policy, rule: Rule, pods: list[PodFacts],
           namespaces: dict[str, dict]) -> tuple[bool, tuple[str, ...], tuple[IpBlock, ...]]:
    """(any peer, Pod IPs named by selectors, ipBlocks) of one rule."""
    if not rule.peers:
        return True, (), ()
    blocks = tuple(p.ip_block for p in rule.peers if p.ip_block is not None)
    selectors = [p for p in rule.peers if p.ip_block is None]
    ips = {pod.ip for pod in pods if pod.ip and not pod.host_network and any(
        peer_matches(p, policy.namespace, Endpoint.of(pod), namespaces) for p in selectors)}
    return False, tuple(sorted(ips)), blocks


def _ingress(policy: Policy, index: int, rule: Rule, pod: PodFacts, pods: list[PodFacts],
             namespaces: dict[str, dict], memo: dict) -> list[Allow]:
    ports = _ranges(rule.ports, pod) if rule.ports else None
    if ports == ():
        return []  # only named ports, none of them on this Pod
    key = (policy.key, INGRESS, index)
    if key not in memo:   # peers do not depend on the Pod the rule protects
        memo[key] = _peers(policy, rule, pods, namespaces)
    any_peer, ips, blocks = memo[key]
    if not (any_peer or ips or blocks):
        return []
    return [Allow(policy.key, INGRESS, index, any_peer, ips, blocks, ports)]


def _egress(policy: Policy, index: int, rule: Rule, pods: list[PodFacts],
            namespaces: dict[str, dict]) -> list[Allow]:
    any_peer, ips, blocks = _peers(policy, rule, pods, namespaces)
    if not (any_peer or ips or blocks):
        return []
    numeric = [p for p in rule.ports if not isinstance(p.port, str)]
    named = [p for p in rule.ports if isinstance(p.port, str)]
    out = []
    if not rule.ports or numeric:
        out.append(Allow(policy.key, EGRESS, index, any_peer, ips, blocks,
                         _ranges(numeric, None) if rule.ports else None))
    if named:
        # A name means a number only on a destination Pod: one entry per port set.
        by_ports: dict[tuple[PortRange, ...], set[str]] = {}
        named_ips = set(ips)
        for dst in pods:
            if not dst.ip or dst.host_network:
                continue
            if not (any_peer or dst.ip in named_ips or any(b.contains(dst.ip) for b in blocks)):
                continue
            ranges = _ranges(named, dst)
            if ranges:
                by_ports.setdefault(ranges, set()).add(dst.ip)
        for ranges, addrs in sorted(by_ports.items(), key=lambda kv: sorted(kv[1])):
            out.append(Allow(policy.key, EGRESS, index, False, tuple(sorted(addrs)), (), ranges))
    return out


def compile_pod(pod: PodFacts, policies: Iterable[Policy], pods: list[PodFacts],
                namespaces: dict[str, dict], memo: Optional[dict] = None) -> PodRules:
    """The allow lists of one Pod, from every policy and the Pods selectors may name.
    ``memo`` shares what does not depend on the Pod between the Pods of one node."""
    memo = {} if memo is None else memo
    selecting = sorted((p for p in policies if p.selects(pod)), key=lambda p: p.key)
    result: dict[str, Optional[tuple[Allow, ...]]] = {INGRESS: None, EGRESS: None}
    by: dict[str, tuple[str, ...]] = {INGRESS: (), EGRESS: ()}
    for direction in (INGRESS, EGRESS):
        isolating = [p for p in selecting if direction in p.types]
        if not isolating:
            continue
        by[direction] = tuple(p.key for p in isolating)
        allows: list[Allow] = []
        for policy in isolating:
            for index, rule in enumerate(policy.rules(direction)):
                if direction == INGRESS:
                    allows += _ingress(policy, index, rule, pod, pods, namespaces, memo)
                    continue
                key = (policy.key, EGRESS, index)
                if key not in memo:   # egress allows do not depend on the source Pod
                    memo[key] = _egress(policy, index, rule, pods, namespaces)
                allows += memo[key]
        result[direction] = tuple(allows)
    return PodRules(pod.key, pod.ip or "", result[INGRESS], result[EGRESS],
                    tuple(p.key for p in selecting), by[INGRESS], by[EGRESS])


def compile_node(node: Optional[str], policies: Iterable[Policy], pods: Iterable[PodFacts],
                 namespaces: dict[str, dict]) -> list[PodRules]:
    """Compiled rules of every Pod on ``node`` (every node's when None) that has an IP
    and is isolated in some direction."""
    policies = list(policies)
    pods = list(pods)
    memo: dict = {}
    out = []
    for pod in sorted(pods, key=lambda p: p.key):
        if not pod.ip or pod.host_network or (node is not None and pod.node != node):
            continue
        rules = compile_pod(pod, policies, pods, namespaces, memo)
        if rules.ingress is not None or rules.egress is not None:
            out.append(rules)
    return out


def is_isolated(pod: PodFacts, policies: Iterable[Policy]) -> bool:
    """Whether any policy isolates ``pod`` in some direction (known before it has an IP)."""
    return any(p.selects(pod) for p in policies)


def allow_admits(allow: Allow, peer_ip: str, protocol: str, port: int) -> bool:
    """Whether one compiled entry admits a packet: the reference the nft text must mean."""
    if not allow.any_peer and peer_ip not in allow.addresses and not any(
            b.contains(peer_ip) for b in allow.blocks):
        return False
    if allow.ports is None:
        return True
    return any(r.protocol == protocol and r.first <= port <= r.last for r in allow.ports)


def compiled_allows(src_ip: str, dst_ip: str, protocol: str, port: int,
                    src_rules: Optional[PodRules], dst_rules: Optional[PodRules]) -> bool:
    """Whether compiled rules pass a packet: egress of the source, then ingress of the
    destination (each None when that Pod is not isolated at all)."""
    if src_rules is not None and src_rules.egress is not None:
        if not any(allow_admits(a, dst_ip, protocol, port) for a in src_rules.egress):
            return False
    if dst_rules is not None and dst_rules.ingress is not None:
        if not any(allow_admits(a, src_ip, protocol, port) for a in dst_rules.ingress):
            return False
    return True
