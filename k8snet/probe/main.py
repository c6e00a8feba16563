"""`k8snet probe [--name C] [--json] [--only CHECK ...] [--keep] [--timeout S]`."""

from __future__ import annotations

import argparse
import math
import sys

from k8snet.errors import UsageError
from k8snet.probe import report
from k8snet.probe.model import CHECKS

READY_TIMEOUT = 120.0
POLICY_READY_TIMEOUT = 180.0


def ready_timeout(value, default: float) -> float:
    """--timeout as a number of seconds: above 0 and finite (``inf`` would wait forever
    on a Pod that never comes up)."""
    if value is None:
        return default
    if not (value > 0 and math.isfinite(value)):
        raise UsageError(f"--timeout {value:g}: give a number of seconds above 0")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", help="cluster (needed when several run)")
    parser.add_argument("--json", action="store_true", help="print the stable JSON report")
    parser.add_argument("--only", nargs="+", metavar="CHECK", default=[],
                        help="run only these checks: " + ", ".join(CHECKS))
    parser.add_argument("--keep", action="store_true", help="leave the probe Pods running")
    parser.add_argument("--brief", action="store_true", help="no evidence lines in the table")
    parser.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                        help="how long to wait for the probe Pods to be Ready (default "
                             f"{READY_TIMEOUT:g}, {POLICY_READY_TIMEOUT:g} for the policy "
                             "model; a cluster busy with a large rollout may need more)")
    policy = parser.add_argument_group("NetworkPolicy truth tables (see k8snet.policy)")
    policy.add_argument("--policy", action="store_true",
                        help="probe the e2e policy model (namespaces x, y, z; Pods a, b, c)")
    policy.add_argument("--from", dest="policy_from", metavar="FILE.yaml",
                        help="with --policy: evaluate your own NetworkPolicies")
    policy.add_argument("--case", nargs="+", default=[], metavar="NAME",
                        help="with --policy: these corpus cases (default: the core ones)")
    policy.add_argument("--all-cases", action="store_true",
                        help="with --policy: every case of the corpus")


def check_only(only) -> None:
    unknown = [c for c in only if c not in CHECKS]
    if unknown:
        raise UsageError(f"unknown check(s) {', '.join(unknown)}; choose from "
                         + ", ".join(CHECKS))


def run(args: argparse.Namespace) -> int:
    from k8snet.probe.run import run_probes
    from k8snet.testbed import api, preflight

    if args.policy or args.policy_from or args.case or args.all_cases:
        from k8snet.policy import cmd_probe

        return cmd_probe.run(args, ready_timeout(args.timeout, POLICY_READY_TIMEOUT))
    check_only(args.only)
    timeout = ready_timeout(args.timeout, READY_TIMEOUT)
    preflight.require_root("probe")
    cluster = api.find(args.name, need_api=True)
    progress = (lambda text: print(f"-- {text}", file=sys.stderr)) if args.json else \
        (lambda text: print(f"-- {text}", flush=True))
    rows, ok = run_probes(cluster, args.only, args.keep, progress,
                          ready_timeout=timeout)
    if args.json:
        print(report.dumps(report.to_json(cluster.name, cluster.spec.mode, rows)))
    else:
        print(report.render(rows, evidence=not args.brief))
    return 0 if ok else 1
