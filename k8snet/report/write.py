"""Write a comparison report: plots, ``report.html``, ``report.json``, ``report.csv``."""

from __future__ import annotations

import csv
import json
import os
from typing import Dict, List, Sequence

from k8snet.report import figures, html, plots


def write_report(directory: str, runs: Sequence[dict], labels: Dict[str, str],
                 title: str = "k8snet compare") -> List[str]:
    """Everything of the report in ``directory`` (made if missing); the file names."""
    os.makedirs(directory, exist_ok=True)
    files: List[str] = []
    tp, lat, ratios = figures.throughput(runs), figures.latency(runs), figures.ratios(runs)
    labels = {**figures.LABELS, **labels}
    cpu, ready = figures.cpu_per_gbit(runs), figures.ready_to_reachable(runs)
    optional = []
    if any(v for by in cpu.values() for v in by.values()):
        optional.append(("CPU seconds per Gbit: the iperf3 processes (the kernel's send and "
                         "receive paths, encapsulation included) and ovs-vswitchd (the "
                         "userspace datapath, shared with every cluster on the machine)",
                         "cpu_per_gbit", plots.cpu_figure(cpu)))
    if any(ready.values()):
        optional.append(("Seconds from a new Pod's Ready condition to its first ping reply",
                         "ready_to_reachable", plots.ready_figure(ready)))
    drawn = {}
    for caption, stem, fig in (
            ("TCP throughput per mode; dots are the runs", "throughput",
             plots.throughput_figure(tp, labels)),
            ("Ping RTT distribution (CDF) per path", "latency_cdf",
             plots.latency_figure(lat, labels)),
            ("Throughput relative to the bare veth pair", "throughput_ratio",
             plots.ratio_figure(ratios, labels)), *optional):
        names = plots.save(fig, directory, stem)
        files += names
        drawn[caption] = names[1]  # the SVG scales in the page
    with open(os.path.join(directory, "report.json"), "w") as fh:
        json.dump({"runs": list(runs), "throughput": tp, "ratios": ratios,
                   "mtu": figures.mtus(runs), "cpu_s_per_gbit": cpu,
                   "ready_to_reachable_s": ready, "mtu_behaviour": figures.mtu_behaviour(runs),
                   "errors": figures.errors(runs)}, fh, indent=2)
    with open(os.path.join(directory, "report.csv"), "w", newline="") as fh:
        writer = csv.DictWriter(fh, ["run", "mode", "path", "metric", "sample", "value"])
        writer.writeheader()
        writer.writerows(figures.rows(runs))
    files += ["report.json", "report.csv"]
    first = runs[0] if runs else {}
    summary = [f"{len(runs)} run(s); topology {first.get('topology', '?')}; kube-proxy "
               f"{first.get('proxy_mode', '?')}; iperf3 {first.get('seconds', '?')} s and "
               f"{first.get('pings', '?')} pings per path per run.",
               "The fabric is Open vSwitch's userspace datapath on this machine: absolute "
               "figures say more about the machine than the mode; compare the ratios."]
    with open(os.path.join(directory, "report.html"), "w") as fh:
        fh.write(html.render(title, summary, drawn, ratios, figures.mtus(runs), labels,
                             ["report.json", "report.csv"], figures.mtu_behaviour(runs),
                             figures.errors(runs)))
    return ["report.html", *files]
