"""Tests for the OpenAPI documents (k8snet.apiserver.openapi, openapipaths, openapiv2pb,
openapiserve), built from hand-made resource tables as well as the served one."""

import json

import pytest

from k8snet.api import definitions as defs
from k8snet.apiserver import openapi, openapiv2pb
from k8snet.apiserver.openapiserve import (
    PROTOBUF_V2,
    PROTOBUF_V2_LEGACY,
    OpenAPIService,
    negotiate,
)
from k8snet.machinery import resources as kinds
from k8snet.machinery.resources import ALL_VERBS, KindInfo, Subresource


class Table:
    """A resource table like k8snet.machinery.resources, made of given KindInfos."""

    def __init__(self, infos):
        self.infos = list(infos)

    def group_versions(self):
        out = []
        for i in self.infos:
            if (i.group, i.version) not in out:
                out.append((i.group, i.version))
        return out

    def resources_in(self, group, version):
        return [i for i in self.infos if (i.group, i.version) == (group, version)]


def _status(kind, group, version="v1"):
    return Subresource("status", kind, group, version, ("get", "patch", "update"))


CONFIGMAP = KindInfo("ConfigMap", "configmaps", "configmap", "", "v1", True, ("cm",))
NODE = KindInfo("Node", "nodes", "node", "", "v1", False, ("no",), ALL_VERBS,
                (_status("Node", ""),))
JOB = KindInfo("Job", "jobs", "job", "batch", "v1", True, (), ALL_VERBS,
               (_status("Job", "batch"),), ("all",))
HPA2 = KindInfo("HorizontalPodAutoscaler", "horizontalpodautoscalers", "horizontalpodautoscaler",
                "autoscaling", "v2", True, ("hpa",), ALL_VERBS,
                (_status("HorizontalPodAutoscaler", "autoscaling", "v2"),))
HPA1 = KindInfo("HorizontalPodAutoscaler", "horizontalpodautoscalers", "horizontalpodautoscaler",
                "autoscaling", "v1", True, ("hpa",), ALL_VERBS,
                (_status("HorizontalPodAutoscaler", "autoscaling", "v1"),))
EVENT2 = KindInfo("Event", "events", "event", "events.k8s.io", "v1", True, ("ev",))
CRD = KindInfo("CustomResourceDefinition", "customresourcedefinitions",
               "customresourcedefinition", "apiextensions.k8s.io", "v1", False, ("crd",),
               ALL_VERBS, (_status("CustomResourceDefinition", "apiextensions.k8s.io"),))
TOKENREVIEW = KindInfo("TokenReview", "tokenreviews", "tokenreview", "authentication.k8s.io",
                       "v1", False, (), ("create",))
TABLE = Table([CONFIGMAP, NODE, JOB, HPA2, HPA1, EVENT2, TOKENREVIEW, CRD,
               kinds.KINDS["Deployment"]])


def _refs(obj, out):
    if isinstance(obj, dict):
        if isinstance(obj.get("$ref"), str):
            out.add(obj["$ref"])
        for v in obj.values():
            _refs(v, out)
    elif isinstance(obj, list):
        for v in obj:
            _refs(v, out)
    return out


def _ops(doc):
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method != "parameters":
                yield path, method, op


@pytest.mark.parametrize("gv", TABLE.group_versions())
def test_v3_document_refs_resolve_and_gvks_present(gv):
    doc = openapi.v3_document(TABLE, *gv)
    schemas = doc["components"]["schemas"]
    refs = _refs(doc, set())
    assert refs and all(r.startswith("#/components/schemas/") for r in refs)
    missing = {r for r in refs if r.split("/")[-1] not in schemas}
    assert not missing
    for info in TABLE.resources_in(*gv):
        gvk = {"group": info.group, "version": info.version, "kind": info.kind}
        name = defs.name_for(info.group, info.version, info.kind)
        assert gvk in schemas[name]["x-kubernetes-group-version-kind"]
        assert schemas[name]["description"]
        ops = [(p, m, o) for p, m, o in _ops(doc)
               if o.get("x-kubernetes-group-version-kind") == gvk]
        assert ops, info.kind
    json.dumps(doc)  # plain JSON


