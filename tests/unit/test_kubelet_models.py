"""What the kubelet and the simulated nodes report is accepted by the official Python
client's models (pydantic; a missing imageID or nodeInfo field raises there)."""

from __future__ import annotations

import pytest

from k8snet.kubelet import node, status
from k8snet.kubelet.model import ContainerInfo, PodActual, PodMemory, SandboxInfo
from k8snet.simnodes import simulated_actual

models = pytest.importorskip("kubernetes.client")

NOW = 1_700_000_000.0
POD = {"apiVersion": "v1", "kind": "Pod",
       "metadata": {"name": "web", "namespace": "default", "uid": "u1"},
       "spec": {"restartPolicy": "Always",
                "initContainers": [{"name": "setup", "image": "busybox:1.36"}],
                "containers": [{"name": "app", "image": "nginx:1.27",
                                "resources": {"requests": {"cpu": "1"},
                                              "limits": {"cpu": "1000m"}}},
                               {"name": "side", "image": "busybox:1.36"}]},
       "status": {}}


def _validate_pod(pod_status: dict) -> object:
    pod = models.V1Pod.from_dict(dict(POD, status=pod_status))
    for cs in pod.status.container_statuses + (pod.status.init_container_statuses or []):
        assert isinstance(cs.image_id, str)
    return pod


def test_a_kubelet_node_is_a_valid_v1_node():
    cfg = node.NodeConfig(name="w1", ip="10.0.0.2", arch="amd64", kernel="6.1.0",
                          boot_id="b", machine_id="m")
    obj = node.build_node(cfg, NOW)
    obj["status"] = node.node_status(cfg, obj["status"], NOW, ready=True)
    parsed = models.V1Node.from_dict(obj)
    info = parsed.status.node_info
    assert (info.kubelet_version, info.operating_system, info.architecture) == \
        ("v1.32.0-k8snet", "linux", "amd64")
    assert parsed.status.daemon_endpoints.kubelet_endpoint.port == 10250


@pytest.mark.parametrize("actual", [
    PodActual(),                                                   # nothing yet: waiting
    PodActual.of([SandboxInfo("s", 0, True, NOW, "10.244.1.5", ("10.244.1.5",))],
                 [ContainerInfo("i1", "setup", 0, "exited", "s", NOW, NOW, NOW, 1, "Error"),
                  ContainerInfo("c1", "app", 2, "running", "s", NOW, NOW, image_ref="sha256:a"),
                  ContainerInfo("c0", "app", 1, "exited", "s", NOW, NOW, NOW, 137)]),
])
def test_kubelet_pod_status_is_a_valid_v1_pod(actual):
    st = status.pod_status(POD, actual, PodMemory(), {}, "10.0.0.2", NOW)
    _validate_pod(st)


def test_a_simulated_pod_status_is_a_valid_v1_pod_with_ids():
    st = status.pod_status(POD, simulated_actual(POD, "10.244.1.9", NOW), PodMemory(), {},
                           "127.0.0.1", NOW)
    pod = _validate_pod(st)
    assert pod.status.phase == "Running" and pod.status.qos_class == "Burstable"
    app = pod.status.container_statuses[0]
    assert app.ready and app.container_id.startswith("k8snet://")
    assert app.image_id.startswith("sha256:")
    assert pod.status.init_container_statuses[0].state.terminated.reason == "Completed"
