"""Container CPU and memory limits through cgroups (v1 here, v2 where present).

Pure: `cgroup_files` (what to write for a cgroup version, from the CRI
LinuxContainerResources the kubelet computed with
k8snet.machinery.podresources.linux_resources). Effects: `Cgroups`.

Container cgroups go under the runtime's own cgroup of each controller
(read from /proc/self/cgroup), then ``--cgroup-parent``, then the container
ID: on a plain machine /sys/fs/cgroup/<controller>/k8snet/<cluster>/<node>/<id>;
when the runtime itself runs inside a cgroup it stays inside it.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from k8snet.machinery.podresources import CPU_PERIOD_US

LOG = logging.getLogger(__name__)
V1_CONTROLLERS = ("cpu", "cpuacct", "memory", "pids")  # cpuacct: usage for /stats


def cgroup_files(version: int, res: dict) -> dict:
    """{(controller, file): value} to write for LinuxContainerResources values.

    controller is "" for cgroup v2 (one unified directory).
    """
    shares, quota = int(res.get("cpu_shares") or 0), int(res.get("cpu_quota") or 0)
    period = int(res.get("cpu_period") or CPU_PERIOD_US)
    memory = int(res.get("memory_limit_in_bytes") or 0)
    out: dict = {}
    if version == 1:
        if shares:
            out[("cpu", "cpu.shares")] = str(shares)
        out[("cpu", "cpu.cfs_period_us")] = str(period)
        out[("cpu", "cpu.cfs_quota_us")] = str(quota if quota > 0 else -1)
        if memory > 0:
            out[("memory", "memory.limit_in_bytes")] = str(memory)
        return out
    if shares:
        out[("", "cpu.weight")] = str(v2_weight(shares))
    out[("", "cpu.max")] = f"{quota if quota > 0 else 'max'} {period}"
    if memory > 0:
        out[("", "memory.max")] = str(memory)
    return out


def own_cgroups(text: str) -> dict:
    """{controller: path} from /proc/self/cgroup text ("" is the v2 hierarchy)."""
    out: dict = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        for ctrl in parts[1].split(",") if parts[1] else [""]:
            out[ctrl] = parts[2]
    return out


def own_cgroup_paths() -> dict:
    """own_cgroups of this process ({} when /proc says nothing)."""
    try:
        with open("/proc/self/cgroup", encoding="utf-8") as fh:
            return own_cgroups(fh.read())
    except OSError:
        return {}


def hierarchy_dir(root: str, ctrl: str, mine: dict) -> str:
    """The directory of a process's own cgroup of controller `ctrl` ("" is the v2
    hierarchy), from its own_cgroups `mine` (pure)."""
    return os.path.join(root, ctrl, mine.get(ctrl, "/").lstrip("/"))


@dataclass(frozen=True)
class Cgroups:
    """Creates, fills and removes container cgroups (the effect layer)."""

    parent: str                      # e.g. k8snet/<cluster>/<node>
    root: str = "/sys/fs/cgroup"

    def version(self) -> int:
        return 2 if os.path.exists(os.path.join(self.root, "cgroup.controllers")) else 1

    def _dirs(self, name: str) -> dict:
        mine = own_cgroup_paths()
        ctrls = [""] if self.version() == 2 else \
            [c for c in V1_CONTROLLERS if os.path.isdir(os.path.join(self.root, c))]
        return {c: os.path.join(hierarchy_dir(self.root, c, mine), self.parent, name)
                for c in ctrls}

    def create(self, name: str, res: dict) -> tuple[list[str], list[str]]:
        """Make the container's cgroups and write its limits.

        Returns (cgroup.procs files to join, notes on what could not be set).
        """
        dirs, notes = self._dirs(name), []
        procs = []
        for ctrl, path in dirs.items():
            try:
                os.makedirs(path, exist_ok=True)
                procs.append(os.path.join(path, "cgroup.procs"))
            except OSError as exc:
                notes.append(f"cgroup {ctrl or 'v2'} not created: {exc}")
        for (ctrl, fname), value in cgroup_files(self.version(), res).items():
            if ctrl not in dirs:
                notes.append(f"no {ctrl} controller for {fname}")
                continue
            try:
                with open(os.path.join(dirs[ctrl], fname), "w", encoding="ascii") as fh:
                    fh.write(value)
            except OSError as exc:
                notes.append(f"cannot set {fname}={value}: {exc}")
        for note in notes:
            LOG.warning("container %s: %s", name[:12], note)
        return procs, notes

    def procs_of(self, pid: int) -> list[str]:
        """The cgroup.procs files of the cgroups `pid` is in (what an exec joins)."""
        try:
            with open(f"/proc/{pid}/cgroup", encoding="utf-8") as fh:
                theirs = own_cgroups(fh.read())
        except OSError:
            return []
        if self.version() == 2:
            dirs = [os.path.join(self.root, theirs.get("", "/").lstrip("/"))] \
                if "" in theirs else []
        else:
            dirs = [os.path.join(self.root, c, theirs[c].lstrip("/"))
                    for c in V1_CONTROLLERS if c in theirs]
        return [os.path.join(d, "cgroup.procs") for d in dirs
                if os.path.exists(os.path.join(d, "cgroup.procs"))]

    def oom_killed(self, name: str) -> bool:
        """Whether the kernel's OOM killer acted in the container's memory cgroup."""
        dirs = self._dirs(name)
        path = dirs.get("memory") or dirs.get("")
        if not path:
            return False
        for fname, key in (("memory.oom_control", "oom_kill"), ("memory.events", "oom_kill")):
            try:
                with open(os.path.join(path, fname), encoding="ascii") as fh:
                    for line in fh:
                        k, _, v = line.partition(" ")
                        if k == key and int(v or 0) > 0:
                            return True
            except (OSError, ValueError):
                continue
        return False

    def remove(self, name: str) -> None:
        """Remove the container's cgroups (they must hold no process)."""
        for path in self._dirs(name).values():
            try:
                os.rmdir(path)
            except FileNotFoundError:
                pass
            except OSError as exc:
                LOG.warning("cannot remove cgroup %s: %s", path, exc)


