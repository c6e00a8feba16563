"""`k8snet node-agent`: a worker's node components in one process, as k3s runs
kubelet and kube-proxy in its agent.

Each hosted component is the k8snet command it is on its own (``runtime``,
``policy-agent``, ``kubelet``, ``overlay-agent``, ``proxy``), given as one
``--component`` command line and run by ``k8snet.cli.main`` in a thread of
this process. They start in the order given, each once the ready files of the
ones before it exist (the runtime's socket, the policy agent's first rules,
the overlay agent's routes), which is the order the cluster's plan asks for.
SIGTERM or SIGINT stops them all. When one ends on its own the others are
stopped and the agent exits with its status, so whoever supervises the agent
starts the node again; the runtime's containers keep running under their
conmon monitors meanwhile, as on any runtime restart. A component a user
stopped (``k8snet fault stop kube-proxy --node w1``, read from the cluster's
faults.json) is stopped alone and started again once the fault is gone.

Why one process: forked from the cluster's zygote, each component process
held 8-14 MiB of private memory, mostly the zygote's pages it wrote (reference
counts, the interpreter's specialised bytecode) rather than its own data; one
process writes them once for all its components. Measured idle with 4
workers: 23.5 MiB PSS per worker, 45.9 MiB as four processes
(benchmarks/bench_perf.py).

With ``--log-dir`` each component logs to ``<name>.log`` there, as it would
on its own (``kubelet.log``, ``kube-proxy.log``, ...); what no component's
logger says (shared machinery, the agent itself) goes to stderr.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import shlex
import sys
import threading
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Set, Tuple

from k8snet.errors import UsageError

# subcommand -> (component name, the flag naming its ready file, its loggers)
HOSTABLE: Dict[str, Tuple[str, Optional[str], Tuple[str, ...]]] = {
    "runtime": ("runtime", "--socket", ("k8snet.runtime", "k8snet.cri")),
    "policy-agent": ("policy-agent", "--ready-file", ("k8snet.policy",)),
    "kubelet": ("kubelet", None, ("k8snet.kubelet",)),
    "overlay-agent": ("overlay-agent", "--ready-file", ("k8snet.overlay",)),
    "proxy": ("kube-proxy", None, ("k8snet.proxy",)),
}
STOP_GRACE = 15.0   # seconds the components get to stop together


@dataclass(frozen=True)
class Hosted:
    """One component this process runs: its name, its k8snet command line and
    the file that exists once it is ready (None: ready once started)."""

    name: str
    argv: Tuple[str, ...]
    ready_file: Optional[str] = None


def flag_value(argv: Sequence[str], flag: str) -> Optional[str]:
    """The value of ``flag`` in an argv (``--flag V`` or ``--flag=V``; the last wins)."""
    value = None
    for i, arg in enumerate(argv):
        if arg == flag and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith(flag + "="):
            value = arg[len(flag) + 1:]
    return value


def parse_component(text: str) -> Hosted:
    """A ``--component`` value (a k8snet command line, shell-quoted) as a Hosted;
    UsageError for anything this agent cannot host."""
    try:
        argv = shlex.split(text)
    except ValueError as exc:
        raise UsageError(f"--component {text!r}: {exc}") from None
    if not argv or argv[0] not in HOSTABLE:
        raise UsageError(f"--component {text!r}: give a k8snet command line starting with "
                         f"one of {', '.join(HOSTABLE)}, e.g. --component 'kubelet "
                         f"--kubeconfig PATH --node-name w1 ...'")
    name, flag, _loggers = HOSTABLE[argv[0]]
    return Hosted(name, tuple(argv), flag_value(argv, flag) if flag else None)


def parse_components(texts: Sequence[str]) -> List[Hosted]:
    """Every ``--component``, in start order; UsageError if none or one twice."""
    hosted = [parse_component(t) for t in texts]
    if not hosted:
        raise UsageError("give at least one --component 'COMMAND ARGS' to host")
    names = [h.name for h in hosted]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise UsageError(f"--component {', '.join(twice)} given more than once; "
                         "one agent hosts one of each")
    return hosted


def waiting_for(hosted: Sequence[Hosted], index: int, exists) -> List[str]:
    """The ready files still missing before ``hosted[index]`` may start: those
    of every component before it (``exists(path)`` says whether one is there)."""
    return [h.ready_file for h in hosted[:index] if h.ready_file and not exists(h.ready_file)]


def component_of_logger(logger: str, names: Sequence[str]) -> Optional[str]:
    """Which hosted component (of ``names``) a logger's records belong to, by the
    loggers each component's modules use (``k8snet.events.<name>`` too)."""
    for _sub, (name, _flag, prefixes) in HOSTABLE.items():
        if name not in names:
            continue
        for prefix in (*prefixes, f"k8snet.events.{name}"):
            if logger == prefix or logger.startswith(prefix + "."):
                return name
    return None


