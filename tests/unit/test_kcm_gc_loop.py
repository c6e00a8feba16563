"""The garbage collector loop's effects against a stub API: owners looked up once then
remembered absent, deletes with uid/resourceVersion preconditions (retried at a newer
version only while the owners are unchanged), orphaning before the finalizer goes, and
one Event per invalid reference."""

from __future__ import annotations

import copy
import logging

from kcm_fixtures import T0

from k8snet.kcm.base import Context, Options
from k8snet.kcm.loops_gc import GarbageCollectorLoop
from k8snet.machinery.client import Conflict, NotFound, resource_name


class StubInformer:
    def __init__(self, resource, items=()):
        self.resource, self.namespace, self.synced = resource, None, True
        self.items = {f"{o['metadata'].get('namespace')}/{o['metadata']['name']}": o
                      for o in items}

    def snapshot(self):
        return dict(self.items)


class StubApi:
    """Objects by (plural, namespace, name); DELETE honours preconditions."""

    def __init__(self, objs=()):
        self.objs = {}
        for plural, obj in objs:
            self.put(plural, obj)
        self.calls: list[tuple] = []

    def put(self, plural, obj):
        m = obj["metadata"]
        self.objs[(plural, m.get("namespace"), m["name"])] = copy.deepcopy(obj)

    @staticmethod
    def _plural(resource):
        return resource.split(".", 1)[0]

    def get(self, resource, name, namespace=None):
        self.calls.append(("get", self._plural(resource), name))
        obj = self.objs.get((self._plural(resource), namespace, name))
        if obj is None:
            raise NotFound(404, "NotFound", f"{resource} {name} not found")
        return copy.deepcopy(obj)

    def patch(self, resource, name, body, namespace=None, **kw):
        self.calls.append(("patch", self._plural(resource), name, body))
        obj = self.objs[(self._plural(resource), namespace, name)]
        want = body["metadata"].pop("resourceVersion", None)
        if want and want != obj["metadata"]["resourceVersion"]:
            raise Conflict(409, "Conflict", "stale")
        for k, v in body["metadata"].items():
            if v is None:
                obj["metadata"].pop(k, None)
            else:
                obj["metadata"][k] = v
        obj["metadata"]["resourceVersion"] = str(int(obj["metadata"]["resourceVersion"]) + 1)
        return obj

    def raw(self, method, path, body=None):
        parts = path.strip("/").split("/")
        ns = parts[parts.index("namespaces") + 1] if "namespaces" in parts else None
        plural, name = parts[-2], parts[-1]
        self.calls.append((method, plural, name, body))
        obj = self.objs.get((plural, ns, name))
        if obj is None:
            raise NotFound(404, "NotFound", "gone")
        pre = body["preconditions"]
        if pre.get("resourceVersion") not in (None, obj["metadata"]["resourceVersion"]):
            raise Conflict(409, "Conflict", "Precondition failed")
        del self.objs[(plural, ns, name)]
        return obj

    def create(self, resource, obj, namespace=None):
        self.calls.append(("create", resource, obj["reason"], obj["message"]))
        return obj


def meta(name, uid, rv="5", ns="default", **more):
    return {"name": name, "namespace": ns, "uid": uid, "resourceVersion": rv, **more}


def owner(kind, name, uid, api_version="apps/v1"):
    return {"apiVersion": api_version, "kind": kind, "name": name, "uid": uid,
            "controller": True, "blockOwnerDeletion": True}


def loop_for(api, cached):
    """A collector whose informers show `cached` ({plural: [objects]})."""
    ctx = Context(api, {}, lambda: T0, logging.getLogger("test"), Options())  # type: ignore
    loop = GarbageCollectorLoop(ctx)
    by_plural = {r.split(".", 1)[0]: r for r in loop.resources}
    loop.informers = {name: StubInformer(name) for name in loop.resources}
    for plural, items in cached.items():
        loop.informers[by_plural[plural]] = StubInformer(by_plural[plural], items)
    return loop


