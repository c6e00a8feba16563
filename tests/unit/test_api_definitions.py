"""Tests for k8snet.api.definitions: the 1.32 definitions as loaded from kubernetes-validate."""

import json

from k8snet.api import definitions as defs


def _all_refs(schema, out):
    if isinstance(schema, dict):
        if isinstance(schema.get("$ref"), str):  # JSONSchemaProps has a property named $ref
            out.add(schema["$ref"])
        for value in schema.values():
            _all_refs(value, out)
    elif isinstance(schema, list):
        for item in schema:
            _all_refs(item, out)
    return out


def test_every_definition_loaded_once_and_shared():
    table = defs.definitions()
    assert defs.definitions() is table
    assert len(table) > 600
    assert "io.k8s.api.apps.v1.Deployment" in table
    # 1.32 facts: pod-level resources (alpha in 1.32) and the new DeleteOptions field
    assert "resources" in table["io.k8s.api.core.v1.PodSpec"]["properties"]
    assert "ignoreStoreReadErrorWithClusterBreakingPotential" in \
        table["io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions"]["properties"]


def test_normalised_to_openapi_form():
    text = json.dumps(dict(defs.definitions()))
    assert '"null"' not in text
    assert "#/$defs/" not in text
    refs = _all_refs(dict(defs.definitions()), set())
    assert refs and all(r.startswith(defs.REF_PREFIX) for r in refs)
    assert all(r[len(defs.REF_PREFIX):] in defs.definitions() for r in refs)
    dep = defs.definition("io.k8s.api.apps.v1.Deployment")
    assert dep["type"] == "object"
    assert dep["properties"]["kind"] == {"description": dep["properties"]["kind"]["description"],
                                         "type": "string"}
    assert dep["x-kubernetes-group-version-kind"] == [
        {"group": "apps", "kind": "Deployment", "version": "v1"}]
    assert defs.definition(defs.INT_OR_STRING)["format"] == "int-or-string"
    spec = defs.definition("io.k8s.api.core.v1.PodSpec")
    containers = spec["properties"]["containers"]
    assert containers["items"] == {"$ref": "#/definitions/io.k8s.api.core.v1.Container"}
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    assert containers["x-kubernetes-list-map-keys"] == ["name"]
    assert "containers" in spec["required"]


def test_descriptions_kept():
    rolling = defs.definition("io.k8s.api.apps.v1.RollingUpdateDeployment")
    assert rolling["description"] == "Spec to control the desired behavior of rolling update."
    assert "maximum number of pods that can be scheduled above the desired number" in \
        rolling["properties"]["maxSurge"]["description"]


def test_gvk_index_and_names():
    assert defs.name_for("", "v1", "Event") == "io.k8s.api.core.v1.Event"
    assert defs.name_for("events.k8s.io", "v1", "Event") == "io.k8s.api.events.v1.Event"
    assert defs.name_for("autoscaling", "v2", "HorizontalPodAutoscaler") == \
        "io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler"
    assert defs.name_for("apps", "v1", "DeleteOptions") == \
        "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions"
    assert defs.name_for("apps", "v1", "Nothing") is None
    assert defs.short_name("io.k8s.api.apps.v1.Deployment") == "Deployment"
    assert defs.go_package("io.k8s.api.autoscaling.v2.MetricSpec") == "v2"


def test_closure_follows_refs_only():
    names = defs.closure(["io.k8s.api.apps.v1.Deployment"])
    assert "io.k8s.api.core.v1.Container" in names
    assert "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta" in names
    assert defs.INT_OR_STRING in names and defs.QUANTITY in names
    assert "io.k8s.api.batch.v1.Job" not in names
    assert names == sorted(names)
    assert defs.closure(["no.such.Thing"]) == []
    crd = defs.closure(["io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1."
                        "CustomResourceDefinition"])
    # reached through a property named x-kubernetes-validations (a name, not an extension)
    assert "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.ValidationRule" in crd