class _Route(logging.Handler):
    """Sends a record to its component's log file, or to ``fallback``."""

    def __init__(self, files: Dict[str, logging.Handler], fallback: logging.Handler):
        super().__init__()
        self.files = files
        self.fallback = fallback
        self.names = tuple(files)

    def emit(self, record: logging.LogRecord) -> None:
        name = component_of_logger(record.name, self.names)
        (self.files[name] if name else self.fallback).handle(record)

    def flush(self) -> None:
        for handler in (*self.files.values(), self.fallback):
            handler.flush()


def setup_logging(hosted: Sequence[Hosted], log_dir: Optional[str], node: str) -> None:
    fallback = logging.StreamHandler(sys.stderr)
    fallback.setFormatter(logging.Formatter(
        f"%(asctime)s node-agent[{node}] %(name)s %(levelname)s %(message)s"))
    files: Dict[str, logging.Handler] = {}
    for h in hosted:
        if log_dir:
            handler: logging.Handler = logging.FileHandler(
                os.path.join(log_dir, f"{h.name}.log"), encoding="utf-8")
            handler.setFormatter(logging.Formatter(
                f"%(asctime)s {h.name} %(levelname)s %(message)s"))
        else:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter(
                f"%(asctime)s {h.name}[{node}] %(levelname)s %(message)s"))
        files[h.name] = handler
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(_Route(files, fallback))
    # The components' own basicConfig calls change nothing now: a component's
    # --log-level is set on its loggers here.
    lowest = logging.INFO
    for h in hosted:
        wanted = flag_value(h.argv, "--log-level")
        level = logging.getLevelName(wanted.upper()) if wanted else logging.INFO
        level = level if isinstance(level, int) else logging.INFO
        for prefix in HOSTABLE[h.argv[0]][2]:
            logging.getLogger(prefix).setLevel(level)
        lowest = min(lowest, level)
    root.setLevel(lowest)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--component", action="append", default=[], metavar="'COMMAND ARGS'",
                        help="a k8snet command to host (runtime, policy-agent, kubelet, "
                             "overlay-agent, proxy) with its flags, shell-quoted; repeat, "
                             "in start order")
    parser.add_argument("--node-name", default=os.uname().nodename,
                        help="the node, for log lines (default: the host name)")
    parser.add_argument("--log-dir", help="each component logs to <name>.log here")
    parser.add_argument("--ready-file", help="written once every component started and "
                                             "those with a ready file are ready")
    parser.add_argument("--status-file", help="JSON kept up to date: the components running "
                                              "and those held down")
    parser.add_argument("--faults-dir", help="the cluster directory whose faults.json "
                                             "says which components a user stopped "
                                             "(k8snet fault stop): those are held down")


def held_components(stopped: Set[str], node: str, names: Sequence[str]) -> Set[str]:
    """Which of the hosted ``names`` are held down: those whose record name
    (``kube-proxy@w1``) is among the ``stopped`` processes of the cluster's faults."""
    return {n for n in names if f"{n}@{node}" in stopped}


