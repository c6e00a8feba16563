"""Server-side Table rows and URL routing of the apiserver."""

import pytest

from k8snet.apiserver import routes, tables
from k8snet.apiserver.status import ApiStatusError


def test_human_duration():
    assert [tables.human_duration(s) for s in (5, 150, 1800, 7500, 15000, 90000, 700000)] == [
        "5s", "2m30s", "30m", "125m", "4h10m", "25h", "8d"]


def test_pod_row_ready_status_restarts_wide():
    pod = {"metadata": {"name": "p", "creationTimestamp": "2026-01-01T00:00:00Z"},
           "spec": {"nodeName": "w1", "containers": [{"name": "a"}, {"name": "b"}]},
           "status": {"phase": "Running", "podIP": "10.244.1.5", "containerStatuses": [
               {"ready": True, "restartCount": 2, "state": {"running": {}}},
               {"ready": False, "restartCount": 1,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}}
    t = tables.table("pods", [pod], now=tables.parse_time("2026-01-01T00:01:00Z"))
    assert [c["name"] for c in t["columnDefinitions"]] == [
        "Name", "Ready", "Status", "Restarts", "Age", "IP", "Node"]
    assert [c["priority"] for c in t["columnDefinitions"]][-2:] == [1, 1]
    assert t["rows"][0]["cells"] == ["p", "1/2", "CrashLoopBackOff", 3, "60s",
                                     "10.244.1.5", "w1"]
    assert t["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    pod["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:30Z"
    assert tables.pod_status_text(pod) == "Terminating"


def test_node_and_service_rows():
    node = {"metadata": {"name": "n", "labels": {"node-role.kubernetes.io/control-plane": ""}},
            "spec": {"unschedulable": True},
            "status": {"conditions": [{"type": "Ready", "status": "True"}],
                       "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}],
                       "nodeInfo": {"kubeletVersion": "v1.32.0-k8snet"}}}
    cells = tables.row("nodes", node, 0)["cells"]
    assert cells[:3] == ["n", "Ready,SchedulingDisabled", "control-plane"]
    assert cells[4:6] == ["v1.32.0-k8snet", "10.0.0.1"]
    svc = {"metadata": {"name": "s"}, "spec": {"type": "NodePort", "clusterIP": "10.96.0.9",
                                               "ports": [{"port": 80, "nodePort": 30080,
                                                          "protocol": "TCP"},
                                                         {"port": 53, "protocol": "UDP"}]}}
    assert tables.row("services", svc, 0)["cells"][1:5] == [
        "NodePort", "10.96.0.9", "<none>", "80:30080/TCP,53/UDP"]


def test_routes():
    r = routes.parse_path("/api/v1/namespaces/default/pods/p/status")
    assert (r.info.plural, r.namespace, r.name, r.subresource) == ("pods", "default", "p",
                                                                   "status")
    r = routes.parse_path("/api/v1/namespaces/kube-system")
    assert (r.info.plural, r.namespace, r.name) == ("namespaces", None, "kube-system")
    r = routes.parse_path("/apis/apps/v1/namespaces/d/deployments/x/scale")
    assert (r.info.kind, r.subresource) == ("Deployment", "scale")
    r = routes.parse_path("/api/v1/watch/namespaces/d/pods")
    assert r.watch_path and r.info.plural == "pods" and r.namespace == "d"
    assert routes.parse_path("/apis/coordination.k8s.io/v1").what == "resourcelist"
    for bad in ("/api/v2/pods", "/api/v1/nodes/n/log", "/apis/nope/v1", "/api/v1/frobs",
                "/x", "/api/v1/namespaces/d/nodes/n", "/api/v1/pods/a/b/c/d"):
        with pytest.raises(ApiStatusError) as e:
            routes.parse_path(bad)
        assert e.value.code == 404
