"""`k8snet kubeconfig`: the path of a cluster's kubeconfig, for kubectl."""

from __future__ import annotations

import argparse

from k8snet import naming
from k8snet.errors import UsageError
from k8snet.testbed import api


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", default=naming.DEFAULT_CLUSTER, help="cluster name")


def run(args: argparse.Namespace) -> int:
    found = api.clusters(args.name)
    if not found:
        raise UsageError(f"no cluster named {args.name!r} is running (see 'k8snet status')")
    print(found[0].kubeconfig)
    return 0
