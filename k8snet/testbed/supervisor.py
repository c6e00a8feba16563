"""The background process that keeps a detached cluster running.

``k8snet up --detach`` starts ``python -m k8snet.testbed.supervisor SPEC``
in its own session, holding the cluster's lock. It reports on stdout, one
line each: ``progress <text>``, then ``ready`` or ``error <code> <text>``.
After ``ready`` its output goes to the cluster's log and it waits for
SIGTERM (from ``k8snet down``), then takes everything down.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading

from k8snet.errors import K8snetError
from k8snet.testbed import preflight
from k8snet.testbed.spec import ClusterSpec


def report(kind: str, text: str = "") -> None:
    sys.stdout.write(f"{kind} {text}".rstrip() + "\n")
    sys.stdout.flush()


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    with open(argv[0]) as fh:
        spec = ClusterSpec.from_dict(json.load(fh))
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    try:
        return supervise(spec, stop)
    finally:
        # This process holds the cluster's lock (inherited): its file goes with it.
        preflight.release_cluster_lock(spec.name)


def supervise(spec: ClusterSpec, stop: threading.Event) -> int:
    from k8snet.testbed.cluster import LiveCluster

    cluster = LiveCluster(spec, progress=lambda text: report("progress", text))
    try:
        cluster.up()
    except K8snetError as exc:
        report("error", f"{exc.exit_code} {exc}")
        return exc.exit_code
    except Exception as exc:  # report, then fail: the parent shows it
        report("error", f"1 {type(exc).__name__}: {exc}")
        return 1
    log = os.path.join(cluster.dir, "supervisor.log")
    report("ready", log)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    while not stop.wait(1.0):
        pass
    print("stopping", flush=True)
    cluster.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
