"""Custom resources against their schema: pruning, defaulting, validation (with
kube-openapi's messages), list types, embedded resources, scale paths, printer-column
JSONPath."""

from __future__ import annotations

import os

import pytest
import yaml

from k8snet.apiextensions import defaulting, formats, jsonpath, pruning
from k8snet.apiextensions.crvalidation import (
    SchemaValidator,
    cel_rule_paths,
    validate_embedded,
    validate_list_types,
    validate_scale,
)
from k8snet.apiextensions.goerrors import cause_text, go_float, go_value

CRONTAB = os.path.join(os.path.dirname(__file__), "..", "data", "crds", "crontab.yaml")


@pytest.fixture(scope="module")
def schema() -> dict:
    with open(CRONTAB) as f:
        crd = yaml.safe_load(f)
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def crontab(**spec) -> dict:
    body = {"cronSpec": "* * * * */5", "image": "my-awesome-cron-image"}
    body.update(spec)
    return {"apiVersion": "stable.example.com/v1", "kind": "CronTab",
            "metadata": {"name": "x", "namespace": "default"}, "spec": body}


def texts(causes: list[dict]) -> list[str]:
    return [cause_text(c) for c in causes]


# -- pruning -------------------------------------------------------------------------------

def test_unknown_fields_are_pruned_and_named(schema: dict) -> None:
    obj = crontab(bogus=1, nested={"a": 1})
    obj["extra"] = True
    assert pruning.prune(obj, schema) == ["extra", "spec.bogus", "spec.nested"]
    assert "bogus" not in obj["spec"] and "extra" not in obj
    assert obj["apiVersion"] == "stable.example.com/v1" and obj["metadata"]["name"] == "x"


def test_preserve_unknown_fields_keeps_them_but_prunes_specified_children() -> None:
    schema = {"type": "object", "properties": {"spec": {
        "type": "object", "x-kubernetes-preserve-unknown-fields": True,
        "properties": {"known": {"type": "object", "properties": {"a": {"type": "string"}}}}}}}
    obj = {"spec": {"anything": {"x": 1}, "known": {"a": "1", "b": "2"}}}
    assert pruning.prune(obj, schema) == ["spec.known.b"]
    assert obj == {"spec": {"anything": {"x": 1}, "known": {"a": "1"}}}


def test_items_and_additional_properties_are_followed() -> None:
    schema = {"type": "object", "properties": {
        "list": {"type": "array", "items": {"type": "object", "properties": {
            "name": {"type": "string"}}}},
        "map": {"type": "object", "additionalProperties": {"type": "object", "properties": {
            "v": {"type": "integer"}}}}}}
    obj = {"list": [{"name": "a", "x": 1}], "map": {"k": {"v": 1, "w": 2}}}
    assert pruning.prune(obj, schema) == ["list[0].x", "map.k.w"]


def test_embedded_resources_keep_their_type_and_object_meta() -> None:
    schema = {"type": "object", "properties": {"template": {
        "type": "object", "x-kubernetes-embedded-resource": True,
        "properties": {"spec": {"type": "object"}}}}}
    obj = {"template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                        "spec": {}, "junk": 1}}
    assert pruning.prune(obj, schema) == ["template.junk"]
    assert obj["template"]["kind"] == "Pod"


def test_unknown_object_meta_fields_are_dropped() -> None:
    obj = {"metadata": {"name": "x", "labelz": {}, "labels": {"a": "b"}}}
    assert pruning.prune_metadata(obj) == ["metadata.labelz"]
    assert obj == {"metadata": {"name": "x", "labels": {"a": "b"}}}


def test_nulls_without_default_are_dropped_unless_nullable() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"},
                                               "b": {"type": "string", "nullable": True}}}
    obj = {"a": None, "b": None}
    pruning.prune_nulls(obj, schema)
    assert obj == {"b": None}


# -- defaulting ------------------------------------------------------------------------------

