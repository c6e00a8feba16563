"""EndpointSlice decisions: endpoints and their conditions, splitting at 100, port
groups, reuse of existing slices, the placeholder slice, mirroring of custom Endpoints."""

from __future__ import annotations

from kcm_fixtures import rs_pod

from k8snet.kcm import endpointslice as eps


def svc(selector=None, ports=None, **spec) -> dict:
    s = {"ports": ports if ports is not None else
         [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]}
    if selector is not False:
        s["selector"] = selector or {"app": "web"}
    s.update(spec)
    return {"metadata": {"name": "web", "namespace": "default", "uid": "svc-uid",
                         "labels": {"tier": "front"}}, "spec": s}


def pods(n: int, **kw) -> list[dict]:
    return [rs_pod(f"p{i:03d}", ip=f"10.244.{i // 250}.{i % 250 + 2}", **kw) for i in range(n)]


def test_endpoints_with_conditions_node_zone_and_target_ref():
    ready, unready = rs_pod("a", ip="10.244.1.2"), rs_pod("b", ip="10.244.1.3", ready=False)
    going = rs_pod("c", ip="10.244.1.4")
    going["metadata"]["deletionTimestamp"] = "2024-05-01T12:00:00Z"
    plan = eps.reconcile_service(svc(), [ready, unready, going], [], {"n1": "zone-a"})
    [s] = plan.create
    assert s["addressType"] == "IPv4"
    assert s["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    assert s["metadata"]["labels"] == {"tier": "front", "kubernetes.io/service-name": "web",
                                       "endpointslice.kubernetes.io/managed-by":
                                       "endpointslice-controller.k8s.io"}
    assert s["metadata"]["generateName"] == "web-"
    assert s["metadata"]["ownerReferences"][0]["kind"] == "Service"
    by_ip = {e["addresses"][0]: e for e in s["endpoints"]}
    assert by_ip["10.244.1.2"] == {
        "addresses": ["10.244.1.2"],
        "conditions": {"ready": True, "serving": True, "terminating": False},
        "targetRef": {"kind": "Pod", "namespace": "default", "name": "a", "uid": "uid-a"},
        "nodeName": "n1", "zone": "zone-a"}
    assert by_ip["10.244.1.3"]["conditions"] == {"ready": False, "serving": False,
                                                 "terminating": False}
    assert by_ip["10.244.1.4"]["conditions"] == {"ready": False, "serving": True,
                                                 "terminating": True}


def test_publish_not_ready_addresses_makes_all_ready():
    plan = eps.reconcile_service(svc(publishNotReadyAddresses=True),
                                 [rs_pod("b", ip="10.244.1.3", ready=False)], [], {})
    assert plan.create[0]["endpoints"][0]["conditions"]["ready"] is True


def test_at_most_100_endpoints_per_slice():
    plan = eps.reconcile_service(svc(), pods(250), [], {})
    assert [len(s["endpoints"]) for s in plan.create] == [100, 100, 50]


def test_pods_resolving_different_ports_get_different_slices():
    other = rs_pod("x", ip="10.244.9.9")
    other["spec"]["containers"][0]["ports"] = [{"name": "http", "containerPort": 9090}]
    plan = eps.reconcile_service(svc(), pods(2) + [other], [], {})
    assert sorted(s["ports"][0]["port"] for s in plan.create) == [8080, 9090]


def test_existing_slices_are_reused_and_only_changed_ones_written():
    first = eps.reconcile_service(svc(), pods(2), [], {}).create[0]
    first["metadata"].update(name="web-abc", resourceVersion="7")
    assert eps.reconcile_service(svc(), pods(2), [first], {}) == eps.SlicePlan()
    plan = eps.reconcile_service(svc(), pods(3), [first], {})
    assert not plan.create and not plan.delete
    [upd] = plan.update
    assert upd["metadata"]["name"] == "web-abc" and upd["metadata"]["resourceVersion"] == "7"
    assert len(upd["endpoints"]) == 3


def test_service_selecting_nothing_keeps_one_empty_slice_and_extra_slices_go():
    plan = eps.reconcile_service(svc(), [], [], {})
    assert [(s["ports"], s["endpoints"]) for s in plan.create] == [([], [])]
    full = eps.reconcile_service(svc(), pods(150), [], {}).create
    for i, s in enumerate(full):
        s["metadata"]["name"] = f"web-{i}"
    plan = eps.reconcile_service(svc(), pods(50), full, {})
    assert plan.delete == ["web-1"] and len(plan.update) == 1


def test_headless_label_and_no_slices_for_selectorless_service():
    plan = eps.reconcile_service(svc(clusterIP="None"), pods(1), [], {})
    assert plan.create[0]["metadata"]["labels"]["service.kubernetes.io/headless"] == ""
    assert eps.reconcile_service(svc(selector=False), pods(1), [], {}) is None


def test_mirroring_custom_endpoints():
    custom = {"metadata": {"name": "web", "namespace": "default"},
              "subsets": [{"addresses": [{"ip": "192.168.0.5"}],
                           "notReadyAddresses": [{"ip": "192.168.0.6"}],
                           "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}]}
    service = svc(selector=False)
    plan = eps.reconcile_mirror(service, custom, [])
    [s] = plan.create
    assert s["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] == \
        "endpointslicemirroring-controller.k8s.io"
    assert [(e["addresses"], e["conditions"]["ready"]) for e in s["endpoints"]] == [
        (["192.168.0.5"], True), (["192.168.0.6"], False)]
    assert eps.reconcile_mirror(service, None, []) == eps.SlicePlan()
    assert eps.reconcile_mirror(svc(), custom, []) is None


def test_slices_of_deleted_services_are_orphans():
    s = eps.reconcile_service(svc(), pods(1), [], {}).create[0]
    assert eps.orphaned_slices({}, [s]) == [s]
    assert eps.orphaned_slices({"default/web": svc()}, [s]) == []
