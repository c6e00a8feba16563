"""Tests for server-side apply and managedFields (k8snet.api.apply via k8snet.api.patch)."""

import copy

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from k8snet.api.apply import field_set, fields_v1, parse_fields_v1, path_string
from k8snet.api.patch import ApplyConflict, server_side_apply, track_update


def _deployment(replicas=2, image="nginx:1.14", labels=None, containers=None):
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default",
                     "labels": labels if labels is not None else {"app": "web"}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                     "containers": containers or [
                         {"name": "nginx", "image": image,
                          "ports": [{"containerPort": 80}]}]}}}}


def _managers(obj):
    return [(e["manager"], e["operation"]) for e in obj["metadata"]["managedFields"]]


def test_apply_creates_with_managed_fields_in_kubernetes_notation():
    out = server_side_apply(None, _deployment(), "kubectl", False, "Deployment",
                            "2025-01-01T00:00:00Z")
    [entry] = out["metadata"]["managedFields"]
    assert {k: entry[k] for k in ("manager", "operation", "apiVersion", "time", "fieldsType")} \
        == {"manager": "kubectl", "operation": "Apply", "apiVersion": "apps/v1",
            "time": "2025-01-01T00:00:00Z", "fieldsType": "FieldsV1"}
    fields = entry["fieldsV1"]
    assert fields["f:metadata"] == {"f:labels": {"f:app": {}}}
    container = fields["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"nginx"}']
    assert list(container)[0] == "."
    assert container["f:image"] == {} and container["f:name"] == {}
    assert 'k:{"containerPort":80,"protocol":"TCP"}' in container["f:ports"]
    assert "f:name" not in fields["f:metadata"]
    assert out["spec"]["replicas"] == 2 and out["kind"] == "Deployment"


def test_reapply_same_manager_changes_values_without_conflict():
    live = server_side_apply(None, _deployment(), "kubectl", False, "Deployment", "t1")
    out = server_side_apply(live, _deployment(replicas=4, image="nginx:1.16"), "kubectl",
                            False, "Deployment", "t2")
    assert out["spec"]["replicas"] == 4
    assert out["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.16"
    assert _managers(out) == [("kubectl", "Apply")]
    assert out["metadata"]["managedFields"][0]["time"] == "t2"


def test_conflict_with_other_manager_then_force():
    live = server_side_apply(None, _deployment(), "kubectl", False, "Deployment", "t1")
    scaled = copy.deepcopy(live)
    scaled["spec"]["replicas"] = 5
    scaled = track_update(live, scaled, "kube-controller-manager", "t2", "Deployment")
    assert _managers(scaled) == [("kubectl", "Apply"), ("kube-controller-manager", "Update")]
    with pytest.raises(ApplyConflict) as exc:
        server_side_apply(scaled, _deployment(replicas=3), "kubectl", False, "Deployment",
                          "t3")
    assert exc.value.pairs == [(".spec.replicas", "kube-controller-manager")]
    assert exc.value.conflicts[0]["message"] == \
        'conflict with "kube-controller-manager" using apps/v1'
    assert str(exc.value) == ('Apply failed with 1 conflict: conflict with '
                              '"kube-controller-manager" using apps/v1: .spec.replicas')
    # same value as the other manager: no conflict, shared ownership
    shared = server_side_apply(scaled, _deployment(replicas=5), "kubectl", False,
                               "Deployment", "t3")
    assert len(shared["metadata"]["managedFields"]) == 2
    forced = server_side_apply(scaled, _deployment(replicas=3), "kubectl", True,
                               "Deployment", "t3")
    assert forced["spec"]["replicas"] == 3
    assert _managers(forced) == [("kubectl", "Apply")]


def test_conflict_on_container_image_names_the_path():
    live = server_side_apply(None, _deployment(), "alice", False, "Deployment", "t1")
    with pytest.raises(ApplyConflict) as exc:
        server_side_apply(live, _deployment(image="nginx:2"), "bob", False, "Deployment", "t2")
    assert exc.value.pairs == [
        ('.spec.template.spec.containers[name="nginx"].image', "alice")]


def test_omitted_fields_are_removed_unless_someone_else_owns_them():
    live = server_side_apply(None, _deployment(labels={"app": "web", "tier": "fe"}),
                             "kubectl", False, "Deployment", "t1")
    out = server_side_apply(live, _deployment(), "kubectl", False, "Deployment", "t2")
    assert out["metadata"]["labels"] == {"app": "web"}
    both = server_side_apply(live, {"apiVersion": "apps/v1", "kind": "Deployment",
                                    "metadata": {"name": "web", "labels": {"tier": "fe"}}},
                             "other", False, "Deployment", "t2")
    kept = server_side_apply(both, _deployment(), "kubectl", False, "Deployment", "t3")
    assert kept["metadata"]["labels"] == {"app": "web", "tier": "fe"}


def test_removed_container_goes_but_another_managers_container_stays():
    two = [{"name": "nginx", "image": "nginx"}, {"name": "log", "image": "busybox"}]
    live = server_side_apply(None, _deployment(containers=two), "kubectl", False,
                             "Deployment", "t1")
    out = server_side_apply(live, _deployment(containers=two[:1]), "kubectl", False,
                            "Deployment", "t2")
    assert [c["name"] for c in out["spec"]["template"]["spec"]["containers"]] == ["nginx"]
    sidecar = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
               "spec": {"template": {"spec": {"containers": [
                   {"name": "mesh", "image": "envoy"}]}}}}
    with_mesh = server_side_apply(out, sidecar, "injector", False, "Deployment", "t3")
    names = [c["name"] for c in with_mesh["spec"]["template"]["spec"]["containers"]]
    assert names == ["nginx", "mesh"]
    again = server_side_apply(with_mesh, _deployment(containers=two[:1]), "kubectl", False,
                              "Deployment", "t4")
    assert [c["name"] for c in again["spec"]["template"]["spec"]["containers"]] == \
        ["nginx", "mesh"]


def test_apply_ignores_status_and_system_metadata():
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "p", "uid": "u", "resourceVersion": "5"},
           "spec": {"containers": [{"name": "c", "image": "i"}]},
           "status": {"phase": "Running"}}
    paths = field_set(pod, "Pod")
    assert all(p[0] == "f:spec" for p in paths)
    live = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "image": "i"}]},
            "status": {"phase": "Pending"}}
    out = server_side_apply(live, pod, "m", False, "Pod", "t")
    assert out["status"] == {"phase": "Pending"}


