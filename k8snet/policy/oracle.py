"""Whether one connection is allowed: networking.k8s.io/v1 read straight from the spec.

This is the truth-table oracle. It knows nothing of nftables or OpenFlow: it
answers from policies, Pods and Namespaces alone, the way the Kubernetes
documentation states the rules, so that the renderers (which compile the same
policies into per-Pod rules) can be checked against it cell by cell:

- a Pod is isolated for a direction when some policy selecting it lists that
  direction in policyTypes; a non-isolated direction allows everything;
- an isolated direction allows what the union of the rules of every policy
  selecting the Pod for that direction allows (no order, no deny rules);
- a connection needs the source's egress and the destination's ingress;
- hostNetwork Pods are never selected; traffic from a Pod's own node
  (kubelet probes) is always allowed in, and a Pod reaching itself never
  leaves it (the e2e suite's loopback rule).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional

from k8snet.policy.model import EGRESS, INGRESS, Peer, PodFacts, Policy, Rule


@dataclass(frozen=True)
class Endpoint:
    """One end of a connection: a Pod, or a bare address (a node's when ``node`` is set)."""

    ip: str
    pod: Optional[PodFacts] = None
    node: Optional[str] = None

    @classmethod
    def of(cls, pod: PodFacts) -> Endpoint:
        """A Pod as an endpoint; a hostNetwork Pod is its node's address."""
        if pod.host_network:
            return cls(ip=pod.ip or "", node=pod.node)
        return cls(ip=pod.ip or "", pod=pod)


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str


def peer_matches(peer: Peer, policy_namespace: str, other: Endpoint,
                 namespaces: dict[str, dict]) -> bool:
    """Whether ``other`` is one of the peers ``peer`` names."""
    if peer.ip_block is not None:
        return bool(other.ip) and peer.ip_block.contains(other.ip)
    pod = other.pod
    if pod is None:
        return False  # selectors only ever name Pods
    if peer.namespace_selector is None:
        in_namespace = pod.namespace == policy_namespace
    else:
        in_namespace = peer.namespace_selector.matches(namespaces.get(pod.namespace, {}))
    if not in_namespace:
        return False
    return peer.pod_selector is None or peer.pod_selector.matches(pod.labels)


def ports_match(rule: Rule, dst_pod: Optional[PodFacts], protocol: str, port: int) -> bool:
    """Whether the rule's ports admit ``protocol``/``port`` to ``dst_pod``."""
    if not rule.ports:
        return True
    for item in rule.ports:
        if item.protocol != protocol:
            continue
        numbers = item.numbers(dst_pod)
        if numbers is not None and numbers[0] <= port <= numbers[1]:
            return True
    return False


def rule_admits(policy: Policy, rule: Rule, other: Endpoint, dst_pod: Optional[PodFacts],
                protocol: str, port: int, namespaces: dict[str, dict]) -> bool:
    """Whether one rule admits a connection with ``other`` as its peer."""
    if rule.peers and not any(peer_matches(p, policy.namespace, other, namespaces)
                              for p in rule.peers):
        return False
    return ports_match(rule, dst_pod, protocol, port)


def direction_verdict(policies: Iterable[Policy], pod: PodFacts, direction: str,
                      other: Endpoint, dst_pod: Optional[PodFacts], protocol: str, port: int,
                      namespaces: dict[str, dict]) -> Verdict:
    """``pod``'s side of a connection in one direction, with the policy that decided."""
    isolating = [p for p in policies if direction in p.types and p.selects(pod)]
    if not isolating:
        return Verdict(True, f"{pod.key} not isolated for {direction.lower()}")
    for policy in isolating:
        for index, rule in enumerate(policy.rules(direction)):
            if rule_admits(policy, rule, other, dst_pod, protocol, port, namespaces):
                return Verdict(True, f"{policy.key} {direction.lower()}[{index}]")
    names = ",".join(p.key for p in isolating)
    return Verdict(False, f"{direction.lower()} of {pod.key} denied (isolated by {names})")


def verdict(policies: Iterable[Policy], namespaces: dict[str, dict], src: Endpoint,
            dst: Endpoint, protocol: str, port: int) -> Verdict:
    """Whether ``src`` may open ``protocol``/``port`` to ``dst``, and why."""
    policies = list(policies)
    if src.pod is not None and dst.pod is not None and src.pod.key == dst.pod.key:
        return Verdict(True, "loopback: a Pod to itself never leaves it")
    reasons = []
    if src.pod is not None:
        out = direction_verdict(policies, src.pod, EGRESS, dst, dst.pod, protocol, port,
                                namespaces)
        if not out.allowed:
            return out
        reasons.append(out.reason)
    if dst.pod is not None:
        if src.node is not None and src.node == dst.pod.node:
            reasons.append("from the Pod's own node")
        else:
            into = direction_verdict(policies, dst.pod, INGRESS, src, dst.pod, protocol, port,
                                     namespaces)
            if not into.allowed:
                return into
            reasons.append(into.reason)
    return Verdict(True, "; ".join(reasons) or "no Pod involved")


def allowed(policies: Iterable[Policy], namespaces: dict[str, dict], src: Endpoint,
            dst: Endpoint, protocol: str, port: int) -> bool:
    """Just the yes or no of `verdict`."""
    return verdict(policies, namespaces, src, dst, protocol, port).allowed
