"""The resource table built from lightkube-models 1.32, and the discovery documents."""

import pytest

from k8snet.machinery import discovery
from k8snet.machinery import resources as kinds
from k8snet.machinery.resources import KindInfo, ResourceTable, version_priority

# `kubectl api-resources` against a kind v1.32 cluster: NAME, SHORTNAMES, APIVERSION,
# NAMESPACED, KIND (58 rows)
KIND_132 = """\
bindings - v1 true Binding
componentstatuses cs v1 false ComponentStatus
configmaps cm v1 true ConfigMap
endpoints ep v1 true Endpoints
events ev v1 true Event
limitranges limits v1 true LimitRange
namespaces ns v1 false Namespace
nodes no v1 false Node
persistentvolumeclaims pvc v1 true PersistentVolumeClaim
persistentvolumes pv v1 false PersistentVolume
pods po v1 true Pod
podtemplates - v1 true PodTemplate
replicationcontrollers rc v1 true ReplicationController
resourcequotas quota v1 true ResourceQuota
secrets - v1 true Secret
serviceaccounts sa v1 true ServiceAccount
services svc v1 true Service
mutatingwebhookconfigurations - admissionregistration.k8s.io/v1 false \
 MutatingWebhookConfiguration
validatingadmissionpolicies - admissionregistration.k8s.io/v1 false \
 ValidatingAdmissionPolicy
validatingadmissionpolicybindings - admissionregistration.k8s.io/v1 false \
 ValidatingAdmissionPolicyBinding
validatingwebhookconfigurations - admissionregistration.k8s.io/v1 false \
 ValidatingWebhookConfiguration
customresourcedefinitions crd,crds apiextensions.k8s.io/v1 false CustomResourceDefinition
apiservices - apiregistration.k8s.io/v1 false APIService
controllerrevisions - apps/v1 true ControllerRevision
daemonsets ds apps/v1 true DaemonSet
deployments deploy apps/v1 true Deployment
replicasets rs apps/v1 true ReplicaSet
statefulsets sts apps/v1 true StatefulSet
selfsubjectreviews - authentication.k8s.io/v1 false SelfSubjectReview
tokenreviews - authentication.k8s.io/v1 false TokenReview
localsubjectaccessreviews - authorization.k8s.io/v1 true LocalSubjectAccessReview
selfsubjectaccessreviews - authorization.k8s.io/v1 false SelfSubjectAccessReview
selfsubjectrulesreviews - authorization.k8s.io/v1 false SelfSubjectRulesReview
subjectaccessreviews - authorization.k8s.io/v1 false SubjectAccessReview
horizontalpodautoscalers hpa autoscaling/v2 true HorizontalPodAutoscaler
cronjobs cj batch/v1 true CronJob
jobs - batch/v1 true Job
certificatesigningrequests csr certificates.k8s.io/v1 false CertificateSigningRequest
leases - coordination.k8s.io/v1 true Lease
endpointslices - discovery.k8s.io/v1 true EndpointSlice
events ev events.k8s.io/v1 true Event
flowschemas - flowcontrol.apiserver.k8s.io/v1 false FlowSchema
prioritylevelconfigurations - flowcontrol.apiserver.k8s.io/v1 false PriorityLevelConfiguration
ingressclasses - networking.k8s.io/v1 false IngressClass
ingresses ing networking.k8s.io/v1 true Ingress
networkpolicies netpol networking.k8s.io/v1 true NetworkPolicy
runtimeclasses - node.k8s.io/v1 false RuntimeClass
poddisruptionbudgets pdb policy/v1 true PodDisruptionBudget
clusterrolebindings - rbac.authorization.k8s.io/v1 false ClusterRoleBinding
clusterroles - rbac.authorization.k8s.io/v1 false ClusterRole
rolebindings - rbac.authorization.k8s.io/v1 true RoleBinding
roles - rbac.authorization.k8s.io/v1 true Role
priorityclasses pc scheduling.k8s.io/v1 false PriorityClass
csidrivers - storage.k8s.io/v1 false CSIDriver
csinodes - storage.k8s.io/v1 false CSINode
csistoragecapacities - storage.k8s.io/v1 true CSIStorageCapacity
storageclasses sc storage.k8s.io/v1 false StorageClass
volumeattachments - storage.k8s.io/v1 false VolumeAttachment
"""
ALL_CATEGORY = {"pods", "services", "replicationcontrollers", "daemonsets", "deployments",
                "replicasets", "statefulsets", "horizontalpodautoscalers", "cronjobs", "jobs"}


