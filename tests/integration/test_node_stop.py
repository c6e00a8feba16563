"""A node's kubelet and kube-proxy exit by themselves (status 0) soon after SIGTERM, two of
them back to back (issue 15; the figures are in benchmarks/bench_stop.py --node)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time

import pytest

from tests.integration.kubelet_stack import NODE, NODE_IP, NodeStack, wait_for

pytestmark = pytest.mark.root
STOP_DEADLINE = 15.0


def needs_root() -> None:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and iproute2")


def start_node() -> NodeStack:
    stack = NodeStack(tempfile.mkdtemp(prefix="k8snet-nodestop-")).start(controller_manager=True)
    wait_for("the Node to be Ready", lambda: any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in ((stack.get("node", NODE) or {}).get("status") or {}).get("conditions", [])),
        deadline=120)
    stack.spawn("proxy", "proxy", "--kubeconfig", stack.kubeconfig, "--node-name", NODE,
                "--node-ip", NODE_IP, "--mode", "iptables", "-v")
    wait_for("the proxy's first sync", lambda: "synced" in stack.log("proxy"), deadline=120)
    return stack


def stop(proc: subprocess.Popen, signals: int = 2) -> tuple[float, int, bool]:
    """(seconds, status, killed) after `signals` SIGTERMs."""
    t0 = time.monotonic()
    for _ in range(signals):
        proc.terminate()
    try:
        proc.wait(STOP_DEADLINE)
        return time.monotonic() - t0, proc.returncode, False
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
        return time.monotonic() - t0, proc.returncode, True


def test_kubelet_and_proxy_exit_by_themselves():
    needs_root()
    stack = start_node()
    try:
        for name in ("proxy", "kubelet"):
            took, code, killed = stop(stack.procs[name])
            assert not killed and code == 0, (name, took, stack.log(name))
            assert "Traceback" not in stack.log(name), stack.log(name)
    finally:
        stack.close()
