"""`k8snet exec TARGET -- CMD`: run a command in a node or in a Pod's container.

TARGET is a node name (m1, w1, ext1, ...), run through ``ip netns exec``, or
a Pod name, run in its container through the node runtime's CRI ExecSync.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Dict, List, Optional, Tuple

from k8snet.errors import UsageError
from k8snet.testbed import components, preflight
from k8snet.testbed import state as st


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", help="cluster (needed when several run)")
    parser.add_argument("-n", "--namespace", default="default", help="the Pod's namespace")
    parser.add_argument("-c", "--container", help="the Pod's container (default: the first)")
    parser.add_argument("--timeout", type=int, default=60, help="seconds, for Pod commands")
    parser.add_argument("target", help="a node name (w1, m1, ext1, ...) or a Pod name")
    parser.add_argument("cmd", nargs=argparse.REMAINDER, help="-- command and arguments")


def clusters(cluster: Optional[str]) -> List[Dict]:
    names = [cluster] if cluster else st.cluster_names()
    return [s for s in (st.read_state(n) for n in names) if s]


def find_node(target: str, states: List[Dict]) -> Optional[Tuple[Dict, Dict]]:
    found = [(s, n) for s in states for n in s.get("nodes", []) if n["name"] == target]
    if len(found) > 1:
        raise UsageError(f"node {target!r} exists in several clusters "
                         f"({', '.join(s['name'] for s, _ in found)}): add --name")
    return found[0] if found else None


def container_id(pod: Dict, container: Optional[str]) -> str:
    """The CRI id of a Pod's container (first one by default)."""
    names = [c["name"] for c in pod.get("spec", {}).get("containers", [])]
    name = container or (names[0] if names else None)
    if name not in names:
        raise UsageError(f"pod {pod['metadata']['name']} has no container {name!r} "
                         f"(it has: {', '.join(names)})")
    for status in pod.get("status", {}).get("containerStatuses", []):
        if status.get("name") == name and status.get("containerID") and "running" in status.get(
                "state", {}):
            return status["containerID"].split("://", 1)[-1]
    raise UsageError(f"container {name!r} of pod {pod['metadata']['name']} is not running")


def exec_in_pod(state: Dict, args: argparse.Namespace, cmd: List[str]) -> int:
    from k8snet.machinery.client import ApiClient, NotFound
    from k8snet.machinery.cri import RuntimeClient

    client = ApiClient.from_kubeconfig(state["kubeconfig"])
    try:
        pod = client.get("pods", args.target, namespace=args.namespace)
    except NotFound:
        raise UsageError(f"no node or pod named {args.target!r} in cluster "
                         f"{state['name']!r} (namespace {args.namespace})") from None
    node = pod.get("spec", {}).get("nodeName")
    if not node:
        raise UsageError(f"pod {args.target} is not scheduled yet")
    cid = container_id(pod, args.container)
    socket = os.path.join(components.node_dir(state["dir"], node), "runtime.sock")
    with RuntimeClient(socket) as runtime:
        result = runtime.exec_sync(cid, cmd, timeout=args.timeout)
    sys.stdout.buffer.write(result.stdout)
    sys.stderr.buffer.write(result.stderr)
    sys.stdout.flush()
    return result.exit_code


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
    states = clusters(args.name)
    if not states:
        raise UsageError("no k8snet cluster is running (see 'k8snet status')")
    found = find_node(args.target, states)
    if found:
        os.execvp("ip", ["ip", "netns", "exec", found[1]["netns"], *cmd])
    with_api = [s for s in states if s.get("kubeconfig")]
    if len(with_api) != 1:
        raise UsageError(f"no node named {args.target!r}" + (
            "; several clusters run: add --name to look for a pod" if with_api else
            " and no cluster runs a control plane to look for a pod"))
    return exec_in_pod(with_api[0], args, cmd)
