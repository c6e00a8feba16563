"""Disruption controller decisions: PodDisruptionBudget status for minAvailable and
maxUnavailable, numbers and percentages, controllers' scales, recent evictions."""

from __future__ import annotations

import datetime as dt

from kcm_fixtures import T0, rs_pod, stamp

from k8snet.kcm import disruption as dis


def pdb(**spec) -> dict:
    spec.setdefault("selector", {"matchLabels": {"app": "web"}})
    return {"metadata": {"name": "web-pdb", "namespace": "default", "uid": "pdb-uid",
                         "generation": 2}, "spec": spec, "status": {}}


def rs(name: str, replicas: int, deployment: str = "") -> dict:
    md: dict = {"name": name, "namespace": "default"}
    if deployment:
        md["ownerReferences"] = [{"kind": "Deployment", "name": deployment,
                                  "controller": True}]
    return {"metadata": md, "spec": {"replicas": replicas}}


PODS = [rs_pod("a"), rs_pod("b"), rs_pod("c", ready=False)]
SCALES = dis.Scales.of([rs("rs1", 3, "web")], [{"metadata": {"name": "web",
                                                             "namespace": "default"},
                                                "spec": {"replicas": 4}}], [])


def status(budget: dict, pods=PODS, scales=SCALES) -> dict:
    return dis.budget_status(budget, pods, scales, T0).status


def test_min_available_number():
    st = status(pdb(minAvailable=1))
    assert (st["currentHealthy"], st["desiredHealthy"], st["expectedPods"],
            st["disruptionsAllowed"], st["observedGeneration"]) == (2, 1, 3, 1, 2)
    [cond] = st["conditions"]
    assert (cond["type"], cond["status"], cond["reason"]) == \
        ("DisruptionAllowed", "True", "SufficientPods")
    st = status(pdb(minAvailable=2))
    assert st["disruptionsAllowed"] == 0
    assert st["conditions"][0]["status"] == "False"
    assert st["conditions"][0]["reason"] == "InsufficientPods"


def test_percentages_and_max_unavailable_use_the_deployment_scale():
    st = status(pdb(minAvailable="50%"))  # of the Deployment's 4
    assert (st["expectedPods"], st["desiredHealthy"], st["disruptionsAllowed"]) == (4, 2, 0)
    st = status(pdb(maxUnavailable=1))
    assert (st["expectedPods"], st["desiredHealthy"], st["disruptionsAllowed"]) == (4, 3, 0)
    st = status(pdb(maxUnavailable="75%"))  # 3 of 4 may go: 1 must stay
    assert (st["desiredHealthy"], st["disruptionsAllowed"]) == (1, 1)
    scales = dis.Scales.of([rs("rs1", 3)], [], [])
    assert status(pdb(maxUnavailable=1), scales=scales)["desiredHealthy"] == 2


def test_pods_without_controller_are_left_out_with_a_warning():
    lone = rs_pod("d")
    lone["metadata"]["ownerReferences"] = []
    plan = dis.budget_status(pdb(maxUnavailable=1), PODS + [lone], SCALES, T0)
    assert plan.status["expectedPods"] == 4
    assert plan.events and plan.events[0][0] == "UnmanagedPods"


def test_unknown_controller_allows_nothing():
    st = status(pdb(maxUnavailable=1), scales=dis.Scales())
    assert st["disruptionsAllowed"] == 0
    assert st["conditions"][0]["reason"] == "SyncFailed"


def test_recent_evictions_do_not_count_as_healthy_until_they_expire():
    budget = pdb(minAvailable=1)
    budget["status"] = {"disruptedPods": {"a": stamp(T0 - dt.timedelta(seconds=30))}}
    st = status(budget)
    assert st["currentHealthy"] == 1 and st["disruptionsAllowed"] == 0
    assert st["disruptedPods"] == {"a": stamp(T0 - dt.timedelta(seconds=30))}
    assert dis.next_expiry(budget, T0) == 90
    budget["status"] = {"disruptedPods": {"a": stamp(T0 - dt.timedelta(seconds=200))}}
    st = status(budget)
    assert st["currentHealthy"] == 2 and "disruptedPods" not in st


def test_terminating_pods_are_not_healthy_and_selector_null_selects_nothing():
    going = rs_pod("a")
    going["metadata"]["deletionTimestamp"] = stamp(T0)
    assert status(pdb(minAvailable=1), pods=[going, rs_pod("b")])["currentHealthy"] == 1
    none = pdb(minAvailable=0)
    none["spec"]["selector"] = None
    assert status(none)["expectedPods"] == 0
    everything = pdb(minAvailable=0, selector={})
    assert status(everything)["expectedPods"] == 3
