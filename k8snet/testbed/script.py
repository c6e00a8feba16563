"""Entry point shared by the runnable scripts in ``topologies/``."""

from __future__ import annotations

import argparse
import sys

from k8snet.errors import K8snetError
from k8snet.testbed import cmd_up


def main(topology: str, argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=f"Build a k8snet cluster on the {topology} topology and open the CLI "
                    f"(the same as 'k8snet up --topology {topology}').")
    cmd_up.add_arguments(parser)
    parser.set_defaults(topology=topology)
    args = parser.parse_args(argv)
    args.topology = topology
    try:
        return cmd_up.run(args)
    except K8snetError as exc:
        print(f"{parser.prog}: {exc}", file=sys.stderr)
        return exc.exit_code
