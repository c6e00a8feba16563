"""`k8snet exec TARGET -- CMD`: run a command in a node or in a Pod's container.

TARGET is a node name (m1, w1, ext1, ...), run through ``ip netns exec``, or
a Pod name, run in its container through the node runtime's CRI ExecSync.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import List, Tuple

from k8snet.errors import UsageError
from k8snet.testbed import api, preflight


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", help="cluster (needed when several run)")
    parser.add_argument("-n", "--namespace", default="default", help="the Pod's namespace")
    parser.add_argument("-c", "--container", help="the Pod's container (default: the first)")
    parser.add_argument("--timeout", type=int, default=60, help="seconds, for Pod commands")
    parser.add_argument("target", help="a node name (w1, m1, ext1, ...) or a Pod name")
    parser.add_argument("cmd", nargs=argparse.REMAINDER, help="-- command and arguments")


def split_command(args: argparse.Namespace) -> Tuple[argparse.Namespace, List[str]]:
    """Options may also come between TARGET and '--' (``exec web -c app -- sh``)."""
    if "--" not in args.cmd:
        return args, args.cmd
    cut = args.cmd.index("--")
    late, cmd = args.cmd[:cut], args.cmd[cut + 1:]
    if late:
        parser = argparse.ArgumentParser(prog="k8snet exec", add_help=False)
        for flag, dest in (("--name", "name"), ("-n", "namespace"), ("--namespace", "namespace"),
                           ("-c", "container"), ("--container", "container")):
            parser.add_argument(flag, dest=dest, default=getattr(args, dest))
        parser.add_argument("--timeout", type=int, default=args.timeout)
        known, unknown = parser.parse_known_args(late)
        if unknown:
            raise UsageError(f"unexpected {' '.join(unknown)} before '--'")
        args = argparse.Namespace(**{**vars(args), **vars(known)})
    return args, cmd


def run(args: argparse.Namespace) -> int:
    preflight.require_root("exec")
    args, cmd = split_command(args)
    if not cmd:
        raise UsageError("give a command after '--', e.g. 'k8snet exec w1 -- ip addr'")
    cluster, node = api.locate(args.target, args.name)
    if node is not None:  # the command takes over this process: a terminal works
        argv = [*api.node_argv(node), *cmd]
        os.execvp(argv[0], argv)
    result = api.exec_in_pod(cluster, args.target, cmd, args.namespace, args.container,
                             args.timeout)
    sys.stdout.buffer.write(result.stdout)
    sys.stderr.buffer.write(result.stderr)
    sys.stdout.flush()
    return result.exit_code
