"""Series and rows from the raw results of repeated `k8snet compare` runs.

A run is the ``compare()`` document: ``{"veth": {"gbps": [..], "rtt_ms":
[..]}, "modes": {mode: {"paths": {path: {"gbps": [..], "rtt_ms": [..]}},
"pod_mtu", "node_mtu", "capture"}}}``. The bare veth pair is the baseline
and appears as a mode of its own, ``veth``, on the path ``baseline``.
"""

from __future__ import annotations

import statistics
from typing import Dict, List, Optional, Sequence

BASELINE = "veth"
BASELINE_PATH = "baseline"


def median(values: Sequence[float]) -> Optional[float]:
    return statistics.median(values) if values else None


def modes_of(runs: Sequence[dict]) -> List[str]:
    """The modes, in the order the first run measured them."""
    seen: List[str] = []
    for run in runs:
        for mode in run.get("modes", {}):
            if mode not in seen:
                seen.append(mode)
    return seen


def paths_of(runs: Sequence[dict]) -> List[str]:
    seen: List[str] = []
    for run in runs:
        for doc in run.get("modes", {}).values():
            for path in doc.get("paths", {}):
                if path not in seen:
                    seen.append(path)
    return seen


def samples(run: dict, mode: str, path: str, metric: str) -> List[float]:
    if mode == BASELINE:
        return list(run.get("veth", {}).get(metric, [])) if path == BASELINE_PATH else []
    return list(run.get("modes", {}).get(mode, {}).get("paths", {}).get(path, {})
                .get(metric, []))


def throughput(runs: Sequence[dict]) -> Dict[str, Dict[str, List[float]]]:
    """path -> mode -> one median Gbit/s per run (the spread over runs), the
    baseline under path ``baseline``."""
    out: Dict[str, Dict[str, List[float]]] = {
        BASELINE_PATH: {BASELINE: [m for m in (median(samples(r, BASELINE, BASELINE_PATH,
                                                              "gbps")) for r in runs)
                                   if m is not None]}}
    for path in paths_of(runs):
        out[path] = {}
        for mode in modes_of(runs):
            values = [median(samples(r, mode, path, "gbps")) for r in runs]
            out[path][mode] = [v for v in values if v is not None]
    return out


def latency(runs: Sequence[dict]) -> Dict[str, Dict[str, List[float]]]:
    """path -> mode -> every RTT sample (ms) of every run, for CDFs."""
    out: Dict[str, Dict[str, List[float]]] = {
        BASELINE_PATH: {BASELINE: [x for r in runs for x in samples(r, BASELINE,
                                                                      BASELINE_PATH, "rtt_ms")]}}
    for path in paths_of(runs):
        out[path] = {mode: [x for r in runs for x in samples(r, mode, path, "rtt_ms")]
                     for mode in modes_of(runs)}
    return out


def cdf(values: Sequence[float]) -> tuple:
    """(sorted values, cumulative fraction) for a step plot."""
    xs = sorted(values)
    n = len(xs)
    return xs, [(i + 1) / n for i in range(n)]


def ratios(runs: Sequence[dict]) -> Dict[str, Dict[str, Optional[float]]]:
    """path -> mode -> median throughput over all runs divided by the
    baseline's, so machines of different speed compare."""
    tp = throughput(runs)
    base = median(tp[BASELINE_PATH][BASELINE])
    return {path: {mode: (median(v) / base if v and base else None)
                   for mode, v in by_mode.items()}
            for path, by_mode in tp.items() if path != BASELINE_PATH}


def mtus(runs: Sequence[dict]) -> Dict[str, Dict[str, Optional[int]]]:
    """mode -> Pod and node MTU (as the last run saw them)."""
    out: Dict[str, Dict[str, Optional[int]]] = {}
    for run in runs:
        for mode, doc in run.get("modes", {}).items():
            out[mode] = {"pod_mtu": doc.get("pod_mtu"), "node_mtu": doc.get("node_mtu")}
    return out


def rows(runs: Sequence[dict]) -> List[dict]:
    """Every raw figure as one row (run, mode, path, metric, sample, value): the CSV."""
    out = []
    for i, run in enumerate(runs, 1):
        for metric in ("gbps", "rtt_ms"):
            for j, value in enumerate(run.get("veth", {}).get(metric, [])):
                out.append({"run": i, "mode": BASELINE, "path": BASELINE_PATH,
                            "metric": metric, "sample": j, "value": value})
        for mode, doc in run.get("modes", {}).items():
            for path, figures in doc.get("paths", {}).items():
                for metric in ("gbps", "rtt_ms"):
                    for j, value in enumerate(figures.get(metric, [])):
                        out.append({"run": i, "mode": mode, "path": path,
                                    "metric": metric, "sample": j, "value": value})
            for metric in ("pod_mtu", "node_mtu"):
                if doc.get(metric) is not None:
                    out.append({"run": i, "mode": mode, "path": "", "metric": metric,
                                "sample": 0, "value": doc[metric]})
    return out
