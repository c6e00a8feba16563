"""The background process that keeps a detached cluster running.

``k8snet up --detach`` starts ``python -m k8snet.testbed.supervisor SPEC``
in its own session, holding the cluster's lock. It reports on stdout, one
line each: ``progress <text>``, then ``ready`` or ``error <code> <text>``.
After ``ready`` its output goes to the cluster's log and it watches every
long-running process the cluster started (control plane, node agents, the
os-ken controller, the apiserver port forward): one that exits is started
again after an exponential back-off, as systemd restarts a kubelet's static
Pods, and its new PID is recorded in the state before anything else happens,
so ``k8snet down`` always signals the processes that run. A node crashed by
``k8snet fault`` is held: its processes stay down until it is restored; so is
a component stopped with ``k8snet fault stop`` until ``k8snet fault start``.
On SIGTERM (from ``k8snet down``) supervision stops first, then everything
is taken down.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple, Union

from k8snet.components import stop_on_signals
from k8snet.errors import K8snetError
from k8snet.testbed import faults as flt
from k8snet.testbed import preflight
from k8snet.testbed import state as st
from k8snet.testbed.spec import ClusterSpec
from k8snet.testbed.zygote import ForkedProcess, ZygoteClient, reap_orphans

# -- what to run, and when to run it again (pure) ----------------------------------

@dataclass(frozen=True)
class Backoff:
    """Restart delays: ``base`` after the first crash, doubling up to ``cap``;
    a process that ran ``stable`` seconds before it exited starts from
    ``base`` again (systemd's RestartSec with a kubelet-like doubling)."""

    base: float = 1.0
    cap: float = 30.0
    stable: float = 60.0


def next_delay(previous: Optional[float], ran_for: float, policy: Backoff) -> float:
    """The wait before the next start of a process that just exited after
    running ``ran_for`` seconds; ``previous`` is the wait before its last start
    (None if it never crashed)."""
    if previous is None or ran_for >= policy.stable:
        return policy.base
    return min(previous * 2, policy.cap)


def describe_exit(returncode: Optional[int]) -> str:
    """A process's end as people say it: ``exit 1``, ``killed by SIGKILL``."""
    if returncode is None:
        return "gone"
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit {returncode}"


def cli_args(argv: List[str]) -> Optional[List[str]]:
    """The arguments of a ``python -m k8snet.cli ...`` command (what the zygote
    runs), or None for any other command."""
    if argv[:3] == [sys.executable, "-m", "k8snet.cli"]:
        return list(argv[3:])
    return None


@dataclass
class Launch:
    """How one long-running process was started, to start it the same way again.

    With ``netns`` it runs in that network namespace; with a ``zygote`` a
    k8snet command is forked from the cluster's zygote (k8snet.testbed.zygote),
    or started as its own process when the zygote does not answer."""

    name: str                          # its record's name: kubelet@w1, controller, ...
    argv: List[str]
    log: str
    node: Optional[str] = None
    env: Dict[str, str] = field(default_factory=dict)
    netns: Optional[str] = None
    zygote: Optional[ZygoteClient] = None
    popen: Optional[Union[subprocess.Popen, ForkedProcess]] = None
    started: float = 0.0               # time.monotonic() of the last start
    delay: Optional[float] = None      # the back-off before the last restart
    due: Optional[float] = None        # when it starts again (None: running)
    restarts: int = 0
    last_exit: Optional[str] = None
    hosts: Tuple[str, ...] = ()        # a node agent: the components it runs

    def spawn(self) -> Union[subprocess.Popen, ForkedProcess]:
        """Start the process (in its own session, output appended to its log)."""
        os.makedirs(os.path.dirname(self.log), exist_ok=True)
        env = {**os.environ, **self.env}
        args = cli_args(self.argv)
        self.popen = None
        if self.zygote is not None and args is not None and self.zygote.ready():
            try:
                self.popen = ForkedProcess(
                    self.zygote.spawn(self.name, args, env, self.log, self.netns))
            except (OSError, ValueError):
                self.popen = None  # the zygote is gone or stopping: start it plainly
        if self.popen is None:
            # nsenter execs the command, so the PID recorded is the command's.
            argv = self.argv if self.netns is None else \
                ["nsenter", f"--net=/run/netns/{self.netns}", *self.argv]
            with open(self.log, "ab") as out:
                self.popen = subprocess.Popen(
                    argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    env=env, start_new_session=True)
        self.started = time.monotonic()
        self.due = None
        return self.popen

    def record(self) -> st.ProcessRecord:
        """The record of the running process, with its restart history."""
        return dataclasses.replace(
            st.record_process(self.popen.pid, self.name, node=self.node, log=self.log),
            restarts=self.restarts, last_exit=self.last_exit, hosts=self.hosts)

    def exited(self) -> Optional[int]:
        """The exit status if the process ended (and reap it), else None."""
        return None if self.popen is None else self.popen.poll()


class Supervision:
    """Restarts the cluster's processes that exit; records each restart.

    ``launches`` are the cluster's processes by record name; ``save`` is
    called with (name, new record) after each start, before anything else
    looks. ``held`` says which processes must stay down (a crashed node's).
    """

    def __init__(self, launches: Dict[str, Launch],
                 save: Callable[[str, st.ProcessRecord], None],
                 held: Callable[[Launch], bool] = lambda _launch: False,
                 policy: Backoff = Backoff(), log: Callable[[str], None] = print):
        self.launches = launches
        self.save = save
        self.held = held
        self.policy = policy
        self.log = log

    def tick(self, now: Optional[float] = None) -> None:
        now = time.monotonic() if now is None else now
        for launch in self.launches.values():
            if launch.due is None:
                code = launch.exited()
                if code is None:
                    continue
                launch.last_exit = describe_exit(code)
                launch.delay = next_delay(launch.delay, now - launch.started, self.policy)
                launch.due = now + launch.delay
                self.log(f"{launch.name} exited ({launch.last_exit}) after "
                         f"{now - launch.started:.1f}s; restarting in {launch.delay:g}s")
            if self.held(launch):
                launch.due = max(launch.due, now)  # starts as soon as the hold ends
                continue
            if now >= launch.due:
                self.restart(launch)

    def restart(self, launch: Launch) -> None:
        try:
            launch.spawn()
        except OSError as exc:
            launch.delay = min((launch.delay or self.policy.base) * 2, self.policy.cap)
            launch.due = time.monotonic() + launch.delay
            self.log(f"{launch.name} could not start ({exc}); next try in {launch.delay:g}s")
            return
        launch.restarts += 1
        self.save(launch.name, launch.record())
        self.log(f"{launch.name} restarted (pid {launch.popen.pid}, "
                 f"restart {launch.restarts}, last exit {launch.last_exit})")


# -- the process ---------------------------------------------------------------------

def report(kind: str, text: str = "") -> None:
    sys.stdout.write(f"{kind} {text}".rstrip() + "\n")
    sys.stdout.flush()


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    with open(argv[0]) as fh:
        spec = ClusterSpec.from_dict(json.load(fh))
    stop = stop_on_signals((signal.SIGTERM, signal.SIGINT, signal.SIGHUP))
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
    watch(cluster, stop)
    print(stamp("stopping"), flush=True)
    cluster.down()
    return 0


def stamp(text: str) -> str:
    return time.strftime("%H:%M:%S ") + text


def watch(cluster, stop: threading.Event, period: float = 0.5) -> None:
    """Keep ``cluster``'s processes running until ``stop`` is set."""
    def held(launch: Launch) -> bool:
        return (launch.node is not None and launch.node in crashed) or launch.name in stopped

    supervision = Supervision(cluster.launches, cluster.record_restart, held=held,
                              log=lambda text: print(stamp(text), flush=True))
    crashed: set = set()
    stopped: set = set()
    while not stop.wait(period):
        active = flt.load(cluster.dir)
        crashed, stopped = flt.crashed_nodes(active), flt.stopped_processes(active)
        supervision.tick()
        # Processes adopted as a subreaper (a runtime's containers after it
        # exited) that ended: nobody else waits for them.
        reap_orphans(cluster.waited_pids())


if __name__ == "__main__":
    sys.exit(main())
