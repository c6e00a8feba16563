"""Issue 15's performance figures: their targets, ratios to same-run baselines,
the comparison with a previous run, the Markdown table, and the headlines of a
py-spy profile. Pure: benchmarks/bench_perf.py measures, this module judges and
renders.

A `Figure` is one number with the direction that is better (``lower`` for a
time or a size, ``higher`` for a rate). When a baseline was measured in the
same run, the figure's *cost ratio* says how many times the baseline's cost it
is: value / baseline for a lower-is-better figure, baseline / value for a
rate; 1.0 is as cheap as the baseline. On a shared, noisy machine the ratio is
what compares across runs; the raw value is what compares with a target.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

# A change of this fraction or more, for the worse, marks a regression (the
# machine is shared: smaller changes are within its noise).
REGRESSION = 0.20


@dataclass(frozen=True)
class Target:
    """What issue 15 asks of one figure, and what it measured before."""

    value: Optional[float]     # None: the issue sets no target
    issue_now: str             # the issue's "now" column, as written there


# Issue 15's table: figure key -> target (same unit as the figure). MB in the
# issue are taken as MiB (PSS is counted in KiB pages).
TARGETS: Dict[str, Target] = {
    "up_ls_4w": Target(None, "29-30 s"),
    "up_ls_4w_apiserver_ready": Target(None, "16-17 s"),
    "up_ls_8w": Target(10.0, "32 s"),
    "up_ls_8w_network_only": Target(None, "6.1 s"),
    "up_single_50w": Target(30.0, "100-149 s"),
    "scale_busybox_rate": Target(None, "- (1,000 Pods on 50 workers, all Running)"),
    "scale_memory_per_pod": Target(None, "-"),
    "scale_rollout_seconds": Target(None, "-"),
    "scale_probe": Target(None, "- (probe still passing)"),
    "pods_add_rate": Target(20.0, "3.6 Pods/s"),
    "pods_add_seconds": Target(None, "54-56 s"),
    "pod_startup_p50": Target(None, "-"),
    "pod_startup_p99": Target(None, "- (SLO 5 s)"),
    "pod_startup_paced_p50": Target(None, "-"),
    "pod_startup_paced_p99": Target(1.0, "- (SLO 5 s; target at 20 Pods/s)"),
    "pods_delete_grace1_rate": Target(20.0, "7 Pods/s"),
    "pods_delete_default_rate": Target(20.0, "about 1.5 Pods/s"),
    "mem_per_worker": Target(30.0, "63 MB"),
    "mem_per_worker_separate": Target(None, "-"),
    "mem_per_pod_system": Target(1.5, "8.8 MB"),
    "mem_per_pod_cluster": Target(1.5, "8.8 MB"),
    "mem_shim": Target(1.0, "8.2 MB"),
    "mem_apiserver": Target(None, "50 MB"),
    "control_plane_stop": Target(1.0, "11-12 s"),
}


@dataclass
class Figure:
    """One measured number, with its same-run baseline if it has one."""

    key: str
    label: str
    value: Optional[float]           # None: not measured in this run (say why in note)
    unit: str
    better: str = "lower"            # or "higher"
    baseline: Optional[float] = None
    baseline_label: str = ""
    note: str = ""
    extra: Dict[str, object] = field(default_factory=dict)

    def to_dict(self) -> Dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, doc: Dict) -> Figure:
        known = {k: doc[k] for k in cls.__dataclass_fields__ if k in doc}
        return cls(**known)


def cost_ratio(value: Optional[float], baseline: Optional[float],
               better: str = "lower") -> Optional[float]:
    """How many times the baseline's cost ``value`` is (see the module doc);
    None when either is missing or zero."""
    if value is None or baseline is None or value <= 0 or baseline <= 0:
        return None
    return value / baseline if better == "lower" else baseline / value


def ratio_of(fig: Figure) -> Optional[float]:
    return cost_ratio(fig.value, fig.baseline, fig.better)


def verdict(value: Optional[float], target: Optional[float], better: str = "lower") -> str:
    """``met`` or how far off the target is (``3.2x off``); ``-`` without a
    target or a value."""
    if value is None or target is None:
        return "-"
    if better == "lower":
        if value <= target:
            return "met"
        return f"{value / target:.1f}x off"
    if value >= target:
        return "met"
    return f"{target / value:.1f}x off" if value > 0 else "not met"


def _worse(before: Optional[float], now: Optional[float], better: str) -> Optional[float]:
    """Fractional change for the worse from ``before`` to ``now`` (positive: worse)."""
    if before is None or now is None or before <= 0 or now <= 0:
        return None
    return now / before - 1 if better == "lower" else before / now - 1


def change(now: Figure, before: Optional[Figure]) -> Tuple[Optional[float], str]:
    """(fractional change for the worse, text) of ``now`` against ``before``.

    Both the raw values and, when both runs have one, the cost ratios are
    compared (the ratio cancels the machine's load, but only as far as the
    baseline tracks it). Positive is worse. ``REGRESSION`` when every
    comparison available got worse by `REGRESSION` or more, ``better`` when
    every one improved by as much; the number returned is the smallest change
    in that direction (0 when the comparisons disagree)."""
    if before is None or now.value is None or before.value is None:
        return None, "-"
    by_value = _worse(before.value, now.value, now.better)
    by_ratio = _worse(ratio_of(before), ratio_of(now), "lower")
    got = [w for w in (by_value, by_ratio) if w is not None]
    if not got:
        return None, "-"
    parts = []
    if by_value is not None:
        parts.append(f"value {'+' if by_value >= 0 else ''}{by_value * 100:.0f}%")
    if by_ratio is not None:
        parts.append(f"ratio {'+' if by_ratio >= 0 else ''}{by_ratio * 100:.0f}%")
    text = ", ".join(parts)
    if min(got) >= REGRESSION:
        text += " REGRESSION"
    elif max(got) <= -REGRESSION:
        text += " better"
    if min(got) >= 0:
        return min(got), text      # worse in every comparison: by the least of them
    if max(got) <= 0:
        return max(got), text      # better in every comparison: by the least of them
    return 0.0, text               # the comparisons disagree


def fmt(value: Optional[float], unit: str) -> str:
    if value is None:
        return "-"
    digits = 2 if abs(value) < 10 else 1 if abs(value) < 100 else 0
    return f"{value:.{digits}f} {unit}".strip()


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(figures: Sequence[Figure], previous: Optional[Dict[str, Figure]] = None,
             title: str = "k8snet performance (issue 15)", context: Sequence[str] = ()) -> str:
    """The table: each figure, its same-run baseline and ratio, issue 15's
    figure and target with a verdict, and the previous run's value with the
    change."""
    previous = previous or {}
    lines = [f"# {title}", ""]
    lines += [f"{c}  " for c in context]
    if context:
        lines.append("")
    lines += ["| figure | this run | baseline (same run) | cost ratio | issue 15 now | target "
              "| verdict | previous | change |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for fig in figures:
        target = TARGETS.get(fig.key)
        before = previous.get(fig.key)
        ratio = ratio_of(fig)
        _, delta = change(fig, before)
        base = f"{fmt(fig.baseline, fig.unit)} {fig.baseline_label}".strip() \
            if fig.baseline is not None else "-"
        value = fmt(fig.value, fig.unit) if fig.value is not None else \
            f"not measured{': ' + fig.note if fig.note else ''}"
        lines.append("| " + " | ".join(_cell(c) for c in [
            fig.label, value, base, "-" if ratio is None else f"{ratio:.1f}x",
            target.issue_now if target else "-",
            fmt(target.value, fig.unit) if target and target.value is not None else "-",
            verdict(fig.value, target.value if target else None, fig.better),
            fmt(before.value, before.unit) if before else "-", delta]) + " |")
    notes = [f for f in figures if f.note and f.value is not None]
    if notes:
        lines += ["", "What each figure measures:", ""]
        lines += [f"- **{f.label}**: {f.note}" for f in notes]
    return "\n".join(lines) + "\n"


def regressions(figures: Sequence[Figure], previous: Dict[str, Figure]) -> List[str]:
    """Keys of the figures that got worse by `REGRESSION` or more."""
    out = []
    for fig in figures:
        worse, _ = change(fig, previous.get(fig.key))
        if worse is not None and worse >= REGRESSION:
            out.append(fig.key)
    return out


# -- bring-up progress ---------------------------------------------------------

PROGRESS_RE = re.compile(r"^\[\s*(\d+(?:\.\d+)?)s\]\s(.*)$")
PAIRS_RE = re.compile(r"^(\d+)/(\d+) node pairs reach each other$")
NODES_RE = re.compile(r"^(\d+)/(\d+) worker nodes Ready$")


def progress_lines(text: str) -> List[Tuple[float, str]]:
    """(seconds since the command started, text) of ``k8snet up``'s progress lines."""
    out = []
    for line in text.splitlines():
        m = PROGRESS_RE.match(line.strip())
        if m:
            out.append((float(m.group(1)), m.group(2)))
    return out


