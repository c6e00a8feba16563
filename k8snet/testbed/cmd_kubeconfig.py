"""`k8snet kubeconfig`: the path of a cluster's kubeconfig, for kubectl."""

from __future__ import annotations

import argparse

from k8snet import naming
from k8snet.errors import UsageError
from k8snet.testbed import state as st


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", default=naming.DEFAULT_CLUSTER, help="cluster name")


def run(args: argparse.Namespace) -> int:
    state = st.read_state(args.name)
    if state is None:
        raise UsageError(f"no cluster named {args.name!r} is running (see 'k8snet status')")
    if not state.get("kubeconfig"):
        raise UsageError(f"cluster {args.name!r} runs no control plane yet, so it has no "
                         "kubeconfig")
    print(state["kubeconfig"])
    return 0
