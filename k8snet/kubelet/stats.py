"""Container CPU and memory from cgroups, as the kubelet's /stats/summary and
/metrics/resource report them (what metrics-server, hence `kubectl top`, reads).

Pure parts: parsing cgroup files, the working set (usage minus inactive file
pages, as cAdvisor counts it), CPU rate between two samples, and the JSON and
Prometheus text shapes. `read_sample` is the one effect: files under
/sys/fs/cgroup for a container's first process. A node's figures are the sum
of its Pods' (every emulated node shares one machine, so the machine's own
counters would say nothing about one node).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterable, Optional

CGROUP_ROOT = "/sys/fs/cgroup"


@dataclass(frozen=True)
class Sample:
    """Cumulative CPU (ns) and the memory working set (bytes) at `at` (seconds)."""

    cpu_ns: int
    working_set: int
    at: float


@dataclass(frozen=True)
class ContainerStats:
    namespace: str
    pod: str
    pod_uid: str
    container: str
    start: str                  # RFC 3339
    sample: Sample
    nano_cores: Optional[int]   # None until two samples exist


def cgroup_dirs(proc_cgroup: str, root: str = CGROUP_ROOT) -> dict:
    """{"v2": dir} or {"cpuacct": dir, "memory": dir} from /proc/PID/cgroup text."""
    v1, v2 = {}, None
    for line in proc_cgroup.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if parts[0] == "0" and parts[1] == "":
            v2 = parts[2]
        for ctrl in parts[1].split(","):
            if ctrl in ("cpuacct", "memory"):
                v1[ctrl] = os.path.join(root, ctrl, parts[2].lstrip("/"))
    if "cpuacct" in v1 or "memory" in v1:
        return v1
    return {"v2": os.path.join(root, v2.lstrip("/"))} if v2 is not None else {}


def stat_value(text: str, key: str) -> int:
    """A `key value` line of cpu.stat or memory.stat (0 when absent)."""
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name == key and value.strip().isdigit():
            return int(value)
    return 0


def working_set(usage: int, memory_stat: str, v2: bool) -> int:
    inactive = stat_value(memory_stat, "inactive_file" if v2 else "total_inactive_file")
    return max(0, usage - inactive)


def nano_cores(prev: Optional[Sample], cur: Sample) -> Optional[int]:
    """CPU use between two samples, in billionths of a core."""
    if prev is None or cur.at <= prev.at or cur.cpu_ns < prev.cpu_ns:
        return None
    return int((cur.cpu_ns - prev.cpu_ns) / (cur.at - prev.at))


def _read(path: str) -> str:
    with open(path, encoding="ascii") as fh:
        return fh.read()


def read_sample(pid: int, now: float, root: str = CGROUP_ROOT) -> Optional[Sample]:
    """The sample of the cgroups `pid` is in (None when they cannot be read)."""
    try:
        dirs = cgroup_dirs(_read(f"/proc/{pid}/cgroup"), root)
        if "v2" in dirs:
            d = dirs["v2"]
            cpu = stat_value(_read(os.path.join(d, "cpu.stat")), "usage_usec") * 1000
            mem = working_set(int(_read(os.path.join(d, "memory.current"))),
                              _read(os.path.join(d, "memory.stat")), True)
        else:
            cpu = int(_read(os.path.join(dirs["cpuacct"], "cpuacct.usage")))
            mem = working_set(int(_read(os.path.join(dirs["memory"], "memory.usage_in_bytes"))),
                              _read(os.path.join(dirs["memory"], "memory.stat")), False)
    except (OSError, KeyError, ValueError):
        return None
    return Sample(cpu, mem, now)


def _rfc3339(seconds: float) -> str:
    import datetime
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def _cpu(s: Sample, cores: Optional[int]) -> dict:
    out = {"time": _rfc3339(s.at), "usageCoreNanoSeconds": s.cpu_ns}
    if cores is not None:
        out["usageNanoCores"] = cores
    return out


def _mem(s: Sample) -> dict:
    return {"time": _rfc3339(s.at), "workingSetBytes": s.working_set,
            "usageBytes": s.working_set}


def _total(stats: Iterable[ContainerStats], now: float) -> tuple[Sample, Optional[int]]:
    stats = list(stats)
    cores = [c.nano_cores for c in stats]
    return (Sample(sum(c.sample.cpu_ns for c in stats), sum(c.sample.working_set
                                                                for c in stats), now),
            None if any(c is None for c in cores) else sum(c or 0 for c in cores))


def summary(node_name: str, start: float, now: float, stats: list) -> dict:
    """The kubelet's /stats/summary (the fields metrics-server reads)."""
    pods: dict = {}
    for c in stats:
        pods.setdefault((c.namespace, c.pod, c.pod_uid), []).append(c)
    node_sample, node_cores = _total(stats, now)
    return {
        "node": {"nodeName": node_name, "startTime": _rfc3339(start),
                 "cpu": _cpu(node_sample, node_cores), "memory": _mem(node_sample)},
        "pods": [{"podRef": {"name": pod, "namespace": ns, "uid": uid},
                  "startTime": min(c.start for c in cs),
                  "containers": [{"name": c.container, "startTime": c.start,
                                  "cpu": _cpu(c.sample, c.nano_cores),
                                  "memory": _mem(c.sample)} for c in cs],
                  "cpu": _cpu(*_total(cs, now)), "memory": _mem(_total(cs, now)[0])}
                 for (ns, pod, uid), cs in sorted(pods.items())],
    }


def resource_metrics(stats: list, now: float) -> str:
    """/metrics/resource in the Prometheus text format (timestamps in ms)."""
    ms = int(now * 1000)
    node, _ = _total(stats, now)
    lines = ["# HELP node_cpu_usage_seconds_total Cumulative cpu time consumed by the node "
             "in core-seconds", "# TYPE node_cpu_usage_seconds_total counter",
             f"node_cpu_usage_seconds_total {node.cpu_ns / 1e9:.9f} {ms}",
             "# HELP node_memory_working_set_bytes Current working set of the node in bytes",
             "# TYPE node_memory_working_set_bytes gauge",
             f"node_memory_working_set_bytes {node.working_set} {ms}",
             "# HELP container_cpu_usage_seconds_total Cumulative cpu time consumed by the "
             "container in core-seconds", "# TYPE container_cpu_usage_seconds_total counter"]
    for c in stats:
        lines.append(f'container_cpu_usage_seconds_total{{container="{c.container}",'
                     f'namespace="{c.namespace}",pod="{c.pod}"}} {c.sample.cpu_ns / 1e9:.9f} '
                     f"{int(c.sample.at * 1000)}")
    lines += ["# HELP container_memory_working_set_bytes Current working set of the "
              "container in bytes", "# TYPE container_memory_working_set_bytes gauge"]
    for c in stats:
        lines.append(f'container_memory_working_set_bytes{{container="{c.container}",'
                     f'namespace="{c.namespace}",pod="{c.pod}"}} {c.sample.working_set} '
                     f"{int(c.sample.at * 1000)}")
    return "\n".join(lines) + "\n"