def test_absent_owner_looked_up_once_then_dependent_deleted_with_preconditions():
    rs = {"metadata": meta("web-1", "rs1", ownerReferences=[owner("Deployment", "web", "d1")])}
    api = StubApi([("replicasets", rs)])
    loop = loop_for(api, {"replicasets": [rs]})
    loop.sync()
    assert ("get", "deployments", "web") in api.calls
    delete = next(c for c in api.calls if c[0] == "DELETE")
    assert delete[1:3] == ("replicasets", "web-1")
    assert delete[3]["propagationPolicy"] == "Background"
    assert delete[3]["preconditions"] == {"uid": "rs1", "resourceVersion": "5"}
    api.calls.clear()
    loop._recent.clear()
    loop.sync()  # the cache still shows it: no second lookup, the owner is known absent
    assert not [c for c in api.calls if c[0] == "get" and c[1] == "deployments"]


def test_conflicting_delete_retried_only_while_owners_are_unchanged():
    refs = [owner("Deployment", "web", "d1")]
    cached = {"metadata": meta("web-1", "rs1", rv="5", ownerReferences=refs)}
    newer = {"metadata": meta("web-1", "rs1", rv="9", ownerReferences=refs)}
    api = StubApi([("replicasets", newer)])
    loop_for(api, {"replicasets": [cached]}).sync()
    deletes = [c for c in api.calls if c[0] == "DELETE"]
    assert [d[3]["preconditions"]["resourceVersion"] for d in deletes] == ["5", "9"]
    assert not api.objs
    adopted = {"metadata": meta("web-1", "rs1", rv="9", ownerReferences=[
        owner("Deployment", "other", "d2")])}
    api = StubApi([("replicasets", adopted), ("deployments", {"metadata": meta(
        "other", "d2")})])
    loop_for(api, {"replicasets": [cached]}).sync()
    assert api.objs, "an object adopted meanwhile was deleted"


def test_orphan_patches_dependents_before_removing_the_finalizer():
    dep = {"metadata": meta("web", "d1", deletionTimestamp="2024-05-01T12:00:00Z",
                            finalizers=["orphan"])}
    rs = {"metadata": meta("web-1", "rs1", ownerReferences=[owner("Deployment", "web", "d1")])}
    api = StubApi([("deployments", dep), ("replicasets", rs)])
    loop_for(api, {"deployments": [dep], "replicasets": [rs]}).sync()
    patches = [c for c in api.calls if c[0] == "patch"]
    assert [(c[1], c[2]) for c in patches] == [("replicasets", "web-1"), ("deployments", "web")]
    assert patches[0][3] == {"metadata": {"ownerReferences": None}}
    assert patches[1][3] == {"metadata": {"finalizers": None}}
    assert "ownerReferences" not in api.objs[("replicasets", "default", "web-1")]["metadata"]


def test_invalid_cross_namespace_reference_warns_once():
    rs = {"metadata": meta("web-1", "rs1", ns="a")}
    pod = {"metadata": meta("p", "p1", ns="b", ownerReferences=[
        owner("ReplicaSet", "web-1", "rs1")])}
    api = StubApi([("replicasets", rs), ("pods", pod)])
    loop = loop_for(api, {"replicasets": [rs], "pods": [pod]})
    loop.sync()
    loop._recent.clear()
    api.put("pods", pod)  # pretend it is still there
    loop.sync()
    events = [c for c in api.calls if c[0] == "create"]
    assert events == [("create", "events", "OwnerRefInvalidNamespace",
                       'ownerRef [apps/v1/ReplicaSet, namespace: b, name: web-1, uid: rs1] '
                       'does not exist in namespace "b"')]
    assert [c[1:3] for c in api.calls if c[0] == "DELETE"][0] == ("pods", "p")


def test_watches_every_deletable_resource_but_events():
    loop = loop_for(StubApi(), {})
    names = set(loop.resources)
    assert {"pods", "deployments.apps", "replicasets.apps", "namespaces", "nodes"} <= names
    assert "events" not in names and "bindings" not in names
    assert resource_name(loop.resources["pods"]) == "pods"
