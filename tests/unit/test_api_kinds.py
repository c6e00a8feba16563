"""Tests for k8snet.machinery.kinds: the registry and the discovery documents built from it."""

from k8snet.machinery import resources as kinds


def test_core_and_apps_facts():
    pod = kinds.KINDS["Pod"]
    assert (pod.plural, pod.group, pod.version, pod.namespaced) == ("pods", "", "v1", True)
    assert pod.api_version == "v1" and pod.short_names == ("po",)
    assert [s.name for s in pod.subresources] == ["status", "binding", "log"]
    assert pod.subresource("binding").kind == "Binding"
    dep = kinds.KINDS["Deployment"]
    assert dep.api_version == "apps/v1" and dep.categories == ("all",)
    assert dep.subresource("scale").api_version == "autoscaling/v1"
    assert kinds.KINDS["Node"].scope == "Cluster"
    assert kinds.KINDS["Lease"].api_version == "coordination.k8s.io/v1"
    assert kinds.KINDS["Service"].list_kind == "ServiceList"
    assert "Scale" in kinds.KINDS and "scales" not in kinds.RESOURCES
    assert "bindings" in kinds.RESOURCES and "bindings" not in kinds.STORED
    assert set(kinds.STORED) == {"namespaces", "nodes", "pods", "services", "endpoints",
                                 "events", "deployments", "replicasets", "leases",
                                 "serviceaccounts", "roles", "rolebindings", "clusterroles",
                                 "clusterrolebindings"}
    assert "selfsubjectaccessreviews" in kinds.RESOURCES  # create-only: never stored


def test_lookup_accepts_all_names():
    for name in ("po", "pod", "pods", "Pod", "PODS"):
        assert kinds.lookup(name).kind == "Pod"
    assert kinds.lookup("deploy").kind == "Deployment"
    assert kinds.lookup("svc").kind == "Service"
    assert kinds.lookup("deploy", group="") is None
    assert kinds.lookup("nothing") is None
    assert kinds.by_api_version_kind("apps/v1", "ReplicaSet").plural == "replicasets"
    assert kinds.by_api_version_kind("v1", "ReplicaSet") is None


def test_group_versions_unique_core_first():
    gvs = kinds.group_versions()
    assert gvs[0] == ("", "v1")
    assert len(gvs) == len(set(gvs))
    assert ("apps", "v1") in gvs and ("coordination.k8s.io", "v1") in gvs
    assert ("autoscaling", "v1") not in gvs


def test_aggregated_discovery_shapes():
    core = kinds.aggregated_discovery(core=True)
    assert [i["metadata"]["name"] for i in core["items"]] == [""]
    res = {r["resource"]: r for r in core["items"][0]["versions"][0]["resources"]}
    assert res["pods"]["scope"] == "Namespaced" and res["nodes"]["scope"] == "Cluster"
    assert res["pods"]["responseKind"] == {"group": "", "version": "v1", "kind": "Pod"}
    subs = {s["subresource"] for s in res["pods"]["subresources"]}
    assert subs == {"status", "binding", "log"}
    named = kinds.aggregated_discovery(core=False)
    names = [i["metadata"]["name"] for i in named["items"]]
    assert "" not in names and len(names) == len(set(names)) and "apps" in names
    apps = next(i for i in named["items"] if i["metadata"]["name"] == "apps")
    dep = next(r for r in apps["versions"][0]["resources"] if r["resource"] == "deployments")
    scale = next(s for s in dep["subresources"] if s["subresource"] == "scale")
    assert scale["responseKind"]["group"] == "autoscaling"


def test_legacy_documents():
    v1 = kinds.legacy_resource_list("", "v1")
    assert v1["groupVersion"] == "v1" and v1["kind"] == "APIResourceList"
    names = [r["name"] for r in v1["resources"]]
    assert "pods" in names and "pods/log" in names and "deployments" not in names
    apps = kinds.legacy_resource_list("apps", "v1")
    scale = next(r for r in apps["resources"] if r["name"] == "deployments/scale")
    assert scale["group"] == "autoscaling" and scale["kind"] == "Scale"
    groups = kinds.api_group_list()["groups"]
    assert {g["name"] for g in groups} == {"apps", "coordination.k8s.io",
                                           "rbac.authorization.k8s.io",
                                           "authentication.k8s.io", "authorization.k8s.io"}
