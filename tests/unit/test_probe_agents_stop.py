"""Probe agents on a loaded machine: more time to start when many start at once, and a
stop that never turns a clear error into a traceback."""

from __future__ import annotations

import subprocess

from k8snet.probe import agents


def test_many_agents_started_together_get_more_time():
    assert agents.start_timeout(1) == agents.START_TIMEOUT
    assert agents.start_timeout(16) == agents.START_TIMEOUT
    assert agents.start_timeout(54) > 3 * agents.START_TIMEOUT


class Stuck:
    """A process that neither quits nor dies in time (SIGKILLed on a saturated machine)."""

    def __init__(self):
        self.killed = False
        self.stdin = self.stdout = self.stderr = None

    def poll(self):
        return None

    def wait(self, timeout=None):
        raise subprocess.TimeoutExpired("agent", timeout)

    def kill(self):
        self.killed = True


class Pipe:
    def write(self, _text):
        pass

    def flush(self):
        pass

    def close(self):
        pass


def test_stopping_an_agent_that_does_not_go_away_in_time_does_not_raise():
    agent = agents.Agent("w12", None)
    stuck = Stuck()
    stuck.stdin = stuck.stdout = stuck.stderr = Pipe()
    agent.proc = stuck
    agent.stop()
    assert stuck.killed and agent.proc is None
