"""What a CRD serves (table entries, strategies, OpenAPI definitions), pure."""

from __future__ import annotations

import copy
import os

import pytest
import yaml

from k8snet.apiextensions import crddefaults, crdkinds, crdopenapi, crdstatus
from k8snet.apiextensions.strategy import CRDStrategy, CustomResourceStrategy, ratchet
from k8snet.apiserver.status import ApiStatusError

CRONTAB = os.path.join(os.path.dirname(__file__), "..", "data", "crds", "crontab.yaml")
NOW = "2026-01-01T00:00:00Z"


@pytest.fixture()
def crd() -> dict:
    with open(CRONTAB) as f:
        obj = crddefaults.apply_defaults(yaml.safe_load(f))
    obj["metadata"]["uid"] = "u1"
    obj["status"] = crdstatus.reconcile(obj, [obj], NOW)
    return obj


def two_versions(crd: dict) -> dict:
    v1beta1 = copy.deepcopy(crd["spec"]["versions"][0])
    v1beta1.update(name="v1beta1", storage=False, deprecated=True)
    crd["spec"]["versions"].insert(0, v1beta1)
    return crd


def test_an_accepted_crd_serves_each_served_version(crd: dict) -> None:
    two_versions(crd)
    served = crdkinds.served(crd)
    assert [sv.info.version for sv in served] == ["v1beta1", "v1"]
    beta, ga = served
    assert ga.info.kind == "CronTab" and ga.info.short_names == ("ct",)
    assert ga.info.categories == ("all",) and ga.info.namespaced and ga.info.custom
    assert [s.name for s in ga.info.subresources] == ["scale", "status"]
    assert ga.info.storage_version == "" and beta.info.storage_version == "stable.example.com/v1"
    assert ga.scale == (".spec.replicas", ".status.replicas", ".status.labelSelector")
    assert beta.deprecation_warning == "stable.example.com/v1beta1 CronTab is deprecated"
    assert ga.deprecation_warning is None


def test_nothing_is_served_before_the_names_are_accepted(crd: dict) -> None:
    crd["status"] = {"storedVersions": ["v1"]}
    assert crdkinds.served(crd) == []
    crd["status"] = crdstatus.reconcile(crd, [crd], NOW)
    crd["spec"]["versions"][0]["served"] = False
    assert crdkinds.served(crd) == []


def test_changes_remove_what_differs(crd: dict) -> None:
    before = crdkinds.desired([crd])
    changed = copy.deepcopy(crd)
    changed["spec"]["versions"][0]["additionalPrinterColumns"] = []
    after = crdkinds.desired([changed])
    key = ("stable.example.com", "v1", "crontabs")
    assert crdkinds.changes(before, after) == ([key], [key])
    assert crdkinds.changes(before, before) == ([], [])
    assert crdkinds.changes(before, {}) == ([key], [])


def test_openapi_definitions_are_named_after_the_reversed_group(crd: dict) -> None:
    defs = crdopenapi.build(crdkinds.served(crd))
    item = "com.example.stable.v1.CronTab"
    assert defs.names[("stable.example.com", "v1", "CronTab")] == item
    schema = defs.definitions[item]
    assert schema["x-kubernetes-group-version-kind"] == [
        {"group": "stable.example.com", "version": "v1", "kind": "CronTab"}]
    assert schema["properties"]["metadata"]["$ref"] == \
        "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    assert schema["properties"]["spec"]["properties"]["cronSpec"]["description"] == \
        "The schedule in cron format."
    listing = defs.definitions["com.example.stable.v1.CronTabList"]
    assert listing["properties"]["items"]["items"] == {"$ref": "#/definitions/" + item}
    assert crdopenapi.build([]).definitions == {}


def test_the_crd_strategy_resets_status_and_records_the_storage_version(crd: dict) -> None:
    new = copy.deepcopy(crd)
    del new["spec"]["names"]["listKind"]
    CRDStrategy().prepare(new, None, None)
    assert new["status"] == {"storedVersions": ["v1"]}
    assert new["spec"]["names"]["listKind"] == "CronTabList"


def test_the_crd_strategy_reports_its_own_name_rules_once(crd: dict) -> None:
    crd["metadata"]["name"] = "Crontabs.stable.example.com"
    generic = [{"field": "metadata.name", "reason": "FieldValueInvalid", "message": "x"}]
    causes = CRDStrategy().validate(crd, None, None, generic)
    assert [c["field"] for c in causes] == ["metadata.name", "metadata.name"]
    assert all(c["message"] != "x" for c in causes)


def test_custom_resource_table_uses_printer_columns(crd: dict) -> None:
    st = CustomResourceStrategy(crdkinds.served(crd)[0])
    obj = {"apiVersion": "stable.example.com/v1", "kind": "CronTab",
           "metadata": {"name": "x", "creationTimestamp": "2026-01-01T00:00:00Z"},
           "spec": {"cronSpec": "* * * * */5", "replicas": 3}}
    table = st.table([obj], now=1767225600 + 125)
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Spec", "Replicas",
                                                                "Age"]
    assert table["rows"][0]["cells"] == ["x", "* * * * */5", 3, "2m5s"]
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"


