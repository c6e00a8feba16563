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

# joins each cgroup.procs named before "--" (writing 0 moves the writer: this shell),
# then becomes the command; a shell, not a preexec_fn: Python code between fork and exec
# in the runtime trips gRPC's fork handlers (the child aborts)
JOIN_SCRIPT = ('while [ "$1" != -- ]; do echo 0 > "$1" 2>/dev/null; shift; done; '
               'shift; exec "$@"')


def wrap(argv: Sequence[str], cgroup_procs: Sequence[str], tty: bool) -> list[str]:
    """The argv that joins the cgroups (and, with a terminal, takes it as its controlling
    terminal in a new session: util-linux setsid -c) before running argv (pure)."""
    inner = ["/bin/sh", "-c", JOIN_SCRIPT, "k8snet-exec", *cgroup_procs, "--", *argv]
    return ["/usr/bin/setsid", "-c", *inner] if tty else inner


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
        proc = subprocess.Popen(wrap(argv, cgroup_procs, False),
                                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                start_new_session=True)
        return ExecProcess(proc)
    env.setdefault("TERM", "xterm")
    master, slave = pty.openpty()
    try:
        # not start_new_session: setsid makes the session (without forking, as the child
        # leads no process group), so proc.pid stays the session's and group's leader
        proc = subprocess.Popen(wrap(argv, cgroup_procs, True), stdin=slave, stdout=slave,
                                stderr=slave, env=env)
    except OSError:
        os.close(master)
        raise
    finally:
        os.close(slave)
    return ExecProcess(proc, master)
