"""The official Python client's typed APIs list and watch every served kind, with one
object of each kind `kubectl create` offers in place, without a model error."""

from __future__ import annotations

import os

import pytest

from k8snet.machinery import resources as kinds
from tests.component.apiserver_proc import ApiServerProc
from tests.component.test_kubectl import KUBECTL, kubectl
from tests.component.test_kubectl_kinds import CREATES

kubernetes = pytest.importorskip("kubernetes")
from kubernetes import client, config, watch  # noqa: E402

pytestmark = pytest.mark.skipif(not os.path.exists(KUBECTL), reason="kubectl not installed")


@pytest.fixture(scope="module")
def api_client(tmp_path_factory):
    tmp = str(tmp_path_factory.mktemp("pykinds"))
    srv = ApiServerProc(tmp)
    try:
        srv.start()
        home = os.path.join(tmp, "home")
        os.makedirs(home)
        env = {"srv": srv, "tmp": tmp,
               "env": dict(os.environ, HOME=home, KUBECONFIG=srv.kubeconfig)}
        kubectl(env, "create", "namespace", "kinds")
        for args, _ in CREATES:
            kubectl(env, "-n", "kinds", *args)
        kubectl(env, "-n", "kinds", "autoscale", "deployment", "d1", "--min=1", "--max=3")
        cfg = client.Configuration()
        config.load_kube_config(config_file=srv.kubeconfig, client_configuration=cfg)
        c = client.ApiClient(cfg)
        yield c
        c.close()
    finally:
        srv.stop()


def _api_class(group: str, version: str):
    name = "".join(p.capitalize() for p in group.replace(".k8s.io", "").split(".")) \
        if group else "Core"
    return getattr(client, f"{name}{version.capitalize()}Api")


def _list_method(api, info: kinds.KindInfo):
    """list_<kind>_for_all_namespaces for namespaced kinds, list_<kind> otherwise."""
    want = info.kind.lower()
    for attr in dir(api):
        if not attr.startswith("list_") or attr.endswith("_with_http_info"):
            continue
        core = attr[len("list_"):]
        if info.namespaced:
            if not core.endswith("_for_all_namespaces"):
                continue
            core = core[:-len("_for_all_namespaces")]
        elif core.startswith("namespaced_"):
            continue
        if core.replace("_", "") == want:
            return getattr(api, attr)
    raise AssertionError(f"no list method for {info.kind} in {type(api).__name__}")


def _listable():
    table = kinds.builtin_view()
    for group, version in table.group_versions():
        for info in table.resources_in(group, version):
            if "list" in info.verbs:
                yield info


def test_every_kind_lists_and_watches(api_client):
    listed = {}
    for info in _listable():
        api = _api_class(info.group, info.version)(api_client)
        method = _list_method(api, info)
        result = method()  # deserializes every item into the client's models
        listed[f"{info.plural}.{info.api_version}"] = len(result.items)
        if "watch" in info.verbs:
            events = list(watch.Watch().stream(method, timeout_seconds=1))
            assert all(e["type"] == "ADDED" for e in events)
            assert len(events) == len(result.items)
    assert len(listed) == 52  # 59 resources less bindings and the six reviews
    for name in ("configmaps.v1", "secrets.v1", "serviceaccounts.v1", "jobs.batch/v1",
                 "cronjobs.batch/v1", "roles.rbac.authorization.k8s.io/v1",
                 "rolebindings.rbac.authorization.k8s.io/v1",
                 "clusterroles.rbac.authorization.k8s.io/v1",
                 "clusterrolebindings.rbac.authorization.k8s.io/v1", "resourcequotas.v1",
                 "priorityclasses.scheduling.k8s.io/v1", "poddisruptionbudgets.policy/v1",
                 "ingresses.networking.k8s.io/v1", "services.v1", "deployments.apps/v1",
                 "horizontalpodautoscalers.autoscaling/v1",
                 "horizontalpodautoscalers.autoscaling/v2", "componentstatuses.v1"):
        assert listed[name] >= 1, name


def test_typed_reads_of_new_kinds(api_client):
    batch = client.BatchV1Api(api_client)
    job = batch.read_namespaced_job("j1", "kinds")
    assert job.spec.backoff_limit == 6 and job.spec.template.spec.restart_policy == "Never"
    cj = batch.read_namespaced_cron_job("cj1", "kinds")
    assert cj.spec.schedule == "*/5 * * * *" and cj.spec.concurrency_policy == "Allow"
    sec = client.CoreV1Api(api_client).read_namespaced_secret("s1", "kinds")
    assert sec.type == "Opaque" and sec.data == {"password": "aHVudGVyMg=="}
    hpa1 = client.AutoscalingV1Api(api_client).read_namespaced_horizontal_pod_autoscaler(
        "d1", "kinds")
    hpa2 = client.AutoscalingV2Api(api_client).read_namespaced_horizontal_pod_autoscaler(
        "d1", "kinds")
    assert hpa1.metadata.uid == hpa2.metadata.uid
    assert hpa2.spec.metrics[0].resource.name == "cpu"
