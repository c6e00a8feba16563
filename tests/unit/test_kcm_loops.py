"""Controller loops against stub informers and a stub client: expectations keep a stale
cache from doubling a scale step; plans are applied as the API expects."""

from __future__ import annotations

import itertools
import logging

from kcm_fixtures import T0, deployment, replicaset, rs_pod

from k8snet.kcm.base import Context
from k8snet.kcm.loops import DeploymentLoop, NodeIpamLoop, Options, ReplicaSetLoop


class StubInformer:
    def __init__(self, items=()):
        self.items = {f"{o['metadata'].get('namespace')}/{o['metadata']['name']}"
                      if o["metadata"].get("namespace") else o["metadata"]["name"]: o
                      for o in items}
        self.synced = True

    def snapshot(self):
        return dict(self.items)


class StubClient:
    def __init__(self):
        self.calls: list[tuple] = []
        self.counter = itertools.count(1)  # atomic enough for the create workers

    def create(self, resource, obj, namespace=None):
        n = next(self.counter)
        obj = dict(obj, metadata=dict(obj["metadata"]))
        if "generateName" in obj["metadata"]:
            obj["metadata"]["name"] = f"{obj['metadata']['generateName']}{n}"
        self.calls.append(("create", resource, obj["metadata"]["name"]))
        return obj

    def update(self, resource, obj, namespace=None, subresource=None):
        self.calls.append(("update", resource, obj["metadata"]["name"], subresource, obj))
        return obj

    def delete(self, resource, name, namespace=None, **kw):
        self.calls.append(("delete", resource, name))

    def patch(self, resource, name, body, namespace=None, **kw):
        self.calls.append(("patch", resource, name, body))
        return body


def ctx(**informers):
    return Context(StubClient(), {k: StubInformer(v) for k, v in informers.items()},  # type: ignore[arg-type]
                   lambda: T0, logging.getLogger("test"), Options())


def test_replicaset_expectations_hold_back_a_stale_cache():
    c = ctx(replicasets=[replicaset("rs1", 3)], pods=[])
    loop = ReplicaSetLoop(c)
    loop.sync()
    creates = [x for x in c.client.calls if x[0] == "create"]
    assert len(creates) == 3 and all(x[2].startswith("rs1-") for x in creates)
    loop.sync()  # the pods informer has not seen them yet
    assert len([x for x in c.client.calls if x[0] == "create"]) == 3
    # Once the cache shows them, the ReplicaSet is satisfied and only its status is written.
    c.informers["pods"].items = {f"default/{x[2]}": rs_pod(x[2]) for x in creates}
    loop.sync()
    assert len([x for x in c.client.calls if x[0] == "create"]) == 3
    status = [x for x in c.client.calls if x[0] == "update" and x[3] == "status"][-1][4]
    assert status["status"]["replicas"] == 3


def test_an_expectation_times_out_from_when_the_creates_ended():
    import datetime as dt

    now = [T0]
    c = Context(StubClient(), {"replicasets": StubInformer([replicaset("rs1", 3)]),
                               "pods": StubInformer([])},
                lambda: now[0], logging.getLogger("test"), Options())
    create = c.client.create

    def slow_create(*args, **kw):    # a busy apiserver: 20 s per Pod
        now[0] += dt.timedelta(seconds=20)
        return create(*args, **kw)
    c.client.create = slow_create
    loop = ReplicaSetLoop(c)
    loop.sync()
    loop.sync()   # 60 s after the sync began, at once after the creates: still expected
    assert len([x for x in c.client.calls if x[0] == "create"]) == 3


def test_deployment_loop_creates_then_scales_with_events():
    d = deployment(5)
    c = ctx(deployments=[d], replicasets=[], pods=[])
    DeploymentLoop(c).sync()
    kinds = [(x[0], x[1]) for x in c.client.calls]
    assert ("create", "replicasets") in kinds and ("create", "events") in kinds
    assert ("patch", "deployments") in kinds   # revision annotation
    assert ("update", "deployments") in kinds  # status


def test_node_ipam_loop_remembers_blocks_until_seen():
    n1 = {"metadata": {"name": "a"}, "spec": {}}
    n2 = {"metadata": {"name": "b"}, "spec": {}}
    c = ctx(nodes=[n1, n2])
    loop = NodeIpamLoop(c)
    loop.sync()
    loop.sync()  # stale cache: no block handed out twice
    patches = [(x[2], x[3]["spec"]["podCIDR"]) for x in c.client.calls if x[0] == "patch"]
    assert patches == [("a", "10.244.0.0/24"), ("b", "10.244.1.0/24")]
    c.informers["nodes"].items["c"] = {"metadata": {"name": "c"}, "spec": {}}
    loop.sync()
    assert [x[3]["spec"]["podCIDR"] for x in c.client.calls if x[0] == "patch"][-1] == \
        "10.244.2.0/24"
