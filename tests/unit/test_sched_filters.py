"""Each scheduler filter, one constraint at a time."""

from __future__ import annotations

from sched_fixtures import node, pod

from k8snet.scheduler import filters as f
from k8snet.scheduler.matching import (
    requirement_matches,
    resolve_namespace_selectors,
    toleration_matches,
)
from k8snet.scheduler.nodeinfo import build_node_infos, pod_requests


def infos(nodes, pods=()):
    return build_node_infos(nodes, pods)


def check(fn, p, nodes, pods=(), index=0):
    cluster = infos(nodes, pods)
    return fn(p, cluster[index], cluster)


# -- resources -------------------------------------------------------------

def test_pod_requests_sums_containers_and_init_max():
    p = pod("a", cpu="200m", memory="1Gi")
    p["spec"]["containers"].append({"name": "d", "resources": {"requests": {"cpu": "0.3"}}})
    p["spec"]["initContainers"] = [{"name": "i", "resources": {"requests": {"cpu": "1"}}}]
    r = pod_requests(p)
    assert (r.milli_cpu, r.memory, r.pods) == (1000, 2**30, 1)


def test_resources_fit_counts_bound_pods():
    n = node("n1", cpu="1", memory="1Gi")
    bound = [pod("x", cpu="600m", node_name="n1")]
    assert check(f.resources_fit, pod("a", cpu="400m"), [n], bound) == []
    assert check(f.resources_fit, pod("a", cpu="500m"), [n], bound) == ["Insufficient cpu"]
    assert check(f.resources_fit, pod("a", memory="2Gi"), [n]) == ["Insufficient memory"]
    both = check(f.resources_fit, pod("a", cpu="2", memory="2Gi"), [n])
    assert both == ["Insufficient cpu", "Insufficient memory"]


def test_resources_fit_ignores_terminal_pods_and_other_nodes():
    n = node("n1", cpu="1")
    others = [pod("done", cpu="1", node_name="n1", phase="Succeeded"),
              pod("elsewhere", cpu="1", node_name="n2")]
    assert check(f.resources_fit, pod("a", cpu="1"), [n], others) == []


def test_too_many_pods():
    n = node("n1", pods="2")
    bound = [pod("x", node_name="n1"), pod("y", node_name="n1")]
    assert check(f.resources_fit, pod("a"), [n], bound) == ["Too many pods"]
    assert check(f.resources_fit, pod("a"), [n], bound[:1]) == []


def test_zero_request_pod_fits_full_node():
    n = node("n1", cpu="1")
    assert check(f.resources_fit, pod("a"), [n], [pod("x", cpu="1", node_name="n1")]) == []


# -- node selector and affinity --------------------------------------------

def test_node_selector_disk_ssd():
    p = pod("a", nodeSelector={"disk": "ssd"})
    assert check(f.node_affinity, p, [node("n1", labels={"disk": "ssd"})]) == []
    assert check(f.node_affinity, p, [node("n1", labels={"disk": "hdd"})]) == [f.NODE_AFFINITY]
    assert check(f.node_affinity, p, [node("n1")]) == [f.NODE_AFFINITY]


