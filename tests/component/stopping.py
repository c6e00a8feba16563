"""Test helper: run k8snet components as processes against an apiserver, wait until they
work, and stop them with SIGTERM, timing how long they take and whether they exited by
themselves (status 0) or had to be killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Optional

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@dataclass
class Stopped:
    name: str
    seconds: float
    returncode: int
    killed: bool   # did not exit within the deadline: SIGKILL


class Component:
    """`python -m k8snet.cli ARGV...` with its output in LOG."""

    def __init__(self, name: str, argv: list, log_path: str) -> None:
        self.name = name
        self.log_path = log_path
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "k8snet.cli", *argv],
                                         stdout=log, stderr=subprocess.STDOUT, cwd=REPO)

    def log(self) -> str:
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def wait_for_log(self, text: str, deadline: float) -> None:
        """Until `text` shows in the log; RuntimeError with the log when not."""
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            if text in self.log():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not log {text!r} within {deadline}s "
                           f"(status {self.proc.poll()}):\n{self.log()[-2000:]}")

    def stop(self, deadline: float = 15.0, signals: int = 1) -> Stopped:
        """SIGTERM (`signals` times, back to back); SIGKILL after `deadline` seconds."""
        t0 = time.monotonic()
        for _ in range(signals):
            self.proc.send_signal(signal.SIGTERM)
        killed = False
        try:
            self.proc.wait(timeout=deadline)
        except subprocess.TimeoutExpired:
            killed = True
            self.proc.kill()
            self.proc.wait(timeout=15)
        return Stopped(self.name, time.monotonic() - t0, self.proc.returncode, killed)


def scheduler(kubeconfig: str, log_dir: str) -> Component:
    return Component("scheduler", ["scheduler", "--kubeconfig", kubeconfig],
                     os.path.join(log_dir, "scheduler.log"))


def controller_manager(kubeconfig: str, log_dir: str, extra: Optional[list] = None
                       ) -> Component:
    return Component("controller-manager", ["controller-manager", "--kubeconfig", kubeconfig,
                                            *(extra or [])],
                     os.path.join(log_dir, "controller-manager.log"))
