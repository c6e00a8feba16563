"""The testbed's waits watch the apiserver (informer + wait_until) instead of
polling by list: against `k8snet control-plane --simulated-nodes 2`, the probe
Pods come Ready and go, compare's Pods come Ready, and a wait that cannot end
says what it waited for when its deadline passes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from k8snet.errors import K8snetError
from k8snet.machinery.client import ApiClient
from k8snet.probe import deploy
from k8snet.testbed import cmd_compare
from k8snet.testbed.waiting import WaitTimeout, ready_names, wait_for

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cp")
    log = open(tmp / "out.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "k8snet.cli", "control-plane", "--data-dir",
                             str(tmp / "cp"), "--port", "0", "--simulated-nodes", "2"],
                            stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    try:
        end = time.monotonic() + 60
        while "simulated nodes" not in (tmp / "out.log").read_text():
            assert proc.poll() is None and time.monotonic() < end, \
                (tmp / "out.log").read_text()
            time.sleep(0.2)
        api = ApiClient.from_kubeconfig(str(tmp / "cp" / "kubeconfig"))
        wait_for(api, "nodes", lambda items: {"sim-1", "sim-2"} <= ready_names(items), 30,
                 "simulated Nodes Ready")
        yield api
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_probe_pods_come_ready_and_go_by_watch(client):
    pods = deploy.ensure(client, ["sim-1", "sim-2"], timeout=60)
    assert [(p.name, p.node, p.role) for p in pods] == [
        ("k8snet-probe-a", "sim-1", "client"), ("k8snet-probe-b", "sim-1", "server"),
        ("k8snet-probe-c", "sim-2", "server")]
    assert all(p.ip and p.uid for p in pods) and len({p.ip for p in pods}) == 3
    # a second run reuses them
    assert [p.uid for p in deploy.ensure(client, ["sim-1", "sim-2"], timeout=30)] == \
        [p.uid for p in pods]
    assert sorted(deploy.remove(client, timeout=60)) == [p.name for p in pods]
    left = client.list("pods", "default", label_selector="app=k8snet-probe")["items"]
    assert left == []


def test_compare_pods_come_ready_by_watch(client):
    for name, node in (("cmp-a", "sim-1"), ("cmp-c", "sim-2")):
        client.create("pods", cmd_compare.pod_doc(name, node), "default")
    try:
        pods = cmd_compare.wait_ready(client, ["cmp-a", "cmp-c"], timeout=60)
        assert sorted(pods) == ["cmp-a", "cmp-c"]
        assert pods["cmp-c"]["spec"]["nodeName"] == "sim-2" and pods["cmp-c"]["status"]["podIP"]
    finally:
        for name in ("cmp-a", "cmp-c"):
            client.delete("pods", name, "default")


def test_a_wait_that_cannot_end_says_what_it_waited_for(client):
    started = time.monotonic()
    with pytest.raises(K8snetError, match=r"timed out after 1s waiting for Pods "
                                          r"nobody Ready with an IP"):
        cmd_compare.wait_ready(client, ["nobody"], timeout=1)
    with pytest.raises(WaitTimeout, match="waiting for a third Node"):
        wait_for(client, "nodes", lambda items: len(items) >= 3, 1, "a third Node")
    assert time.monotonic() - started < 10
