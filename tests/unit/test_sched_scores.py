"""Each score plugin, and the decision with Kubernetes' FailedScheduling message."""

from __future__ import annotations

from sched_fixtures import node, pod

from k8snet.scheduler import scores as s
from k8snet.scheduler.decide import fit_error_message, schedule
from k8snet.scheduler.nodeinfo import build_node_infos

ZONE = "topology.kubernetes.io/zone"


def score(fn, p, nodes, pods=()):
    cluster = build_node_infos(nodes, pods)
    return dict(zip([i.name for i in cluster], fn(p, cluster, cluster)))


def test_least_allocated_prefers_emptier_node():
    nodes = [node("n1", cpu="2", memory="4Gi"), node("n2", cpu="2", memory="4Gi")]
    busy = [pod("x", cpu="1", memory="2Gi", node_name="n1")]
    got = score(s.least_allocated, pod("a", cpu="500m", memory="1Gi"), nodes, busy)
    assert got["n2"] > got["n1"]
    assert round(got["n2"]) == 75 and round(got["n1"]) == 25


def test_least_allocated_counts_default_requests_for_empty_pods():
    nodes = [node("n1"), node("n2")]
    got = score(s.least_allocated, pod("a"), nodes, [pod("x", node_name="n1")])
    assert got["n2"] > got["n1"]


def test_owner_spread():
    nodes = [node("n1"), node("n2"), node("n3")]
    bound = [pod("r-1", owner="rs", node_name="n1"), pod("r-2", owner="rs", node_name="n1"),
             pod("r-3", owner="rs", node_name="n2"), pod("other", owner="x", node_name="n3")]
    got = score(s.owner_spread, pod("r-4", owner="rs"), nodes, bound)
    assert got == {"n1": 0.0, "n2": 50.0, "n3": 100.0}
    assert set(score(s.owner_spread, pod("lonely"), nodes, bound).values()) == {100.0}


def test_owner_spread_counts_only_the_owner_in_the_pods_namespace():
    # the same owner uid in another namespace is not a sibling (uids are unique, but
    # a hand-written ownerReference may repeat one)
    nodes = [node("n1"), node("n2")]
    bound = [pod("r-1", owner="rs", node_name="n1", ns="other"),
             pod("r-2", owner="rs", node_name="n2"), pod("r-3", owner="rs", node_name="n2")]
    got = score(s.owner_spread, pod("r-4", owner="rs"), nodes, bound)
    assert got == {"n1": 100.0, "n2": 0.0}
    infos = build_node_infos(nodes, bound)
    assert [i.owned_by("default", "uid-rs") for i in infos] == [0, 2]
    assert infos[0].owned_by("other", "uid-rs") == 1


def test_owner_spread_weighs_zones():
    nodes = [node("n1", labels={ZONE: "a"}), node("n2", labels={ZONE: "a"}),
             node("n3", labels={ZONE: "b"})]
    bound = [pod("r-1", owner="rs", node_name="n1")]
    got = score(s.owner_spread, pod("r-2", owner="rs"), nodes, bound)
    assert got["n3"] > got["n2"] > got["n1"]


def test_preferred_node_affinity():
    p = pod("a", affinity={"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 80, "preference": {"matchExpressions": [
            {"key": "disk", "operator": "In", "values": ["ssd"]}]}},
        {"weight": 20, "preference": {"matchExpressions": [
            {"key": "net", "operator": "Exists"}]}}]}})
    nodes = [node("n1", labels={"disk": "ssd"}), node("n2", labels={"net": "10g"}),
             node("n3"), node("n4", labels={"disk": "ssd", "net": "1g"})]
    got = score(s.preferred_node_affinity, p, nodes)
    assert got == {"n1": 80.0, "n2": 20.0, "n3": 0.0, "n4": 100.0}


def test_preferred_pod_affinity_and_anti_affinity():
    def term(labels, weight):
        return {"weight": weight, "podAffinityTerm": {
            "labelSelector": {"matchLabels": labels}, "topologyKey": "kubernetes.io/hostname"}}
    p = pod("a", affinity={
        "podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            term({"app": "cache"}, 50)]},
        "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            term({"app": "noisy"}, 100)]}})
    nodes = [node("n1"), node("n2"), node("n3")]
    bound = [pod("c", labels={"app": "cache"}, node_name="n1"),
             pod("z", labels={"app": "noisy"}, node_name="n2")]
    got = score(s.preferred_pod_affinity, p, nodes, bound)
    assert got["n1"] == 100.0 and got["n2"] == 0.0 and 0 < got["n3"] < 100


def test_prefer_no_schedule():
    nodes = [node("n1", taints=[{"key": "k", "value": "v", "effect": "PreferNoSchedule"}]),
             node("n2")]
    got = score(s.prefer_no_schedule, pod("a"), nodes)
    assert got == {"n1": 0.0, "n2": 100.0}
    tolerant = pod("a", tolerations=[{"key": "k", "operator": "Exists"}])
    assert score(s.prefer_no_schedule, tolerant, nodes) == {"n1": 100.0, "n2": 100.0}


def test_fit_error_message_sorted_and_counted():
    msg = fit_error_message(4, {"node(s) didn't match Pod's node affinity/selector": 2,
                                "Insufficient cpu": 2})
    assert msg == ("0/4 nodes are available: 2 Insufficient cpu, "
                   "2 node(s) didn't match Pod's node affinity/selector.")
    assert fit_error_message(0, {}) == "no nodes available to schedule pods"


def test_schedule_issue_example():
    nodes = [node("big-hdd-1", cpu="8"), node("big-hdd-2", cpu="8"),
             node("ssd-1", cpu="1", labels={"disk": "ssd"}),
             node("ssd-2", cpu="1", labels={"disk": "ssd"})]
    d = schedule(pod("a", cpu="2", nodeSelector={"disk": "ssd"}), build_node_infos(nodes, []))
    assert d.node is None
    assert d.message == ("0/4 nodes are available: 2 Insufficient cpu, "
                         "2 node(s) didn't match Pod's node affinity/selector.")


def test_schedule_picks_feasible_best_and_spreads_replicas():
    nodes = [node("n1", labels={"disk": "ssd"}), node("n2", labels={"disk": "ssd"}),
             node("n3")]
    bound: list = []
    placed = []
    for i in range(4):
        p = pod(f"r-{i}", cpu="100m", owner="rs", nodeSelector={"disk": "ssd"})
        d = schedule(p, build_node_infos(nodes, bound))
        assert d.node in ("n1", "n2")
        p["spec"]["nodeName"] = d.node
        bound.append(p)
        placed.append(d.node)
    assert placed.count("n1") == 2 and placed.count("n2") == 2


def test_schedule_multiple_reasons_per_node_counted_each():
    nodes = [node("n1", cpu="1", memory="1Gi"), node("n2", cpu="1", memory="1Gi", ready="False")]
    d = schedule(pod("a", cpu="2", memory="2Gi"), build_node_infos(nodes, []))
    assert d.message == ("0/2 nodes are available: 1 Insufficient cpu, 1 Insufficient memory, "
                         "1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }.")