def test_custom_resources_without_columns_show_age(crd: dict) -> None:
    del crd["spec"]["versions"][0]["additionalPrinterColumns"]
    st = CustomResourceStrategy(crdkinds.served(crd)[0])
    assert [c["name"] for c in st.table([], now=0)["columnDefinitions"]] == ["Name", "Age"]


def test_scale_reads_and_writes_the_declared_paths(crd: dict) -> None:
    st = CustomResourceStrategy(crdkinds.served(crd)[0])
    obj = {"metadata": {"name": "x", "namespace": "d", "resourceVersion": "7"},
           "spec": {"replicas": 2}, "status": {"replicas": 1, "labelSelector": "a=b"}}
    assert st.scale_of(obj) == {
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {"name": "x", "namespace": "d", "resourceVersion": "7"},
        "spec": {"replicas": 2}, "status": {"replicas": 1, "selector": "a=b"}}
    assert st.with_replicas(obj, 5)["spec"]["replicas"] == 5
    assert obj["spec"]["replicas"] == 2


def test_prepare_prunes_defaults_and_bumps_generation(crd: dict) -> None:
    st = CustomResourceStrategy(crdkinds.served(crd)[0])
    obj = {"apiVersion": "stable.example.com/v1", "kind": "CronTab",
           "metadata": {"name": "x", "generation": 1},
           "spec": {"cronSpec": "* * * * */5", "image": "i", "junk": 1}, "status": {}}
    st.prepare(obj, None, None)
    assert "status" not in obj and "junk" not in obj["spec"] and obj["spec"]["replicas"] == 1
    same = copy.deepcopy(obj)
    st.prepare(same, obj, None)
    assert same["metadata"]["generation"] == 1
    changed = copy.deepcopy(obj)
    changed["spec"]["image"] = "j"
    st.prepare(changed, obj, None)
    assert changed["metadata"]["generation"] == 2


def test_refusals(crd: dict) -> None:
    st = CustomResourceStrategy(crdkinds.served(crd)[0])
    with pytest.raises(ApiStatusError) as e:
        st.refuse("PATCH", None, "application/strategic-merge-patch+json")
    assert e.value.code == 415
    crd["metadata"]["deletionTimestamp"] = NOW
    st = CustomResourceStrategy(crdkinds.served(crd)[0])
    with pytest.raises(ApiStatusError) as e:
        st.refuse("POST", None)
    assert e.value.code == 405 and e.value.message == \
        "create not allowed while custom resource definition is terminating"
    st.refuse("GET", None)


def test_webhook_conversion_is_refused_where_it_would_be_needed(crd: dict) -> None:
    two_versions(crd)
    crd["spec"]["conversion"] = {"strategy": "Webhook", "webhook": {
        "clientConfig": {"url": "https://conv.example.com"},
        "conversionReviewVersions": ["v1"]}}
    beta, ga = (CustomResourceStrategy(sv) for sv in crdkinds.served(crd))
    ga.refuse("GET", None)
    with pytest.raises(ApiStatusError) as e:
        beta.refuse("GET", None)
    assert e.value.code == 500
    assert "k8snet does not call conversion webhooks" in e.value.message


def test_cel_rules_are_reported_not_enforced(crd: dict) -> None:
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    spec["x-kubernetes-validations"] = [{"rule": "self.replicas <= 5"}]
    st = CustomResourceStrategy(crdkinds.served(crd)[0])
    assert st.request_warnings("POST") == [
        "x-kubernetes-validations rules of crontabs.stable.example.com are not enforced by "
        "k8snet (no CEL evaluator): spec"]
    assert st.request_warnings("GET") == []


def test_ratcheting_keeps_unchanged_invalid_values() -> None:
    causes = [{"field": "spec.replicas", "message": "too big"},
              {"field": "spec.image", "message": "bad"}]
    old = {"spec": {"replicas": 11, "image": "a"}}
    new = {"spec": {"replicas": 11, "image": "b"}}
    assert ratchet(causes, new, old) == [causes[1]]
    assert ratchet(causes, new, None) == causes


def test_selectable_fields_extend_field_selectors(crd: dict) -> None:
    st = CustomResourceStrategy(crdkinds.served(crd)[0])
    with pytest.raises(ValueError, match="field label not supported: spec.image"):
        st.field_selector("spec.image=x")
    crd["spec"]["versions"][0]["selectableFields"] = [{"jsonPath": ".spec.image"}]
    st = CustomResourceStrategy(crdkinds.served(crd)[0])
    sel = st.field_selector("spec.image=x,metadata.name!=y")
    assert sel.matches({"metadata": {"name": "a"}, "spec": {"image": "x"}})
    assert not sel.matches({"metadata": {"name": "a"}, "spec": {"image": "z"}})


def test_v2_definitions_drop_what_kubectl_v2_cannot_read() -> None:
    schema = {"type": "object", "required": ["a", "b"], "properties": {
        "a": {"type": "string", "nullable": True},
        "b": {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"},
                                                              {"type": "string"}]},
        "c": {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
              "properties": {"d": {"type": "string"}}}}}
    assert crdopenapi.to_v2(schema) == {"type": "object", "required": ["b"], "properties": {
        "a": {},
        "b": {"x-kubernetes-int-or-string": True},
        "c": {"x-kubernetes-preserve-unknown-fields": True}}}
