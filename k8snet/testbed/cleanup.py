"""`k8snet clean` and `k8snet down`: remove what k8snet made, nothing else.

What to remove is decided by ``plan_clean`` from listings (bridges, network
namespaces, links, recorded processes, processes living in k8snet's
namespaces); the functions below it only gather listings and apply the plan.
Names are matched against ``k8snet.naming``'s patterns, never by a loose
substring, and processes are found by recorded PID and start time or by the
network namespace they live in, never by command-line pattern.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional

from k8snet import naming
from k8snet.cri import cgroups
from k8snet.testbed import state as st
from k8snet.testbed.state import ClusterRecords, ProcessRecord

SWITCH_PORT_RE = re.compile(r"^kn([a-z][a-z0-9]{0,5})-[slx]\d{1,3}p\d{1,3}$")
CGROUP_ROOT = "/sys/fs/cgroup"


@dataclass
class CleanPlan:
    records: List[ProcessRecord] = field(default_factory=list)  # recorded processes
    pids: List[int] = field(default_factory=list)       # processes inside k8snet netns
    bridges: List[str] = field(default_factory=list)
    netns: List[str] = field(default_factory=list)
    links: List[str] = field(default_factory=list)
    dirs: List[str] = field(default_factory=list)
    locks: List[str] = field(default_factory=list)      # lock files of stopped clusters
    cluster: Optional[str] = None                       # None: every cluster

    def empty(self) -> bool:
        return not (self.records or self.pids or self.bridges or self.netns or self.links
                    or self.dirs or self.locks)


def plan_clean(states: Iterable[ClusterRecords], bridges: Iterable[str], netns: Iterable[str],
               links: Iterable[str], netns_pids: Dict[str, List[int]],
               only: Optional[str] = None, own_pid: int = 0,
               running: Iterable[str] = (), locks: Iterable[str] = (),
               root: str = naming.STATE_ROOT) -> CleanPlan:
    """Decide what to remove. ``states`` are the process records each cluster
    left (its components', its runtimes' containers', its supervisor's);
    ``netns_pids`` maps a namespace name to the PIDs
    living in it; ``only`` limits the plan to one cluster; clusters in
    ``running`` (their supervisor is alive) are spared unless named by ``only``.
    ``locks`` are the clusters that have a lock file; a lock file goes only once
    nobody holds it, so a name in use is never handed out twice."""
    plan = CleanPlan(cluster=only)
    spared = set(running) - {only}
    plan.locks = sorted(f"{root}/{name}.lock" for name in locks
                        if name not in set(running) and (only is None or name == only))

    def _wanted(cluster: Optional[str], only: Optional[str]) -> bool:
        return (cluster is not None and (only is None or cluster == only)
                and cluster not in spared)

    for state in states:
        if _wanted(state.name, only):
            plan.records.extend(r for r in state.records if r.pid != own_pid)
            plan.dirs.append(state.dir)
    for bridge in bridges:
        parsed = naming.parse_bridge_name(bridge)
        if parsed and _wanted(parsed[0], only):
            plan.bridges.append(bridge)
    for name in netns:
        if _wanted(naming.cluster_of_netns(name), only):
            plan.netns.append(name)
            plan.pids.extend(p for p in netns_pids.get(name, []) if p != own_pid)
    for link in links:
        match = SWITCH_PORT_RE.match(link)
        if match and _wanted(match.group(1), only):
            plan.links.append(link)
    plan.pids = sorted(set(plan.pids))
    return plan


# -- listings (effects) ---------------------------------------------------

def _run(cmd: List[str], timeout: float = 15) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def list_bridges() -> List[str]:
    out = _run(["ovs-vsctl", "--timeout=5", "list-br"])
    return out.stdout.split() if out.returncode == 0 else []


def list_netns() -> List[str]:
    return [line.split()[0] for line in _run(["ip", "netns", "list"]).stdout.splitlines()
            if line.strip()]


def list_links() -> List[str]:
    out = _run(["ip", "-o", "link", "show"]).stdout
    return [line.split(": ")[1].split("@")[0] for line in out.splitlines() if ": " in line]


def netns_members(names: Iterable[str]) -> Dict[str, List[int]]:
    """PIDs whose network namespace is one of the named ones."""
    inodes = {}
    for name in names:
        try:
            inodes[os.stat(f"/run/netns/{name}").st_ino] = name
        except OSError:
            continue
    members: Dict[str, List[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            ino = os.stat(f"/proc/{entry}/ns/net").st_ino
        except OSError:
            continue
        if ino in inodes:
            members.setdefault(inodes[ino], []).append(int(entry))
    return members


def gather(only: Optional[str] = None, root: str = naming.STATE_ROOT,
           spare_running: bool = True) -> CleanPlan:
    """The plan for one cluster (``only``) or for every leftover; clusters
    that are still running are spared unless asked for by name or
    ``spare_running`` is False."""
    from k8snet.testbed.preflight import cluster_running

    states = []
    for name in st.cluster_names(root):
        found = st.read_records(name, root)
        found.records = [*container_records(found.dir), *found.records]
        states.append(found)
    netns = list_netns()
    k8s_netns = [n for n in netns if naming.cluster_of_netns(n)]
    locks = {f[:-5] for f in _lock_files(root)}
    running = {name for name in set(st.cluster_names(root)) | locks
               if cluster_running(name, root)}
    plan = plan_clean(states, list_bridges(), netns, list_links(), netns_members(k8s_netns),
                      only=only, own_pid=os.getpid(),
                      running=running if spare_running else (), locks=locks, root=root)
    if not spare_running:  # --all: running clusters' lock files stay until they stop
        plan.locks = [p for p in plan.locks if os.path.basename(p)[:-5] not in running]
    return plan


def container_records(cluster_dir: str) -> List[ProcessRecord]:
    """runtime_records of every node of a cluster (``<node>/runtime``)."""
    return [record for runtime_dir in sorted(glob.glob(os.path.join(cluster_dir, "*",
                                                                    "runtime")))
            for record in runtime_records(runtime_dir)]


def runtime_records(runtime_dir: str) -> List[ProcessRecord]:
    """The processes one runtime recorded, by PID and start time: each container and
    its monitor (``containers/<id>/started.json``) and each shared PID namespace's
    holder (``sandboxes/<id>.json``). They outlive the runtime on purpose."""
    found = []
    for path in glob.glob(os.path.join(runtime_dir, "containers", "*", "started.json")):
        found.append((path, ""))
    for path in glob.glob(os.path.join(runtime_dir, "sandboxes", "*.json")):
        found.append((path, "pid_holder"))
    records = []
    for path, part in found:
        try:
            with open(path) as fh:
                doc = json.load(fh)
        except (OSError, ValueError):
            continue
        rec = doc.get(part) if part else doc
        if not isinstance(rec, dict):
            continue
        for pid_key, time_key, name in (("pid", "starttime", "container"),
                                        ("shim_pid", "shim_starttime", "container shim")):
            if isinstance(rec.get(pid_key), int) and rec.get(time_key) is not None:
                label = "PID namespace holder" if part else name
                records.append(ProcessRecord(pid=rec[pid_key], name=label,
                                             start_time=rec[time_key]))
    return records


def _lock_files(root: str) -> List[str]:
    try:
        return [f for f in os.listdir(root) if f.endswith(".lock")]
    except FileNotFoundError:
        return []


# -- applying (effects) -----------------------------------------------------

def apply(plan: CleanPlan, grace: float = 3.0) -> List[str]:
    """Carry out a plan; return one line per thing removed."""
    done: List[str] = []
    # SIGTERM to every recorded process at once, one grace period, then SIGKILL.
    alive = [r for r in plan.records if st.signal_process(r, signal.SIGTERM)]
    deadline = time.monotonic() + grace
    while any(st.is_alive(r) for r in alive) and time.monotonic() < deadline:
        time.sleep(0.05)
    for record in alive:
        st.signal_process(record, signal.SIGKILL)
        done.append(f"stopped {record.name} (pid {record.pid})")
    for pid in plan.pids:
        try:
            os.kill(pid, signal.SIGKILL)
            done.append(f"killed pid {pid} (inside a k8snet namespace)")
        except ProcessLookupError:
            pass
    if plan.pids:
        time.sleep(0.2)
    for bridge in plan.bridges:
        if _run(["ovs-vsctl", "--timeout=10", "--if-exists", "del-br", bridge]).returncode == 0:
            done.append(f"deleted OVS bridge {bridge}")
    for name in plan.netns:
        if _run(["ip", "netns", "delete", name]).returncode == 0:
            done.append(f"deleted network namespace {name}")
    remaining = set(list_links())
    for link in plan.links:
        if link in remaining and _run(["ip", "link", "delete", link]).returncode == 0:
            done.append(f"deleted link {link}")
    for path in plan.dirs:
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
            done.append(f"removed {path}")
    done.extend(remove_cgroups(plan.cluster))
    cgroups.reweigh_top()
    for path in plan.locks:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
    return done


def remove_cgroups(cluster: Optional[str] = None) -> List[str]:
    """Remove k8snet's (now empty) cgroups, deepest first."""
    removed = []
    if not os.path.isdir(CGROUP_ROOT):
        return removed
    for controller in sorted(os.listdir(CGROUP_ROOT)):
        top = os.path.join(CGROUP_ROOT, controller, "k8snet")
        if cluster:
            top = os.path.join(top, cluster)
        if not os.path.isdir(top):
            continue
        for dirpath, _dirs, _files in sorted(os.walk(top), key=lambda w: -len(w[0])):
            try:
                os.rmdir(dirpath)
                if dirpath == top:
                    removed.append(f"removed cgroup {dirpath}")
            except OSError:
                pass
    return removed


def remove_state_dir(cluster: str, root: str = naming.STATE_ROOT) -> None:
    shutil.rmtree(naming.state_dir(cluster, root), ignore_errors=True)