def bring_up_phases(lines: Iterable[Tuple[float, str]]) -> Dict[str, float]:
    """When each milestone of ``up`` was reported (seconds since the command
    started): ``building`` (the fabric), ``switches`` (all connected to the
    controller), ``reachable`` (every node pair reaches each other: the end of
    the network part), ``apiserver`` (it answers through the port forward),
    ``nodes_ready`` (every worker Node Ready)."""
    out: Dict[str, float] = {}
    for t, text in lines:
        if text.startswith("building ") and "building" not in out:
            out["building"] = t
        elif "switch(es) connected" in text:
            out["switches"] = t
        elif PAIRS_RE.match(text):
            done, total = map(int, PAIRS_RE.match(text).groups())
            if done == total:
                out["reachable"] = t
        elif text.startswith("apiserver ready"):
            out["apiserver"] = t
        elif NODES_RE.match(text):
            done, total = map(int, NODES_RE.match(text).groups())
            if done == total:
                out.setdefault("nodes_ready", t)
    return out


def phase_durations(phases: Dict[str, float]) -> List[Tuple[str, float]]:
    """The wall time between consecutive milestones, named by what happened."""
    steps = [("start", 0.0)] + sorted(phases.items(), key=lambda kv: kv[1])
    names = {"building": "CLI start, preflight, supervisor start",
             "switches": "Mininet build + switches connected",
             "reachable": "all-pairs reachability",
             "apiserver": "control plane started, apiserver answers (+ DNS add-on)",
             "nodes_ready": "node components started, all Nodes Ready"}
    return [(names.get(b[0], b[0]), b[1] - a[1]) for a, b in zip(steps, steps[1:])]


