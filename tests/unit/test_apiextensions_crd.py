"""CustomResourceDefinition objects: defaulting, validation (names, versions, structural
schemas) and status (accepted names, conditions), with apiextensions-apiserver's
messages."""

from __future__ import annotations

import copy
import os

import pytest
import yaml

from k8snet.apiextensions import crddefaults, crdstatus, crdvalidation, structural
from k8snet.apiextensions.goerrors import cause_text

CRONTAB = os.path.join(os.path.dirname(__file__), "..", "data", "crds", "crontab.yaml")
NOW = "2026-01-01T00:00:00Z"


@pytest.fixture()
def crd() -> dict:
    with open(CRONTAB) as f:
        obj = yaml.safe_load(f)
    return crddefaults.apply_defaults(obj)


def texts(causes: list[dict]) -> list[str]:
    return [cause_text(c) for c in causes]


def schema_of(crd: dict) -> dict:
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


# -- defaulting ------------------------------------------------------------------------

def test_defaults_fill_list_kind_conversion_and_stored_versions() -> None:
    obj = {"spec": {"names": {"kind": "Widget", "plural": "widgets"},
                    "versions": [{"name": "v1", "served": True, "storage": False},
                                 {"name": "v2", "served": True, "storage": True}]}}
    crddefaults.apply_defaults(obj)
    assert obj["spec"]["names"]["singular"] == "widget"
    assert obj["spec"]["names"]["listKind"] == "WidgetList"
    assert obj["spec"]["conversion"] == {"strategy": "None"}
    assert obj["status"]["storedVersions"] == ["v2"]


# -- validation ------------------------------------------------------------------------

def test_the_docs_crontab_is_valid(crd: dict) -> None:
    assert crdvalidation.validate(crd) == []


def test_name_must_be_plural_dot_group(crd: dict) -> None:
    crd["metadata"]["name"] = "crontab.stable.example.com"
    assert texts(crdvalidation.validate(crd)) == [
        'metadata.name: Invalid value: "crontab.stable.example.com": '
        'must be spec.names.plural+"."+spec.group']


def test_group_needs_a_dot_and_scope_is_checked(crd: dict) -> None:
    crd["spec"]["group"] = "example"
    crd["spec"]["scope"] = "Global"
    crd["metadata"]["name"] = "crontabs.example"
    got = texts(crdvalidation.validate(crd))
    assert 'spec.group: Invalid value: "example": should be a domain with at least one dot' in got
    assert ('spec.scope: Unsupported value: "Global": supported values: "Cluster", '
            '"Namespaced"') in got


def test_names_are_dns_labels_and_kind_differs_from_list_kind(crd: dict) -> None:
    names = crd["spec"]["names"]
    names["shortNames"] = ["CT"]
    names["listKind"] = "CronTab"
    names["kind"] = "CronTab"
    got = texts(crdvalidation.validate(crd))
    assert any(t.startswith('spec.names.shortNames[0]: Invalid value: "CT": a DNS-1035 label '
                            'must consist of lower case alphanumeric characters') for t in got)
    assert 'spec.names.listKind: Invalid value: "CronTab": kind and listKind may not be the ' \
           'same' in got


def test_exactly_one_storage_version(crd: dict) -> None:
    v2 = copy.deepcopy(crd["spec"]["versions"][0])
    v2["name"] = "v2"
    crd["spec"]["versions"].append(v2)
    got = texts(crdvalidation.validate(crd))
    assert any(t.startswith("spec.versions: Invalid value: ") and
               t.endswith("must have exactly one version marked as storage version")
               for t in got)


def test_missing_schema_is_required(crd: dict) -> None:
    del crd["spec"]["versions"][0]["schema"]
    assert "spec.versions[0].schema.openAPIV3Schema: Required value: schemas are required" in \
        texts(crdvalidation.validate(crd))


