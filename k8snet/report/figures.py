"""Series and rows from the raw results of repeated `k8snet compare` runs.

A run is the ``compare()`` document: ``{"veth": {"gbps": [..], "rtt_ms":
[..]}, "modes": {mode: {"paths": {path: {"gbps": [..], "rtt_ms": [..]}},
"pod_mtu", "node_mtu", "capture"}}}``. The bare veth pair is the baseline
and appears as a mode of its own, ``veth``, on the path ``baseline``. With
``--report`` each mode also has ``extra`` (`k8snet.report.measure`): more
paths (parallel streams, UDP), ``rr_ms``, ``cpu``, ``ready_to_reachable_s``
and ``mtu``; a figure that failed is ``{"error": ...}`` and is left out.
"""

from __future__ import annotations

import statistics
from typing import Dict, List, Optional, Sequence

BASELINE = "veth"
BASELINE_PATH = "baseline"
RR_PATH = "tcp_rr"      # TCP request/response, from the extra figures
LABELS = {BASELINE_PATH: "bare veth pair",
          "pod_across_leaves_parallel": "Pod-to-Pod across leaves, TCP x4 streams",
          "pod_across_leaves_udp": "Pod-to-Pod across leaves, UDP (received)",
          RR_PATH: "TCP request/response, across leaves"}


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


def mode_paths(doc: dict) -> Dict[str, dict]:
    """compare's paths of one mode, then the report's extra ones."""
    extra = doc.get("extra") or {}
    return {**doc.get("paths", {}), **{k: v for k, v in (extra.get("paths") or {}).items()
                                       if isinstance(v, dict) and "error" not in v}}


def paths_of(runs: Sequence[dict]) -> List[str]:
    seen: List[str] = []
    for run in runs:
        for doc in run.get("modes", {}).values():
            for path in mode_paths(doc):
                if path not in seen:
                    seen.append(path)
    return seen


def samples(run: dict, mode: str, path: str, metric: str) -> List[float]:
    if mode == BASELINE:
        return list(run.get("veth", {}).get(metric, [])) if path == BASELINE_PATH else []
    return list(mode_paths(run.get("modes", {}).get(mode, {})).get(path, {}).get(metric, []))


def extra(run: dict, mode: str, key: str):
    """One extra figure of a mode in a run; None when missing or failed."""
    value = (run.get("modes", {}).get(mode, {}).get("extra") or {}).get(key)
    return None if isinstance(value, dict) and "error" in value else value


def errors(runs: Sequence[dict]) -> List[str]:
    """What could not be measured, run by run."""
    out = []
    for i, run in enumerate(runs, 1):
        for mode, doc in run.get("modes", {}).items():
            for key, value in (doc.get("extra") or {}).items():
                found = [value] + (list(value.values()) if key == "paths" else [])
                for v in found:
                    if isinstance(v, dict) and "error" in v:
                        out.append(f"run {i}, {mode}, {key}: {v['error']}")
    return out


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
        by_mode = {mode: [x for r in runs for x in samples(r, mode, path, "rtt_ms")]
                   for mode in modes_of(runs)}
        if any(by_mode.values()):
            out[path] = by_mode
    rr = {mode: [x for r in runs for x in (extra(r, mode, "rr_ms") or [])]
          for mode in modes_of(runs)}
    if any(rr.values()):
        out[RR_PATH] = rr
    return out


def cpu_per_gbit(runs: Sequence[dict]) -> Dict[str, Dict[str, List[float]]]:
    """mode -> {"iperf3": [...], "ovs-vswitchd": [...]}: CPU seconds per Gbit
    carried by the single-stream run, one value per run."""
    out: Dict[str, Dict[str, List[float]]] = {}
    for mode in modes_of(runs):
        out[mode] = {"iperf3": [], "ovs-vswitchd": []}
        for run in runs:
            cpu = extra(run, mode, "cpu")
            if not cpu or not cpu.get("gbps"):
                continue
            gbit = cpu["gbps"] * cpu["seconds"]
            out[mode]["iperf3"].append(cpu["iperf_cpu_s"] / gbit)
            if cpu.get("ovs_cpu_s") is not None:
                out[mode]["ovs-vswitchd"].append(cpu["ovs_cpu_s"] / gbit)
    return out


def ready_to_reachable(runs: Sequence[dict]) -> Dict[str, List[float]]:
    """mode -> seconds from Pod Ready to its first ping reply, one per run."""
    return {mode: [v for v in (extra(r, mode, "ready_to_reachable_s") for r in runs)
                   if isinstance(v, (int, float))] for mode in modes_of(runs)}


def mtu_behaviour(runs: Sequence[dict]) -> Dict[str, dict]:
    """mode -> the DF and fragmentation results of the last run that has them."""
    out = {}
    for run in runs:
        for mode in run.get("modes", {}):
            found = extra(run, mode, "mtu")
            if found:
                out[mode] = found
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
            for path, figures in ((doc.get("extra") or {}).get("paths") or {}).items():
                for metric in ("gbps", "loss_pct"):
                    values = figures.get(metric) if isinstance(figures, dict) else None
                    for j, value in enumerate(values if isinstance(values, list) else
                                              [values] if values is not None else []):
                        out.append({"run": i, "mode": mode, "path": path, "metric": metric,
                                    "sample": j, "value": value})
            for metric in ("pod_mtu", "node_mtu"):
                if doc.get(metric) is not None:
                    out.append({"run": i, "mode": mode, "path": "", "metric": metric,
                                "sample": 0, "value": doc[metric]})
            for j, value in enumerate(extra(run, mode, "rr_ms") or []):
                out.append({"run": i, "mode": mode, "path": "pod_across_leaves",
                            "metric": "tcp_rr_ms", "sample": j, "value": value})
            ready = extra(run, mode, "ready_to_reachable_s")
            if isinstance(ready, (int, float)):
                out.append({"run": i, "mode": mode, "path": "", "sample": 0,
                            "metric": "ready_to_reachable_s", "value": ready})
            cpu = extra(run, mode, "cpu")
            for key in ("iperf_cpu_s", "ovs_cpu_s", "gbps"):
                if cpu and cpu.get(key) is not None:
                    out.append({"run": i, "mode": mode, "path": "pod_across_leaves",
                                "metric": f"cpu_run_{key}", "sample": 0, "value": cpu[key]})
    return out
