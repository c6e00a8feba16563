"""DaemonSet decisions: placement (selectors, affinity, taints and the daemon
tolerations), rolling updates with maxUnavailable / maxSurge, OnDelete, status; and
the ControllerRevision history they share with StatefulSets."""

from __future__ import annotations

import datetime as dt
from typing import Optional

from kcm_fixtures import T0, stamp

from k8snet.kcm import daemonset as dsc
from k8snet.kcm import history

DS_UID = "ds-uid"


def ds(strategy: Optional[dict] = None, generation: int = 1, **pod_spec) -> dict:
    spec = {"containers": [{"name": "agent", "image": "fluentd"}]}
    spec.update(pod_spec)
    return {"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "agent", "namespace": "default", "uid": DS_UID,
                         "generation": generation},
            "spec": {"selector": {"matchLabels": {"app": "agent"}},
                     "template": {"metadata": {"labels": {"app": "agent"}}, "spec": spec},
                     "updateStrategy": strategy or {"type": "RollingUpdate"}},
            "status": {}}


def node(name: str, labels: Optional[dict] = None, taints: Optional[list] = None,
         ready: bool = True) -> dict:
    return {"metadata": {"name": name, "labels": dict(labels or {},
                                                      **{"kubernetes.io/hostname": name})},
            "spec": {"taints": taints or []},
            "status": {"conditions": [{"type": "Ready", "status": str(ready)}]}}


def pod(name: str, node_name: str, hash_: str = "h1", ready: bool = True,
        created: dt.datetime = T0, phase: str = "Running", bound: bool = True) -> dict:
    spec: dict = {}
    if bound:
        spec["nodeName"] = node_name
    else:
        spec["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchFields": [
                {"key": "metadata.name", "operator": "In", "values": [node_name]}]}]}}}
    return {"metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}",
                         "creationTimestamp": stamp(created),
                         "labels": {"app": "agent", history.HASH_LABEL: hash_},
                         "ownerReferences": [{"kind": "DaemonSet", "uid": DS_UID,
                                              "controller": True, "name": "agent"}]},
            "spec": spec,
            "status": {"phase": phase, "conditions": [
                {"type": "Ready", "status": str(ready), "lastTransitionTime": stamp(T0)}]}}


NODES = [node("n1"), node("n2"), node("n3")]


def test_one_pod_per_node_pinned_by_match_fields():
    plan = dsc.reconcile_daemonset(ds(), NODES, [pod("a", "n1")], "h1", T0)
    assert plan.create == ["n2", "n3"] and not plan.delete
    p = dsc.pod_for_node(ds(), "n2", "h1")
    terms = p["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms == [{"matchFields": [{"key": "metadata.name", "operator": "In",
                                       "values": ["n2"]}]}]
    assert p["metadata"]["labels"] == {"app": "agent", "controller-revision-hash": "h1",
                                       "pod-template-generation": "1"}
    assert p["metadata"]["generateName"] == "agent-"
    keys = {(t["key"], t["effect"]) for t in p["spec"]["tolerations"]}
    assert ("node.kubernetes.io/not-ready", "NoExecute") in keys
    assert ("node.kubernetes.io/unschedulable", "NoSchedule") in keys
    assert ("node.kubernetes.io/network-unavailable", "NoSchedule") not in keys
    host = dsc.pod_for_node(ds(hostNetwork=True), "n2", "h1")
    assert {"key": "node.kubernetes.io/network-unavailable", "operator": "Exists",
            "effect": "NoSchedule"} in host["spec"]["tolerations"]


def test_unbound_pod_counts_for_its_node():
    plan = dsc.reconcile_daemonset(ds(), NODES[:1], [pod("a", "n1", bound=False)], "h1", T0)
    assert not plan.create and plan.status["currentNumberScheduled"] == 1


def test_node_selector_and_taints_decide_eligibility():
    nodes = [node("n1", {"disk": "ssd"}), node("n2"),
             node("cp", {"disk": "ssd"}, [{"key": "node-role.kubernetes.io/control-plane",
                                            "effect": "NoSchedule"}]),
             node("sick", {"disk": "ssd"}, [{"key": "node.kubernetes.io/not-ready",
                                              "effect": "NoExecute"}], ready=False)]
    plan = dsc.reconcile_daemonset(ds(nodeSelector={"disk": "ssd"}), nodes, [], "h1", T0)
    assert plan.create == ["n1", "sick"]  # not-ready is tolerated by every daemon Pod
    assert plan.status["desiredNumberScheduled"] == 2
    tolerant = ds(nodeSelector={"disk": "ssd"}, tolerations=[
        {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists",
         "effect": "NoSchedule"}])
    assert dsc.reconcile_daemonset(tolerant, nodes, [], "h1", T0).create == ["cp", "n1", "sick"]


