"""`k8snet node-agent` runs real components as threads of one process: each
starts once those before it are ready, logs to its own file, and they stop
together, on SIGTERM or when one of them ends (k8snet.nodeagent). Only the
runtime is hosted here: on loopback it serves CRI on a unix socket and
touches no network until a Pod is made (the clusters of tests/integration run
every worker's components this way)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from k8snet.machinery.cri import RuntimeClient


def agent(tmp_path, *components):
    argv = [sys.executable, "-m", "k8snet.cli", "node-agent", "--node-name", "na1",
            "--log-dir", str(tmp_path), "--ready-file", str(tmp_path / "agent.ready"),
            "--status-file", str(tmp_path / "agent.status"), "--faults-dir", str(tmp_path)]
    for text in components:
        argv += ["--component", text]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def runtime(tmp_path):
    return (f"runtime --socket {tmp_path}/rt.sock --root-dir {tmp_path}/root "
            f"--netns-prefix k8snet-natest --cni-conf-dir {tmp_path}/net.d")


def until(what, probe, proc, timeout=60):
    """Wait for ``probe()`` while the agent runs; fail saying ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not probe():
        assert proc.poll() is None, proc.stdout.read()
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def wait_file(path, proc, timeout=60):
    until(f"no {path}", lambda: os.path.exists(path), proc, timeout)


def answers_then_stops(tmp_path, proc) -> str:
    """Ask the hosted runtime its version over CRI, then SIGTERM the agent; its output."""
    client = RuntimeClient(str(tmp_path / "rt.sock"), timeout=10)
    try:
        assert client.version()["runtime_name"] == "k8snet"
    finally:
        client.close()
    proc.send_signal(signal.SIGTERM)
    return proc.communicate(timeout=30)[0]


def test_hosted_components_serve_and_stop_together_on_sigterm(tmp_path):
    proc = agent(tmp_path, runtime(tmp_path))
    try:
        wait_file(tmp_path / "agent.ready", proc)
        out = answers_then_stops(tmp_path, proc)
    finally:
        proc.kill()
    assert proc.returncode == 0, out
    assert "hosting runtime" in out
    log = (tmp_path / "runtime.log").read_text()
    assert "serving CRI" in log and "runtime stopped" in log
    assert not (tmp_path / "rt.sock").exists()


def test_a_component_that_ends_stops_the_others_and_the_agent_exits_with_its_status(
        tmp_path):
    proc = agent(tmp_path, runtime(tmp_path), "kubelet --no-such-flag")
    try:
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 2, out   # argparse's usage error, as the kubelet on its own
    assert "k8snet kubelet: error: the following arguments are required" in out
    assert "kubelet exited (status 2); stopping runtime" in out
    # the kubelet started only once the runtime served (its socket is its ready file)
    assert "serving CRI" in (tmp_path / "runtime.log").read_text()
    assert "runtime stopped" in (tmp_path / "runtime.log").read_text()


def test_what_it_cannot_host_is_a_usage_error_before_anything_starts(tmp_path):
    proc = agent(tmp_path, "apiserver --port 1")
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2, out
    assert "k8snet node-agent: --component 'apiserver --port 1': give a k8snet command " \
           "line starting with one of runtime" in out
    assert not (tmp_path / "agent.ready").exists()


def status(tmp_path):
    try:
        return json.loads((tmp_path / "agent.status").read_text())
    except (OSError, ValueError):
        return {}


def test_a_component_a_user_stopped_is_held_down_and_started_again(tmp_path):
    """`k8snet fault stop runtime --node na1` writes the fault into faults.json;
    the agent stops that component alone and starts it again once the fault is gone."""
    from k8snet.testbed import faults

    proc = agent(tmp_path, runtime(tmp_path))
    try:
        wait_file(tmp_path / "agent.ready", proc)
        until("runtime running", lambda: status(tmp_path).get("running") == ["runtime"], proc)
        faults.save(str(tmp_path), [faults.new("stop", ["runtime@na1"])])
        until("runtime held", lambda: status(tmp_path) == {"running": [], "held": ["runtime"]},
              proc)
        assert not (tmp_path / "rt.sock").exists()   # it stopped as on SIGTERM
        faults.save(str(tmp_path), [faults.new("stop", ["runtime@na2"])])  # another node's
        until("runtime running again", lambda: status(tmp_path).get("running") == ["runtime"],
              proc)
        wait_file(tmp_path / "rt.sock", proc)
        out = answers_then_stops(tmp_path, proc)
    finally:
        proc.kill()
    assert proc.returncode == 0, out
    assert "runtime held down (k8snet fault stop): stopping it" in out
    assert "runtime no longer held: starting it again" in out
    assert (tmp_path / "runtime.log").read_text().count("serving CRI") == 2