def affinity_pod(*terms):
    return pod("a", affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": list(terms)}}})


def test_requirement_operators():
    labels = {"zone": "a", "cores": "8"}
    assert requirement_matches({"key": "zone", "operator": "In", "values": ["a", "b"]}, labels)
    assert not requirement_matches({"key": "zone", "operator": "In", "values": ["b"]}, labels)
    assert requirement_matches({"key": "zone", "operator": "NotIn", "values": ["b"]}, labels)
    assert requirement_matches({"key": "gpu", "operator": "NotIn", "values": ["x"]}, labels)
    assert not requirement_matches({"key": "zone", "operator": "NotIn", "values": ["a"]}, labels)
    assert requirement_matches({"key": "zone", "operator": "Exists"}, labels)
    assert not requirement_matches({"key": "gpu", "operator": "Exists"}, labels)
    assert requirement_matches({"key": "gpu", "operator": "DoesNotExist"}, labels)
    assert not requirement_matches({"key": "zone", "operator": "DoesNotExist"}, labels)
    assert requirement_matches({"key": "cores", "operator": "Gt", "values": ["4"]}, labels)
    assert not requirement_matches({"key": "cores", "operator": "Gt", "values": ["8"]}, labels)
    assert requirement_matches({"key": "cores", "operator": "Lt", "values": ["9"]}, labels)
    assert not requirement_matches({"key": "zone", "operator": "Lt", "values": ["9"]}, labels)
    assert not requirement_matches({"key": "gpu", "operator": "Gt", "values": ["1"]}, labels)


def test_required_node_affinity_terms_are_ored_expressions_anded():
    p = affinity_pod(
        {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]},
                              {"key": "gpu", "operator": "DoesNotExist"}]},
        {"matchExpressions": [{"key": "big", "operator": "Exists"}]})
    assert check(f.node_affinity, p, [node("n1", labels={"disk": "ssd"})]) == []
    assert check(f.node_affinity, p, [node("n1", labels={"big": "1"})]) == []
    assert check(f.node_affinity, p, [node("n1", labels={"disk": "ssd", "gpu": "y"})]) \
        == [f.NODE_AFFINITY]


def test_match_fields_metadata_name():
    p = affinity_pod({"matchFields": [{"key": "metadata.name", "operator": "In",
                                       "values": ["n2"]}]})
    nodes = [node("n1"), node("n2")]
    assert check(f.node_affinity, p, nodes, index=0) == [f.NODE_AFFINITY]
    assert check(f.node_affinity, p, nodes, index=1) == []


def test_empty_term_matches_nothing():
    assert check(f.node_affinity, affinity_pod({}), [node("n1")]) == [f.NODE_AFFINITY]


# -- taints, tolerations, unschedulable, readiness --------------------------

def test_taints_no_schedule_and_no_execute():
    for effect in ("NoSchedule", "NoExecute"):
        n = node("n1", taints=[{"key": "dedicated", "value": "db", "effect": effect}])
        assert check(f.taint_toleration, pod("a"), [n]) == \
            ["node(s) had untolerated taint {dedicated: db}"]
        ok = pod("a", tolerations=[{"key": "dedicated", "operator": "Equal", "value": "db",
                                    "effect": effect}])
        assert check(f.taint_toleration, ok, [n]) == []
        wrong_value = pod("a", tolerations=[{"key": "dedicated", "value": "web"}])
        assert check(f.taint_toleration, wrong_value, [n]) != []


def test_prefer_no_schedule_does_not_filter():
    n = node("n1", taints=[{"key": "k", "value": "v", "effect": "PreferNoSchedule"}])
    assert check(f.taint_toleration, pod("a"), [n]) == []


def test_toleration_matching_rules():
    taint = {"key": "k", "value": "v", "effect": "NoSchedule"}
    assert toleration_matches({"operator": "Exists"}, taint)
    assert toleration_matches({"key": "k", "operator": "Exists"}, taint)
    assert not toleration_matches({"key": "k", "operator": "Exists", "effect": "NoExecute"}, taint)
    assert toleration_matches({"key": "k", "value": "v"}, taint)
    assert not toleration_matches({"key": "other", "operator": "Exists"}, taint)
    assert not toleration_matches({"key": "", "operator": "Equal"}, taint)


def test_unschedulable_node():
    n = node("n1", unschedulable=True)
    assert check(f.node_unschedulable, pod("a"), [n]) == [f.UNSCHEDULABLE]
    ok = pod("a", tolerations=[{"key": "node.kubernetes.io/unschedulable",
                                "operator": "Exists", "effect": "NoSchedule"}])
    assert check(f.node_unschedulable, ok, [n]) == []
    assert check(f.node_unschedulable, pod("a"), [node("n2")]) == []


