"""Two scheduler replicas: one leads through the kube-system Lease; killing it hands over."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from k8snet.machinery.client import ApiClient, ApiError
from tests.component.apiserver_proc import ApiServerProc

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def wait(check, what: str, deadline: float = 45.0):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            got = check()
            if got:
                return got
        except ApiError:
            pass
        time.sleep(0.2)
    pytest.fail(f"waited {deadline}s for {what}")


def ready_node(client: ApiClient, name: str) -> None:
    client.create("nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}})
    node = client.get("nodes", name)
    node["status"] = {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
                      "conditions": [{"type": "Ready", "status": "True"}]}
    client.update("nodes", node, subresource="status")


def make_pod(client: ApiClient, name: str) -> None:
    client.create("pods", {"apiVersion": "v1", "kind": "Pod",
                           "metadata": {"name": name, "namespace": "default"},
                           "spec": {"containers": [{"name": "c", "image": "busybox"}]}},
                  "default")


def test_scheduler_replicas_hand_over_on_leader_death(tmp_path):
    api = ApiServerProc(str(tmp_path)).start()
    procs: dict[int, subprocess.Popen] = {}
    logs: dict[int, str] = {}
    try:
        for i in range(2):
            log_path = str(tmp_path / f"scheduler{i}.log")
            with open(log_path, "wb") as log:
                p = subprocess.Popen([sys.executable, "-m", "k8snet.cli", "scheduler",
                                      "--kubeconfig", api.kubeconfig,
                                      "--leader-elect-lease-duration", "3"],
                                     stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
            procs[p.pid] = p
            logs[p.pid] = log_path
        client = ApiClient.from_kubeconfig(api.kubeconfig)

        def holder_pid():
            spec = client.get("leases", "kube-scheduler", "kube-system")["spec"]
            parts = (spec.get("holderIdentity") or "").split("_")
            return int(parts[-2]) if len(parts) >= 3 and parts[-2].isdigit() else None

        leader = wait(holder_pid, "a scheduler to take the kube-scheduler Lease")
        assert leader in procs
        ready_node(client, "w1")
        make_pod(client, "first")
        wait(lambda: client.get("pods", "first", "default")["spec"].get("nodeName"),
             "the leader to bind the first Pod")
        standby = next(pid for pid in procs if pid != leader)
        with open(logs[standby]) as fh:
            assert "bound default/first" not in fh.read()
        procs[leader].send_signal(signal.SIGKILL)
        procs[leader].wait(timeout=10)
        wait(lambda: holder_pid() == standby, "the standby to take over the Lease")
        make_pod(client, "second")
        wait(lambda: client.get("pods", "second", "default")["spec"].get("nodeName"),
             "the new leader to bind the second Pod")
        lease = client.get("leases", "kube-scheduler", "kube-system")["spec"]
        assert lease["leaseTransitions"] >= 1
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
        api.stop()
