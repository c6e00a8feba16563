"""Tests for k8snet.api.patch: merge patch, JSON patch, strategic merge patch."""

import copy

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from k8snet.api.patch import (
    create_merge_patch,
    json_merge_patch,
    json_patch,
    strategic_merge_patch,
)

# --------------------------------------------------------------- RFC 7386

RFC7386_EXAMPLES = [  # from RFC 7386 appendix A
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize("target,patch,result", RFC7386_EXAMPLES)
def test_merge_patch_rfc_examples(target, patch, result):
    before = copy.deepcopy(target)
    assert json_merge_patch(target, patch) == result
    assert target == before


json_leaf = st.none() | st.booleans() | st.integers() | st.text(max_size=5)
json_doc = st.recursive(
    json_leaf,
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=3), c, max_size=4),
    max_leaves=15)
null_free = st.recursive(
    st.booleans() | st.integers() | st.text(max_size=5),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=3), c, max_size=4),
    max_leaves=15)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.dictionaries(st.text(max_size=3), json_doc, max_size=5),
       st.dictionaries(st.text(max_size=3), null_free, max_size=5))
def test_merge_patch_of_diff_reproduces_target(original, target):
    assert json_merge_patch(original, create_merge_patch(original, target)) == target


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.dictionaries(st.text(max_size=3), json_doc, max_size=5),
       st.dictionaries(st.text(max_size=3), null_free, max_size=5))
def test_strategic_patch_without_lists_agrees_with_merge_patch(original, patch):
    def no_dollar(v):
        if isinstance(v, dict):
            return {k.replace("$", "_"): no_dollar(x) for k, x in v.items()}
        if isinstance(v, list):
            return [no_dollar(x) for x in v]
        return v
    original, patch = no_dollar(original), no_dollar(patch)
    assert strategic_merge_patch(original, patch, "ConfigMap") == \
        json_merge_patch(original, patch)


# --------------------------------------------------------------- RFC 6902

def test_json_patch_operations():
    doc = {"foo": ["bar", "baz"], "a": {"b": 1}, "x~y": 1, "c/d": 2}
    ops = [
        {"op": "add", "path": "/foo/1", "value": "qux"},
        {"op": "add", "path": "/foo/-", "value": "end"},
        {"op": "remove", "path": "/a/b"},
        {"op": "replace", "path": "/x~0y", "value": 5},
        {"op": "move", "from": "/c~1d", "path": "/a/moved"},
        {"op": "copy", "from": "/foo/0", "path": "/copied"},
        {"op": "test", "path": "/foo", "value": ["bar", "qux", "baz", "end"]},
    ]
    assert json_patch(doc, ops) == {"foo": ["bar", "qux", "baz", "end"], "a": {"moved": 2},
                                    "x~y": 5, "copied": "bar"}
    assert doc["foo"] == ["bar", "baz"]


@pytest.mark.parametrize("ops", [
    [{"op": "test", "path": "/a", "value": 2}],
    [{"op": "test", "path": "/a", "value": True}],
    [{"op": "remove", "path": "/missing"}],
    [{"op": "replace", "path": "/missing", "value": 1}],
    [{"op": "add", "path": "/l/5", "value": 1}],
    [{"op": "add", "path": "/l/01", "value": 1}],
    [{"op": "add", "path": "/nope/x", "value": 1}],
    [{"op": "add", "path": "a", "value": 1}],
    [{"op": "add", "path": "/a"}],
    [{"op": "frobnicate", "path": "/a"}],
    [{"op": "move", "from": "/l", "path": "/l/0"}],
    "not a list",
    [5],
])
def test_json_patch_errors(ops):
    with pytest.raises(ValueError):
        json_patch({"a": 1, "l": [1]}, ops)


def test_json_patch_test_op_compares_json_values():
    assert json_patch({"a": 1}, [{"op": "test", "path": "/a", "value": 1.0}]) == {"a": 1}
    assert json_patch({"a": [1, {"b": None}]},
                      [{"op": "test", "path": "", "value": {"a": [1, {"b": None}]}}])


