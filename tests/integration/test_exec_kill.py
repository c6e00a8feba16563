"""An exec killed at its deadline must not keep its container from ending (root).

An exec is nsenter plus the command it forks into the container's PID namespace.
Killed together, the command is orphaned outside that namespace; while nobody
reaps it, the namespace's PID 1 cannot finish exiting. Here the orphans' reaper
is a subreaper that never reaps (as a busy or naive init may be), so only a kill
that lets nsenter reap its child lets the container's PID 1 go."""

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("nsenter"),
                                reason="needs root and nsenter")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SCENARIO = textwrap.dedent("""
    import ctypes, os, signal, subprocess, sys, time
    from k8snet.cri import host
    ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)          # PR_SET_CHILD_SUBREAPER, never reaps
    box = subprocess.Popen(["unshare", "--pid", "--fork", "sh", "-c", "sleep 1000"],
                           start_new_session=True)
    deadline = time.monotonic() + 10
    while not host.children_of(box.pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    init = host.children_of(box.pid)[0]
    ex = subprocess.Popen(["nsenter", "-t", str(init), "-p", "--", "sleep", "300"],
                          start_new_session=True)
    while not host.children_of(ex.pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    host.kill_tree(ex.pid)                          # the exec's deadline passed
    ex.wait()
    os.kill(init, signal.SIGKILL)                   # StopContainer
    gone_by = time.monotonic() + 10
    while os.path.exists(f"/proc/{init}") and time.monotonic() < gone_by:
        try:
            with open(f"/proc/{init}/stat") as fh:
                if fh.read().rsplit(")", 1)[1].split()[0] == "Z":
                    break                           # exited; its parent reaps it
        except OSError:
            break
        time.sleep(0.05)
    else:
        if os.path.exists(f"/proc/{init}"):
            print("stuck"); sys.exit(1)
    box.kill(); box.wait()
    print("ended")
""")


def test_a_killed_exec_leaves_no_orphan_that_holds_its_container():
    proc = subprocess.run([sys.executable, "-c", SCENARIO], capture_output=True, text=True,
                          timeout=60, env=dict(os.environ, PYTHONPATH=REPO))
    assert proc.stdout.strip() == "ended", (proc.stdout, proc.stderr)