def _rows(table: ResourceTable) -> set[tuple]:
    """What `kubectl api-resources` prints: each resource of its group's preferred version."""
    out = set()
    for group, version in table.group_versions():
        if version != table.preferred_version(group):
            continue
        for i in table.resources_in(group, version):
            out.add((i.plural, ",".join(i.short_names) or "-", i.api_version,
                     str(i.namespaced).lower(), i.kind))
    return out


def test_table_is_what_kind_132_lists():
    want = {tuple(line.split()) for line in KIND_132.splitlines()}
    assert len(want) == 58
    got = _rows(kinds.builtin_view())
    assert got == want


def test_categories_all_and_api_extensions():
    table = kinds.builtin_view()
    infos = [i for i in table.infos() if i.top_level]
    assert {i.plural for i in infos if "all" in i.categories} == ALL_CATEGORY
    ext = {i.plural for i in infos if "api-extensions" in i.categories}
    assert ext == {"customresourcedefinitions", "apiservices",
                   "mutatingwebhookconfigurations", "validatingwebhookconfigurations",
                   "validatingadmissionpolicies", "validatingadmissionpolicybindings"}


def test_verbs_and_subresources():
    table = kinds.builtin_view()
    pod = table.get("", "v1", "pods")
    assert pod.verbs == kinds.ALL_VERBS
    assert {s.name for s in pod.subresources} == {
        "attach", "binding", "ephemeralcontainers", "eviction", "exec", "log",
        "portforward", "proxy", "status"}  # no resize: its feature gate is off in 1.32
    assert pod.subresource("eviction").api_version == "policy/v1"
    for plural in ("deployments", "replicasets", "statefulsets"):
        assert table.get("apps", "v1", plural).subresource("scale").kind == "Scale"
    assert table.get("", "v1", "replicationcontrollers").subresource("scale") is not None
    assert table.get("apps", "v1", "daemonsets").subresource("scale") is None
    assert table.get("", "v1", "namespaces").verbs == (
        "create", "delete", "get", "list", "patch", "update", "watch")
    assert table.get("", "v1", "componentstatuses").verbs == ("get", "list")
    assert table.get("", "v1", "bindings").verbs == ("create",)
    sar = table.get("authorization.k8s.io", "v1", "localsubjectaccessreviews")
    assert sar.verbs == ("create",) and sar.namespaced and not sar.stored
    assert table.get("", "v1", "serviceaccounts").subresource("token").kind == "TokenRequest"
    assert table.get("networking.k8s.io", "v1", "networkpolicies").subresources == ()


def test_autoscaling_serves_two_versions_v2_preferred():
    table = kinds.builtin_view()
    assert table.versions("autoscaling") == ["v2", "v1"]
    assert table.preferred_version("autoscaling") == "v2"
    v1 = table.get("autoscaling", "v1", "horizontalpodautoscalers")
    assert v1.storage_api_version == "autoscaling/v2" and v1.short_names == ("hpa",)
    assert table.lookup("hpa").version == "v2"
    assert table.by_api_version_kind("autoscaling/v1", "HorizontalPodAutoscaler") is v1
    gvs = table.group_versions()
    assert gvs.index(("autoscaling", "v2")) + 1 == gvs.index(("autoscaling", "v1"))


def test_stored_and_module_maps():
    assert "bindings" in kinds.RESOURCES and "bindings" not in kinds.STORED
    assert "componentstatuses" not in kinds.STORED and "tokenreviews" not in kinds.STORED
    assert "configmaps" in kinds.STORED and kinds.STORED["events"].group == ""
    assert kinds.KINDS["Event"].group == "" and kinds.KINDS["Scale"].top_level is False
    assert kinds.KINDS["HorizontalPodAutoscaler"].version == "v2"
    stored = kinds.builtin_view().stored()
    assert len({i.plural for i in stored}) == len(stored)