def test_defaults_fill_absent_and_null_fields(schema: dict) -> None:
    obj = crontab(suspend=None)
    defaulting.apply_defaults(obj, schema)
    assert obj["spec"]["replicas"] == 1 and obj["spec"]["suspend"] is False
    obj = crontab(replicas=3)
    defaulting.apply_defaults(obj, schema)
    assert obj["spec"]["replicas"] == 3


def test_defaults_apply_inside_defaulted_objects_and_list_items() -> None:
    schema = {"type": "object", "properties": {
        "spec": {"type": "object", "default": {}, "properties": {
            "mode": {"type": "string", "default": "fast"}}},
        "ports": {"type": "array", "items": {"type": "object", "properties": {
            "protocol": {"type": "string", "default": "TCP"}}}}}}
    obj = {"ports": [{"port": 80}, {"protocol": "UDP"}]}
    defaulting.apply_defaults(obj, schema)
    assert obj == {"spec": {"mode": "fast"},
                   "ports": [{"port": 80, "protocol": "TCP"}, {"protocol": "UDP"}]}
    assert defaulting.has_defaults(schema)
    assert not defaulting.has_defaults({"type": "object"})


# -- validation --------------------------------------------------------------------------------

def test_the_docs_example_is_valid(schema: dict) -> None:
    obj = crontab()
    defaulting.apply_defaults(obj, schema)
    assert SchemaValidator(schema).validate(obj) == []


def test_wrong_type_is_worded_as_upstream(schema: dict) -> None:
    assert texts(SchemaValidator(schema).validate(crontab(replicas="string"))) == [
        'spec.replicas: Invalid value: "string": spec.replicas in body must be of type '
        'integer: "string"']


def test_required_pattern_and_range(schema: dict) -> None:
    obj = crontab(cronSpec="every minute", replicas=11)
    del obj["spec"]["image"]
    assert texts(SchemaValidator(schema).validate(obj)) == [
        "spec.cronSpec: Invalid value: \"every minute\": spec.cronSpec in body should match "
        "'^(\\d+|\\*)(/\\d+)?(\\s+(\\d+|\\*)(/\\d+)?){4}$'",
        "spec.replicas: Invalid value: 11: spec.replicas in body should be less than or equal "
        "to 10",
        "spec.image: Required value"]


def test_an_integral_float_is_an_integer(schema: dict) -> None:
    assert SchemaValidator(schema).validate(crontab(replicas=2.0)) == []
    assert texts(SchemaValidator(schema).validate(crontab(replicas=2.5))) == [
        'spec.replicas: Invalid value: "number": spec.replicas in body must be of type '
        'integer: "number"']


def test_booleans_are_not_integers(schema: dict) -> None:
    assert texts(SchemaValidator(schema).validate(crontab(replicas=True))) == [
        'spec.replicas: Invalid value: "boolean": spec.replicas in body must be of type '
        'integer: "boolean"']


V = SchemaValidator({"type": "object", "properties": {
    "mode": {"type": "string", "enum": ["a", "b"]},
    "name": {"type": "string", "maxLength": 3, "minLength": 2},
    "when": {"type": "string", "format": "date-time"},
    "ip": {"type": "string", "format": "ipv4"},
    "size": {"type": "string", "format": "int32"},
    "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2, "minItems": 1},
    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
    "strict": {"type": "object", "properties": {"a": {"type": "string"}},
               "additionalProperties": False},
    "port": {"x-kubernetes-int-or-string": True},
    "opt": {"type": "string", "nullable": True},
    "ratio": {"type": "number", "minimum": 0, "exclusiveMinimum": True, "multipleOf": 0.5},
}})