# -- component logs -----------------------------------------------------------------

LOG_STAMP_RE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) ")

# What each worker's start-up reaches, in order: (name, log file, text in the line);
# a None text means the log's first stamped line.
NODE_MILESTONES = [
    ("runtime serving", "runtime.log", "serving CRI"),
    ("policy agent ready", "policy-agent.log", "applied "),
    ("kube-proxy synced", "kube-proxy.log", "synced "),
    ("kubelet first log line", "kubelet.log", None),
    ("kubelet serving (imports, TLS, clients made)", "kubelet.log", "serving logs"),
    ("kubelet registered the Node", "kubelet.log", "registered node"),
    ("kubelet got its podCIDR", "kubelet.log", "podCIDR"),
]


def log_stamp(line: str) -> Optional[float]:
    """The epoch seconds of a component log line (``2026-12-03 07:51:25,869 ...``,
    local time as the logging module writes it), else None."""
    import time

    m = LOG_STAMP_RE.match(line)
    if not m:
        return None
    return time.mktime(time.strptime(m.group(1), "%Y-%m-%d %H:%M:%S")) + \
        int(m.group(2)) / 1000


def first_stamp(text: str, needle: Optional[str] = None) -> Optional[float]:
    """The stamp of the first line containing ``needle`` (any stamped line if None)."""
    for line in text.splitlines():
        if needle is None or needle in line:
            stamp = log_stamp(line)
            if stamp is not None:
                return stamp
    return None


def timeline_summary(per_node: Dict[str, Dict[str, float]]) -> List[Tuple[str, float, float]]:
    """(milestone, mean, max) over nodes of seconds since ``up`` started, in the
    order of `NODE_MILESTONES`, for the milestones any node reached."""
    out = []
    for name, _, _ in NODE_MILESTONES:
        got = [times[name] for times in per_node.values() if name in times]
        if got:
            out.append((name, sum(got) / len(got), max(got)))
    return out


# -- py-spy profiles ---------------------------------------------------------------

FRAME_RE = re.compile(r"^(.*) \((.*?)(?::(\d+))?\)$")
OURS_RE = re.compile(r"[(/](?:k8snet|controllers)/")
MODULE_RE = re.compile(r"(?:^|\s)-m\s+(\S+)(?:\s+(\S+))?")


def component_of(cmdline: str) -> str:
    """A process's kind from its command line: the k8snet subcommand
    (``kubelet``, ``apiserver``...), else the module run with -m
    (``k8snet.cri.shim`` -> ``shim``), else the program's name."""
    m = MODULE_RE.search(cmdline)
    if m:
        module, sub = m.group(1), m.group(2)
        if module in ("k8snet.cli", "k8snet") and sub:
            return sub
        return module.rsplit(".", 1)[-1]
    words = cmdline.split()
    if not words:
        return "?"
    prog = words[0].rsplit("/", 1)[-1]
    if prog.startswith("python") and len(words) > 1:
        return words[1].rsplit("/", 1)[-1].removesuffix(".py")
    return prog


@dataclass
class Stack:
    component: str
    pid: int
    frames: List[str]          # root first: "function (file:line)"
    count: int


