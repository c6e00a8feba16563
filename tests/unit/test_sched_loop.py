"""The scheduler loop's bookkeeping against a stub client and stub informers (no server)."""

from __future__ import annotations

import copy

from sched_fixtures import node, pod

from k8snet.machinery.client import Conflict
from k8snet.scheduler.loop import Scheduler


class StubInformer:
    def __init__(self, items: dict):
        self.items = items
        self.synced = True

    def snapshot(self) -> dict:
        return dict(self.items)


class StubClient:
    def __init__(self, pods: dict):
        self.pods = pods
        self.binds: list[tuple] = []
        self.events: list[dict] = []
        self.status_updates = 0
        self.refuse: set = set()

    def bind(self, namespace, name, node_name):
        if name in self.refuse:
            raise Conflict(409, "Conflict", "already bound")
        self.binds.append((namespace, name, node_name))

    def create(self, resource, obj, namespace=None):
        assert resource == "events"
        self.events.append(obj)
        return obj

    def update(self, resource, obj, namespace=None, subresource=None):
        assert (resource, subresource) == ("pods", "status")
        self.status_updates += 1
        key = f"{namespace}/{obj['metadata']['name']}"
        self.pods[key] = copy.deepcopy(obj)
        return obj

    def get(self, resource, name, namespace=None):
        return self.pods[f"{namespace}/{name}"]


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def make(pods, nodes):
    pod_map = {f"default/{p['metadata']['name']}": p for p in pods}
    client = StubClient(pod_map)
    clock = Clock()
    s = Scheduler(client, clock=clock)  # type: ignore[arg-type]
    s.pods = StubInformer(pod_map)  # type: ignore[assignment]
    s.nodes = StubInformer({n["metadata"]["name"]: n for n in nodes})  # type: ignore[assignment]
    return s, client, clock


def test_assumed_pods_count_before_the_watch_shows_them():
    s, client, _ = make([pod("a", cpu="600m"), pod("b", cpu="600m"), pod("c", cpu="600m")],
                        [node("n1", cpu="1"), node("n2", cpu="1")])
    s.schedule_pending()
    assert sorted(b[2] for b in client.binds) == ["n1", "n2"]
    assert {b[1] for b in client.binds} == {"a", "b"}
    [event] = [e for e in client.events if e["reason"] == "FailedScheduling"]
    assert event["message"] == "0/2 nodes are available: 2 Insufficient cpu."
    assert event["involvedObject"]["name"] == "c" and event["type"] == "Warning"
    scheduled = [e for e in client.events if e["reason"] == "Scheduled"]
    assert {e["message"] for e in scheduled} == {
        "Successfully assigned default/a to n1", "Successfully assigned default/b to n2"} or \
        {e["message"] for e in scheduled} == {
        "Successfully assigned default/a to n2", "Successfully assigned default/b to n1"}
    cond = client.pods["default/c"]["status"]["conditions"][0]
    assert (cond["type"], cond["status"], cond["reason"]) == \
        ("PodScheduled", "False", "Unschedulable")
    # Next pass (the watch has not shown the binds yet): nothing is bound twice.
    s.schedule_pending()
    assert len(client.binds) == 2


def test_unschedulable_backoff_and_retry_on_change():
    s, client, clock = make([pod("big", cpu="2")], [node("n1", cpu="1")])
    s.schedule_pending()
    assert client.status_updates == 1 and len(client.events) == 1
    clock.now += 0.5
    s.generation += 1
    s.schedule_pending()                 # still backing off
    assert len(client.events) == 1
    clock.now += 1.0
    s.schedule_pending()                 # retried: same message, no new Event or status write
    assert len(client.events) == 1 and client.status_updates == 1
    assert s.attempts["default/big"].backoff == 2.0
    # A bigger node appears: the next due retry binds.
    s.nodes.items["n2"] = node("n2", cpu="4")
    s.generation += 1
    clock.now += 2.0
    s.schedule_pending()
    assert client.binds == [("default", "big", "n2")]
    assert "default/big" not in s.attempts


def test_failed_bind_forgets_the_assumption():
    s, client, _ = make([pod("a", cpu="600m")], [node("n1", cpu="1")])
    client.refuse.add("a")
    s.schedule_pending()
    assert client.binds == [] and s.assumed == {}


def test_other_schedulers_pods_are_left_alone():
    s, client, _ = make([pod("mine"), pod("theirs", schedulerName="other")], [node("n1")])
    s.schedule_pending()
    assert [b[1] for b in client.binds] == ["mine"]
