"""The scheduling decision: filter every node, score the feasible ones, pick the best;
or explain, in Kubernetes' words, why no node fits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from k8snet.scheduler.filters import run_filters
from k8snet.scheduler.nodeinfo import NodeInfo
from k8snet.scheduler.scores import total_scores


@dataclass
class Decision:
    """Where the Pod goes (node) or why it cannot go anywhere (reasons histogram)."""

    node: Optional[str]
    num_nodes: int
    reasons: dict[str, int] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)

    @property
    def message(self) -> str:
        return fit_error_message(self.num_nodes, self.reasons)


def fit_error_message(num_nodes: int, reasons: dict[str, int]) -> str:
    """'0/4 nodes are available: 2 Insufficient cpu, 2 node(s) didn't match ...'.

    Like Kubernetes' FitError: each reason prefixed by how many nodes gave it,
    the "count reason" strings sorted, joined with ', ', ending with a period.
    """
    if num_nodes == 0:
        return "no nodes available to schedule pods"
    parts = sorted(f"{count} {reason}" for reason, count in reasons.items())
    return f"0/{num_nodes} nodes are available: {', '.join(parts)}."


def schedule(pod: dict, cluster: list[NodeInfo]) -> Decision:
    """Pick a node for `pod` among `cluster` (every node with its bound Pods)."""
    feasible: list[NodeInfo] = []
    reasons: dict[str, int] = {}
    for info in cluster:
        why = run_filters(pod, info, cluster)
        if why:
            for reason in why:
                reasons[reason] = reasons.get(reason, 0) + 1
        else:
            feasible.append(info)
    if not feasible:
        return Decision(None, len(cluster), reasons)
    totals = total_scores(pod, feasible, cluster)
    scores = {info.name: score for info, score in zip(feasible, totals)}
    # Highest score wins; ties go to the node with fewer Pods, then by name.
    best = min(feasible, key=lambda i: (-round(scores[i.name], 6), len(i.pods), i.name))
    return Decision(best.name, len(cluster), {}, scores)
