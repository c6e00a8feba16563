"""The one EventRecorder (machinery.events) that the kubelet, scheduler and kcm share."""

from __future__ import annotations

from k8snet.machinery.client import ApiError
from k8snet.machinery.events import (
    NORMAL,
    WARNING,
    EventRecorder,
    container_field_path,
)

POD = {"kind": "Pod", "apiVersion": "v1",
       "metadata": {"name": "web", "namespace": "shop", "uid": "u1", "resourceVersion": "7"}}
NODE = {"kind": "Node", "apiVersion": "v1", "metadata": {"name": "w1", "uid": "n1"}}


class FakeApi:
    def __init__(self, fail=False):
        self.created, self.patched, self.fail = [], [], fail

    def create(self, resource, obj, namespace=None):
        if self.fail:
            raise ApiError(500, "InternalError", "boom")
        self.created.append((resource, namespace, obj))
        return obj

    def patch(self, resource, name, body, namespace=None, **_kw):
        self.patched.append((resource, namespace, name, body))
        return body


def test_event_shape_as_client_go_records_it():
    api = FakeApi()
    EventRecorder(api, "kubelet", host="w1", clock=lambda: 1_700_000_000.5).event(
        POD, WARNING, "BackOff", "Back-off restarting failed container app",
        field_path=container_field_path("app"))
    [(resource, ns, ev)] = api.created
    assert resource == "events" and ns == "shop" == ev["metadata"]["namespace"]
    assert ev["metadata"]["name"] == f"web.{int(1_700_000_000.5 * 1e9):x}"
    assert ev["involvedObject"] == {"kind": "Pod", "apiVersion": "v1", "namespace": "shop",
                                    "name": "web", "uid": "u1", "resourceVersion": "7",
                                    "fieldPath": "spec.containers{app}"}
    assert ev["source"] == {"component": "kubelet", "host": "w1"}
    assert (ev["reportingComponent"], ev["reportingInstance"]) == ("kubelet", "w1")
    assert ev["firstTimestamp"] == ev["lastTimestamp"] == "2023-11-14T22:13:20Z"
    assert ev["count"] == 1 and ev["type"] == "Warning" and ev["eventTime"] is None
    assert "action" not in ev


def test_cluster_scoped_objects_get_events_in_default_and_actions_get_event_time():
    api = FakeApi()
    rec = EventRecorder(api, "default-scheduler", clock=lambda: 1_700_000_000.0)
    rec.event(NODE, NORMAL, "NodeNotReady", "Node w1 status is now: NodeNotReady")
    rec.event(POD, NORMAL, "Scheduled", "Successfully assigned shop/web to w1", action="Binding")
    node_ev, pod_ev = (e for _r, _n, e in api.created)
    assert node_ev["metadata"]["namespace"] == "default"
    assert "namespace" not in node_ev["involvedObject"] and "host" not in node_ev["source"]
    assert pod_ev["action"] == "Binding" and pod_ev["eventTime"] == "2023-11-14T22:13:20.000000Z"


def test_repeats_fold_into_the_first_events_count():
    api, now = FakeApi(), [100.0]
    rec = EventRecorder(api, "kubelet", host="w1", clock=lambda: now[0])
    rec.event(POD, WARNING, "Unhealthy", "Liveness probe failed: exit 1")
    now[0] = 110.0
    rec.event(POD, WARNING, "Unhealthy", "Liveness probe failed: exit 1")
    now[0] = 120.0
    rec.event(POD, WARNING, "Unhealthy", "Liveness probe failed: exit 1")
    rec.event(POD, WARNING, "Unhealthy", "Readiness probe failed: exit 1")  # another message
    assert len(api.created) == 2
    first = api.created[0][2]["metadata"]["name"]
    assert [(n, b["count"]) for _r, _ns, n, b in api.patched] == [(first, 2), (first, 3)]
    assert api.patched[-1][3]["lastTimestamp"] == "1970-01-01T00:02:00Z"
    rec.forget("u1")                                # the Pod is gone
    rec.event(POD, WARNING, "Unhealthy", "Liveness probe failed: exit 1")
    assert len(api.created) == 3


def test_names_differ_within_one_nanosecond_and_failures_are_only_logged(caplog):
    api = FakeApi()
    rec = EventRecorder(api, "kubelet", clock=lambda: 5.0)
    rec.event(POD, NORMAL, "Pulled", "a")
    rec.event(POD, NORMAL, "Created", "b")
    names = {e["metadata"]["name"] for _r, _n, e in api.created}
    assert len(names) == 2
    EventRecorder(FakeApi(fail=True), "kubelet").event(POD, NORMAL, "Started", "c")
    assert "cannot record event Started for web: boom" in caplog.text


def test_a_background_recorder_sends_in_order_and_still_folds_repeats():
    api = FakeApi()
    rec = EventRecorder(api, "kubelet", host="w1", background=True)
    for reason in ("Pulled", "Created", "Started", "Started"):
        rec.event(POD, NORMAL, reason, f"{reason} container app")
    assert rec.flush(5)
    assert [obj["reason"] for _r, _ns, obj in api.created] == ["Pulled", "Created", "Started"]
    assert [body["count"] for _r, _ns, _n, body in api.patched] == [2]


def test_a_background_recorder_outlives_a_failing_apiserver():
    api = FakeApi(fail=True)
    rec = EventRecorder(api, "kubelet", background=True)
    rec.event(POD, NORMAL, "Pulled", "x")
    assert rec.flush(5)
    api.fail = False
    rec.event(POD, NORMAL, "Created", "y")
    assert rec.flush(5) and [obj["reason"] for _r, _ns, obj in api.created] == ["Created"]
