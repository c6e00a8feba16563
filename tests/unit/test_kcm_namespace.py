"""Namespace controller decisions: which resources it empties, how long Pods may take,
upstream's conditions (types, reasons, messages) and the finalize step."""

from __future__ import annotations

import datetime as dt

from k8snet.kcm import namespace as nsc
from k8snet.machinery import discovery
from k8snet.machinery import resources as kinds

T = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.timezone.utc)
NOW = "2024-05-01T12:00:00Z"
PODS = kinds.RESOURCES["pods"]
DEPLOY = kinds.RESOURCES["deployments"]


def discovery_of(table):
    """What the apiserver's discovery serves for `table` (its own document builders)."""
    groups = discovery.group_list(table)
    lists = {g["preferredVersion"]["groupVersion"]: discovery.resource_list(
        table, g["name"], g["preferredVersion"]["version"]) for g in groups["groups"]}
    return discovery.resource_list(table, "", "v1"), groups, lists


def test_every_deletable_namespaced_resource_once_from_discovery():
    got = nsc.deletable_resources(nsc.discovered_resources(*discovery_of(
        kinds.builtin_view())))
    every = {(i.group, i.plural) for g, v in kinds.group_versions()
             for i in kinds.resources_in(g, v) if i.namespaced and "delete" in i.verbs}
    assert sorted((i.group, i.plural) for i in got) == sorted(every)   # each once
    table = kinds.builtin_view()
    assert all(i.version == table.preferred_version(i.group) for i in got)
    assert {"pods", "deployments", "configmaps", "secrets", "jobs",
            "horizontalpodautoscalers"} <= {i.plural for i in got}
    assert all(i.namespaced and "delete" in i.verbs for i in got)
    assert "bindings" not in {i.plural for i in got}      # create-only
    twice = nsc.deletable_resources([PODS, PODS, kinds.RESOURCES["nodes"]])
    assert twice == [PODS]


def test_custom_resources_are_emptied_too():
    table = kinds.builtin_table()
    table.add(kinds.KindInfo("CronTab", "crontabs", "crontab", "stable.example.com", "v1",
                             True, ("ct",), kinds.ALL_VERBS, custom=True))
    got = nsc.deletable_resources(nsc.discovered_resources(*discovery_of(table)))
    tab = next(i for i in got if i.plural == "crontabs")
    assert (tab.group, tab.version, tab.kind) == ("stable.example.com", "v1", "CronTab")
    assert nsc.collection_path(tab, "demo") == \
        "/apis/stable.example.com/v1/namespaces/demo/crontabs"
    assert nsc.collection_path(PODS, "demo") == "/api/v1/namespaces/demo/pods"


def test_discovery_failure_condition():
    msg = nsc.discovery_failure({"metrics.k8s.io/v1beta1": "the server is unavailable"})
    assert msg == ("Discovery failed for some groups, 1 failing: unable to retrieve the "
                   "complete list of server APIs: metrics.k8s.io/v1beta1: the server is "
                   "unavailable")
    assert nsc.discovery_failure({}) is None
    conds, _ = nsc.merge_conditions([], nsc.new_conditions({}, [], NOW, msg), NOW)
    by = {c["type"]: c for c in conds}
    assert (by["NamespaceDeletionDiscoveryFailure"]["status"],
            by["NamespaceDeletionDiscoveryFailure"]["reason"]) == ("True", "DiscoveryFailed")


def pod(grace=30, phase="Running"):
    return {"spec": {"terminationGracePeriodSeconds": grace}, "status": {"phase": phase}}


def test_pod_estimate():
    assert nsc.pod_estimate([pod(30), pod(10)], "2024-05-01T11:59:50Z", T) == 30
    assert nsc.pod_estimate([pod(30)], "2024-05-01T11:59:00Z", T) == 0   # grace is over
    assert nsc.pod_estimate([pod(60, "Succeeded")], NOW, T) == 0
    assert nsc.pod_estimate([], NOW, T) == 0
    assert nsc.requeue_after(30) == 16


def test_outcomes_as_upstream():
    assert nsc.outcome(DEPLOY, "demo", [], 0) == nsc.ResourceOutcome()
    held = [{"metadata": {"finalizers": ["example.com/hold", "orphan"]}},
            {"metadata": {"finalizers": ["example.com/hold"]}}]
    out = nsc.outcome(DEPLOY, "demo", held, 0)
    assert (out.estimate, out.remaining) == (15, 2)
    assert out.finalizers == {"example.com/hold": 2, "orphan": 1}
    assert nsc.outcome(PODS, "demo", [{"metadata": {}}], 30).estimate == 30
    stuck = nsc.outcome(DEPLOY, "demo", [{"metadata": {}}], 0)
    assert stuck.error == ("unexpected items still remain in namespace: demo for gvr: "
                           "{apps v1 deployments}")


def test_conditions_reasons_and_messages():
    results = {DEPLOY: nsc.ResourceOutcome(15, 2, {"example.com/hold": 2}),
               PODS: nsc.ResourceOutcome(30, 1, {})}
    failing = nsc.new_conditions(results, [], NOW)
    conds, changed = nsc.merge_conditions([], failing, NOW)
    by = {c["type"]: c for c in conds}
    assert changed and [c["type"] for c in conds] == list(nsc.CONDITION_TYPES)
    assert by["NamespaceContentRemaining"] == {
        "type": "NamespaceContentRemaining", "status": "True", "lastTransitionTime": NOW,
        "reason": "SomeResourcesRemain", "message": "Some resources are remaining: "
        "deployments.apps has 2 resource instances, pods. has 1 resource instances"}
    assert by["NamespaceFinalizersRemaining"]["reason"] == "SomeFinalizerRemain"
    assert by["NamespaceFinalizersRemaining"]["message"] == (
        "Some finalizers are remaining: example.com/hold in 2 resource instances")
    assert by["NamespaceDeletionContentFailure"] == {
        "type": "NamespaceDeletionContentFailure", "status": "False",
        "lastTransitionTime": NOW, "reason": "ContentDeleted",
        "message": "All content successfully deleted, may be waiting on finalization"}
    assert by["NamespaceDeletionDiscoveryFailure"]["reason"] == "ResourcesDiscovered"
    # unchanged input: nothing to write; resolved: False, transition time moves
    assert nsc.merge_conditions(conds, failing, NOW) == (conds, False)
    later = "2024-05-01T12:01:00Z"
    done, changed = nsc.merge_conditions(conds, nsc.new_conditions({}, [], later), later)
    by = {c["type"]: c for c in done}
    assert changed and by["NamespaceContentRemaining"]["status"] == "False"
    assert by["NamespaceContentRemaining"]["lastTransitionTime"] == later
    assert by["NamespaceContentRemaining"]["message"] == "All content successfully removed"
    assert by["NamespaceDeletionDiscoveryFailure"]["lastTransitionTime"] == NOW


def test_content_failure_message():
    failing = nsc.new_conditions({}, ["b went wrong", "a went wrong"], NOW)
    assert failing == [{"type": "NamespaceDeletionContentFailure", "status": "True",
                        "lastTransitionTime": NOW, "reason": "ContentDeletionFailed",
                        "message": "Failed to delete all resource types, 2 remaining: "
                                   "a went wrong, b went wrong"}]


def test_finalize_removes_only_our_token():
    ns = {"spec": {"finalizers": ["kubernetes", "example.com/z", "example.com/a"]}}
    assert nsc.finalized_spec(ns) == ["example.com/a", "example.com/z"]
    assert nsc.finalized_spec({"spec": {"finalizers": ["kubernetes"]}}) == []
