"""Scores: how good is each feasible node for this Pod? Each score plugin returns
one number in 0..100 per node (higher is better); `SCORES` weights them the way
Kubernetes' default profile does.

A plugin is ``f(pod, nodes, cluster) -> list[float]`` for the feasible `nodes`.
"""

from __future__ import annotations

from typing import Callable

from k8snet.scheduler.matching import (
    node_selector_term_matches,
    owner_uid,
    pod_affinity_terms,
    term_matches_pod,
    tolerated,
)
from k8snet.scheduler.nodeinfo import NodeInfo, pod_requests

Score = Callable[[dict, list[NodeInfo], list[NodeInfo]], list[float]]
MAX_SCORE = 100.0
ZONE_LABEL = "topology.kubernetes.io/zone"


def _scale_to_max(raw: list[float]) -> list[float]:
    top = max(raw, default=0)
    return [MAX_SCORE * r / top if top > 0 else 0.0 for r in raw]


def _invert(raw: list[float]) -> list[float]:
    """Fewer is better: max maps to 0, 0 maps to 100."""
    top = max(raw, default=0)
    return [MAX_SCORE * (top - r) / top if top > 0 else MAX_SCORE for r in raw]


def least_allocated(pod: dict, nodes: list[NodeInfo], cluster: list[NodeInfo]) -> list[float]:
    """Free share of CPU and memory after placing the Pod, averaged."""
    want = pod_requests(pod, non_zero=True)
    scores = []
    for info in nodes:
        alloc, used = info.allocatable, info.requested(non_zero=True)
        parts = []
        for cap, req in ((alloc.milli_cpu, used.milli_cpu + want.milli_cpu),
                         (alloc.memory, used.memory + want.memory)):
            parts.append(0.0 if cap <= 0 or req > cap else MAX_SCORE * (cap - req) / cap)
        scores.append(sum(parts) / len(parts))
    return scores


def owner_spread(pod: dict, nodes: list[NodeInfo], cluster: list[NodeInfo]) -> list[float]:
    """Fewer Pods of the same owner on the node (and in its zone) is better."""
    uid = owner_uid(pod)
    if not uid:
        return [MAX_SCORE] * len(nodes)
    namespace = pod.get("metadata", {}).get("namespace")

    def siblings(info: NodeInfo) -> int:
        return info.owned_by(namespace, uid)

    counts = [siblings(i) for i in nodes]
    node_scores = _invert(counts)
    zones = [i.labels.get(ZONE_LABEL) for i in nodes]
    if not any(zones):
        return node_scores
    per_zone: dict[str, int] = {}
    for info in cluster:
        zone = info.labels.get(ZONE_LABEL)
        if zone:
            per_zone[zone] = per_zone.get(zone, 0) + siblings(info)
    zone_scores = _invert([per_zone.get(z, 0) if z else 0 for z in zones])
    return [n / 3 + 2 * z / 3 if zone else n
            for n, z, zone in zip(node_scores, zone_scores, zones)]


def preferred_node_affinity(pod: dict, nodes: list[NodeInfo],
                            cluster: list[NodeInfo]) -> list[float]:
    """Sum of the weights of matching preferred node affinity terms, scaled to 0..100."""
    affinity = ((pod.get("spec") or {}).get("affinity") or {}).get("nodeAffinity") or {}
    terms = affinity.get("preferredDuringSchedulingIgnoredDuringExecution") or []
    raw = [float(sum(t.get("weight", 0) for t in terms
                     if node_selector_term_matches(t.get("preference") or {}, i.node)))
           for i in nodes]
    return _scale_to_max(raw)


def preferred_pod_affinity(pod: dict, nodes: list[NodeInfo],
                           cluster: list[NodeInfo]) -> list[float]:
    """Weighted preferred Pod affinity minus anti-affinity, per matching Pod in the domain."""
    weighted = [(t, 1) for t in pod_affinity_terms(pod, "podAffinity", required=False)]
    weighted += [(t, -1) for t in pod_affinity_terms(pod, "podAntiAffinity", required=False)]
    if not weighted:
        return [0.0] * len(nodes)
    # Per term, matching Pods per topology value: one pass over the cluster.
    counts: list[tuple[str, float, dict]] = []
    for wterm, sign in weighted:
        term = wterm.get("podAffinityTerm") or {}
        key = term.get("topologyKey", "")
        per_value: dict = {}
        for other_info in cluster:
            value = other_info.labels.get(key)
            if value is None:
                continue
            matches = sum(1 for o in other_info.pods if term_matches_pod(term, pod, o))
            per_value[value] = per_value.get(value, 0) + matches
        counts.append((key, sign * wterm.get("weight", 0), per_value))
    raw = []
    for info in nodes:
        total = 0.0
        for key, weight, per_value in counts:
            value = info.labels.get(key)
            if value is not None:
                total += weight * per_value.get(value, 0)
        raw.append(total)
    low, high = min(raw), max(raw)
    if high == low:
        return [0.0] * len(nodes)
    return [MAX_SCORE * (r - low) / (high - low) for r in raw]


def prefer_no_schedule(pod: dict, nodes: list[NodeInfo], cluster: list[NodeInfo]) -> list[float]:
    """Fewer untolerated PreferNoSchedule taints is better."""
    counts = [sum(1 for t in (i.node.get("spec") or {}).get("taints") or []
                  if t.get("effect") == "PreferNoSchedule" and not tolerated(pod, t))
              for i in nodes]
    return _invert(counts)


SCORES: list[tuple[str, Score, int]] = [
    ("NodeResourcesLeastAllocated", least_allocated, 1),
    ("OwnerSpread", owner_spread, 2),
    ("NodeAffinity", preferred_node_affinity, 2),
    ("InterPodAffinity", preferred_pod_affinity, 2),
    ("TaintToleration", prefer_no_schedule, 3),
]


def total_scores(pod: dict, nodes: list[NodeInfo], cluster: list[NodeInfo]) -> list[float]:
    """The weighted sum of every score plugin, per feasible node."""
    totals = [0.0] * len(nodes)
    for _name, plugin, weight in SCORES:
        for i, value in enumerate(plugin(pod, nodes, cluster)):
            totals[i] += weight * value
    return totals