def test_lookup_accepts_all_names():
    for name in ("po", "pod", "pods", "Pod", "PODS"):
        assert kinds.lookup(name).kind == "Pod"
    assert kinds.lookup("deploy").kind == "Deployment"
    assert kinds.lookup("crds").kind == "CustomResourceDefinition"
    assert kinds.lookup("ev").group == ""
    assert kinds.lookup("ev", group="events.k8s.io").group == "events.k8s.io"
    assert kinds.lookup("deploy", group="") is None
    assert kinds.lookup("nothing") is None
    assert kinds.by_api_version_kind("apps/v1", "ReplicaSet").plural == "replicasets"
    assert kinds.by_api_version_kind("v1", "ReplicaSet") is None


def test_version_priority_is_kubernetes_order():
    versions = ["v1alpha1", "v1", "foo", "v2beta1", "v2", "v1beta2", "v1beta1", "v10"]
    assert sorted(versions, key=version_priority) == [
        "v10", "v2", "v1", "v2beta1", "v1beta2", "v1beta1", "v1alpha1", "foo"]


def test_add_and_remove_at_run_time():
    table = kinds.builtin_table()
    crd = KindInfo("Widget", "widgets", "widget", "example.com", "v1", True, ("wg",))
    table.add(crd)
    assert table.get("example.com", "v1", "widgets") is crd
    assert ("example.com", "v1") in table.group_versions()
    assert table.lookup("wg") is crd
    with pytest.raises(ValueError):
        table.add(crd)
    assert table.remove("example.com", "v1", "widgets") is crd
    assert "example.com" not in table.groups()
    assert table.remove("example.com", "v1", "widgets") is None
    with pytest.raises(TypeError):
        kinds.builtin_view().add(crd)  # the shared built-in view never changes
    assert kinds.builtin_view().get("example.com", "v1", "widgets") is None


def test_aggregated_discovery_shapes():
    table = kinds.builtin_view()
    core = discovery.aggregated(table, core=True)
    assert [i["metadata"]["name"] for i in core["items"]] == [""]
    res = {r["resource"]: r for r in core["items"][0]["versions"][0]["resources"]}
    assert res["pods"]["scope"] == "Namespaced" and res["nodes"]["scope"] == "Cluster"
    assert res["pods"]["responseKind"] == {"group": "", "version": "v1", "kind": "Pod"}
    assert res["pods"]["categories"] == ["all"] and res["configmaps"]["shortNames"] == ["cm"]
    named = discovery.aggregated(table, core=False)
    names = [i["metadata"]["name"] for i in named["items"]]
    assert "" not in names and len(names) == len(set(names)) == 19
    assert names[:3] == ["apiregistration.k8s.io", "apps", "events.k8s.io"]
    autoscaling = next(i for i in named["items"] if i["metadata"]["name"] == "autoscaling")
    assert [v["version"] for v in autoscaling["versions"]] == ["v2", "v1"]
    apps = next(i for i in named["items"] if i["metadata"]["name"] == "apps")
    dep = next(r for r in apps["versions"][0]["resources"] if r["resource"] == "deployments")
    scale = next(s for s in dep["subresources"] if s["subresource"] == "scale")
    assert scale["responseKind"]["group"] == "autoscaling"


def test_legacy_documents():
    table = kinds.builtin_view()
    v1 = discovery.resource_list(table, "", "v1")
    assert v1["groupVersion"] == "v1" and v1["kind"] == "APIResourceList"
    names = [r["name"] for r in v1["resources"]]
    assert "pods" in names and "pods/log" in names and "deployments" not in names
    apps = discovery.resource_list(table, "apps", "v1")
    scale = next(r for r in apps["resources"] if r["name"] == "deployments/scale")
    assert scale["group"] == "autoscaling" and scale["kind"] == "Scale"
    groups = {g["name"]: g for g in discovery.group_list(table)["groups"]}
    assert len(groups) == 19
    assert groups["autoscaling"]["preferredVersion"] == {"groupVersion": "autoscaling/v2",
                                                         "version": "v2"}
    assert [v["version"] for v in groups["autoscaling"]["versions"]] == ["v2", "v1"]
    assert discovery.api_group(table, "batch")["kind"] == "APIGroup"
    assert discovery.api_group(table, "nothing.example.com") is None
    assert kinds.api_group_list() == discovery.group_list(table)
