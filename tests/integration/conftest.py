"""Integration tests: root, Mininet, Open vSwitch. Each cluster test checks
that nothing of k8snet's is left behind afterwards."""

import json
import os
import subprocess
import sys

import pytest

from k8snet.testbed import cleanup

if os.geteuid() != 0:
    pytest.skip("integration tests need root (run 'sudo make test')", allow_module_level=True)


def k8snet(*args, check=True, timeout=300, env=None):
    """Run the k8snet command as a user would; return the CompletedProcess."""
    proc = subprocess.run([sys.executable, "-m", "k8snet.cli", *args], capture_output=True,
                          text=True, timeout=timeout, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"k8snet {' '.join(args)} failed ({proc.returncode}):\n"
                             f"{proc.stdout}\n{proc.stderr}")
    return proc


def leftovers(cluster):
    """Everything of ``cluster``'s that is still on the machine."""
    plan = cleanup.gather(only=cluster)
    return {"records": [r for r in plan.records if r.pid], "pids": plan.pids,
            "bridges": plan.bridges, "netns": plan.netns, "links": plan.links,
            "dirs": [d for d in plan.dirs if os.path.exists(d)],
            "locks": [p for p in plan.locks if os.path.exists(p)]}


def nothing_left(cluster):
    left = leftovers(cluster)
    return {k: v for k, v in left.items() if v}


@pytest.fixture
def cluster_factory():
    """Start clusters with `k8snet up --detach`; always take them down."""
    started = []

    def start(name, *args, timeout=600):
        started.append(name)
        k8snet("up", "--detach", "--name", name, *args, timeout=timeout)
        status = json.loads(k8snet("status", "--json", "--name", name).stdout)
        return status["clusters"][0]

    yield start
    for name in started:
        k8snet("down", "--name", name, check=False)
