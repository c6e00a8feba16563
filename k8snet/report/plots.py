"""Plots of a comparison report, drawn with matplotlib's Agg backend.

Each function takes the plain series of `k8snet.report.figures` and returns
a Figure (the tests look at its axes); `save` writes it as PNG and SVG.
"""

from __future__ import annotations

import os
import textwrap
from typing import Dict, List, Sequence

import matplotlib

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402  (after choosing the backend)

from k8snet.report import figures  # noqa: E402

COLOURS = {"veth": "#607d8b", "routed": "#1e88e5", "overlay": "#fb8c00", "macvlan": "#43a047"}


def wrap(label: str, width: int = 16) -> str:
    """Tick labels on several lines, so neighbours do not overlap."""
    return textwrap.fill(label, width)


def throughput_figure(tp: Dict[str, Dict[str, List[float]]], labels: Dict[str, str]) -> Figure:
    """Bars: median Gbit/s per path and mode; dots: each run (the spread)."""
    fig = Figure(figsize=(9, 4.6))
    ax = fig.add_subplot()
    paths = list(tp)
    modes = [m for m in dict.fromkeys(m for by in tp.values() for m in by)]
    width = 0.8 / max(1, len(modes))
    for k, mode in enumerate(modes):
        xs, heights = [], []
        for i, path in enumerate(paths):
            values = tp[path].get(mode) or []
            if not values:
                continue
            x = i - 0.4 + width * (k + 0.5)
            xs.append(x)
            heights.append(figures.median(values))
            ax.plot([x] * len(values), values, "o", color="black", markersize=3)
        ax.bar(xs, heights, width * 0.9, label=mode, color=COLOURS.get(mode))
    ax.set_xticks(range(len(paths)), [wrap(labels.get(p, p)) for p in paths], fontsize=8)
    ax.set_yscale("log")   # the bare veth pair is often 10-100x the fabric's paths
    ax.set_ylabel("Gbit/s, log scale (median; dots: runs)")
    ax.set_title("Throughput per mode and path (iperf3)")
    ax.legend()
    fig.tight_layout()
    return fig


def latency_figure(lat: Dict[str, Dict[str, List[float]]], labels: Dict[str, str]) -> Figure:
    """One CDF panel per path, a line per mode."""
    paths = [p for p in lat if any(lat[p].values())]
    fig = Figure(figsize=(4 * max(1, len(paths)), 3.6))
    for i, path in enumerate(paths, 1):
        ax = fig.add_subplot(1, len(paths), i)
        for mode, values in lat[path].items():
            if values:
                xs, ys = figures.cdf(values)
                ax.step(xs, ys, where="post", label=mode, color=COLOURS.get(mode))
        ax.set_title(wrap(labels.get(path, path), 40), fontsize=9)
        ax.set_xlabel("ping RTT, ms")
        ax.set_ylabel("fraction of pings")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def ratio_figure(ratios: Dict[str, Dict[str, float]], labels: Dict[str, str]) -> Figure:
    """Throughput as a fraction of the bare veth pair's, same run."""
    fig = Figure(figsize=(9, 4.2))
    ax = fig.add_subplot()
    paths = list(ratios)
    modes = [m for m in dict.fromkeys(m for by in ratios.values() for m in by)]
    width = 0.8 / max(1, len(modes))
    for k, mode in enumerate(modes):
        xs = [i - 0.4 + width * (k + 0.5) for i, p in enumerate(paths)
              if ratios[p].get(mode) is not None]
        ys = [ratios[p][mode] for p in paths if ratios[p].get(mode) is not None]
        ax.bar(xs, ys, width * 0.9, label=mode, color=COLOURS.get(mode))
    ax.set_xticks(range(len(paths)), [wrap(labels.get(p, p)) for p in paths], fontsize=8)
    ax.set_ylabel("throughput / bare veth")
    ax.set_title("Cost of the path, relative to a bare veth pair")
    ax.legend()
    fig.tight_layout()
    return fig


def grouped_bars(ax, groups: Dict[str, Dict[str, List[float]]], colour_by_series: bool) -> None:
    """Bars of the medians, one group per key of ``groups``, dots for each value."""
    keys = list(groups)
    series = list(dict.fromkeys(s for by in groups.values() for s in by))
    width = 0.8 / max(1, len(series))
    for k, name in enumerate(series):
        xs, heights = [], []
        for i, key in enumerate(keys):
            values = groups[key].get(name) or []
            if not values:
                continue
            x = i - 0.4 + width * (k + 0.5)
            xs.append(x)
            heights.append(figures.median(values))
            ax.plot([x] * len(values), values, "o", color="black", markersize=3)
        ax.bar(xs, heights, width * 0.9, label=name,
               color=COLOURS.get(name) if colour_by_series else None)
    ax.set_xticks(range(len(keys)), keys)
    ax.legend()


def cpu_figure(cpu: Dict[str, Dict[str, List[float]]]) -> Figure:
    """CPU seconds per Gbit carried, per mode: what each mode's path costs."""
    fig = Figure(figsize=(6, 3.6))
    ax = fig.add_subplot()
    grouped_bars(ax, cpu, colour_by_series=False)
    ax.set_ylabel("CPU seconds per Gbit (median; dots: runs)")
    ax.set_title("CPU cost of one TCP stream across leaves")
    fig.tight_layout()
    return fig


def ready_figure(ready: Dict[str, List[float]]) -> Figure:
    """Seconds from a Pod's Ready condition to its first ping reply, per mode."""
    fig = Figure(figsize=(5, 3.4))
    ax = fig.add_subplot()
    grouped_bars(ax, {m: {m: v} for m, v in ready.items()}, colour_by_series=True)
    ax.set_ylabel("seconds (median; dots: runs)")
    ax.set_title("Pod Ready to reachable")
    fig.tight_layout()
    return fig


def save(fig: Figure, directory: str, stem: str) -> Sequence[str]:
    """``stem.png`` and ``stem.svg`` in ``directory``; their names."""
    names = []
    for ext in ("png", "svg"):
        name = f"{stem}.{ext}"
        fig.savefig(os.path.join(directory, name), dpi=110)
        names.append(name)
    return names