class Agent:
    """Runs the hosted components; ``run`` returns the exit status.

    Each component has its own stop Event (what its ``stop_on_signals()``
    returns); a signal sets them all. ``held()`` names the components a user
    stopped (``k8snet fault stop kube-proxy --node w1``): such a one is
    stopped and not started again until it is no longer held, while the others
    run on. ``status_file`` says which run and which are held (JSON)."""

    def __init__(self, hosted: Sequence[Hosted], stop: threading.Event,
                 log: logging.Logger, ready_file: Optional[str] = None,
                 held: Callable[[], Set[str]] = set, status_file: Optional[str] = None,
                 period: float = 0.5):
        self.hosted = list(hosted)
        self.stop = stop
        self.log = log
        self.ready_file = ready_file
        self.held = held
        self.status_file = status_file
        self.period = period
        self.threads: Dict[str, threading.Thread] = {}
        self.stops: Dict[str, threading.Event] = {}
        self.names: Dict[int, str] = {}                # thread ident -> component
        self.ended: Dict[str, Tuple[int, str]] = {}   # name -> (status, its error text)
        self.holding: Set[str] = set()                # stopped because held
        self.changed = threading.Condition()
        self._status: Optional[Dict] = None

    def stop_for_this_thread(self) -> threading.Event:
        """The stop Event of the component whose main thread calls (see
        k8snet.components.host_components); the agent's own elsewhere."""
        name = self.names.get(threading.get_ident())
        return self.stops.get(name, self.stop) if name else self.stop

    def _body(self, h: Hosted) -> None:
        from k8snet import cli

        self.names[threading.get_ident()] = h.name
        err = io.StringIO()
        try:
            code = cli.main(list(h.argv), err=err)
        except SystemExit as exc:   # argparse's usage errors, --help
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:  # noqa: BLE001 - say it in its log, as Python would
            logging.getLogger(HOSTABLE[h.argv[0]][2][0]).exception("%s failed", h.name)
            code = 1
        text = err.getvalue().strip()
        if text:
            logging.getLogger(HOSTABLE[h.argv[0]][2][0]).error("%s", text)
        with self.changed:
            self.ended[h.name] = (code, text.splitlines()[-1] if text else "")
            self.changed.notify_all()

    def _start(self, h: Hosted) -> None:
        self.ended.pop(h.name, None)
        self.holding.discard(h.name)
        self.stops[h.name] = threading.Event()
        thread = threading.Thread(target=self._body, args=(h,), name=h.name, daemon=True)
        self.threads[h.name] = thread
        thread.start()

    def _running(self, name: str) -> bool:
        thread = self.threads.get(name)
        return thread is not None and thread.is_alive() and name not in self.ended

    def _step(self, ready_written: bool) -> bool:
        """Hold what is held, start what may start, in order; True once ready."""
        held = self.held()
        for name in sorted(held & set(self.threads)):
            if name not in self.holding and self._running(name):
                self.holding.add(name)
                self.stops[name].set()
                self.log.info("%s held down (k8snet fault stop): stopping it", name)
        for index, h in enumerate(self.hosted):
            if h.name in held or self._running(h.name):
                continue
            thread = self.threads.get(h.name)
            if thread is not None and (thread.is_alive() or h.name not in self.holding):
                continue   # still stopping, or it ended on its own: run() stops the agent
            if waiting_for(self.hosted, index, os.path.exists):
                break      # the ones after it wait too
            if thread is not None:
                self.log.info("%s no longer held: starting it again", h.name)
            self._start(h)
        self._write_status(held)
        if ready_written or held or len(self.threads) < len(self.hosted) or \
                waiting_for(self.hosted, len(self.hosted), os.path.exists):
            return ready_written
        if self.ready_file:
            try:
                with open(self.ready_file, "w") as fh:
                    fh.write(f"{os.getpid()}\n")
            except OSError as exc:
                self.log.warning("cannot write %s: %s", self.ready_file, exc)
                return False   # try again at the next step
        self.log.info("ready: %s", ", ".join(h.name for h in self.hosted))
        return True

    def _write_status(self, held: Set[str]) -> None:
        doc = {"running": [h.name for h in self.hosted if self._running(h.name)],
               "held": sorted(held)}
        if doc == self._status or not self.status_file:
            return
        try:
            with open(self.status_file + ".tmp", "w") as fh:
                json.dump(doc, fh)
            os.replace(self.status_file + ".tmp", self.status_file)
        except OSError as exc:   # said once; tried again at the next change
            self.log.warning("cannot write %s: %s", self.status_file, exc)
        self._status = doc

    def _failed(self) -> Optional[Tuple[str, Tuple[int, str]]]:
        """A component that ended on its own (not held, not stopped by a signal)."""
        return next(((n, e) for n, e in self.ended.items() if n not in self.holding), None)

    def run(self) -> int:
        first = None
        try:
            first = self._loop()
        finally:
            # whatever ended the loop (an error included), the components stop together
            self.stop.set()
            for event in self.stops.values():
                event.set()
            deadline = time.monotonic() + STOP_GRACE
            for thread in self.threads.values():
                thread.join(max(0.0, deadline - time.monotonic()))
            late = [n for n, t in self.threads.items() if t.is_alive()]
            if late:
                self.log.warning("still stopping after %.0fs: %s", STOP_GRACE,
                                 ", ".join(late))
        if first is None:
            return 0
        code = first[1][0]
        return code if code else 1   # a component is not meant to end on its own

    def _loop(self) -> Optional[Tuple[str, Tuple[int, str]]]:
        """Run until a signal (None) or a component ending on its own (it)."""
        ready = False
        while True:
            with self.changed:
                # Only a signal sets this stop: components that end after it were
                # stopped, not failed.
                first = None if self.stop.is_set() else self._failed()
                if self.stop.is_set() or first is not None:
                    break
            ready = self._step(ready)
            with self.changed:
                if not self.stop.is_set() and self._failed() is None:
                    self.changed.wait(self.period)
        if first is not None:
            name, (code, text) = first
            self.log.error("%s exited (status %s)%s; stopping %s", name, code,
                           f": {text}" if text else "",
                           ", ".join(n for n in self.threads if n != name) or "the agent")
        return first


def run(args: argparse.Namespace) -> int:
    from k8snet import components

    hosted = parse_components(args.component)
    if args.log_dir:
        os.makedirs(args.log_dir, exist_ok=True)
    stop = components.stop_on_signals()
    setup_logging(hosted, args.log_dir, args.node_name)
    log = logging.getLogger("k8snet.nodeagent")
    log.info("hosting %s", ", ".join(h.name for h in hosted))
    held: Callable[[], Set[str]] = set
    if args.faults_dir:
        from k8snet.testbed import faults

        names = [h.name for h in hosted]
        held = lambda: held_components(  # noqa: E731
            faults.stopped_processes(faults.load(args.faults_dir)), args.node_name, names)
    agent = Agent(hosted, stop, log, args.ready_file, held=held, status_file=args.status_file)
    components.host_components(agent.stop_for_this_thread)
    code = agent.run()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    # Threads a component could not stop in time must not keep the node's
    # process alive (an interpreter's exit waits for them): leave now.
    os._exit(code)