# --------------------------------------------------------------- strategic merge

LIVE_DEPLOYMENT = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "default", "finalizers": ["a", "b"],
                 "annotations": {"keep": "1", "drop": "2"}},
    "spec": {
        "replicas": 3,
        "strategy": {"type": "RollingUpdate",
                     "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
            "containers": [
                {"name": "nginx", "image": "nginx:1.14", "ports": [
                    {"containerPort": 80, "protocol": "TCP"}],
                 "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
                {"name": "sidecar", "image": "busybox"},
            ],
            "tolerations": [{"key": "a", "operator": "Exists"}],
            "volumes": [{"name": "data", "emptyDir": {}}],
        }}}}


def _containers(obj):
    return obj["spec"]["template"]["spec"]["containers"]


def test_strategic_merges_containers_by_name():
    patch = {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "nginx"}, {"name": "sidecar"}],
        "containers": [{"name": "nginx", "image": "nginx:1.16"}]}}}}
    out = strategic_merge_patch(LIVE_DEPLOYMENT, patch, "Deployment")
    assert [c["name"] for c in _containers(out)] == ["nginx", "sidecar"]
    assert _containers(out)[0]["image"] == "nginx:1.16"
    assert _containers(out)[0]["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert _containers(LIVE_DEPLOYMENT)[0]["image"] == "nginx:1.14"


def test_strategic_add_delete_and_order():
    patch = {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "init"}, {"name": "nginx"}],
        "containers": [{"name": "init", "image": "alpine"},
                       {"name": "sidecar", "$patch": "delete"},
                       {"name": "nginx", "env": [{"name": "A", "$patch": "delete"},
                                                {"name": "C", "value": "3"}],
                        "ports": [{"containerPort": 8080}]}]}}}}
    out = strategic_merge_patch(LIVE_DEPLOYMENT, patch, "Deployment")
    cs = _containers(out)
    assert [c["name"] for c in cs] == ["init", "nginx"]
    assert cs[1]["env"] == [{"name": "B", "value": "2"}, {"name": "C", "value": "3"}]
    assert [p["containerPort"] for p in cs[1]["ports"]] == [80, 8080]


def test_strategic_atomic_lists_are_replaced_and_nulls_delete():
    patch = {"metadata": {"annotations": {"drop": None}},
             "spec": {"template": {"spec": {"tolerations": [{"key": "b",
                                                            "operator": "Exists"}]}}}}
    out = strategic_merge_patch(LIVE_DEPLOYMENT, patch, "Deployment")
    assert out["metadata"]["annotations"] == {"keep": "1"}
    assert out["spec"]["template"]["spec"]["tolerations"] == [{"key": "b",
                                                               "operator": "Exists"}]


def test_strategic_directives():
    out = strategic_merge_patch(LIVE_DEPLOYMENT, {"spec": {"strategy": {
        "$retainKeys": ["type"], "type": "Recreate"}}}, "Deployment")
    assert out["spec"]["strategy"] == {"type": "Recreate"}
    out = strategic_merge_patch(LIVE_DEPLOYMENT, {"spec": {"template": {"spec": {
        "containers": [{"name": "only", "image": "x"}, {"$patch": "replace"}]}}}}, "Deployment")
    assert _containers(out) == [{"name": "only", "image": "x"}]
    out = strategic_merge_patch(LIVE_DEPLOYMENT, {"spec": {"strategy": {
        "$patch": "replace", "type": "Recreate"}}}, "Deployment")
    assert out["spec"]["strategy"] == {"type": "Recreate"}
    out = strategic_merge_patch(LIVE_DEPLOYMENT, {"spec": {"strategy": {"$patch": "delete"}}},
                                "Deployment")
    assert "strategy" not in out["spec"]
    out = strategic_merge_patch(LIVE_DEPLOYMENT, {"metadata": {
        "$deleteFromPrimitiveList/finalizers": ["a"], "finalizers": ["c"]}}, "Deployment")
    assert out["metadata"]["finalizers"] == ["b", "c"]
    out = strategic_merge_patch(LIVE_DEPLOYMENT, {"metadata": {"finalizers": ["b", "z"]}},
                                "Deployment")
    assert out["metadata"]["finalizers"] == ["a", "b", "z"]


