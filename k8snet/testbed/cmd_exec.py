"""`k8snet exec NODE -- CMD`: run a command inside a node's namespace."""

from __future__ import annotations

import argparse
import os
from typing import Dict, Optional, Tuple

from k8snet.errors import UsageError
from k8snet.testbed import preflight
from k8snet.testbed import state as st


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", help="cluster (needed when several run)")
    parser.add_argument("target", help="a node name (w1, m1, ext1, ...)")
    parser.add_argument("cmd", nargs=argparse.REMAINDER, help="-- command and arguments")


def find_node(target: str, cluster: Optional[str]) -> Tuple[Dict, Dict]:
    """(state, node) for ``target``; UsageError naming the choices otherwise."""
    names = [cluster] if cluster else st.cluster_names()
    found = []
    for name in names:
        state = st.read_state(name)
        for node in (state or {}).get("nodes", []):
            if node["name"] == target:
                found.append((state, node))
    if not found:
        raise UsageError(f"no node named {target!r} in "
                         f"{'cluster ' + repr(cluster) if cluster else 'any running cluster'} "
                         "(see 'k8snet status')")
    if len(found) > 1:
        raise UsageError(f"node {target!r} exists in several clusters "
                         f"({', '.join(s['name'] for s, _ in found)}): add --name")
    return found[0]


def run(args: argparse.Namespace) -> int:
    preflight.require_root("exec")
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        raise UsageError("give a command after '--', e.g. 'k8snet exec w1 -- ip addr'")
    _state, node = find_node(args.target, args.name)
    os.execvp("ip", ["ip", "netns", "exec", node["netns"], *cmd])
    return 127  # not reached
