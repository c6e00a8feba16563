"""`k8snet down`: stop one cluster and remove everything it made."""

from __future__ import annotations

import argparse

from k8snet import naming
from k8snet.testbed import api


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", default=naming.DEFAULT_CLUSTER, help="cluster name")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="seconds to let the supervisor stop before forcing")


def run(args: argparse.Namespace) -> int:
    api.down(args.name, timeout=args.timeout, progress=lambda text: print(text, flush=True))
    print(f"cluster {args.name!r} is down")
    return 0
