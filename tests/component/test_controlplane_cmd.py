"""`k8snet control-plane`: three processes on loopback, a working kubeconfig, clean stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from k8snet.machinery.client import ApiClient, ApiError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(x) for x in fh.read().split()]
    except OSError:
        return []


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except OSError:
        return False


def test_control_plane_runs_three_components_and_stops_them(tmp_path):
    data = tmp_path / "cp"
    out = open(tmp_path / "out.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "k8snet.cli", "control-plane", "--data-dir",
                             str(data), "--port", "0"], stdout=out, stderr=subprocess.STDOUT,
                            cwd=REPO)
    kids: list[int] = []
    try:
        end = time.monotonic() + 60
        text = ""
        while time.monotonic() < end and "try: kubectl" not in text:
            assert proc.poll() is None, (tmp_path / "out.log").read_text()
            time.sleep(0.2)
            text = (tmp_path / "out.log").read_text()
        assert "try: kubectl" in text, f"control-plane never said it was up:\n{text}"
        kubeconfig = str(data / "kubeconfig")
        assert f"kubeconfig: {kubeconfig}" in text
        kids = _children(proc.pid)
        assert len(kids) == 3
        client = ApiClient.from_kubeconfig(kubeconfig)
        client.create("pods", {"apiVersion": "v1", "kind": "Pod",
                               "metadata": {"name": "lonely", "namespace": "default"},
                               "spec": {"containers": [{"name": "c", "image": "busybox"}]}},
                      "default")

        def condition():
            pod = client.get("pods", "lonely", "default")
            return next((c for c in (pod.get("status") or {}).get("conditions") or []
                         if c["type"] == "PodScheduled"), None)

        end = time.monotonic() + 30
        cond = None
        while time.monotonic() < end and cond is None:
            try:
                cond = condition()
            except ApiError:
                pass
            time.sleep(0.2)
        assert cond and cond["message"] == "no nodes available to schedule pods", \
            "the scheduler in the control plane did not report on the Pod"
        env = dict(os.environ, HOME=str(tmp_path), KUBECONFIG=kubeconfig)
        got = subprocess.run(["kubectl", "get", "pods", "--no-headers"], env=env,
                             capture_output=True, text=True, timeout=60)
        if got.returncode == 0:
            assert "lonely" in got.stdout and "Pending" in got.stdout
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        for pid in kids:
            assert not _alive(pid), f"child {pid} still running after control-plane stopped"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        for pid in kids:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        out.close()


def test_control_plane_bad_port(tmp_path):
    got = subprocess.run([sys.executable, "-m", "k8snet.cli", "control-plane", "--data-dir",
                          str(tmp_path), "--port", "70000"], capture_output=True, text=True,
                         cwd=REPO, timeout=30)
    assert got.returncode == 2
    assert "--port 70000 is out of range" in got.stderr
    assert "Traceback" not in got.stderr


@pytest.mark.parametrize("flag", ["--kubeconfig"])
def test_components_need_a_readable_kubeconfig(tmp_path, flag):
    for cmd in ("scheduler", "controller-manager"):
        got = subprocess.run([sys.executable, "-m", "k8snet.cli", cmd, flag,
                              str(tmp_path / "missing")], capture_output=True, text=True,
                             cwd=REPO, timeout=30)
        assert got.returncode == 1, got.stderr
        assert "cannot read kubeconfig" in got.stderr and "Traceback" not in got.stderr


def test_control_plane_with_simulated_nodes_runs_a_deployment(tmp_path):
    data = tmp_path / "cp"
    out = open(tmp_path / "out.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "k8snet.cli", "control-plane", "--data-dir",
                             str(data), "--port", "0", "--simulated-nodes", "3"],
                            stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
    try:
        end = time.monotonic() + 60
        while time.monotonic() < end and "simulated nodes" not in \
                (tmp_path / "out.log").read_text():
            assert proc.poll() is None, (tmp_path / "out.log").read_text()
            time.sleep(0.2)
        client = ApiClient.from_kubeconfig(str(data / "kubeconfig"))
        client.create("deployments", {
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"nodeSelector": {"disk": "ssd"},
                                           "containers": [{"name": "c", "image": "nginx"}]}}}},
            "default")
        end = time.monotonic() + 60
        status: dict = {}
        while time.monotonic() < end and status.get("availableReplicas") != 3:
            time.sleep(0.3)
            status = client.get("deployments", "web", "default").get("status") or {}
        assert status.get("availableReplicas") == 3, status
        nodes = {p["spec"]["nodeName"] for p in
                 client.list("pods", "default", label_selector="app=web")["items"]}
        assert nodes <= {"sim-1", "sim-3"}, nodes
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        out.close()