def test_v3_only_reachable_schemas_and_upstream_shapes():
    doc = openapi.v3_document(TABLE, "batch", "v1")
    schemas = doc["components"]["schemas"]
    assert "io.k8s.api.batch.v1.Job" in schemas and "io.k8s.api.batch.v1.JobList" in schemas
    assert "io.k8s.api.core.v1.PodSpec" in schemas
    assert "io.k8s.api.batch.v1.CronJob" not in schemas  # not served in this table
    assert "io.k8s.api.apps.v1.Deployment" not in schemas
    # a ref with a description beside it is wrapped in allOf (what kubectl explain reads)
    spec = schemas["io.k8s.api.batch.v1.Job"]["properties"]["spec"]
    assert spec["allOf"] == [{"$ref": "#/components/schemas/io.k8s.api.batch.v1.JobSpec"}]
    assert "$ref" not in spec and spec["description"]
    containers = schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
    assert containers["items"] == {"$ref": "#/components/schemas/io.k8s.api.core.v1.Container"}
    assert containers["x-kubernetes-patch-strategy"] == "merge"
    ios = schemas[defs.INT_OR_STRING]
    assert ios["format"] == "int-or-string" and "type" not in ios
    assert ios["oneOf"] == [{"type": "integer"}, {"type": "string"}]


def test_v3_paths_operations_and_parameters():
    doc = openapi.v3_document(TABLE, "batch", "v1")
    paths = doc["paths"]
    coll = paths["/apis/batch/v1/namespaces/{namespace}/jobs"]
    item = paths["/apis/batch/v1/namespaces/{namespace}/jobs/{name}"]
    assert set(coll) == {"get", "post", "delete", "parameters"}
    assert set(item) == {"get", "put", "patch", "delete", "parameters"}
    assert coll["get"]["x-kubernetes-action"] == "list"
    assert coll["delete"]["x-kubernetes-action"] == "deletecollection"
    assert coll["post"]["operationId"] == "createBatchV1NamespacedJob"
    patch = item["patch"]
    assert patch["x-kubernetes-action"] == "patch"
    assert patch["x-kubernetes-group-version-kind"] == {"group": "batch", "version": "v1",
                                                        "kind": "Job"}
    names = {p["name"]: p for p in patch["parameters"]}
    assert {"dryRun", "fieldManager", "fieldValidation", "force"} <= set(names)
    assert names["fieldValidation"]["in"] == "query"
    assert set(patch["requestBody"]["content"]) == {
        "application/apply-patch+yaml", "application/json-patch+json",
        "application/merge-patch+json", "application/strategic-merge-patch+json"}
    assert [p["name"] for p in item["parameters"]] == ["name", "namespace", "pretty"]
    assert paths["/apis/batch/v1/jobs"]["get"]["operationId"] == "listBatchV1JobForAllNamespaces"
    status = paths["/apis/batch/v1/namespaces/{namespace}/jobs/{name}/status"]
    assert status["get"]["operationId"] == "readBatchV1NamespacedJobStatus"
    watch = paths["/apis/batch/v1/watch/namespaces/{namespace}/jobs"]["get"]
    assert watch["x-kubernetes-action"] == "watchlist"