def test_a_field_without_type_is_not_structural(crd: dict) -> None:
    del schema_of(crd)["properties"]["spec"]["properties"]["image"]["type"]
    assert texts(crdvalidation.validate(crd)) == [
        "spec.validation.openAPIV3Schema.properties[spec].properties[image].type: "
        "Required value: must not be empty for specified object fields"]


def test_per_version_schemas_are_reported_per_version(crd: dict) -> None:
    v2 = copy.deepcopy(crd["spec"]["versions"][0])
    v2.update(name="v2", storage=False)
    del v2["schema"]["openAPIV3Schema"]["properties"]["spec"]["type"]
    crd["spec"]["versions"].append(v2)
    assert texts(crdvalidation.validate(crd)) == [
        "spec.versions[1].schema.openAPIV3Schema.properties[spec].type: Required value: "
        "must not be empty for specified object fields"]


def test_metadata_at_the_root_may_only_restrict_name(crd: dict) -> None:
    schema_of(crd)["properties"]["metadata"] = {
        "type": "object", "properties": {"labels": {"type": "object"}}}
    assert texts(crdvalidation.validate(crd)) == [
        "spec.validation.openAPIV3Schema.properties[metadata]: Forbidden: must not specify "
        "anything other than name and generateName, but metadata is implicitly specified"]
    schema_of(crd)["properties"]["metadata"] = {
        "type": "object", "properties": {"name": {"type": "string", "maxLength": 20}}}
    assert crdvalidation.validate(crd) == []


def test_root_must_be_an_object_without_additional_properties() -> None:
    got = texts(structural.check({"type": "string", "additionalProperties": {"type": "string"}},
                                 "s"))
    assert "s.additionalProperties: Forbidden: must not be used at the root" in got
    assert 's.type: Invalid value: "string": must be object at the root' in got


def test_junctors_may_not_declare_types_or_unknown_fields() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}},
              "anyOf": [{"type": "object", "properties": {"b": {"minLength": 1}}}]}
    assert texts(structural.check(schema, "s")) == [
        "s.anyOf[0].type: Forbidden: must be empty to be structural",
        "s.properties[b]: Required value: because it is defined in s.anyOf[0].properties[b]"]


def test_int_or_string_needs_no_type() -> None:
    schema = {"type": "object", "properties": {"port": {
        "x-kubernetes-int-or-string": True,
        "anyOf": [{"type": "integer"}, {"type": "string"}]}}}
    assert structural.check(schema, "s") == []
    assert structural.is_structural(schema)


def test_preserve_unknown_fields_needs_no_type() -> None:
    assert structural.check({"type": "object", "properties": {
        "raw": {"x-kubernetes-preserve-unknown-fields": True}}}, "s") == []


def test_embedded_resource_must_be_an_object() -> None:
    schema = {"type": "object", "properties": {"tpl": {
        "type": "string", "x-kubernetes-embedded-resource": True}}}
    got = texts(structural.check(schema, "s"))
    assert 's.properties[tpl].type: Invalid value: "string": must be object if ' \
           'x-kubernetes-embedded-resource is true' in got


def test_defaults_must_validate_and_be_pruned(crd: dict) -> None:
    spec = schema_of(crd)["properties"]["spec"]["properties"]
    spec["replicas"]["default"] = "three"
    assert texts(crdvalidation.validate(crd)) == [
        "spec.validation.openAPIV3Schema.properties[spec].properties[replicas].default: "
        'Invalid value: "string":  in body must be of type integer: "string"']
    spec["replicas"]["default"] = 1
    spec["extra"] = {"type": "object", "properties": {"a": {"type": "string"}},
                     "default": {"a": "x", "b": "y"}}
    assert texts(crdvalidation.validate(crd)) == [
        "spec.validation.openAPIV3Schema.properties[spec].properties[extra].default: Invalid "
        'value: map[string]interface {}{"a":"x", "b":"y"}: must not have unknown fields']


