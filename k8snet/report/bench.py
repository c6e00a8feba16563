"""The report of a ``make bench`` run: what each benchmark printed, its wall
time and exit status, and plots of the time figures it printed.

The benchmarks print text for people (tables, ``label: 12 ms`` lines), not
a schema, and a line that is a JSON object is taken as it is. Figures are
read from each printed line as ``number unit`` pairs, a figure labelled by
its line with its own number blanked out; under a table heading whose
columns name a time unit (``render ms``), from each row's cells in those
columns, labelled by the row's other cells. Only time figures (ns to s,
converted to ms) are plotted, one chart per benchmark, since bars of
different units on one axis would compare nothing; every other figure is
in the tables and ``bench.json``, and the printed text stays on the page
as the authority.
"""

from __future__ import annotations

import html
import json
import os
import re
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Sequence

# A number, then a unit right after it (unit words must end at a word boundary).
FIGURE_RE = re.compile(
    r"(?<![\w.])(-?\d+(?:\.\d+)?)\s?(ns|us|µs|ms|s|sec|min|KiB|MiB|GiB|kB|MB|GB|"
    r"[A-Za-z]+/s|/s|%|x)(?![\w/])")
TO_MS = {"ns": 1e-6, "us": 1e-3, "µs": 1e-3, "ms": 1.0, "s": 1e3, "sec": 1e3, "min": 6e4}
MAX_PLOTTED = 30   # figures per chart; a longer list is cut, and the page says so


@dataclass
class Figure:
    """One number a benchmark printed, with what it measures and its unit."""

    label: str
    value: float
    unit: str


@dataclass
class BenchRun:
    """One benchmark module's run."""

    name: str
    seconds: float
    status: int
    output: str
    figures: List[Figure] = field(default_factory=list)
    json_lines: List[dict] = field(default_factory=list)


def line_figures(line: str) -> List[Figure]:
    """The ``number unit`` figures of one printed line, each labelled by the
    line with its own number blanked (``P50 #ms, P99 3940 ms``)."""
    text = re.sub(r"\s+", " ", line.strip())
    out = []
    for m in FIGURE_RE.finditer(text):
        label = f"{text[:m.start()]}#{m.group(2)}{text[m.end():]}"
        out.append(Figure(label, float(m.group(1)), m.group(2)))
    return out


UNIT_COLUMN_RE = re.compile(r"(?:^|\s)(" + "|".join(map(re.escape, TO_MS)) + r")$")
NUMBER_RE = re.compile(r"-?\d+(?:\.\d+)?$")


def table_header(line: str) -> Optional[List[str]]:
    """Column names of a table heading such as ``mode  services  render ms``
    (columns apart by two spaces or more, at least one named with a time
    unit and no number in it), else None."""
    columns = re.split(r"\s{2,}", line.strip())
    if len(columns) < 2 or FIGURE_RE.search(line) or \
            not any(UNIT_COLUMN_RE.search(c) for c in columns):
        return None
    return columns


def table_row(columns: List[str], line: str) -> Optional[List[Figure]]:
    """A row under ``columns``: one figure per unit column, labelled by the
    row's other cells and the column; None when the line is no such row."""
    cells = line.split()
    if len(cells) != len(columns):
        return None
    units = [UNIT_COLUMN_RE.search(c) for c in columns]
    if not all(NUMBER_RE.match(cell) for cell, u in zip(cells, units) if u):
        return None
    key = " ".join(f"{c}={cell}" for c, cell, u in zip(columns, cells, units) if not u)
    return [Figure(f"{key} {c[:u.start()].strip() or c}".strip(), float(cell), u.group(1))
            for c, cell, u in zip(columns, cells, units) if u]


def parse_output(name: str, seconds: float, status: int, output: str) -> BenchRun:
    run = BenchRun(name, seconds, status, output)
    columns: Optional[List[str]] = None     # of the table being read
    for line in output.splitlines():
        text = line.strip()
        row = table_row(columns, text) if columns else None
        if row is not None:
            run.figures += row
            continue
        columns = table_header(text)
        if columns:
            continue
        if text.startswith("{") and text.endswith("}"):
            try:
                doc = json.loads(text)
            except ValueError:
                doc = None
            if isinstance(doc, dict):
                run.json_lines.append(doc)
                run.figures += [Figure(k, float(v), "") for k, v in doc.items()
                                if isinstance(v, (int, float)) and not isinstance(v, bool)]
                continue
        run.figures += line_figures(text)
    return run


def time_figures(run: BenchRun) -> List[Figure]:
    """The run's figures in time units, as milliseconds."""
    return [Figure(f.label, f.value * TO_MS[f.unit], "ms") for f in run.figures
            if f.unit in TO_MS]