# -- a cluster's share of the machine ------------------------------------------------
#
# Each node's containers sit in k8snet/<cluster>/<node>/<id>, with the cpu.shares the
# kubelet computed (2 for a BestEffort container). cgroup v1 weighs a group against
# the *threads* beside it: left at 1024, the whole k8snet group weighed as much as
# one thread of a component in the root cgroup. On 50 workers during a rollout,
# with hundreds of component threads runnable, agnhost processes stayed runnable
# for nine minutes with no CPU at all, and crun's container init, already in its
# cgroup, did not finish within conmon's 15 s: StartError, CrashLoopBackOff, a
# stalled rollout. As on a real node, where the kubepods cgroup weighs the node's
# allocatable CPU, each node's group weighs its CPU capacity (1024 a CPU), and the
# groups above weigh the sum of their children, so nesting does not dilute it.

SHARES_PER_CPU = 1024
V1_MAX_SHARES = 262144


def cpu_shares(cpus: str) -> int:
    """cpu.shares for a node of `cpus` CPUs (a Kubernetes quantity: "2", "1500m")."""
    from k8snet.machinery.quantities import milli_value

    return max(2, min(V1_MAX_SHARES, milli_value(cpus) * SHARES_PER_CPU // 1000))


def top_shares(children: dict) -> int:
    """cpu.shares of a group that weighs the sum of its children's (pure)."""
    return min(V1_MAX_SHARES, sum(children.values()) or 2)


def cluster_weights(cluster: str, node_cpus: dict, others: dict) -> dict:
    """{cgroup path under the cpu hierarchy: cpu.shares} for a cluster's groups: each
    node's by its CPUs, the cluster's as their sum, and k8snet's as the sum of this
    cluster's and `others` (the other clusters' groups' shares now)."""
    nodes = {f"k8snet/{cluster}/{node}": cpu_shares(cpus) for node, cpus in node_cpus.items()}
    total = top_shares(nodes)
    return {"k8snet": top_shares({**others, cluster: total}), f"k8snet/{cluster}": total,
            **nodes}


def v2_weight(shares: int) -> int:
    """cgroup v2's cpu.weight for a v1 cpu.shares value (the mapping runc uses)."""
    return 1 + ((shares - 2) * 9999) // 262142


def v1_shares(weight: int) -> int:
    """The cpu.shares a cgroup v2 cpu.weight stands for: the least that v2_weight maps
    to it (its inverse, to within its rounding)."""
    return max(2, 2 - (-(weight - 1) * 262142 // 9999))


def _cpu_top(root: str) -> tuple[str, bool]:
    """(k8snet's cpu group under this process's own cgroup, whether it is v2)."""
    v2 = os.path.exists(os.path.join(root, "cgroup.controllers"))
    return os.path.join(hierarchy_dir(root, "" if v2 else "cpu", own_cgroup_paths()),
                        "k8snet"), v2


def _children_shares(top: str, v2: bool, skip: str = "") -> dict:
    """{cluster: its group's cpu.shares now} for the groups under `top`."""
    fname = "cpu.weight" if v2 else "cpu.shares"
    out = {}
    for name in os.listdir(top) if os.path.isdir(top) else []:
        try:
            with open(os.path.join(top, name, fname), encoding="ascii") as fh:
                value = int(fh.read().strip())
        except (OSError, ValueError):
            continue   # not a group, or not one of ours to weigh
        if name != skip:
            out[name] = v1_shares(value) if v2 else value
    return out


def _write_shares(path: str, shares: int, v2: bool) -> None:
    if v2:   # the parent must hand the cpu controller down; best effort
        with open(os.path.join(os.path.dirname(path), "cgroup.subtree_control"), "w",
                  encoding="ascii") as fh:
            fh.write("+cpu")
    with open(os.path.join(path, "cpu.weight" if v2 else "cpu.shares"), "w",
              encoding="ascii") as fh:
        fh.write(str(v2_weight(shares) if v2 else shares))


def weigh_cluster(cluster: str, node_cpus: dict, root: str = "/sys/fs/cgroup") -> list:
    """Create the cluster's cpu groups with their weights (see `cluster_weights`), under
    this process's own cgroup as the runtime does; notes on what could not be set."""
    top, v2 = _cpu_top(root)
    base = os.path.dirname(top)
    if not os.path.isdir(base):
        return [f"no cpu cgroup hierarchy at {base}"]
    others = _children_shares(top, v2, skip=cluster)
    notes = []
    for path, shares in sorted(cluster_weights(cluster, node_cpus, others).items()):
        full = os.path.join(base, path)
        try:
            os.makedirs(full, exist_ok=True)
            _write_shares(full, shares, v2)
        except OSError as exc:
            notes.append(f"cpu weight of {path} not set: {exc}")
    return notes


def reweigh_top(root: str = "/sys/fs/cgroup") -> None:
    """Once a cluster's groups are gone: k8snet's group weighs the clusters left (and
    keeps its weight when none is)."""
    top, v2 = _cpu_top(root)
    left = _children_shares(top, v2)
    if left:
        try:
            _write_shares(top, top_shares(left), v2)
        except OSError as exc:
            LOG.warning("cpu weight of %s not set: %s", top, exc)
