"""Start the fabric app: ``python -m controllers.launcher --facts FILE --ofp-port PORT --log FILE
[--routes-file FILE] [--mode routed|overlay|macvlan] [--kubeconfig FILE] [--facts-wait S]``.

``--facts-wait S`` lets the facts file appear up to S seconds after the start: the
testbed starts the controller while it builds the network the facts describe,
so os-ken's imports overlap the build; the file must appear whole (renamed).

``--mode routed`` (default) with ``--kubeconfig`` watches Nodes and routes each
podCIDR to its node, hop by hop; the kubeconfig may appear later (the app waits
for it). ``--mode overlay`` never routes Pod CIDRs: the fabric carries node
addresses only (VXLAN between nodes). ``--mode macvlan`` watches Nodes and Pods and
routes every Pod as a /32 to its MAC on its node's port (k8snet.fabric.pods).

os-ken 4.x has no ``osken-manager``; this sets the OpenFlow listen address
through ``os_ken.cfg.CONF`` and runs the app with ``AppManager.run_apps``.
Bad arguments or facts: one line on stderr, exit status 2, nothing started.
SIGTERM / SIGINT: the apps are closed and the process exits 0.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from typing import Any, Optional

from k8snet.cni import MODES
from k8snet.errors import UsageError
from k8snet.fabric.facts import load_facts, load_routes

APP = "controllers.fabric_app"


def build_parser() -> argparse.ArgumentParser:
    """The launcher's command line."""
    p = argparse.ArgumentParser(prog="python -m controllers.launcher",
                                description="Run the k8snet os-ken fabric controller.")
    p.add_argument("--facts", required=True, help="topology facts JSON (see k8snet.fabric)")
    p.add_argument("--ofp-port", type=int, required=True, help="OpenFlow TCP listen port")
    p.add_argument("--ofp-host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    p.add_argument("--log", required=True, help="log file (appended)")
    p.add_argument("--routes-file", help="routes JSON, reloaded when it changes")
    p.add_argument("--mode", choices=MODES, default="routed",
                   help="Pod networking mode: routed (the fabric routes Pod CIDRs learned "
                        "from Nodes), overlay (it does not) or macvlan (one /32 per Pod); "
                        "default routed")
    p.add_argument("--kubeconfig", help="routed mode: apiserver to watch Nodes on (may "
                                        "appear after the controller starts)")
    p.add_argument("--verbose", action="store_true", help="log os-ken debug messages too")
    p.add_argument("--facts-wait", type=float, default=0.0, metavar="S",
                   help="wait up to S seconds for the facts file to appear (default 0)")
    return p


def import_os_ken() -> None:
    """os-ken's modules (most of the start-up time), before anything is checked."""
    from os_ken.lib import hub

    hub.patch(thread=False)
    from os_ken import cfg  # noqa: F401
    from os_ken.base.app_manager import AppManager  # noqa: F401
    from os_ken.controller import controller  # noqa: F401


def wait_for_file(path: str, seconds: float) -> None:
    """Return once ``path`` exists, or after ``seconds`` (check_args then says why)."""
    import time

    deadline = time.monotonic() + seconds
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.02)


def check_args(args: argparse.Namespace) -> None:
    """Validate everything before starting anything (raises UsageError)."""
    if not 0 < args.ofp_port < 65536:
        raise UsageError(f"--ofp-port {args.ofp_port} is not a TCP port (1-65535)")
    facts = load_facts(args.facts)
    log_dir = os.path.dirname(os.path.abspath(args.log))
    if not os.path.isdir(log_dir):
        raise UsageError(f"--log {args.log}: directory {log_dir} does not exist")
    if args.routes_file and os.path.exists(args.routes_file):
        load_routes(args.routes_file, facts)
    if args.kubeconfig and not os.path.isdir(os.path.dirname(os.path.abspath(args.kubeconfig))):
        raise UsageError(f"--kubeconfig {args.kubeconfig}: its directory does not exist")


def _stop(signum: int, _frame: Any) -> None:
    raise SystemExit(0)


def run(args: argparse.Namespace) -> int:
    """Run the controller until SIGTERM/SIGINT, then exit the process with status 0."""
    from os_ken.lib import hub

    hub.patch(thread=False)
    from os_ken import cfg
    from os_ken.base.app_manager import AppManager
    from os_ken.controller import controller  # noqa: F401  (registers the ofp_* options)

    logging.basicConfig(filename=args.log, level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    cfg.CONF([], project="os_ken")
    cfg.CONF.set_override("ofp_tcp_listen_port", args.ofp_port)
    cfg.CONF.set_override("ofp_listen_host", args.ofp_host)
    os.environ["K8SNET_FABRIC_FACTS"] = os.path.abspath(args.facts)
    if args.routes_file:
        os.environ["K8SNET_FABRIC_ROUTES"] = os.path.abspath(args.routes_file)
    os.environ["K8SNET_FABRIC_MODE"] = args.mode
    if args.kubeconfig:
        os.environ["K8SNET_FABRIC_KUBECONFIG"] = os.path.abspath(args.kubeconfig)
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    logging.getLogger("k8snet.fabric").info("listening on %s:%d, pid %d",
                                            args.ofp_host, args.ofp_port, os.getpid())
    try:
        AppManager.run_apps([APP])
    except (SystemExit, AttributeError):
        # os-ken 4.2's run_apps closes the apps, then calls t.kill() on its
        # native threads, which have no kill(): the apps are closed by then.
        pass
    logging.getLogger("k8snet.fabric").info("stopped")
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    # Native hub threads (OpenFlow server, datapaths) cannot be stopped; leave now.
    os._exit(0)


def main(argv: Optional[list[str]] = None) -> int:
    """Entry point."""
    args = build_parser().parse_args(argv)
    if args.facts_wait > 0 and not os.path.exists(args.facts):
        import_os_ken()
        wait_for_file(args.facts, args.facts_wait)
    try:
        check_args(args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