def test_v3_cluster_scope_create_only_and_same_kind_in_two_versions():
    core = openapi.v3_document(TABLE, "", "v1")
    assert "/api/v1/nodes/{name}" in core["paths"]
    assert not any("namespaces/{namespace}/nodes" in p for p in core["paths"])
    auth = openapi.v3_document(TABLE, "authentication.k8s.io", "v1")
    ops = {(p, m) for p, m, _ in _ops(auth)}
    assert ("/apis/authentication.k8s.io/v1/tokenreviews", "post") in ops
    assert len([o for o in ops if "tokenreviews" in o[0]]) == 1
    v2 = openapi.v3_document(TABLE, "autoscaling", "v2")["components"]["schemas"]
    v1 = openapi.v3_document(TABLE, "autoscaling", "v1")["components"]["schemas"]
    assert "io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler" in v2
    assert "io.k8s.api.autoscaling.v1.HorizontalPodAutoscaler" not in v2
    assert "io.k8s.api.autoscaling.v1.HorizontalPodAutoscaler" in v1
    ev = openapi.v3_document(TABLE, "events.k8s.io", "v1")["components"]["schemas"]
    assert "io.k8s.api.events.v1.Event" in ev and "io.k8s.api.core.v1.Event" not in ev
    apps = openapi.v3_document(TABLE, "apps", "v1")
    scale = apps["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]
    assert scale["get"]["x-kubernetes-group-version-kind"]["group"] == "autoscaling"
    assert "io.k8s.api.autoscaling.v1.Scale" in apps["components"]["schemas"]
    assert openapi.v3_document(TABLE, "policy", "v1") is None


def test_v3_index_carries_each_document_hash():
    body = json.dumps(openapi.v3_document(TABLE, "batch", "v1")).encode()
    h = openapi.document_hash(body)
    assert len(h) == 128 and h == h.upper()
    index = openapi.v3_index(TABLE, {"apis/batch/v1": h})
    assert index["paths"]["apis/batch/v1"] == {
        "serverRelativeURL": f"/openapi/v3/apis/batch/v1?hash={h}"}
    assert set(index["paths"]) == {"api/v1", "apis/batch/v1", "apis/autoscaling/v2",
                                   "apis/autoscaling/v1", "apis/events.k8s.io/v1",
                                   "apis/authentication.k8s.io/v1", "apis/apps/v1",
                                   "apis/apiextensions.k8s.io/v1"}


def test_v2_document_refs_resolve_and_intorstring_is_a_string():
    doc = openapi.v2_document(TABLE)
    assert doc["swagger"] == "2.0"
    refs = _refs(doc, set())
    assert all(r.startswith("#/definitions/") for r in refs)
    assert not {r for r in refs if r.split("/")[-1] not in doc["definitions"]}
    assert doc["definitions"][defs.INT_OR_STRING]["type"] == "string"
    assert doc["definitions"][defs.INT_OR_STRING]["format"] == "int-or-string"
    assert doc["definitions"][defs.QUANTITY]["type"] == "string"
    job = doc["definitions"]["io.k8s.api.batch.v1.Job"]
    assert job["properties"]["spec"]["$ref"] == "#/definitions/io.k8s.api.batch.v1.JobSpec"
    patch = doc["paths"]["/apis/batch/v1/namespaces/{namespace}/jobs/{name}"]["patch"]
    body = next(p for p in patch["parameters"] if p["in"] == "body")
    assert body["schema"] == {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.Patch"}
    assert {"name": "fieldValidation", "in": "query", "type": "string"}.items() <= \
        next(p for p in patch["parameters"] if p["name"] == "fieldValidation").items()


def test_v2_protobuf_round_trip():
    doc = openapi.v2_document(TABLE)
    pb = openapiv2pb.encode(doc)
    back = openapiv2pb.decode(pb)
    assert back.swagger == "2.0" and back.info.version == defs.KUBERNETES_VERSION
    assert [p.name for p in back.paths.path] == list(doc["paths"])
    assert [d.name for d in back.definitions.additional_properties] == list(doc["definitions"])
    item = next(p.value for p in back.paths.path
                if p.name == "/apis/batch/v1/namespaces/{namespace}/jobs/{name}")
    ext = {e.name: json.loads(e.value.yaml) for e in item.patch.vendor_extension}
    assert ext["x-kubernetes-group-version-kind"] == {"group": "batch", "version": "v1",
                                                     "kind": "Job"}
    query = [x.parameter.non_body_parameter.query_parameter_sub_schema.name
             for x in item.patch.parameters]
    assert "fieldValidation" in query
    body = next(x.parameter.body_parameter for x in item.patch.parameters
                if x.parameter.HasField("body_parameter"))
    assert getattr(body, "_ref", None) is None and body.schema._ref.endswith("meta.v1.Patch")
    schemas = {d.name: d.value for d in back.definitions.additional_properties}
    dep = schemas["io.k8s.api.apps.v1.Deployment"]
    assert list(dep.type.value) == ["object"]
    assert dep.description == doc["definitions"]["io.k8s.api.apps.v1.Deployment"]["description"]
    props = {p.name: p.value for p in dep.properties.additional_properties}
    assert props["spec"]._ref == "#/definitions/io.k8s.api.apps.v1.DeploymentSpec"
    spec = schemas["io.k8s.api.core.v1.PodSpec"]
    containers = {p.name: p.value for p in spec.properties.additional_properties}["containers"]
    assert containers.items.schema[0]._ref == "#/definitions/io.k8s.api.core.v1.Container"
    labels = {p.name: p.value for p in schemas["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]
              .properties.additional_properties}["labels"]
    assert list(labels.additional_properties.schema.type.value) == ["string"]
    assert list(spec.required) == ["containers"]


def test_negotiate_prefers_quality_then_specificity():
    offers = ["application/json", PROTOBUF_V2_LEGACY, PROTOBUF_V2]
    assert negotiate(PROTOBUF_V2_LEGACY, offers) == PROTOBUF_V2_LEGACY
    assert negotiate("application/json, */*", offers) == "application/json"
    assert negotiate(None, offers) == "application/json"
    assert negotiate("text/html;q=0.9, application/json;q=0.1", offers) == "application/json"
    assert negotiate(f"{PROTOBUF_V2};q=0.5, application/json;q=0.9", offers) == \
        "application/json"
    assert negotiate("text/html", offers) is None
    assert negotiate("application/json;q=0", offers) is None


def test_service_caches_hashes_and_answers_like_kube_openapi():
    svc = OpenAPIService(TABLE, clock=lambda: 1_700_000_000.0)
    index = svc.reply("v3", {}, {})
    assert index.status == 200 and index.content_type == "application/json"
    url = json.loads(index.body)["paths"]["apis/batch/v1"]["serverRelativeURL"]
    gv, _, h = url.partition("?hash=")
    assert gv == "/openapi/v3/apis/batch/v1"
    hashed = svc.reply("v3/apis/batch/v1", {"hash": h}, {"Accept": "application/json"})
    headers = dict(hashed.headers)
    assert hashed.status == 200 and openapi.document_hash(hashed.body) == h
    assert headers["Etag"] == f'"{h}"'
    assert headers["Cache-Control"] == "public, immutable"
    assert headers["Expires"] == "Thu, 14 Nov 2024 22:13:20 GMT"
    assert headers["Vary"] == "Accept"
    plain = svc.reply("v3/apis/batch/v1", {}, {})
    assert plain.body is hashed.body and "Cache-Control" not in dict(plain.headers)
    stale = svc.reply("v3/apis/batch/v1", {"hash": "0" * 128}, {})
    assert stale.status == 301 and dict(stale.headers)["Location"] == url
    again = svc.reply("v3/apis/batch/v1", {}, {"If-None-Match": f'"{h}"'})
    assert again.status == 304 and again.body == b""
    assert svc.reply("v3/apis/nothing/v1", {}, {}) is None
    assert svc.reply("v4", {}, {}) is None
    assert svc.reply("v3/apis/batch/v1", {}, {"Accept": "application/xml"}).status == 406


def test_service_v2_json_and_protobuf_share_the_etag():
    svc = OpenAPIService(TABLE)
    js = svc.reply("v2", {}, {"Accept": "application/json"})
    pb = svc.reply("v2", {}, {"Accept": PROTOBUF_V2_LEGACY})
    assert js.status == pb.status == 200
    assert pb.content_type == PROTOBUF_V2 and js.content_type == "application/json"
    assert dict(js.headers)["Etag"] == dict(pb.headers)["Etag"]
    assert [p.name for p in openapiv2pb.decode(pb.body).paths.path] == \
        list(json.loads(js.body)["paths"])
    assert svc.reply("v2", {}, {"Accept": "text/html"}).status == 406
    assert svc.reply("v2", {}, {"If-None-Match": dict(js.headers)["Etag"]}).status == 304


def test_service_builds_once_per_table_version():
    table = Table([CONFIGMAP])
    svc = OpenAPIService(table)
    first = svc.reply("v3/api/v1", {}, {})
    assert svc.reply("v3/api/v1", {}, {}).body is first.body  # cached bytes, not rebuilt
    table.infos.append(JOB)
    index = json.loads(svc.reply("v3", {}, {}).body)
    assert "apis/batch/v1" in index["paths"]
    assert svc.reply("v3/apis/batch/v1", {}, {}).status == 200


def test_served_table_documents():
    svc = OpenAPIService(kinds)
    index = json.loads(svc.reply("v3", {}, {}).body)["paths"]
    assert {"api/v1", "apis/apps/v1"} <= set(index)
    for gv in index:
        doc = json.loads(svc.reply("v3/" + gv, {}, {}).body)
        schemas = doc["components"]["schemas"]
        assert not {r for r in _refs(doc, set()) if r.split("/")[-1] not in schemas}