def test_forbidden_keywords_and_unique_items(crd: dict) -> None:
    spec = schema_of(crd)["properties"]["spec"]["properties"]
    spec["tags"] = {"type": "array", "items": {"type": "string"}, "uniqueItems": True}
    spec["ref"] = {"$ref": "#/definitions/x"}
    got = texts(crdvalidation.validate(crd))
    assert ("spec.validation.openAPIV3Schema.properties[spec].properties[tags].uniqueItems: "
            "Forbidden: uniqueItems cannot be set to true since the runtime complexity becomes "
            "quadratic") in got
    assert ("spec.validation.openAPIV3Schema.properties[spec].properties[ref].$ref: "
            "Forbidden: $ref is not supported") in got


def test_list_map_keys_need_map_list_type(crd: dict) -> None:
    spec = schema_of(crd)["properties"]["spec"]["properties"]
    spec["ports"] = {"type": "array", "x-kubernetes-list-type": "map",
                     "x-kubernetes-list-map-keys": ["name"],
                     "items": {"type": "object", "properties": {"name": {"type": "string"}}}}
    assert texts(crdvalidation.validate(crd)) == [
        "spec.validation.openAPIV3Schema.properties[spec].properties[ports].items."
        "properties[name].default: Required value: this property is in "
        "x-kubernetes-list-map-keys, so it must have a default or be a required property"]
    spec["ports"]["items"]["required"] = ["name"]
    assert crdvalidation.validate(crd) == []


def test_status_subresource_restricts_the_root(crd: dict) -> None:
    schema_of(crd)["type"] = "object"
    schema_of(crd)["x-kubernetes-embedded-resource"] = True
    got = texts(crdvalidation.validate(crd))
    assert any(t.startswith("spec.validation.openAPIV3Schema: Invalid value: ") and
               t.endswith("fields are allowed at the root of the schema if the status "
                          "subresource is enabled") for t in got)


def test_scale_paths_and_printer_columns(crd: dict) -> None:
    v = crd["spec"]["versions"][0]
    v["subresources"]["scale"]["specReplicasPath"] = ".status.replicas"
    v["additionalPrinterColumns"][0]["type"] = "str"
    v["additionalPrinterColumns"][1]["jsonPath"] = "spec.replicas"
    got = texts(crdvalidation.validate(crd))
    assert got == [
        'spec.subresources.scale.specReplicasPath: Invalid value: ".status.replicas": should '
        "be a json path under .spec",
        'spec.additionalPrinterColumns[0].type: Invalid value: "str": must be one of '
        "boolean,date,integer,number,string",
        'spec.additionalPrinterColumns[1].JSONPath: Invalid value: "spec.replicas": must be a '
        "simple json path starting with ."]


def test_webhook_conversion_settings_are_checked(crd: dict) -> None:
    crd["spec"]["conversion"] = {"strategy": "Webhook"}
    got = texts(crdvalidation.validate(crd))
    assert "spec.conversion.webhookClientConfig: Required value: required when strategy is " \
           "set to Webhook" in got
    assert "spec.conversion.conversionReviewVersions: Required value" in got


def test_protected_groups_need_approval(crd: dict) -> None:
    crd["spec"]["group"] = "stable.k8s.io"
    crd["metadata"]["name"] = "crontabs.stable.k8s.io"
    assert texts(crdvalidation.validate(crd)) == [
        "metadata.annotations[api-approved.kubernetes.io]: Required value: protected groups "
        'must have approval annotation "api-approved.kubernetes.io", see '
        "https://github.com/kubernetes/enhancements/pull/1111"]
    crd["metadata"]["annotations"] = {"api-approved.kubernetes.io": "unapproved, testing"}
    assert crdvalidation.validate(crd) == []