def bench_figure(run: BenchRun):
    """Horizontal bars: each time figure the benchmark printed, in ms, with
    its value written beside it (log scale when they span over two decades)."""
    from k8snet.report.plots import Figure as MplFigure
    from k8snet.report.plots import wrap

    figs = time_figures(run)[:MAX_PLOTTED]
    fig = MplFigure(figsize=(11, 1.4 + 0.45 * max(1, len(figs))), layout="constrained")
    ax = fig.add_subplot()
    bars = ax.barh(range(len(figs)), [f.value for f in figs], color="#1e88e5")
    ax.bar_label(bars, [f"{f.value:.0f}" if f.value >= 1000 else f"{f.value:.4g}"
                          for f in figs], fontsize=7, padding=2)
    ax.set_yticks(range(len(figs)), [wrap(f.label, 55) for f in figs], fontsize=7)
    ax.invert_yaxis()
    positive = [f.value for f in figs if f.value > 0]
    if positive and max(positive) / min(positive) > 100:
        ax.set_xscale("log")
    ax.set_xlabel("milliseconds (as printed by the benchmark)")
    ax.set_title(run.name)
    return fig


def walltime_figure(runs: Sequence[BenchRun]):
    from k8snet.report.plots import Figure as MplFigure

    fig = MplFigure(figsize=(11, 1.4 + 0.3 * max(1, len(runs))), layout="constrained")
    ax = fig.add_subplot()
    ax.barh(range(len(runs)), [r.seconds for r in runs],
            color=["#43a047" if r.status == 0 else "#e53935" for r in runs])
    ax.set_yticks(range(len(runs)), [r.name for r in runs], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("wall seconds (red: exited non-zero)")
    ax.set_title("make bench: each benchmark's run")
    return fig


def render(runs: Sequence[BenchRun], plots: Dict[str, Optional[str]], when: str) -> str:
    """``bench.html``: ``plots`` maps a run name (or "" for wall time) to an image."""
    from k8snet.report.html import table

    def img(name: str, caption: str) -> str:
        src = plots.get(name)
        return (f"<figure><img src=\"{html.escape(src)}\" alt=\"{html.escape(caption)}\">"
                f"<figcaption>{html.escape(caption)}</figcaption></figure>") if src else ""

    summary = table(["benchmark", "exit", "wall s", "figures read"],
                    [[r.name, str(r.status), f"{r.seconds:.1f}", str(len(r.figures))]
                     for r in runs])
    sections = []
    for r in runs:
        timed = len(time_figures(r))
        cut = f" (the first {MAX_PLOTTED} of {timed})" if timed > MAX_PLOTTED else ""
        others = [f for f in r.figures if f.unit not in TO_MS]
        sections.append(
            f"<h2 id=\"{html.escape(r.name)}\">{html.escape(r.name)}</h2>"
            + img(r.name, f"time figures printed by {r.name}{cut}, in ms")
            + (table(["figure", "value", "unit"], [[f.label, f"{f.value:g}", f.unit]
                                                  for f in others]) if others else "")
            + f"<details><summary>printed output</summary><pre>{html.escape(r.output)}"
              "</pre></details>")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>k8snet make bench</title>
<link rel="icon" href="data:,">
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 20px auto; max-width: 1000px; }}
table {{ border-collapse: collapse; margin: 8px 0 16px; }}
td, th {{ border: 1px solid #ccc; padding: 3px 8px; text-align: left; }}
img {{ max-width: 100%; }} pre {{ font-size: 12px; background: #f5f5f5; padding: 6px; }}
figcaption {{ color: #555; font-size: 12px; }}
</style></head><body>
<h1>make bench, {html.escape(when)}</h1>
<p>Each figure below was read from the text the benchmark printed (a number
followed by a unit, labelled by its line); the printed output under each
benchmark is the authority. Benchmarks measure on this shared machine: compare
the ratios a benchmark prints more than absolute figures. Raw data:
<a href="bench.json">bench.json</a>.</p>
{summary}
{img("", "wall time per benchmark")}
{"".join(sections)}
</body></html>
"""


def write_bench_report(directory: str, runs: Sequence[BenchRun], when: str) -> List[str]:
    """``bench.html``, ``bench.json`` and the PNG/SVG plots in ``directory``."""
    from k8snet.report.plots import save

    os.makedirs(directory, exist_ok=True)
    files, plots = [], {}
    if runs:
        names = save(walltime_figure(runs), directory, "bench_walltime")
        files += names
        plots[""] = names[1]
    for r in runs:
        if time_figures(r):
            names = save(bench_figure(r), directory, f"bench_{r.name}")
            files += names
            plots[r.name] = names[1]
    with open(os.path.join(directory, "bench.json"), "w") as fh:
        json.dump({"when": when, "runs": [asdict(r) for r in runs]}, fh, indent=2)
    with open(os.path.join(directory, "bench.html"), "w") as fh:
        fh.write(render(runs, plots, when))
    return ["bench.html", "bench.json", *files]
