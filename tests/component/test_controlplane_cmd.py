"""`k8snet control-plane`: three processes on loopback, a working kubeconfig, clean stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
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
        if proc.poll() is None:  # a failed assertion: stop it so it stops its children
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        out.close()


def test_the_python_client_lists_what_simulated_nodes_report(tmp_path):
    """Every object the API returns parses in the official client's models (it raised on
    simulated nodes: V1ContainerStatus imageID None, V1NodeSystemInfo fields missing)."""
    pytest.importorskip("kubernetes")
    from kubernetes import client as k8s
    from kubernetes import config as k8s_config

    from k8snet.machinery.conditions import is_ready
    from k8snet.machinery.informer import Informer, wait_until

    data = tmp_path / "cp"
    out = open(tmp_path / "out.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "k8snet.cli", "control-plane", "--data-dir",
                             str(data), "--port", "0", "--simulated-nodes", "2"],
                            stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
    stop = None
    try:
        end = time.monotonic() + 60
        while time.monotonic() < end and "simulated nodes" not in \
                (tmp_path / "out.log").read_text():
            assert proc.poll() is None, (tmp_path / "out.log").read_text()
            time.sleep(0.2)
        cfg = k8s.Configuration()
        k8s_config.load_kube_config(config_file=str(data / "kubeconfig"),
                                    client_configuration=cfg)
        api = k8s.ApiClient(cfg)
        core, apps = k8s.CoreV1Api(api), k8s.AppsV1Api(api)
        # requests 1 CPU, limits 1000m: Guaranteed (the kubelet once said Burstable)
        resources = k8s.V1ResourceRequirements(requests={"cpu": "1", "memory": "64Mi"},
                                               limits={"cpu": "1000m", "memory": "64Mi"})
        apps.create_namespaced_deployment("default", k8s.V1Deployment(
            metadata=k8s.V1ObjectMeta(name="web"),
            spec=k8s.V1DeploymentSpec(
                replicas=2, selector=k8s.V1LabelSelector(match_labels={"app": "web"}),
                template=k8s.V1PodTemplateSpec(
                    metadata=k8s.V1ObjectMeta(labels={"app": "web"}),
                    spec=k8s.V1PodSpec(
                        init_containers=[k8s.V1Container(name="setup", image="busybox:1.36",
                                                         resources=resources)],
                        containers=[k8s.V1Container(name="app", image="nginx:1.27",
                                                    resources=resources)])))))
        ours = ApiClient.from_kubeconfig(str(data / "kubeconfig"))
        stop = threading.Event()
        pods = Informer(ours, "pods", namespace="default", label_selector="app=web")
        pods.start(stop)
        wait_until(pods, lambda items: len(items) == 2 and all(map(is_ready, items.values())),
                   timeout=60, what="two Ready web Pods")

        listed = core.list_pod_for_all_namespaces(label_selector="app=web").items
        assert len(listed) == 2
        for pod in listed:
            assert pod.status.phase == "Running" and pod.status.qos_class == "Guaranteed"
            [app] = pod.status.container_statuses
            assert app.image_id.startswith("sha256:") and app.container_id.startswith("k8snet")
            assert pod.status.init_container_statuses[0].state.terminated.exit_code == 0
        nodes = core.list_node().items
        assert sorted(n.metadata.name for n in nodes) == ["sim-1", "sim-2"]
        for n in nodes:
            info = n.status.node_info
            assert info.kubelet_version == "v1.32.0-k8snet" and info.operating_system == "linux"
            assert info.machine_id and info.boot_id and info.container_runtime_version
        # the rest of what the components write parses too
        assert core.list_event_for_all_namespaces().items
        leases = k8s.CoordinationV1Api(api).list_namespaced_lease("kube-node-lease").items
        assert sorted(le.spec.holder_identity for le in leases) == ["sim-1", "sim-2"]
        assert apps.list_replica_set_for_all_namespaces().items
        # the Deployment's status follows its Pods' (the controller writes it after them)
        deployments = Informer(ours, "deployments", namespace="default")
        deployments.start(stop)
        wait_until(deployments, lambda items: ((items.get("default/web") or {}).get(
            "status") or {}).get("readyReplicas") == 2, timeout=30,
            what="the web Deployment counting two ready replicas")
        assert apps.read_namespaced_deployment("web", "default").status.ready_replicas == 2
        api.close()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if stop is not None:
            stop.set()
        if proc.poll() is None:  # a failed assertion: stop it so it stops its children
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        out.close()
