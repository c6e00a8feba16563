"""`k8snet clean`: remove every k8snet leftover, touching nothing else."""

from __future__ import annotations

import argparse
from typing import List

from k8snet import naming
from k8snet.errors import UsageError
from k8snet.testbed import cleanup, preflight
from k8snet.testbed import state as st


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dry-run", action="store_true", help="show what would be removed")
    parser.add_argument("--all", action="store_true",
                        help="also stop and remove clusters that are still running")
    parser.add_argument("--name", help="only this cluster's leftovers")


def run(args: argparse.Namespace) -> int:
    preflight.require_root("clean")
    if args.name:
        naming.check_cluster_name(args.name)
        if preflight.cluster_running(args.name) and not args.all:
            raise UsageError(f"cluster {args.name!r} is running: stop it with 'k8snet down "
                             f"--name {args.name}' (or add --all)")
    plan = cleanup.gather(only=args.name, spare_running=not args.all)
    running = [n for n in st.cluster_names() if preflight.cluster_running(n)]
    if not args.name and plan.empty() and preflight.state_tmpfs_unused():
        if args.dry_run:
            print(f"would unmount k8snet's state tmpfs {naming.STATE_ROOT}")
        elif preflight.release_state_tmpfs():
            print(f"unmounted k8snet's state tmpfs {naming.STATE_ROOT}")
        else:
            print(f"k8snet's state tmpfs {naming.STATE_ROOT} is in use: left mounted")
        return 0
    if plan.empty():
        print("nothing of k8snet's is left on this machine"
              + (f" (running: {', '.join(running)}; stop them with 'k8snet down --name C' "
                 "or 'k8snet clean --all')" if running and not args.all else ""))
        return 0
    if args.dry_run:
        for line in describe(plan):
            print(f"would remove {line}")
        return 0
    for line in cleanup.apply(plan):
        print(line)
    if not args.name and preflight.release_state_tmpfs():
        print(f"unmounted k8snet's state tmpfs {naming.STATE_ROOT}")
    return 0


def describe(plan: cleanup.CleanPlan) -> List[str]:
    """One line per thing a plan would remove."""
    lines = [f"process {r.name} (pid {r.pid})" for r in plan.records]
    lines += [f"process pid {pid} (inside a k8snet namespace)" for pid in plan.pids]
    lines += [f"OVS bridge {b}" for b in plan.bridges]
    lines += [f"network namespace {n}" for n in plan.netns]
    lines += [f"link {link}" for link in plan.links]
    lines += [f"directory {d}" for d in plan.dirs]
    return lines
