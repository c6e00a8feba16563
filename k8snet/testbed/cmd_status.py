"""`k8snet status`: running clusters, their nodes, switches and controller."""

from __future__ import annotations

import argparse
import json

from k8snet.testbed import api, status


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", help="only this cluster")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    found = api.status(args.name)
    if args.json:
        print(json.dumps({"clusters": [s.to_dict() for s in found]}, indent=2))
    else:
        print(status.render(found))
    return 0
