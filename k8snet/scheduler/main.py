"""`k8snet scheduler --kubeconfig PATH [--name default-scheduler]`."""

from __future__ import annotations

import argparse

from k8snet.components import add_common_arguments, run_component, setup_logging
from k8snet.scheduler.loop import Scheduler


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)
    parser.add_argument("--name", default="default-scheduler",
                        help="schedule Pods whose spec.schedulerName is this "
                             "(default: default-scheduler)")


def run(args: argparse.Namespace) -> int:
    log = setup_logging(args.log_level, "scheduler")
    return run_component(args, "kube-scheduler", log,
                         lambda client, stop: Scheduler(client, args.name, log=log,
                                                                background_events=True).run(stop))
