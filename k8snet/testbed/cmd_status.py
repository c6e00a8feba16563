"""`k8snet status`: running clusters, their nodes, switches and controller."""

from __future__ import annotations

import argparse
import json
from typing import Dict, List

from k8snet.testbed import preflight
from k8snet.testbed import state as st


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", help="only this cluster")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def summarize(state: Dict, running: bool) -> Dict:
    """The status document of one cluster (stable keys, used by --json)."""
    controller = state.get("controller") or {}
    return {
        "name": state["name"],
        "status": state.get("status", "unknown") if running else "dead",
        "topology": state.get("spec", {}).get("topology"),
        "mode": state.get("spec", {}).get("mode"),
        "datapath": state.get("datapath"),
        "supervisor_pid": (state.get("supervisor") or {}).get("pid"),
        "nodes": [{k: n.get(k) for k in ("name", "role", "ip", "netns")}
                  for n in state.get("nodes", [])],
        "switches": state.get("switches", []),
        "controller": {"pid": controller.get("pid"), "port": controller.get("port"),
                       "log": controller.get("log"), "facts": controller.get("facts"),
                       "running": st.is_alive(controller) if controller else False},
        "kubeconfig": state.get("kubeconfig"),
    }


def render(docs: List[Dict]) -> str:
    if not docs:
        return "no k8snet cluster is running"
    lines = []
    for doc in docs:
        ctl = doc["controller"]
        lines.append(f"cluster {doc['name']}: {doc['status']}, topology {doc['topology']}, "
                     f"mode {doc['mode']}, {doc['datapath']} datapath, "
                     f"supervisor pid {doc['supervisor_pid']}")
        lines.append(f"  controller: pid {ctl['pid']} "
                     f"({'running' if ctl['running'] else 'not running'}), "
                     f"127.0.0.1:{ctl['port']}, log {ctl['log']}")
        lines.append("  switches: " + ", ".join(s["name"] for s in doc["switches"]))
        lines.append(f"  {'NODE':<8} {'ROLE':<9} {'IP':<15} NAMESPACE")
        for node in doc["nodes"]:
            lines.append(f"  {node['name']:<8} {node['role']:<9} {node['ip']:<15} "
                         f"{node['netns']}")
        if doc.get("kubeconfig"):
            lines.append(f"  kubeconfig: {doc['kubeconfig']}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    names = [args.name] if args.name else st.cluster_names()
    docs = []
    for name in names:
        state = st.read_state(name)
        if state:
            docs.append(summarize(state, preflight.cluster_running(name)))
    if args.json:
        print(json.dumps({"clusters": docs}, indent=2))
    else:
        print(render(docs))
    return 0
