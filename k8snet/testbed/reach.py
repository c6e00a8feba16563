"""All-pairs reachability: which pairs to try and what the answers mean."""

from __future__ import annotations

from typing import Dict, Iterable, List, Set, Tuple

Pair = Tuple[str, str]


def all_pairs(nodes: Dict[str, str]) -> Set[Pair]:
    """Every ordered (source, destination) pair of distinct nodes."""
    return {(a, b) for a in nodes for b in nodes if a != b}


def summary(missing: Set[Pair], total: int) -> str:
    done = total - len(missing)
    text = f"{done}/{total} node pairs reach each other"
    if missing:
        sample = ", ".join(f"{a}->{b}" for a, b in sorted(missing)[:4])
        text += f" (not yet: {sample}{', ...' if len(missing) > 4 else ''})"
    return text


def by_source(pairs: Iterable[Pair]) -> Dict[str, List[str]]:
    grouped: Dict[str, List[str]] = {}
    for src, dst in sorted(pairs):
        grouped.setdefault(src, []).append(dst)
    return grouped
