"""Tests for k8snet.api.schema: decoding a body against the real 1.32 definitions.

Known cases check upstream's exact messages; the hypothesis tests build valid
objects of EVERY kind from its definition, then add an unknown field at a random
depth or put a wrong type somewhere, and check the walker names it (and never
raises on any JSON)."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from k8snet.api import definitions as defs
from k8snet.api import schema
from k8snet.api.goerrors import base64_error, time_error

# -- known cases: the messages a 1.32 apiserver gives ----------------------------------


def test_unknown_fields_paths_and_document_order():
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x", "bad": 1},
           "spec": {"replica": 2, "template": {"spec": {"containers": [
               {"name": "a"}, {"name": "b", "imagee": "x", "ports": [{"containerPort": 80,
                                                                    "hostport": 1}]}]}}}}
    assert schema.unknown_fields("Deployment", dep) == [
        "metadata.bad", "spec.replica", "spec.template.spec.containers[1].imagee",
        "spec.template.spec.containers[1].ports[0].hostport"]


def test_unknown_field_inside_an_unknown_field_is_not_reported():
    assert schema.unknown_fields("Pod", {"spec": {"extra": {"deeper": 1}}}) == ["spec.extra"]


def test_keys_are_case_sensitive_and_maps_take_any_key():
    pod = {"Spec": {}, "metadata": {"labels": {"Any.Key/x": "v"}, "annotations": {"a": "b"}},
           "spec": {"nodeSelector": {"k": "v"}, "containers": [
               {"name": "c", "resources": {"limits": {"cpu": "1", "example.com/gpu": 2}}}]}}
    assert schema.check("Pod", pod) == schema.Decoded(("Spec",), None)


def test_raw_and_free_form_fields_are_not_descended():
    ev = {"apiVersion": "v1", "kind": "Event", "metadata": {"managedFields": [
        {"manager": "m", "fieldsV1": {"f:spec": {"anything": {}}}}]}}
    assert schema.check("Event", ev) == schema.Decoded()
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "spec": {"versions": [{"name": "v1", "schema": {"openAPIV3Schema": {
               "type": "object", "x-kubernetes-preserve-unknown-fields": True,
               "default": {"free": {"form": 1}}, "properties": {"a": {"typo": 1}}}}}]}}
    assert schema.check("CustomResourceDefinition", crd).unknown == (
        "spec.versions[0].schema.openAPIV3Schema.properties.a.typo",)
    ctl = {"apiVersion": "apps/v1", "kind": "ControllerRevision",
           "data": {"whatever": [1, {"x": 2}]}, "revision": 1}
    assert schema.check("ControllerRevision", ctl) == schema.Decoded()


def test_same_kind_name_in_two_groups():
    body = {"note": "n", "message": "m"}
    assert schema.unknown_fields_for("events.k8s.io/v1", "Event", body) == ["message"]
    assert schema.unknown_fields_for("v1", "Event", body) == ["note"]
    assert schema.unknown_fields("Event", {"apiVersion": "events.k8s.io/v1", **body}) == \
        ["message"]
    assert schema.unknown_fields("Event", body) == ["note"]  # the served core Event
    # the preferred version, as upstream orders them (v2 before v1)
    assert schema.definition_of("HorizontalPodAutoscaler") == \
        "io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler"
    assert schema.definition_of("HorizontalPodAutoscaler", "autoscaling/v1") == \
        "io.k8s.api.autoscaling.v1.HorizontalPodAutoscaler"
    assert schema.unknown_fields("Unknown", {"x": 1}) == []
    assert schema.check("Deployment", {}, "apps/v9") == schema.Decoded()


def test_wrong_types_as_go_says():
    def err(kind, body):
        return schema.check(kind, body).error

    assert err("Deployment", {"spec": {"replicas": "3"}}) == (
        "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas "
        "of type int32")
    assert err("Deployment", {"spec": {"replicas": 1.5}}) == (
        "json: cannot unmarshal number 1.5 into Go struct field DeploymentSpec.spec.replicas "
        "of type int32")
    assert err("Deployment", {"spec": {"replicas": 2**31}}) == (
        "json: cannot unmarshal number 2147483648 into Go struct field "
        "DeploymentSpec.spec.replicas of type int32")
    assert err("Deployment", {"spec": "x"}) == (
        "json: cannot unmarshal string into Go struct field Deployment.spec of type "
        "v1.DeploymentSpec")
    assert err("Pod", {"spec": {"containers": {}}}) == (
        "json: cannot unmarshal object into Go struct field PodSpec.spec.containers of type "
        "[]v1.Container")
    assert err("Pod", {"spec": {"containers": [{"image": 5}]}}) == (
        "json: cannot unmarshal number into Go struct field Container.spec.containers.image "
        "of type string")
    assert err("Pod", {"metadata": {"labels": {"a": True}}}) == (
        "json: cannot unmarshal bool into Go struct field ObjectMeta.metadata.labels of type "
        "string")
    assert err("Pod", {"spec": {"hostNetwork": "yes"}}) == (
        "json: cannot unmarshal string into Go struct field PodSpec.spec.hostNetwork of type "
        "bool")
    assert err("Pod", {"spec": {"containers": [{"resources": {"limits": []}}]}}) == (
        "json: cannot unmarshal array into Go struct field "
        "ResourceRequirements.spec.containers.resources.limits of type v1.ResourceList")


def test_field_types_with_their_own_parsers():
    def err(kind, body):
        return schema.check(kind, body).error

    regex = "quantities must match the regular expression " \
            "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    assert err("Pod", {"spec": {"containers": [{"resources": {"limits": {"cpu": "1x"}}}]}}) \
        == regex
    assert err("Pod", {"spec": {"containers": [{"resources": {"limits": {"cpu": 0.5}}}]}}) \
        is None
    assert err("Deployment", {"spec": {"strategy": {"rollingUpdate": {"maxSurge": True}}}}) == (
        "json: cannot unmarshal bool into Go struct field "
        "RollingUpdateDeployment.spec.strategy.rollingUpdate.maxSurge of type int32")
    assert err("Deployment", {"spec": {"strategy": {"rollingUpdate": {
        "maxSurge": "25%", "maxUnavailable": 1}}}}) is None
    assert err("Pod", {"metadata": {"creationTimestamp": 5}}) == (
        "json: cannot unmarshal number into Go struct field "
        "ObjectMeta.metadata.creationTimestamp of type string")
    assert err("Pod", {"metadata": {"creationTimestamp": "2024-02-30T00:00:00Z"}}) == \
        'parsing time "2024-02-30T00:00:00Z": day out of range'
    assert err("Lease", {"spec": {"renewTime": "2024-01-01T00:00:00Z"}}) == (
        'parsing time "2024-01-01T00:00:00Z" as "2006-01-02T15:04:05.000000Z07:00": '
        'cannot parse "Z" as ".000000"')
    assert err("Lease", {"spec": {"renewTime": "2024-01-01T00:00:00.123456Z"}}) is None
    assert err("Secret", {"data": {"k": "aGVsbG8="}}) is None
    assert err("Secret", {"data": {"k": "not base64"}}) == "illegal base64 data at input byte 3"
    assert err("Secret", {"data": {"k": 5}}) == (
        "json: cannot unmarshal number into Go struct field Secret.data of type []uint8")


def test_first_saved_error_unless_a_parser_aborts():
    both = {"metadata": {"labels": {"a": 1}}, "spec": {"replicas": "x"}}
    assert "ObjectMeta.metadata.labels" in schema.check("Deployment", both).error
    aborts = {"metadata": {"labels": {"a": 1}},
              "spec": {"strategy": {"rollingUpdate": {"maxSurge": []}}}}
    assert "maxSurge" in schema.check("Deployment", aborts).error


def test_null_is_accepted_everywhere():
    body = {"metadata": None, "spec": {"replicas": None, "template": {"spec": {
        "containers": [None, {"name": None, "resources": {"limits": {"cpu": None}}}]}}}}
    assert schema.check("Deployment", body) == schema.Decoded()


def test_messages():
    assert schema.cannot_handle("Deployment", "v1", "boom") == \
        'Deployment in version "v1" cannot be handled as a Deployment: boom'
    assert schema.strict_message(["spec.foo", "spec.bar"]) == \
        'strict decoding error: unknown field "spec.foo", unknown field "spec.bar"'
    assert schema.unknown_field_warning('a"b\n') == 'unknown field "a\\"b\\n"'


def test_at_most_100_unknown_fields_each_once():
    body = {"spec": {f"f{i}": i for i in range(150)}}
    found = schema.check("Pod", body).unknown
    assert len(found) == 100 and found[0] == "spec.f0" and len(set(found)) == 100


def test_go_time_and_base64_edge_cases():
    assert time_error("2024-01-02T03:04:05+01:00") is None
    assert time_error("2024-13-01T00:00:00Z") == \
        'parsing time "2024-13-01T00:00:00Z": month out of range'
    assert time_error("2024-01-01T00:00:00Zjunk") == \
        'parsing time "2024-01-01T00:00:00Zjunk": extra text: "junk"'
    assert time_error("yesterday") == ('parsing time "yesterday" as '
                                       '"2006-01-02T15:04:05Z07:00": cannot parse "yesterday" '
                                       'as "2006"')
    assert base64_error("aGVsbA==\n") is None
    assert base64_error("aGVsbG8") == "illegal base64 data at input byte 4"
    assert base64_error("a===") == "illegal base64 data at input byte 1"


# -- every kind: generated bodies ------------------------------------------------------

def _kinds():
    seen, out = set(), []
    for (group, version, kind), name in sorted(defs.by_gvk().items()):
        if name not in seen:
            seen.add(name)
            out.append((f"{group}/{version}" if group else version, kind))
    return out


KINDS = _kinds()
SCALAR = {"string": st.text(max_size=5), "integer": st.integers(-1000, 1000),
          "number": st.floats(-1e6, 1e6, allow_nan=False), "boolean": st.booleans()}
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                    | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=10)
# the JSON kinds each generated slot accepts; a value of another kind must fail to decode
WRONG = {"string": [1, True, {}, []], "integer": ["1", True, {}, [], 1.5],
         "number": ["1", True, {}, []], "boolean": ["true", 1, {}, []],
         "object": ["x", 1, True, []], "array": ["x", 1, True, {}],
         "intorstring": [True, {}, [], 1.5], "quantity": [True, {}, [], "1x"],
         "time": [1, True, {}, [], "never"]}


class Built:
    """What the generator made: the object, its structs and its typed slots."""

    def __init__(self):
        self.structs = []   # (path, dict, property names)
        self.slots = []     # (container, key, slot kind)


def _resolve(schema_):
    name = defs.ref_name(schema_)
    return name, (defs.definition(name) if name else schema_)


def _build(data, schema_, path, depth, out, holder=None, key=None):
    name, sch = _resolve(schema_)
    if name in defs.OPAQUE or not isinstance(sch, dict):
        return data.draw(JSON)
    if name == defs.INT_OR_STRING:
        out.slots.append((holder, key, "intorstring"))
        return data.draw(st.integers(0, 100) | st.sampled_from(["25%", "http"]))
    if name == defs.QUANTITY:
        out.slots.append((holder, key, "quantity"))
        return data.draw(st.sampled_from(["1", "100m", "1Gi", 2, 0.5]))
    if name in (defs.TIME, defs.MICRO_TIME):
        out.slots.append((holder, key, "time"))
        return "2024-05-06T07:08:09.123456Z" if name == defs.MICRO_TIME else \
            "2024-05-06T07:08:09Z"
    kind, props = sch.get("type"), sch.get("properties")
    extra = sch.get("additionalProperties")
    if kind == "object" or isinstance(props, dict) or isinstance(extra, dict):
        out.slots.append((holder, key, "object"))
        obj: dict = {}
        if isinstance(extra, dict) and not isinstance(props, dict):
            for k in data.draw(st.lists(st.sampled_from(["a", "b.c", "k/8"]), unique=True,
                                        max_size=2 if depth < 6 else 0)):
                obj[k] = _build(data, extra, f"{path}.{k}" if path else k, depth + 1, out, obj, k)
            return obj
        names = sorted(props or {})
        chosen = data.draw(st.lists(st.sampled_from(names), unique=True,
                                    max_size=4 if depth < 6 else 0)) if names else []
        for k in chosen:
            obj[k] = _build(data, props[k], f"{path}.{k}" if path else k, depth + 1, out, obj, k)
        out.structs.append((path, obj, set(names)))
        return obj
    if kind == "array":
        out.slots.append((holder, key, "array"))
        items: list = []
        for i in range(data.draw(st.integers(0, 2 if depth < 6 else 0))):
            items.append(None)
            items[i] = _build(data, sch.get("items"), f"{path}[{i}]", depth + 1, out, items, i)
        return items
    if kind in SCALAR:
        if sch.get("format") == "byte":
            out.slots.append((holder, key, "string"))
            return "aGk="
        out.slots.append((holder, key, kind))
        if kind == "integer" and sch.get("format") == "int32":
            return data.draw(st.integers(-2**31, 2**31 - 1))
        return data.draw(SCALAR[kind])
    return data.draw(JSON)


def _valid(data, api_version, kind):
    group, _, version = api_version.rpartition("/")
    out = Built()
    obj = _build(data, {"$ref": defs.REF_PREFIX + defs.name_for(group, version, kind)}, "", 0,
                 out)
    return obj, out


SETTINGS = settings(max_examples=12, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.mark.parametrize("api_version,kind", KINDS)
@SETTINGS
@given(data=st.data())
def test_every_kind_names_an_injected_unknown_field(api_version, kind, data):
    obj, built = _valid(data, api_version, kind)
    assert schema.check(kind, obj, api_version) == schema.Decoded()
    path, target, names = data.draw(st.sampled_from(built.structs))
    field = data.draw(st.text(alphabet="abcxyzAZ_-.$0", min_size=1, max_size=8)
                      .filter(lambda k: k not in names))
    target[field] = data.draw(JSON)
    found = schema.check(kind, obj, api_version)
    expected = f"{path}.{field}" if path else field
    assert found.unknown == (expected,) and found.error is None
    assert schema.unknown_fields_for(api_version, kind, json.loads(json.dumps(obj))) == \
        [expected]


@pytest.mark.parametrize("api_version,kind", KINDS)
@SETTINGS
@given(data=st.data())
def test_every_kind_reports_a_wrong_type(api_version, kind, data):
    obj, built = _valid(data, api_version, kind)
    slots = [s for s in built.slots if s[0] is not None]
    if not slots:
        return
    holder, key, slot = data.draw(st.sampled_from(slots))
    holder[key] = data.draw(st.sampled_from(WRONG[slot]))
    found = schema.check(kind, obj, api_version)
    assert found.error, (slot, key, obj)
    assert found.error.startswith(("json: cannot unmarshal", "quantities must match",
                                   "parsing time"))


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from([k for _, k in KINDS]), body=JSON,
       api_version=st.none() | st.sampled_from([a for a, _ in KINDS]) | st.text(max_size=5))
def test_never_raises_on_any_json(kind, body, api_version):
    found = schema.check(kind, body, api_version)
    assert isinstance(found, schema.Decoded)
    schema.unknown_fields(kind, body)


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_never_raises_with_junk_at_any_depth(data):
    api_version, kind = data.draw(st.sampled_from(KINDS))
    obj, built = _valid(data, api_version, kind)
    for holder, key, _ in built.slots:
        if holder is not None and data.draw(st.booleans()):
            holder[key] = data.draw(JSON)
    assert isinstance(schema.check(kind, obj, api_version), schema.Decoded)


def test_deep_nesting_does_not_recurse_forever():
    deep: dict = {}
    node = deep
    for _ in range(5000):
        node["properties"] = {"x": {}}
        node = node["properties"]["x"]
    crd = {"spec": {"versions": [{"schema": {"openAPIV3Schema": deep}}]}}
    assert schema.check("CustomResourceDefinition", crd, "apiextensions.k8s.io/v1").error is None


def test_prune_drops_unknown_fields_in_place():
    dep = {"metadata": {"name": "x", "bad": 1}, "spec": {"replica": 2, "replicas": 1,
           "template": {"spec": {"containers": [{"name": "c", "imagee": "x"}]}}}}
    assert schema.prune("Deployment", dep) == [
        "metadata.bad", "spec.replica", "spec.template.spec.containers[0].imagee"]
    assert dep == {"metadata": {"name": "x"}, "spec": {"replicas": 1, "template": {"spec": {
        "containers": [{"name": "c"}]}}}}
    assert schema.prune("Nothing", {"a": 1}) == []
