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
        out[("", "cpu.weight")] = str(1 + ((shares - 2) * 9999) // 262142)
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


@dataclass(frozen=True)
class Cgroups:
    """Creates, fills and removes container cgroups (the effect layer)."""

    parent: str                      # e.g. k8snet/<cluster>/<node>
    root: str = "/sys/fs/cgroup"

    def version(self) -> int:
        return 2 if os.path.exists(os.path.join(self.root, "cgroup.controllers")) else 1

    def _dirs(self, name: str) -> dict:
        try:
            with open("/proc/self/cgroup", encoding="utf-8") as fh:
                mine = own_cgroups(fh.read())
        except OSError:
            mine = {}
        if self.version() == 2:
            return {"": os.path.join(self.root, mine.get("", "/").lstrip("/"), self.parent, name)}
        return {c: os.path.join(self.root, c, mine.get(c, "/").lstrip("/"), self.parent, name)
                for c in V1_CONTROLLERS if os.path.isdir(os.path.join(self.root, c))}

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
