"""Start a command for a streaming exec: in the container's namespaces and cgroups,
on pipes or on a fresh terminal (``kubectl exec -t``)."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import termios
from dataclasses import dataclass
from typing import Optional, Sequence

from k8snet.cri import host


def _join_cgroups(procs_files: Sequence[str], tty: bool):
    """preexec_fn: move the child into the container's cgroups (and take the terminal)."""
    def run() -> None:
        for path in procs_files:
            try:
                with open(path, "w", encoding="ascii") as fh:
                    fh.write("0")
            except OSError:
                pass  # a cgroup that went away: the command still runs, unaccounted
        if tty:
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    return run


@dataclass
class ExecProcess:
    """A running exec: the process and where its input and output go.

    With a terminal, `master` is the pty's master side (input and output both);
    without, the pipes of `proc` are used.
    """

    proc: subprocess.Popen
    master: Optional[int] = None

    def resize(self, width: int, height: int) -> None:
        if self.master is not None and width > 0 and height > 0:
            fcntl.ioctl(self.master, termios.TIOCSWINSZ,
                        struct.pack("HHHH", height, width, 0, 0))

    def kill(self) -> None:
        if self.proc.poll() is None:
            host.kill_tree(self.proc.pid)


def spawn(argv: Sequence[str], env: Optional[dict], cgroup_procs: Sequence[str],
          tty: bool, stdin: bool) -> ExecProcess:
    """Start argv in a new session; OSError when it cannot start."""
    env = dict(env) if env is not None else dict(os.environ)
    if not tty:
        proc = subprocess.Popen(list(argv), stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                start_new_session=True,
                                preexec_fn=_join_cgroups(cgroup_procs, False))
        return ExecProcess(proc)
    env.setdefault("TERM", "xterm")
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(list(argv), stdin=slave, stdout=slave, stderr=slave, env=env,
                                start_new_session=True,
                                preexec_fn=_join_cgroups(cgroup_procs, True))
    except OSError:
        os.close(master)
        raise
    finally:
        os.close(slave)
    return ExecProcess(proc, master)
