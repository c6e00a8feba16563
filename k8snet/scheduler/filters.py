"""Filters: may this Pod run on this node? Each returns the reasons it may not.

A filter is ``f(pod, info, cluster) -> list[str]``; an empty list means the
node passes. Reasons use Kubernetes' wording so the FailedScheduling message
reads like the real scheduler's. `FILTERS` keeps Kubernetes' plugin order;
`run_filters` stops at the first filter that rejects, as the real framework does.
"""

from __future__ import annotations

from typing import Callable

from k8snet.machinery.conditions import status_of
from k8snet.scheduler.matching import (
    node_matches_pod,
    pod_affinity_terms,
    term_matches_pod,
    tolerated,
)
from k8snet.scheduler.nodeinfo import NodeInfo, pod_requests

Filter = Callable[[dict, NodeInfo, list[NodeInfo]], list[str]]

UNSCHEDULABLE = "node(s) were unschedulable"
NODE_AFFINITY = "node(s) didn't match Pod's node affinity/selector"
NODE_PORTS = "node(s) didn't have free ports for the requested pod ports"
POD_AFFINITY = "node(s) didn't match pod affinity rules"
POD_ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"
EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules"
NOT_READY_TAINT = "node.kubernetes.io/not-ready"
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"
UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"


def untolerated_taint_reason(taint: dict) -> str:
    """Kubernetes' wording for a taint the Pod does not tolerate."""
    return f"node(s) had untolerated taint {{{taint.get('key', '')}: {taint.get('value', '')}}}"


def node_unschedulable(pod: dict, info: NodeInfo, cluster: list[NodeInfo]) -> list[str]:
    """spec.unschedulable (kubectl cordon) rejects Pods that do not tolerate it."""
    if not (info.node.get("spec") or {}).get("unschedulable"):
        return []
    if tolerated(pod, {"key": UNSCHEDULABLE_TAINT, "effect": "NoSchedule"}):
        return []
    return [UNSCHEDULABLE]


def ready_taints(node: dict) -> list[dict]:
    """The taint a Node's Ready condition implies (as TaintNodesByCondition would add)."""
    ready = status_of(node, "Ready")
    if ready == "True":
        return []
    key = UNREACHABLE_TAINT if ready not in (None, "False") else NOT_READY_TAINT
    return [{"key": key, "effect": "NoSchedule"}]


def taint_toleration(pod: dict, info: NodeInfo, cluster: list[NodeInfo]) -> list[str]:
    """NoSchedule and NoExecute taints (and a not-Ready node) must be tolerated."""
    taints = list((info.node.get("spec") or {}).get("taints") or [])
    have = {(t.get("key"), t.get("effect")) for t in taints}
    taints += [t for t in ready_taints(info.node) if (t["key"], t["effect"]) not in have]
    for taint in taints:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not tolerated(pod, taint):
            return [untolerated_taint_reason(taint)]
    return []


def node_affinity(pod: dict, info: NodeInfo, cluster: list[NodeInfo]) -> list[str]:
    """nodeSelector and required node affinity."""
    return [] if node_matches_pod(pod, info.node) else [NODE_AFFINITY]


def _host_ports(pod: dict) -> set[tuple[str, str, int]]:
    ports = set()
    for c in (pod.get("spec") or {}).get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("hostPort"):
                ports.add((p.get("hostIP") or "0.0.0.0", p.get("protocol") or "TCP",
                           int(p["hostPort"])))
    return ports


def node_ports(pod: dict, info: NodeInfo, cluster: list[NodeInfo]) -> list[str]:
    """hostPorts must be free on the node."""
    wanted = _host_ports(pod)
    if not wanted:
        return []
    used = set()
    for other in info.pods:
        used |= _host_ports(other)
    for ip, proto, port in wanted:
        for used_ip, used_proto, used_port in used:
            same_ip = ip == used_ip or "0.0.0.0" in (ip, used_ip)
            if port == used_port and proto == used_proto and same_ip:
                return [NODE_PORTS]
    return []


def resources_fit(pod: dict, info: NodeInfo, cluster: list[NodeInfo]) -> list[str]:
    """Requests against allocatable minus what bound Pods request: pods, cpu, memory."""
    want = pod_requests(pod)
    have = info.allocatable
    used = info.requested()
    reasons = []
    if used.pods + 1 > have.pods:
        reasons.append("Too many pods")
    if want.milli_cpu and used.milli_cpu + want.milli_cpu > have.milli_cpu:
        reasons.append("Insufficient cpu")
    if want.memory and used.memory + want.memory > have.memory:
        reasons.append("Insufficient memory")
    return reasons


def _topology(info: NodeInfo, key: str) -> object:
    return info.labels.get(key)


def _same_domain(a: NodeInfo, b: NodeInfo, key: str) -> bool:
    value = _topology(a, key)
    return value is not None and value == _topology(b, key)


def _same_pod(a: dict, b: dict) -> bool:
    ma, mb = a.get("metadata", {}), b.get("metadata", {})
    return (ma.get("namespace"), ma.get("name")) == (mb.get("namespace"), mb.get("name"))


def inter_pod_affinity(pod: dict, info: NodeInfo, cluster: list[NodeInfo]) -> list[str]:
    """Required Pod affinity, Pod anti-affinity, and existing Pods' anti-affinity."""
    # Existing Pods whose required anti-affinity selects this Pod keep it out of their domain.
    for other_info in cluster:
        for other in other_info.anti_affinity_pods:
            for term in pod_affinity_terms(other, "podAntiAffinity"):
                if term_matches_pod(term, other, pod) and \
                        _same_domain(other_info, info, term.get("topologyKey", "")):
                    return [EXISTING_ANTI_AFFINITY]
    affinity = pod_affinity_terms(pod, "podAffinity")
    anti = pod_affinity_terms(pod, "podAntiAffinity")
    if not affinity and not anti:
        return []
    others = [(oi, o) for oi in cluster for o in oi.pods if not _same_pod(o, pod)]
    if affinity:
        any_match = any(term_matches_pod(t, pod, o) for t in affinity for _, o in others)
        self_match = all(term_matches_pod(t, pod, pod) for t in affinity)
        first_of_group = not any_match and self_match
        for term in affinity:
            key = term.get("topologyKey", "")
            satisfied = any(term_matches_pod(term, pod, o) and _same_domain(oi, info, key)
                            for oi, o in others)
            if not satisfied and not (first_of_group and _topology(info, key) is not None):
                return [POD_AFFINITY]
    for term in anti:
        key = term.get("topologyKey", "")
        if any(term_matches_pod(term, pod, o) and _same_domain(oi, info, key)
               for oi, o in others):
            return [POD_ANTI_AFFINITY]
    return []


FILTERS: list[tuple[str, Filter]] = [
    ("NodeUnschedulable", node_unschedulable),
    ("TaintToleration", taint_toleration),
    ("NodeAffinity", node_affinity),
    ("NodePorts", node_ports),
    ("NodeResourcesFit", resources_fit),
    ("InterPodAffinity", inter_pod_affinity),
]


def run_filters(pod: dict, info: NodeInfo, cluster: list[NodeInfo]) -> list[str]:
    """Reasons from the first filter that rejects the node (empty: the node fits)."""
    for _name, check in FILTERS:
        reasons = check(pod, info, cluster)
        if reasons:
            return reasons
    return []