def test_strategic_service_ports_by_port_and_conditions_by_type():
    svc = {"spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080},
                              {"name": "https", "port": 443}]}}
    out = strategic_merge_patch(svc, {"spec": {"ports": [{"port": 80, "targetPort": 9090}]}},
                                "Service")
    assert out["spec"]["ports"][0] == {"name": "http", "port": 80, "targetPort": 9090}
    assert len(out["spec"]["ports"]) == 2
    pod = {"status": {"conditions": [{"type": "Ready", "status": "False"},
                                     {"type": "PodScheduled", "status": "True"}]}}
    out = strategic_merge_patch(pod, {"status": {"conditions": [
        {"type": "Ready", "status": "True"}]}}, "Pod")
    assert out["status"]["conditions"] == [{"type": "Ready", "status": "True"},
                                           {"type": "PodScheduled", "status": "True"}]


@pytest.mark.parametrize("patch", [
    {"spec": {"template": {"spec": {"containers": [{"image": "no-name"}]}}}},
    {"spec": {"template": {"spec": {"containers": ["string"]}}}},
    {"spec": {"$patch": "explode"}},
    {"spec": {"$unknownDirective": 1}},
    {"$patch": "delete"},
    {"metadata": {"$retainKeys": "name"}},
    "not an object",
])
def test_strategic_errors(patch):
    with pytest.raises(ValueError):
        strategic_merge_patch(LIVE_DEPLOYMENT, patch, "Deployment")


names = st.sampled_from(["a", "b", "c", "d", "e"])


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(names, unique=True, max_size=5), st.lists(names, unique=True, max_size=5),
       st.sampled_from(["1", "2"]))
def test_kubectl_style_container_patch_property(live_names, wanted_names, image):
    """A kubectl-apply-like patch (deletes, updates, order) yields exactly the wanted list."""
    live = {"spec": {"containers": [{"name": n, "image": "old", "extra": n}
                                    for n in live_names]}}
    patch_items = [{"name": n, "image": image} for n in wanted_names]
    patch_items += [{"name": n, "$patch": "delete"} for n in live_names
                    if n not in wanted_names]
    patch = {"spec": {"$setElementOrder/containers": [{"name": n} for n in wanted_names],
                      "containers": patch_items}}
    out = strategic_merge_patch(live, patch, "Pod")
    assert [c["name"] for c in out["spec"]["containers"]] == wanted_names
    for c in out["spec"]["containers"]:
        assert c["image"] == image
        assert ("extra" in c) == (c["name"] in live_names)


patch_keys = st.sampled_from(["spec", "template", "containers", "name", "image", "ports",
                              "containerPort", "$patch", "$retainKeys", "metadata",
                              "finalizers", "$setElementOrder/containers",
                              "$deleteFromPrimitiveList/finalizers", "x"])
patch_doc = st.recursive(
    json_leaf | st.sampled_from(["replace", "delete", "merge"]),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(patch_keys, c, max_size=4),
    max_leaves=20)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.dictionaries(patch_keys, patch_doc, max_size=4))
def test_strategic_patch_fuzz_only_value_errors(patch):
    try:
        out = strategic_merge_patch(LIVE_DEPLOYMENT, patch, "Deployment")
    except ValueError:
        return
    assert isinstance(out, dict)


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.dictionaries(patch_keys, patch_doc, max_size=4), st.booleans())
def test_server_side_apply_fuzz_only_value_errors_or_conflicts(applied, force):
    from k8snet.api.patch import ApplyConflict, server_side_apply
    live = server_side_apply(None, LIVE_DEPLOYMENT, "first", False, "Deployment", "t0")
    try:
        out = server_side_apply(live, applied, "second", force, "Deployment", "t1")
    except (ValueError, ApplyConflict):
        return
    assert isinstance(out["metadata"]["managedFields"], list)