@pytest.mark.parametrize("body,want", [
    ({"mode": "c"}, ['mode: Unsupported value: "c": supported values: "a", "b"']),
    ({"name": "abcd"}, ["name: Too long: may not be more than 3 bytes"]),
    ({"name": "a"}, ['name: Invalid value: "a": name in body should be at least 2 chars long']),
    ({"when": "yesterday"},
     ['when: Invalid value: "yesterday": when in body must be of type date-time: "yesterday"']),
    ({"when": "2026-01-02T03:04:05Z"}, []),
    ({"ip": "10.0.0.300"},
     ['ip: Invalid value: "10.0.0.300": ip in body must be of type ipv4: "10.0.0.300"']),
    ({"size": "anything"}, []),
    ({"tags": ["a", "b", "c"]}, ["tags: Too many: 3: must have at most 2 items"]),
    ({"tags": []}, ["tags: Invalid value: 0: tags in body should have at least 1 items"]),
    ({"labels": {"a": 1}},
     ['labels.a: Invalid value: "integer": labels.a in body must be of type string: '
      '"integer"']),
    ({"strict": {"a": "x", "b": "y"}},
     ['strict: Invalid value: "b": strict.b in body is a forbidden property']),
    ({"port": 8080}, []),
    ({"port": "http"}, []),
    ({"port": 1.5},
     ['port: Invalid value: "number": port in body must be of type integer,string: "number"']),
    ({"opt": None}, []),
    ({"mode": None}, ['mode: Invalid value: "null": mode in body must be of type string: '
                      '"null"', 'mode: Unsupported value: null: supported values: "a", "b"']),
    ({"ratio": 0}, ["ratio: Invalid value: 0: ratio in body should be greater than 0"]),
    ({"ratio": 0.7}, ["ratio: Invalid value: 0.7: ratio in body should be a multiple of 0.5"]),
])
def test_keywords(body: dict, want: list[str]) -> None:
    assert texts(V.validate(body)) == want


def test_junctor_failures_are_reported_on_nil() -> None:
    v = SchemaValidator({"type": "object", "properties": {"x": {
        "type": "string", "anyOf": [{"pattern": "^a"}, {"pattern": "^b"}]}}})
    assert texts(v.validate({"x": "c"})) == [
        '<nil>: Invalid value: "": "x" must validate at least one schema (anyOf)',
        "x: Invalid value: \"c\": x in body should match '^a'"]
    one = SchemaValidator({"type": "object", "properties": {"x": {
        "type": "string", "oneOf": [{"minLength": 1}, {"maxLength": 5}]}}})
    assert texts(one.validate({"x": "abc"})) == [
        '<nil>: Invalid value: "": "x" must validate one and only one schema (oneOf). '
        "Found 2 valid alternatives"]


def test_status_updates_validate_under_status() -> None:
    v = SchemaValidator({"type": "object", "properties": {"replicas": {"type": "integer"}}})
    assert texts(v.validate({"replicas": "x"}, "status")) == [
        'status.replicas: Invalid value: "string": replicas in body must be of type integer: '
        '"string"']


def test_garbage_schema_keywords_do_not_raise() -> None:
    v = SchemaValidator({"type": "object", "properties": {"a": {"type": "integer",
                                                                "maximum": "ten"}}})
    assert isinstance(v.validate({"a": 3}), list)


# -- list types, embedded resources, scale ------------------------------------------------------

def test_set_and_map_lists_refuse_duplicates() -> None:
    schema = {"type": "object", "properties": {
        "tags": {"type": "array", "x-kubernetes-list-type": "set",
                 "items": {"type": "string"}},
        "ports": {"type": "array", "x-kubernetes-list-type": "map",
                  "x-kubernetes-list-map-keys": ["name"],
                  "items": {"type": "object", "properties": {"name": {"type": "string"}}}}}}
    obj = {"tags": ["a", "b", "a", "a"], "ports": [{"name": "http"}, {"name": "http"}]}
    assert texts(validate_list_types(obj, schema)) == [
        'tags[2]: Duplicate value: "a"',
        'ports[1]: Duplicate value: map[string]interface {}{"name":"http"}']