def test_no_schedule_taint_keeps_a_running_pod_no_execute_evicts_it():
    tainted = [node("n1", taints=[{"key": "k", "effect": "NoSchedule"}])]
    plan = dsc.reconcile_daemonset(ds(), tainted, [pod("a", "n1")], "h1", T0)
    assert not plan.delete and plan.status["numberMisscheduled"] == 1
    evicting = [node("n1", taints=[{"key": "k", "effect": "NoExecute"}])]
    plan = dsc.reconcile_daemonset(ds(), evicting, [pod("a", "n1")], "h1", T0)
    assert plan.delete == ["a"]


def test_extra_failed_and_stray_pods_are_deleted():
    pods = [pod("a", "n1"), pod("b", "n1", created=T0 + dt.timedelta(seconds=5)),
            pod("c", "n2", phase="Failed"), pod("d", "gone")]
    plan = dsc.reconcile_daemonset(ds(), NODES, pods, "h1", T0)
    assert sorted(plan.delete) == ["b", "c", "d"]
    assert plan.create == ["n3"]


def test_rolling_update_respects_max_unavailable():
    pods = [pod("a", "n1", "old"), pod("b", "n2", "old"), pod("c", "n3", "old")]
    plan = dsc.reconcile_daemonset(ds(), NODES, pods, "new", T0)
    assert plan.delete == ["a"] and not plan.create
    assert plan.status["updatedNumberScheduled"] == 0
    # n1 was replaced and its new Pod is not ready yet: nothing more goes
    pods = [pod("a2", "n1", "new", ready=False), pod("b", "n2", "old"), pod("c", "n3", "old")]
    plan = dsc.reconcile_daemonset(ds(), NODES, pods, "new", T0)
    assert plan.delete == [] and plan.status["updatedNumberScheduled"] == 1
    # an unavailable old Pod goes at once, whatever the budget
    pods = [pod("a2", "n1", "new", ready=False), pod("b", "n2", "old", ready=False),
            pod("c", "n3", "old")]
    assert dsc.reconcile_daemonset(ds(), NODES, pods, "new", T0).delete == ["b"]
    wide = ds({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "100%"}})
    pods = [pod("a", "n1", "old"), pod("b", "n2", "old"), pod("c", "n3", "old")]
    assert dsc.reconcile_daemonset(wide, NODES, pods, "new", T0).delete == ["a", "b", "c"]


def test_rolling_update_with_max_surge_starts_new_before_old_goes():
    surge = ds({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1,
                                                           "maxUnavailable": 0}})
    pods = [pod("a", "n1", "old"), pod("b", "n2", "old")]
    plan = dsc.reconcile_daemonset(surge, NODES[:2], pods, "new", T0)
    assert plan.create == ["n1"] and not plan.delete
    pods.append(pod("a2", "n1", "new", ready=False, created=T0 + dt.timedelta(seconds=1)))
    plan = dsc.reconcile_daemonset(surge, NODES[:2], pods, "new", T0)
    assert not plan.create and not plan.delete
    pods[-1] = pod("a2", "n1", "new", created=T0 + dt.timedelta(seconds=1))
    plan = dsc.reconcile_daemonset(surge, NODES[:2], pods, "new", T0)
    assert plan.delete == ["a"] and not plan.create


def test_on_delete_replaces_only_deleted_pods():
    on_delete = ds({"type": "OnDelete"})
    pods = [pod("a", "n1", "old"), pod("b", "n2", "old")]
    plan = dsc.reconcile_daemonset(on_delete, NODES, pods, "new", T0)
    assert plan.create == ["n3"] and not plan.delete


def test_status_counts():
    pods = [pod("a", "n1", "new"), pod("b", "n2", "old", ready=False)]
    st = dsc.reconcile_daemonset(ds(generation=4), NODES, pods, "new", T0).status
    assert st == {"currentNumberScheduled": 2, "numberMisscheduled": 0,
                  "desiredNumberScheduled": 3, "numberReady": 1, "observedGeneration": 4,
                  "updatedNumberScheduled": 1, "numberAvailable": 1, "numberUnavailable": 2}


def test_revisions_created_renumbered_and_pruned():
    owner = ds()
    plan = history.plan_revisions(owner, "DaemonSet", [], set())
    assert plan.number == 1 and plan.create["revision"] == 1
    rev = plan.create
    assert rev["metadata"]["name"] == f"agent-{plan.hash}"
    assert rev["metadata"]["labels"]["controller-revision-hash"] == plan.hash
    assert rev["data"]["spec"]["template"]["$patch"] == "replace"
    rev["metadata"]["uid"] = "r1"
    same = history.plan_revisions(owner, "DaemonSet", [rev], set())
    assert same.create is None and same.number == 1 and not same.renumber

    def old(n: int) -> dict:
        return {"metadata": {"name": f"agent-old{n}", "namespace": "default",
                             "labels": {"controller-revision-hash": f"old{n}"},
                             "ownerReferences": [{"uid": DS_UID, "controller": True}]},
                "revision": n}
    olds = [old(n) for n in range(2, 6)]
    plan = history.plan_revisions(owner, "DaemonSet", [rev] + olds, {"old2"}, limit=2)
    assert plan.renumber == {rev["metadata"]["name"]: 6}
    assert plan.delete == ["agent-old3"]  # old2 is still used by a live Pod
