"""The `k8snet` command.

Each subcommand lives in its own module, which provides
``add_arguments(parser)`` and ``run(args) -> int``. Modules are imported only
when their command runs, so `k8snet doctor` works even when, say, os-ken is
missing. Library code raises `K8snetError`; only this module exits.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Optional, Sequence, TextIO

from k8snet.errors import K8snetError

# name -> (module, one-line help)
COMMANDS = {
    "doctor": ("k8snet.testbed.doctor", "check this machine for what k8snet needs"),
    "up": ("k8snet.testbed.cmd_up", "build and start a cluster"),
    "down": ("k8snet.testbed.cmd_down", "stop one cluster and remove what it made"),
    "clean": ("k8snet.testbed.cmd_clean", "remove every k8snet leftover"),
    "status": ("k8snet.testbed.cmd_status", "show running clusters"),
    "exec": ("k8snet.testbed.cmd_exec", "run a command in a node (or a Pod)"),
    "kubeconfig": ("k8snet.testbed.cmd_kubeconfig", "print a cluster's kubeconfig path"),
    "demo": ("k8snet.testbed.cmd_demo", "the main job: up, show, check, down"),
    "fault": ("k8snet.testbed.cmd_fault", "inject a fault: link down, node crash, kill, partition"),  # noqa: E501
    "apiserver": ("k8snet.apiserver.main", "run the API server"),
    "scheduler": ("k8snet.scheduler.main", "run the scheduler"),
    "controller-manager": ("k8snet.kcm.main", "run the controller-manager"),
    "control-plane": ("k8snet.controlplane", "control plane on loopback"),
    "runtime": ("k8snet.cri.main", "run the CRI container runtime"),
    "kubelet": ("k8snet.kubelet.main", "run a kubelet"),
    "proxy": ("k8snet.proxy.main", "run kube-proxy"),
    "probe": ("k8snet.probe.main", "prove each Kubernetes networking requirement with packets"),
    "trace": ("k8snet.trace.main", "hop-by-hop path of one packet"),
    "overlay-agent": ("k8snet.overlay.main", "run the VXLAN overlay agent"),
    "capture": ("k8snet.capture.main", "packets at a Pod, node or switch port, as pcap"),
    "ui": ("k8snet.ui.main", "a live web view of a cluster on 127.0.0.1"),
    "policy-agent": ("k8snet.policy.main", "run the NetworkPolicy agent of one node"),
    "node-agent": ("k8snet.nodeagent", "run a worker's runtime, kubelet, kube-proxy and "
                                      "policy agent in one process"),
    "compare": ("k8snet.testbed.cmd_compare", "the same workload in routed and overlay mode, side by side"),  # noqa: E501
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="k8snet", description="A network emulation testbed for Kubernetes networking."
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_module, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: Optional[Sequence[str]] = None, err: Optional[TextIO] = None) -> int:
    """Run one command; its errors are written to ``err`` (default stderr)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    err = sys.stderr if err is None else err
    top = build_parser()
    # Parse only the command name here; the command's own parser does the rest.
    debug = "--debug" in argv[:1]
    if debug:
        argv = argv[1:]
    if not argv or argv[0] in ("-h", "--help"):
        top.print_help()
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"k8snet: unknown command '{name}'; run 'k8snet --help' for the list",
              file=err)
        return 2
    module_name, help_text = COMMANDS[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        print(f"k8snet {name}: cannot load {module_name}: {exc}; run 'k8snet doctor'",
              file=err)
        return 1
    parser = argparse.ArgumentParser(prog=f"k8snet {name}", description=help_text)
    module.add_arguments(parser)
    args = parser.parse_args(rest)
    try:
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        print(f"k8snet {name}: interrupted", file=err)
        return 130
    except K8snetError as exc:
        if debug:
            raise
        print(f"k8snet {name}: {exc}", file=err)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
