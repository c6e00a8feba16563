"""What the scheduler and controller-manager commands share: logging, signals,
and running under leader election."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import threading
import uuid
from typing import Callable, Optional

from k8snet.errors import K8snetError
from k8snet.machinery.client import ApiClient
from k8snet.machinery.leaderelection import LeaderElector


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """--kubeconfig, leader election and logging flags."""
    parser.add_argument("--kubeconfig", required=True, metavar="PATH",
                        help="kubeconfig with the apiserver URL, CA and token")
    parser.add_argument("--leader-elect", action=argparse.BooleanOptionalAction, default=True,
                        help="hold a Lease in kube-system so only one replica acts "
                             "(default: on)")
    parser.add_argument("--leader-elect-lease-duration", type=int, default=15, metavar="S",
                        help="seconds a leader's Lease lasts without renewal (default 15)")
    parser.add_argument("--log-level", default="info",
                        choices=["debug", "info", "warning", "error"])


def setup_logging(level: str, name: str) -> logging.Logger:
    """Log lines to stderr with a timestamp and the component name."""
    logging.basicConfig(level=getattr(logging, level.upper()),
                        format=f"%(asctime)s {name} %(levelname)s %(message)s")
    return logging.getLogger(f"k8snet.{name}")


# Set by a process hosting several components as threads (k8snet.nodeagent): their
# stop_on_signals() then return the Event it gives the calling component.
_hosted_stop: Optional[Callable[[], threading.Event]] = None


def host_components(stop_for_this_thread: Callable[[], threading.Event]) -> None:
    """From now on ``stop_on_signals()`` returns ``stop_for_this_thread()``
    (an Event the hosting process sets on its signals, or to stop that one
    component) instead of binding the signals."""
    global _hosted_stop
    _hosted_stop = stop_for_this_thread


def stop_on_signals(signals: tuple = (signal.SIGTERM, signal.SIGINT)) -> threading.Event:
    """An Event set right after SIGTERM or SIGINT (call from the main thread;
    in a component hosted by k8snet.nodeagent, from any thread: the host's Event).

    The Event is not set in the signal handler: a Python handler runs in the main thread
    between two bytecodes, possibly inside the Event's own lock (main waking up from
    stop.wait(), or a first handler inside stop.set() when a second signal comes), and
    Event.set() would wait for that lock forever. Here the handler does nothing; the
    interpreter's C-level handler writes the signal number to a pipe
    (signal.set_wakeup_fd) and a thread reading it sets the Event.
    """
    if _hosted_stop is not None:
        return _hosted_stop()
    stop = threading.Event()
    wanted = {int(s) for s in signals}
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)

    def relay() -> None:
        while True:
            got = os.read(read_end, 64)
            if not got:
                return
            if wanted.intersection(got):
                stop.set()

    threading.Thread(target=relay, daemon=True, name="signals").start()
    for sig in signals:
        signal.signal(sig, _noted)
    return stop


def _noted(signum: int, frame: object) -> None:
    """The Python-level handler of stop_on_signals: nothing to do (see there)."""


def run_component(args: argparse.Namespace, lease_name: str, log: logging.Logger,
                  work: Callable[[ApiClient, threading.Event], None]) -> int:
    """Run `work(client, stop)` until a signal, under leader election when asked.
    A K8snetError from `work` (e.g. its informers could not list) ends the component with
    that error, also when it runs as the leader in a thread."""
    client = ApiClient.from_kubeconfig(args.kubeconfig)
    stop = stop_on_signals()
    if not args.leader_elect:
        work(client, stop)
        return 0
    failures: list[K8snetError] = []

    def lead(lead_stop: threading.Event) -> None:
        try:
            work(client, lead_stop)
        except K8snetError as exc:
            failures.append(exc)
            stop.set()
    identity = f"{socket.gethostname()}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    elector = LeaderElector(client, "kube-system", lease_name, identity,
                            lease_duration=args.leader_elect_lease_duration,
                            renew_period=max(1.0, args.leader_elect_lease_duration / 3),
                            log=log)
    log.info("%s: waiting to lead kube-system/%s", identity, lease_name)
    elector.run(stop, lead)
    if failures:
        raise failures[0]
    return 0
