"""NoExecute taints other than the node condition ones: Pods that do not tolerate them go
at once, tolerationSeconds are counted from timeAdded or from when the taint was seen."""

from __future__ import annotations

import datetime as dt

from kcm_fixtures import T0, rs_pod

from k8snet.kcm import nodelifecycle as nl


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def tainted(time_added: str = "") -> dict:
    taint = {"key": "dedicated", "value": "db", "effect": "NoExecute"}
    if time_added:
        taint["timeAdded"] = time_added
    return {"metadata": {"name": "n1"}, "spec": {"taints": [taint]},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}}


def pods() -> list[dict]:
    plain, brief, forever, other = (rs_pod(n) for n in ("plain", "brief", "forever", "other"))
    brief["spec"]["tolerations"] = [{"key": "dedicated", "operator": "Equal", "value": "db",
                                     "effect": "NoExecute", "tolerationSeconds": 60}]
    forever["spec"]["tolerations"] = [{"key": "dedicated", "operator": "Exists"}]
    other["spec"]["tolerations"] = [{"key": "dedicated", "operator": "Equal", "value": "web",
                                     "effect": "NoExecute"}]
    return [plain, brief, forever, other]


def test_untolerated_go_at_once_toleration_seconds_counted_from_time_added():
    node = tainted("2024-05-01T12:00:00Z")
    health = nl.NodeHealth(("r", None), at(100))  # heartbeats keep coming
    assert nl.decide_node(node, health, pods(), at(1), 20, 30).evict == \
        ["default/plain", "default/other"]
    # tolerationSeconds are not capped by the eviction timeout for such taints
    assert "default/brief" not in nl.decide_node(node, health, pods(), at(45), 20, 30).evict
    assert nl.decide_node(node, health, pods(), at(60), 20, 30).evict == \
        ["default/plain", "default/brief", "default/other"]


def test_a_taint_without_time_added_is_dated_when_first_seen():
    node = tainted()
    health = nl.NodeHealth(("r", None), at(100))
    seen = {nl.taint_key(node["spec"]["taints"][0]): at(10)}
    assert "default/brief" not in nl.decide_node(node, health, pods(), at(69), 20, 30,
                                                 seen).evict
    assert "default/brief" in nl.decide_node(node, health, pods(), at(70), 20, 30,
                                             seen).evict
    assert nl.taint_key(node["spec"]["taints"][0]) == "dedicated=db:NoExecute"