def test_update_keeps_group_and_plural(crd: dict) -> None:
    new = copy.deepcopy(crd)
    new["spec"]["group"] = "other.example.com"
    new["spec"]["names"]["plural"] = "crons"
    new["metadata"]["name"] = "crons.other.example.com"
    got = texts(crdvalidation.validate(new, old=crd))
    assert 'spec.group: Invalid value: "other.example.com": field is immutable' in got
    assert 'spec.names.plural: Invalid value: "crons": field is immutable' in got


def test_stored_versions_must_appear_in_versions(crd: dict) -> None:
    crd["status"]["storedVersions"] = ["v1", "v0"]
    assert texts(crdvalidation.validate(crd)) == [
        'status.storedVersions[1]: Invalid value: "v0": must appear in spec.versions']


def test_garbage_never_raises() -> None:
    for body in (None, 3, {"spec": 1}, {"spec": {"versions": [1, {"schema": 2}]}},
                 {"spec": {"versions": [{"name": "v1", "storage": True, "schema": {
                     "openAPIV3Schema": {"type": "object", "properties": {"a": 5}}}}]}}):
        assert isinstance(crdvalidation.validate(body), list)


# -- status --------------------------------------------------------------------------------

def test_a_new_crd_is_named_and_established(crd: dict) -> None:
    status = crdstatus.reconcile(crd, [crd], NOW)
    assert status is not None
    assert status["acceptedNames"] == {"plural": "crontabs", "singular": "crontab",
                                       "shortNames": ["ct"], "kind": "CronTab",
                                       "listKind": "CronTabList", "categories": ["all"]}
    conds = {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}
    assert conds == {"NamesAccepted": ("True", "NoConflicts"),
                     "Established": ("True", "InitialNamesAccepted")}
    crd["status"] = status
    assert crdstatus.reconcile(crd, [crd], NOW) is None


def test_a_plural_taken_in_the_group_is_refused(crd: dict) -> None:
    first = copy.deepcopy(crd)
    first["status"] = crdstatus.reconcile(first, [first], NOW)
    second = copy.deepcopy(crd)
    second["metadata"]["name"] = "crontabs2.stable.example.com"
    second["spec"]["names"].update(kind="CronTab2", listKind="CronTab2List", singular="crontab2",
                                   shortNames=["ct2"])
    status = crdstatus.reconcile(second, [first, second], NOW)
    names = crdstatus.condition(status, "NamesAccepted")
    assert (names["status"], names["reason"], names["message"]) == \
        ("False", "PluralConflict", '"crontabs" is already in use')
    est = crdstatus.condition(status, "Established")
    assert (est["status"], est["reason"]) == ("False", "NotAccepted")


def test_transition_time_moves_only_on_status_change() -> None:
    status: dict = {}
    crdstatus.set_condition(status, {"type": "A", "status": "True", "reason": "x"}, "t1")
    crdstatus.set_condition(status, {"type": "A", "status": "True", "reason": "y"}, "t2")
    assert status["conditions"][0]["lastTransitionTime"] == "t1"
    crdstatus.set_condition(status, {"type": "A", "status": "False", "reason": "y"}, "t3")
    assert status["conditions"][0]["lastTransitionTime"] == "t3"


def test_nonstructural_condition_names_the_violation(crd: dict) -> None:
    assert crdstatus.nonstructural_condition(crd) is None
    del schema_of(crd)["properties"]["spec"]["type"]
    cond = crdstatus.nonstructural_condition(crd)
    assert cond["status"] == "True" and cond["reason"] == "Violations"
    assert cond["message"] == ("spec.versions[0].schema.openAPIV3Schema.properties[spec].type: "
                               "Required value: must not be empty for specified object fields")


def test_storage_version_is_recorded(crd: dict) -> None:
    crd["spec"]["versions"][0]["storage"] = False
    v2 = copy.deepcopy(crd["spec"]["versions"][0])
    v2.update(name="v2", storage=True)
    crd["spec"]["versions"].append(v2)
    crdstatus.stored_version_added(crd)
    assert crd["status"]["storedVersions"] == ["v1", "v2"]