def test_not_ready_node_is_excluded_unless_tolerated():
    n = node("n1", ready="False")
    assert check(f.taint_toleration, pod("a"), [n]) == \
        ["node(s) had untolerated taint {node.kubernetes.io/not-ready: }"]
    unknown = node("n1", ready="Unknown")
    assert check(f.taint_toleration, pod("a"), [unknown]) == \
        ["node(s) had untolerated taint {node.kubernetes.io/unreachable: }"]
    ok = pod("a", tolerations=[{"key": "node.kubernetes.io/not-ready", "operator": "Exists"}])
    assert check(f.taint_toleration, ok, [n]) == []
    # The admission default (NoExecute, with tolerationSeconds) does not cover NoSchedule.
    default = pod("a", tolerations=[{"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                                     "effect": "NoExecute", "tolerationSeconds": 300}])
    assert check(f.taint_toleration, default, [n]) != []


def test_unreachable_node_rejects_pods_with_default_tolerations():
    # The node lifecycle controller's NoExecute taint is tolerated for 300 s by every Pod
    # (admission default), but an Unknown node still takes no new Pods.
    n = node("n1", ready="Unknown", taints=[{"key": "node.kubernetes.io/unreachable",
                                             "effect": "NoExecute"}])
    default = pod("a", tolerations=[{"key": "node.kubernetes.io/unreachable",
                                     "operator": "Exists", "effect": "NoExecute",
                                     "tolerationSeconds": 300}])
    assert check(f.taint_toleration, default, [n]) == \
        ["node(s) had untolerated taint {node.kubernetes.io/unreachable: }"]


def test_node_without_conditions_is_not_ready():
    n = node("n1")
    n["status"]["conditions"] = []
    assert check(f.taint_toleration, pod("a"), [n]) != []


# -- host ports -------------------------------------------------------------

def test_host_ports():
    def with_port(name, port, node_name=None):
        p = pod(name, node_name=node_name)
        p["spec"]["containers"][0]["ports"] = [{"containerPort": 80, "hostPort": port}]
        return p
    n = node("n1")
    assert check(f.node_ports, with_port("a", 8080), [n], [with_port("x", 8080, "n1")]) \
        == [f.NODE_PORTS]
    assert check(f.node_ports, with_port("a", 8081), [n], [with_port("x", 8080, "n1")]) == []


# -- inter-Pod affinity -----------------------------------------------------

def pod_aff(name, kind, labels, key, own_labels=None):
    term = {"labelSelector": {"matchLabels": labels}, "topologyKey": key}
    return pod(name, labels=own_labels or {}, affinity={
        kind: {"requiredDuringSchedulingIgnoredDuringExecution": [term]}})


HOST = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"


def zoned_nodes():
    return [node("n1", labels={ZONE: "a"}), node("n2", labels={ZONE: "a"}),
            node("n3", labels={ZONE: "b"})]


def test_pod_affinity_hostname():
    cache = [pod("cache", labels={"app": "cache"}, node_name="n2")]
    p = pod_aff("web", "podAffinity", {"app": "cache"}, HOST)
    nodes = zoned_nodes()
    assert check(f.inter_pod_affinity, p, nodes, cache, 0) == [f.POD_AFFINITY]
    assert check(f.inter_pod_affinity, p, nodes, cache, 1) == []


def test_pod_affinity_zone():
    cache = [pod("cache", labels={"app": "cache"}, node_name="n2")]
    p = pod_aff("web", "podAffinity", {"app": "cache"}, ZONE)
    nodes = zoned_nodes()
    assert check(f.inter_pod_affinity, p, nodes, cache, 0) == []
    assert check(f.inter_pod_affinity, p, nodes, cache, 2) == [f.POD_AFFINITY]


def test_pod_affinity_other_namespace_does_not_count():
    cache = [pod("cache", labels={"app": "cache"}, node_name="n2", ns="other")]
    p = pod_aff("web", "podAffinity", {"app": "cache"}, HOST)
    assert check(f.inter_pod_affinity, p, zoned_nodes(), cache, 1) == [f.POD_AFFINITY]


def test_first_pod_of_self_affine_group_may_go_anywhere():
    p = pod_aff("web-0", "podAffinity", {"app": "web"}, ZONE, own_labels={"app": "web"})
    assert check(f.inter_pod_affinity, p, zoned_nodes(), [], 2) == []
    other = pod_aff("x", "podAffinity", {"app": "web"}, ZONE, own_labels={"app": "x"})
    assert check(f.inter_pod_affinity, other, zoned_nodes(), [], 2) == [f.POD_AFFINITY]


def test_pod_anti_affinity_hostname_and_zone():
    existing = [pod("web-0", labels={"app": "web"}, node_name="n1")]
    by_host = pod_aff("web-1", "podAntiAffinity", {"app": "web"}, HOST, {"app": "web"})
    nodes = zoned_nodes()
    assert check(f.inter_pod_affinity, by_host, nodes, existing, 0) == [f.POD_ANTI_AFFINITY]
    assert check(f.inter_pod_affinity, by_host, nodes, existing, 1) == []
    by_zone = pod_aff("web-1", "podAntiAffinity", {"app": "web"}, ZONE, {"app": "web"})
    assert check(f.inter_pod_affinity, by_zone, nodes, existing, 1) == [f.POD_ANTI_AFFINITY]
    assert check(f.inter_pod_affinity, by_zone, nodes, existing, 2) == []


def test_existing_pods_anti_affinity_is_symmetric():
    existing = [pod_aff("db", "podAntiAffinity", {"app": "web"}, HOST, {"app": "db"})]
    existing[0]["spec"]["nodeName"] = "n1"
    web = pod("web", labels={"app": "web"})
    nodes = zoned_nodes()
    assert check(f.inter_pod_affinity, web, nodes, existing, 0) == [f.EXISTING_ANTI_AFFINITY]
    assert check(f.inter_pod_affinity, web, nodes, existing, 1) == []


def test_run_filters_stops_at_first_rejecting_filter():
    n = node("n1", cpu="1", unschedulable=True)
    cluster = infos([n])
    assert f.run_filters(pod("a", cpu="2"), cluster[0], cluster) == [f.UNSCHEDULABLE]


def test_pod_affinity_namespace_selector():
    cache = [pod("cache", labels={"app": "cache"}, node_name="n2", ns="team-a")]
    p = pod_aff("web", "podAffinity", {"app": "cache"}, HOST)
    term = p["spec"]["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
    term["namespaceSelector"] = {"matchLabels": {"team": "a"}}
    namespaces = {"default": {}, "team-a": {"team": "a"}, "team-b": {"team": "b"}}
    resolved = resolve_namespace_selectors(p, namespaces)
    assert p["spec"]["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        0].get("namespaces") is None  # the original is left alone
    assert check(f.inter_pod_affinity, resolved, zoned_nodes(), cache, 1) == []
    assert check(f.inter_pod_affinity, resolved, zoned_nodes(), cache, 0) == [f.POD_AFFINITY]
    none = resolve_namespace_selectors(p, {"default": {}})
    assert check(f.inter_pod_affinity, none, zoned_nodes(), cache, 1) == [f.POD_AFFINITY]


def test_empty_namespace_selector_means_all_namespaces():
    cache = [pod("cache", labels={"app": "cache"}, node_name="n2", ns="elsewhere")]
    p = pod_aff("web", "podAffinity", {"app": "cache"}, HOST)
    term = p["spec"]["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
    term["namespaceSelector"] = {}
    assert check(f.inter_pod_affinity, p, zoned_nodes(), cache, 1) == []
