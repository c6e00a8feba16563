"""Leak cycles: what k8snet leaves on the machine after many clusters.

    sudo python -m benchmarks.bench_leaks [--cycles 20] [--crashes 5] [--network-only]

Counts everything of k8snet's kind before and after: network namespaces,
root-namespace links, OVS bridges, cgroups, mounts, nft/iptables rules in
the root namespace, processes and files. Then runs ``--cycles`` ``up``/
``down`` cycles, and ``--crashes`` cycles of ``up``, two Pods, ``kill -9``
of the supervisor and ``clean --name``; after each phase the counts must equal the
counts before (other helpers' clusters on the same machine are left out:
only this benchmark's cluster names are counted, except the root-namespace
rules, which no cluster may touch at all). Prints the counts and exits 1 on
any difference. ``make leaks`` runs it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from typing import Dict, List

from benchmarks.common import k8snet
from k8snet import naming
from k8snet.testbed import cleanup

PREFIX = "lk"          # cluster names lk0, lk1, ...


def ours(name: str) -> bool:
    return bool(re.fullmatch(PREFIX + r"\d+", name or ""))


def _out(argv: List[str]) -> str:
    return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout


def snapshot() -> Dict[str, int]:
    """Counts of what this benchmark's clusters may leave behind."""
    netns = [n for n in cleanup.list_netns() if ours(naming.cluster_of_netns(n) or "")]
    links = [link for link in cleanup.list_links()
             if (m := cleanup.SWITCH_PORT_RE.match(link)) and ours(m.group(1))
             or link.startswith(f"{naming.BRIDGE_PREFIX}{PREFIX}")]
    bridges = [b for b in cleanup.list_bridges()
               if (p := naming.parse_bridge_name(b)) and ours(p[0])]
    cgroups = 0
    for controller in os.listdir(cleanup.CGROUP_ROOT):
        top = os.path.join(cleanup.CGROUP_ROOT, controller, "k8snet")
        for path, _dirs, _files in os.walk(top):
            rel = os.path.relpath(path, top)
            if rel != "." and ours(rel.split(os.sep)[0]):
                cgroups += 1
    with open("/proc/self/mountinfo") as fh:
        mounts = sum(1 for line in fh
                     if re.search(rf"/run/(netns/k8snet-|k8snet/){PREFIX}\d+", line))
    processes = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmd = fh.read().decode(errors="replace")
            with open(f"/proc/{pid}/cgroup") as fh:
                groups = fh.read()
        except OSError:
            continue
        # by command line (components, Mininet) or by cgroup (containers)
        if re.search(rf"(/run/k8snet/|k8snet-|kn){PREFIX}\d+\b", cmd) or \
                re.search(rf"/k8snet/{PREFIX}\d+/", groups):
            processes += 1
    files = 0
    for root in (naming.STATE_ROOT,):
        for entry in os.listdir(root) if os.path.isdir(root) else []:
            if ours(entry.split(".")[0]):
                files += 1 + sum(len(f) for _p, _d, f in os.walk(os.path.join(root, entry)))
    nft = len(_out(["nft", "list", "ruleset"]).splitlines())
    iptables = len([line for line in _out(["iptables-save"]).splitlines()
                    if line.startswith("-A")])
    return {"netns": len(netns), "links": len(links), "bridges": len(bridges),
            "cgroups": cgroups, "mounts": mounts, "processes": processes, "files": files,
            "root nft lines": nft, "root iptables rules": iptables}


def alive(pid: int) -> bool:
    """True until ``pid`` is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def up(name: str, network_only: bool) -> None:
    k8snet("up", "--detach", "--name", name, "--workers", "2", "--timeout", "600",
           *(["--network-only"] if network_only else []))


def run_pods(name: str) -> None:
    """Two Pods Running in cluster ``name``."""
    kubeconfig = f"{naming.STATE_ROOT}/{name}/kubeconfig"
    subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "create", "deployment", "leak",
                    "--replicas=2", "--image=registry.k8s.io/e2e-test-images/agnhost:2.45",
                    "--", "/agnhost", "netexec"], capture_output=True, check=True, timeout=60)
    subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "rollout", "status",
                    "deployment/leak", "--timeout=300s"], capture_output=True, check=True,
                   timeout=320)


def supervisor_pid(name: str) -> int:
    doc = json.loads(k8snet("status", "--json", "--name", name).stdout)
    return doc["clusters"][0]["supervisor_pid"]


def compare(phase: str, before: Dict[str, int], after: Dict[str, int],
            during: Dict[str, int] = None) -> bool:
    """Print the counts side by side (``during``: with the first cluster up)."""
    print(f"{phase}:")
    print(f"  {'what':<22} {'before':>7} {'1st up':>7} {'after':>7}")
    for key in before:
        mark = "" if before[key] == after[key] else "   <- LEAK"
        up_count = "-" if during is None else during[key]
        print(f"  {key:<22} {before[key]:>7} {up_count:>7} {after[key]:>7}{mark}")
    return before == after


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--crashes", type=int, default=5)
    parser.add_argument("--network-only", action="store_true",
                        help="clusters without Kubernetes (quicker)")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("bench_leaks needs root")
        return 1
    ok = True
    before = snapshot()
    start = time.monotonic()
    during = dict(before)
    for i in range(args.cycles):
        name = f"{PREFIX}{i % 10}"
        up(name, args.network_only)
        if i == 0:
            during = snapshot()  # the counts see a running cluster (not blind)
        k8snet("down", "--name", name)
    took = time.monotonic() - start
    ok &= compare(f"{args.cycles} up/down cycles ({took:.0f}s, "
                  f"{took / max(1, args.cycles):.1f}s each)", before, snapshot(), during)
    before = snapshot()
    during = dict(before)
    start = time.monotonic()
    for i in range(args.crashes):
        name = f"{PREFIX}{i % 10}"
        up(name, args.network_only)
        if not args.network_only:
            run_pods(name)  # Pod namespaces, cgroups and containers to leave behind
        if i == 0:
            during = snapshot()
        pid = supervisor_pid(name)
        os.kill(pid, signal.SIGKILL)
        while alive(pid):
            time.sleep(0.1)
        k8snet("clean", "--name", name)
    took = time.monotonic() - start
    ok &= compare(f"{args.crashes} up + 2 Pods + kill -9 supervisor + clean cycles "
                  f"({took:.0f}s)", before, snapshot(), during)
    print("no leak" if ok else "LEAKS FOUND")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