def parse_raw(text: str) -> List[Stack]:
    """py-spy's ``--format raw`` output (collapsed stacks, one per line, with
    ``--subprocesses`` the process chain first) as stacks of the innermost process."""
    out = []
    for line in text.splitlines():
        head, _, count = line.rstrip().rpartition(" ")
        if not head or not count.isdigit():
            continue
        parts = head.split(";")
        procs = [i for i, p in enumerate(parts) if p.startswith("process ")]
        pid, comp = 0, "?"
        if procs:
            last = parts[procs[-1]]
            m = re.match(r'process (\d+):"?(.*?)"?$', last)
            if m:
                pid, comp = int(m.group(1)), component_of(m.group(2))
            parts = parts[procs[-1] + 1:]
        out.append(Stack(comp, pid, parts, int(count)))
    return out


def frame_key(frame: str, root: str = "") -> str:
    """``function (file)``, the file relative to ``root`` and without its line,
    so that samples of one function at different lines add up."""
    m = FRAME_RE.match(frame)
    if not m:
        return frame
    path = m.group(2)
    if root and path.startswith(root):
        path = path[len(root):].lstrip("/")
    for marker in ("/site-packages/", "/dist-packages/", "/lib/python3."):
        if marker in path:
            path = path.split(marker, 1)[1]
            if marker == "/lib/python3.":
                path = path.split("/", 1)[-1]
            break
    return f"{m.group(1)} ({path})"


def is_import(frame: str) -> bool:
    """A frame of the import system (a module being found, loaded or run)."""
    return frame.startswith("_find_and_load ")


@dataclass
class ComponentProfile:
    component: str
    processes: int
    samples: int
    import_samples: int
    inclusive: List[Tuple[str, int]]   # k8snet functions, most samples first
    own: List[Tuple[str, int]]         # innermost frames, most samples first


def profile_headlines(stacks: Sequence[Stack], root: str = "", top: int = 8,
                      entry_share: float = 0.97) -> List[ComponentProfile]:
    """Per component, most samples first: its processes, samples, samples
    inside an import, the k8snet functions with the most samples under them
    (leaving out entry points present in at least ``entry_share`` of its
    samples) and the innermost frames with the most samples."""
    by_comp: Dict[str, List[Stack]] = {}
    for s in stacks:
        by_comp.setdefault(s.component, []).append(s)
    out = []
    for comp, items in by_comp.items():
        total = sum(s.count for s in items)
        inclusive: Dict[str, int] = {}
        own: Dict[str, int] = {}
        imports = 0
        for s in items:
            keys = [frame_key(f, root) for f in s.frames]
            if any(is_import(f) for f in s.frames):
                imports += s.count
            for k in set(keys):
                if OURS_RE.search(k):
                    inclusive[k] = inclusive.get(k, 0) + s.count
            if keys:
                own[keys[-1]] = own.get(keys[-1], 0) + s.count
        ranked = sorted(((k, n) for k, n in inclusive.items() if n < entry_share * total),
                        key=lambda kv: -kv[1])
        out.append(ComponentProfile(comp, len({s.pid for s in items}), total, imports,
                                    ranked[:top],
                                    sorted(own.items(), key=lambda kv: -kv[1])[:top]))
    return sorted(out, key=lambda p: -p.samples)


def profile_markdown(title: str, profiles: Sequence[ComponentProfile], rate: float,
                     wall: Optional[float] = None, top_components: int = 8) -> str:
    """A profile's headlines: active seconds per component (samples / rate; py-spy
    counts a thread that runs or waits for a CPU, so on a loaded machine this is
    more than its CPU time), the share spent importing, and each component's top
    functions."""
    total = sum(p.samples for p in profiles) or 1
    lines = [f"## {title}", ""]
    if wall:
        lines.append(f"Wall time {wall:.1f} s; {total / rate:.1f} active s sampled in all "
                     f"profiled processes ({total / rate / wall:.2f} on average; active: "
                     "a thread holding its process's interpreter lock).")
        lines.append("")
    lines += ["| component | processes | active s | share | in imports |",
              "| --- | --- | --- | --- | --- |"]
    for p in profiles:
        lines.append(f"| {p.component} | {p.processes} | {p.samples / rate:.1f} | "
                     f"{100 * p.samples / total:.0f}% | "
                     f"{100 * p.import_samples / max(1, p.samples):.0f}% |")
    for p in profiles[:top_components]:
        lines += ["", f"**{p.component}** ({p.samples / rate:.1f} active s): most time under",
                  ""]
        lines += [f"- {100 * n / p.samples:.0f}% {_cell(k)}" for k, n in p.inclusive]
        lines += ["", "innermost frames: " + "; ".join(
            f"{_cell(k)} {100 * n / p.samples:.0f}%" for k, n in p.own[:5])]
    return "\n".join(lines) + "\n"