def test_embedded_resources_need_api_version_and_kind() -> None:
    schema = {"type": "object", "properties": {"template": {
        "type": "object", "x-kubernetes-embedded-resource": True,
        "x-kubernetes-preserve-unknown-fields": True}}}
    assert texts(validate_embedded({"template": {"kind": "Pod"}}, schema)) == [
        "template.apiVersion: Required value: must not be empty"]


def test_scale_paths_hold_int32s() -> None:
    assert validate_scale({"spec": {"replicas": 3}}, ".spec.replicas", ".status.replicas") == []
    assert texts(validate_scale({"spec": {"replicas": -1}}, ".spec.replicas", None)) == [
        ".spec.replicas: Invalid value: -1: should be a non-negative integer"]
    assert texts(validate_scale({"spec": {"replicas": "3"}}, ".spec.replicas", None)) == [
        ".spec.replicas: Invalid value: 0: .spec.replicas accessor error: 3 is of the type "
        "string, expected int64"]


def test_cel_rules_are_found() -> None:
    schema = {"type": "object", "x-kubernetes-validations": [{"rule": "true"}],
              "properties": {"spec": {"type": "object", "x-kubernetes-validations": [
                  {"rule": "self.a > 0"}]}}}
    assert cel_rule_paths(schema) == ["", "spec"]


# -- JSONPath and values ---------------------------------------------------------------------

def test_printer_column_paths() -> None:
    obj = {"spec": {"replicas": 3, "containers": [{"image": "a"}, {"image": "b"}]},
           "status": {"conditions": [{"type": "Synced", "status": "False"},
                                     {"type": "Ready", "status": "True"}]},
           "metadata": {"labels": {"app.kubernetes.io/name": "web"}}}
    assert jsonpath.first(obj, ".spec.replicas") == (3, True)
    assert jsonpath.first(obj, ".spec.containers[1].image") == ("b", True)
    assert jsonpath.first(obj, ".spec.containers[*].image") == ("a", True)
    assert jsonpath.first(obj, '.status.conditions[?(@.type=="Ready")].status') == ("True", True)
    assert jsonpath.first(obj, ".metadata.labels['app.kubernetes.io/name']") == ("web", True)
    assert jsonpath.first(obj, ".spec.missing") == (None, False)
    with pytest.raises(jsonpath.JsonPathError):
        jsonpath.parse(".spec[?(@.a > 1)]")


def test_cells_follow_column_types() -> None:
    assert jsonpath.cell("integer", 3.0) == 3
    assert jsonpath.cell("string", {"a": 1}) == '{"a":1}'
    assert jsonpath.cell("string", 1.5) == "1.5"
    assert jsonpath.cell("boolean", "yes") is None
    assert jsonpath.cell("integer", None) is None


def test_go_rendering() -> None:
    assert go_float(10.0) == "10" and go_float(1e21) == "1e+21" and go_float(0.5) == "0.5"
    assert go_value({"b": 1, "a": "x"}) == 'map[string]interface {}{"a":"x", "b":1}'
    assert go_value(["a", None]) == '[]interface {}{"a", interface {}(nil)}'


@pytest.mark.parametrize("fmt,good,bad", [
    ("date-time", "2026-01-02T03:04:05.5+01:00", "2026-13-02T03:04:05Z"),
    ("date", "2026-02-28", "2026-02-30"),
    ("uuid", "123e4567-e89b-12d3-a456-426614174000", "123e4567"),
    ("ipv6", "fd00::1", "10.0.0.1"),
    ("cidr", "10.0.0.0/8", "10.0.0.1"),
    ("mac", "01:23:45:67:89:ab", "01:23:45"),
    ("hostname", "example.com", "-bad-.com"),
    ("byte", "aGVsbG8=", "not base64!"),
    ("duration", "1h30m", "soon"),
])
def test_formats(fmt: str, good: str, bad: str) -> None:
    assert formats.checked(fmt)
    assert formats.valid(fmt, good)
    assert not formats.valid(fmt, bad)