def test_status_updates_are_tracked_separately():
    live = server_side_apply(None, _deployment(), "kubectl", False, "Deployment", "t1")
    new = copy.deepcopy(live)
    new["status"] = {"replicas": 2, "conditions": [{"type": "Available", "status": "True"}]}
    out = track_update(live, new, "kube-controller-manager", "t2", "Deployment", "status")
    entry = out["metadata"]["managedFields"][-1]
    assert entry["subresource"] == "status" and entry["operation"] == "Update"
    assert set(entry["fieldsV1"]["f:status"]) == {"f:replicas", "f:conditions"}
    assert 'k:{"type":"Available"}' in entry["fieldsV1"]["f:status"]["f:conditions"]
    assert out["metadata"]["managedFields"][0]["manager"] == "kubectl"


def test_apply_errors():
    with pytest.raises(ValueError):
        server_side_apply(None, ["not", "an", "object"], "m", False, "Pod", "t")
    with pytest.raises(ValueError):
        server_side_apply(None, {"kind": "Pod"}, "", False, "Pod", "t")


def test_path_string():
    assert path_string(("f:spec", "f:ports", 'k:{"port":80,"protocol":"TCP"}', "f:name")) == \
        '.spec.ports[port=80,protocol="TCP"].name'


steps = st.sampled_from(["f:a", "f:b", "f:spec", 'k:{"name":"x"}', 'v:"fin"', "f:c"])


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sets(st.lists(steps, min_size=1, max_size=4).map(tuple), max_size=8))
def test_fields_v1_roundtrip(paths):
    assert parse_fields_v1(fields_v1(paths)) == paths


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), st.sampled_from(["1", "2"]),
                       max_size=4),
       st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), st.sampled_from(["1", "2"]),
                       max_size=4))
def test_reapply_by_one_manager_converges_to_config(first, second):
    def cfg(labels):
        return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s",
                                                                   "labels": labels}}
    live = server_side_apply(None, cfg(first), "m", False, "Service", "t1")
    out = server_side_apply(live, cfg(second), "m", False, "Service", "t2")
    assert (out["metadata"].get("labels") or {}) == second


def test_conflict_message_names_the_subresource():
    live = server_side_apply(None, _deployment(), "kubectl", False, "Deployment", "t1")
    scaled = copy.deepcopy(live)
    scaled["spec"]["replicas"] = 7
    scaled = track_update(live, scaled, "kubectl", "t2", "Deployment", "scale")
    with pytest.raises(ApplyConflict) as exc:
        server_side_apply(scaled, _deployment(replicas=3), "kubectl", False, "Deployment",
                          "t3")
    assert str(exc.value) == ('Apply failed with 1 conflict: conflict with "kubectl" with '
                              'subresource "scale" using apps/v1: .spec.replicas')


json_doc = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=4),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(
        st.sampled_from(["metadata", "spec", "status", "containers", "name", "image",
                         "conditions", "type", "managedFields", "fieldsV1", "x"]), c,
        max_size=4),
    max_leaves=20)


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(json_doc, json_doc, st.sampled_from([None, "status", "scale"]))
def test_track_update_never_raises(old, new, subresource):
    base = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}
    old_obj = {**base, **old} if isinstance(old, dict) else None
    new_obj = {**base, **new} if isinstance(new, dict) else base
    out = track_update(old_obj, new_obj, "m", "t", "Pod", subresource)
    assert isinstance(out, dict)
