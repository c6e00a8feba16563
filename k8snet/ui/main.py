"""`k8snet ui [--name C] [--port P]`: a live web view on 127.0.0.1."""

from __future__ import annotations

import argparse
import asyncio

from k8snet.errors import UsageError

DEFAULT_PORT = 8765


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", help="cluster (needed when several run)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"port on 127.0.0.1 (default {DEFAULT_PORT}; 0: any free one)")


def run(args: argparse.Namespace) -> int:
    from k8snet.testbed import api, preflight
    from k8snet.ui import server

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port} is not a TCP port (0-65535)")
    preflight.require_root("ui")
    cluster = api.find(args.name, need_api=True)
    if cluster.state.controller is None:
        raise UsageError(f"cluster {cluster.name!r} records no fabric to draw")
    asyncio.run(server.serve(cluster, args.port,
                             lambda url: print(f"k8snet ui: cluster {cluster.name} at {url} "
                                               "(Ctrl-C stops)", flush=True)))
    return 0
