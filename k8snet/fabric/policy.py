"""Macvlan mode: NetworkPolicy in the fabric, planned from the apiserver's objects.

A macvlan Pod's packets leave its node on the wire without crossing the node's
kernel, so no nftables rule can see them; the leaf switch the node attaches to
is the first place that can, as Antrea enforces in OVS. Each leaf sends the
IPv4 packets that arrive on its host ports and are not yet tracked into the
conjunctive policy tables of :mod:`k8snet.policy.render_of`; what they allow
resumes at the classifier (table 0) already tracked, so it is forwarded as
before. Packets arriving from other switches were checked at their first leaf
and are not checked again. With no NetworkPolicy at all, nothing is added and
the fabric forwards exactly as without this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from k8snet.fabric.facts import Facts
from k8snet.fabric.specs import ETH_TYPE_IPV4, TABLE_CLASSIFY, FlowSpec, flow
from k8snet.policy.compile import compile_node
from k8snet.policy.model import namespace_labels, parse_pod, parse_policies, pod_is_live
from k8snet.policy.render_of import COOKIE_POLICY, CT_TRACKED, TABLE_CT, plan_flows

PRIO_POLICY_ENTRY = 400   # above every classifier entry of k8snet.fabric.plan, ARP included


@dataclass(frozen=True)
class PolicyPlan:
    """The policy flows every leaf holds (its entries to them are per switch)."""

    flows: tuple[FlowSpec, ...] = ()
    policies: int = 0
    pods: int = 0                    # Pods isolated in some direction
    skipped: tuple[str, ...] = ()    # policies that did not parse, and why

    @property
    def active(self) -> bool:
        """Whether any flow is planned (no policy, no flow)."""
        return bool(self.flows)


def plan_policy(policies: Iterable[dict], pods: Iterable[dict], namespaces: Iterable[dict],
                pod_blocks: Iterable[str]) -> PolicyPlan:
    """The fabric's policy flows from the apiserver's NetworkPolicies, Pods and
    Namespaces; ``pod_blocks`` (the nodes' Pod CIDRs) is where a Pod the plan does
    not know yet is dropped until it is known."""
    parsed, skipped = parse_policies(policies)
    if not parsed:
        return PolicyPlan(skipped=tuple(skipped))
    facts = [parse_pod(p) for p in pods if pod_is_live(p)]
    compiled = compile_node(None, parsed, facts, namespace_labels(namespaces))
    known = [p.ip for p in facts if p.ip and not p.host_network]
    flows = plan_flows(compiled, TABLE_CLASSIFY, known, pod_blocks)
    return PolicyPlan(tuple(flows), len(parsed), len(compiled), tuple(skipped))


def switch_policy_flows(facts: Facts, switch: str, plan: PolicyPlan) -> list[FlowSpec]:
    """What ``switch`` holds for policy: nothing without hosts or without policy; else
    an entry per host port (untracked IPv4 from it goes to conntrack) and the tables."""
    ports = sorted({h.port for h in facts.hosts if h.switch == switch})
    if not ports or not plan.active:
        return []
    entries = [flow(TABLE_CLASSIFY, PRIO_POLICY_ENTRY,
                    {"in_port": port, "eth_type": ETH_TYPE_IPV4, "ct_state": (0, CT_TRACKED)},
                    goto=TABLE_CT, cookie=COOKIE_POLICY) for port in ports]
    return entries + list(plan.flows)
