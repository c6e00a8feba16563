"""`k8snet down`: stop one cluster and remove everything it made."""

from __future__ import annotations

import argparse
import time

from k8snet import naming
from k8snet.errors import UsageError
from k8snet.testbed import cleanup, preflight
from k8snet.testbed import state as st


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", default=naming.DEFAULT_CLUSTER, help="cluster name")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="seconds to let the supervisor stop before forcing")


def run(args: argparse.Namespace) -> int:
    preflight.require_root("down")
    naming.check_cluster_name(args.name)
    state = st.read_state(args.name)
    if state is None and not preflight.cluster_running(args.name):
        leftovers = cleanup.gather(only=args.name)
        if leftovers.empty():
            raise UsageError(f"no cluster named {args.name!r} is running "
                             "(see 'k8snet status')")
    supervisor = (state or {}).get("supervisor")
    if supervisor and st.signal_process(supervisor):
        print(f"stopping cluster {args.name!r} (supervisor pid {supervisor['pid']})")
        deadline = time.monotonic() + args.timeout
        while st.is_alive(supervisor) and time.monotonic() < deadline:
            time.sleep(0.2)
    # Whatever the supervisor did not get to (or if it was killed): remove it.
    for line in cleanup.apply(cleanup.gather(only=args.name)):
        print(f"  {line}")
    print(f"cluster {args.name!r} is down")
    return 0
