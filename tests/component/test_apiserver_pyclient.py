"""The official `kubernetes` Python client lists, creates, patches and watches."""

from __future__ import annotations

import threading

import pytest

from tests.component.apiserver_proc import ApiServerProc

kubernetes = pytest.importorskip("kubernetes")
from kubernetes import client, config, watch  # noqa: E402


@pytest.fixture(scope="module")
def apis(tmp_path_factory):
    srv = ApiServerProc(str(tmp_path_factory.mktemp("pyclient")))
    try:
        srv.start()
        cfg = client.Configuration()
        config.load_kube_config(config_file=srv.kubeconfig, client_configuration=cfg)
        api_client = client.ApiClient(cfg)
        yield client.CoreV1Api(api_client), client.AppsV1Api(api_client), srv
        api_client.close()
    finally:
        srv.stop()


def test_list_create_get(apis):
    core, apps, _ = apis
    names = [n.metadata.name for n in core.list_namespace().items]
    assert "kube-system" in names
    pod = client.V1Pod(metadata=client.V1ObjectMeta(name="py1", labels={"k": "v"}),
                       spec=client.V1PodSpec(containers=[
                           client.V1Container(name="c", image="busybox")]))
    made = core.create_namespaced_pod("default", pod)
    assert made.metadata.uid and made.status.phase == "Pending"
    got = core.read_namespaced_pod("py1", "default")
    assert got.spec.containers[0].image == "busybox"
    assert [p.metadata.name for p in
            core.list_namespaced_pod("default", label_selector="k=v").items] == ["py1"]
    assert core.list_pod_for_all_namespaces().items
    dep = client.V1Deployment(
        metadata=client.V1ObjectMeta(name="pyd"),
        spec=client.V1DeploymentSpec(
            replicas=2, selector=client.V1LabelSelector(match_labels={"a": "b"}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"a": "b"}),
                spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="x")]))))
    apps.create_namespaced_deployment("default", dep)
    apps.patch_namespaced_deployment_scale("pyd", "default", {"spec": {"replicas": 4}})
    assert apps.read_namespaced_deployment("pyd", "default").spec.replicas == 4
    svc = core.create_namespaced_service("default", client.V1Service(
        metadata=client.V1ObjectMeta(name="pys"),
        spec=client.V1ServiceSpec(ports=[client.V1ServicePort(port=80)])))
    assert svc.spec.cluster_ip.startswith("10.")
    with pytest.raises(client.ApiException) as e:
        core.read_namespaced_pod("absent", "default")
    assert e.value.status == 404


def test_watch_from_list_resource_version(apis):
    core, _, _ = apis
    rv = core.list_namespaced_pod("default").metadata.resource_version
    seen: list = []
    w = watch.Watch()

    def run():
        for ev in w.stream(core.list_namespaced_pod, "default", resource_version=rv,
                           timeout_seconds=20):
            seen.append((ev["type"], ev["object"].metadata.name))
            if ev["type"] == "DELETED":
                w.stop()
    t = threading.Thread(target=run, daemon=True)
    t.start()
    pod = client.V1Pod(metadata=client.V1ObjectMeta(name="pyw"),
                       spec=client.V1PodSpec(containers=[
                           client.V1Container(name="c", image="busybox")]))
    core.create_namespaced_pod("default", pod)
    core.patch_namespaced_pod("pyw", "default", {"metadata": {"labels": {"x": "1"}}})
    core.delete_namespaced_pod("pyw", "default")
    t.join(timeout=25)
    assert seen == [("ADDED", "pyw"), ("MODIFIED", "pyw"), ("DELETED", "pyw")]
