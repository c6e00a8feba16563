"""The garbage collector's decisions, run to a fixed point against a simulated apiserver
that deletes as the real one does (k8snet.apiserver.deletion's plans): background,
foreground with blockOwnerDeletion chains, orphan, owners that never existed, invalid
cross-namespace references, and cycles."""

from __future__ import annotations

import copy
import itertools

from k8snet.apiserver import deletion
from k8snet.kcm import gcgraph as g
from k8snet.machinery import resources as kinds

NOW = 1_700_000_000.0


def scope(api_version: str, kind: str):
    info = kinds.by_api_version_kind(api_version, kind)
    return None if info is None else info.namespaced


class Cluster:
    """Objects by uid; DELETE and updates follow the apiserver's deletion plans."""

    def __init__(self) -> None:
        self.objs: dict[str, dict] = {}
        self.removed: list[str] = []
        self.lookups = 0
        self.warnings: list[g.Warn] = []
        self._ids = itertools.count(1)

    def add(self, kind: str, name: str, ns: str = "default", owners=(), **meta) -> dict:
        info = kinds.KINDS[kind]
        uid = meta.pop("uid", f"{name}-{next(self._ids)}")
        obj = {"apiVersion": info.api_version, "kind": kind,
               "metadata": {"name": name, "uid": uid, "resourceVersion": "1", **meta}}
        if info.namespaced:
            obj["metadata"]["namespace"] = ns
        if owners:
            obj["metadata"]["ownerReferences"] = [dict(o) for o in owners]
        self.objs[uid] = obj
        return obj

    def ref(self, obj: dict, block: bool = True, controller: bool = True) -> dict:
        m = obj["metadata"]
        r = {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": m["name"],
             "uid": m["uid"], "controller": controller}
        if block:
            r["blockOwnerDeletion"] = True
        return r

    def alive(self, obj: dict) -> bool:
        return obj["metadata"]["uid"] in self.objs

    def get(self, obj: dict) -> dict:
        return self.objs[obj["metadata"]["uid"]]

    def _info(self, obj: dict) -> kinds.KindInfo:
        return kinds.KINDS[obj["kind"]]

    def delete(self, obj: dict, policy: str) -> None:
        uid = obj["metadata"]["uid"]
        cur = self.objs.get(uid)
        if cur is None:
            return
        plan = deletion.plan_delete(self._info(cur), cur, deletion.DeleteOptions(
            policy=policy), NOW)
        if plan.remove:
            self._remove(uid)
        elif plan.write:
            self.objs[uid] = plan.obj

    def update(self, uid: str, new: dict) -> None:
        old = self.objs.get(uid)
        if old is None:
            return
        if deletion.should_remove_on_update(self._info(old), old, new):
            self._remove(uid)
        else:
            self.objs[uid] = new

    def _remove(self, uid: str) -> None:
        self.removed.append(self.objs.pop(uid)["metadata"]["name"])

    def find(self, key: g.Lookup):
        self.lookups += 1
        for o in self.objs.values():
            m = o["metadata"]
            if o["kind"] == key.kind and m["name"] == key.name and \
                    m.get("namespace", "") == key.namespace:
                return copy.deepcopy(o)
        return None

    # -- the garbage collector, one sync ----------------------------------------------------
    def sync(self, absent: dict) -> int:
        graph = g.build_graph((o["apiVersion"], o["kind"], o) for o in self.objs.values())
        known = dict(absent)
        p = g.plan(graph, known, scope)
        if p.verify:
            for key in p.verify:
                known[key] = self.find(key)
                if known[key] is None:
                    absent[key] = None
            p = g.plan(graph, known, scope)
        for a in p.actions:
            self.apply(a)
        return len([a for a in p.actions if not isinstance(a, g.Warn)])

    def apply(self, a) -> None:
        if isinstance(a, g.Delete):
            self.delete({"metadata": {"uid": a.ref.uid}}, a.policy)
        elif isinstance(a, g.PatchOwnerRefs):
            cur = copy.deepcopy(self.objs[a.ref.uid])
            refs = cur["metadata"]["ownerReferences"]
            refs = g.unblocked(refs) if a.unblock else g.without_owners(refs, a.remove)
            cur["metadata"]["ownerReferences"] = refs
            self.update(a.ref.uid, cur)
        elif isinstance(a, g.RemoveFinalizer):
            cur = copy.deepcopy(self.objs[a.ref.uid])
            cur["metadata"]["finalizers"] = [f for f in cur["metadata"]["finalizers"]
                                             if f != a.finalizer]
            self.update(a.ref.uid, cur)
        elif isinstance(a, g.Orphan):
            for dep in a.dependents:
                cur = copy.deepcopy(self.objs[dep.uid])
                cur["metadata"]["ownerReferences"] = g.without_owners(
                    cur["metadata"]["ownerReferences"], [a.owner.uid])
                self.update(dep.uid, cur)
            self.apply(g.RemoveFinalizer(a.owner, g.ORPHAN))
        elif isinstance(a, g.Warn):
            self.warnings.append(a)

    def converge(self, rounds: int = 20) -> int:
        absent: dict = {}
        for n in range(rounds):
            if self.sync(absent) == 0:
                return n
        raise AssertionError(f"no fixed point after {rounds} syncs: {self.objs}")


def workload(c: Cluster, block: bool = True):
    dep = c.add("Deployment", "web")
    rs = c.add("ReplicaSet", "web-1", owners=[c.ref(dep, block)])
    pods = [c.add("Pod", f"web-1-{i}", owners=[c.ref(rs, block)]) for i in range(2)]
    return dep, rs, pods


def test_nothing_to_do_for_a_healthy_workload():
    c = Cluster()
    workload(c)
    assert c.converge() == 0 and len(c.objs) == 4


def test_background_collects_dependents_after_verifying_owner_absence():
    c = Cluster()
    dep, rs, pods = workload(c)
    c.delete(dep, "Background")
    assert not c.alive(dep) and c.alive(rs)
    c.converge()
    assert c.objs == {}
    assert c.removed.index("web-1") < c.removed.index("web-1-0")
    assert c.lookups >= 1  # the gone owner was looked up before anything was deleted


def test_foreground_deletes_pods_then_replicaset_then_deployment():
    c = Cluster()
    dep, rs, pods = workload(c)
    c.delete(dep, "Foreground")
    assert c.get(dep)["metadata"]["finalizers"] == ["foregroundDeletion"]
    c.sync({})
    assert c.get(rs)["metadata"]["finalizers"] == ["foregroundDeletion"]
    assert c.alive(dep)
    c.converge()
    assert c.removed == ["web-1-0", "web-1-1", "web-1", "web"]


def test_foreground_without_block_owner_deletion_does_not_wait():
    c = Cluster()
    dep, rs, pods = workload(c, block=False)
    c.delete(dep, "Foreground")
    c.sync({})
    assert not c.alive(dep)  # nothing blocked it: the finalizer went at once
    c.converge()
    assert c.objs == {}


def test_orphan_removes_references_and_keeps_dependents():
    c = Cluster()
    dep, rs, pods = workload(c)
    c.delete(dep, "Orphan")
    assert c.alive(dep) and c.get(dep)["metadata"]["finalizers"] == ["orphan"]
    c.converge()
    assert not c.alive(dep) and c.alive(rs) and all(c.alive(p) for p in pods)
    assert "ownerReferences" not in c.get(rs)["metadata"] or \
        c.get(rs)["metadata"]["ownerReferences"] == []
    assert c.get(pods[0])["metadata"]["ownerReferences"][0]["name"] == "web-1"


def test_owner_that_never_existed_and_partial_owners():
    c = Cluster()
    ghost = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "ghost", "uid": "nope"}
    lone = c.add("Pod", "lone", owners=[ghost])
    keeper = c.add("Deployment", "keeper")
    both = c.add("Pod", "both", owners=[ghost, c.ref(keeper)])
    c.converge()
    assert not c.alive(lone)
    assert c.alive(both)
    assert [r["uid"] for r in c.get(both)["metadata"]["ownerReferences"]] == [
        keeper["metadata"]["uid"]]


def test_a_live_owner_the_informers_have_not_shown_is_not_a_reason_to_delete():
    graph = g.build_graph([("v1", "Pod", {"metadata": {
        "name": "p", "namespace": "default", "uid": "p1", "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "r1"}]}})])
    first = g.plan(graph, {}, scope)
    assert first.actions == [] and first.verify == {
        g.Lookup("apps/v1", "ReplicaSet", "default", "rs", "r1")}
    live = {"metadata": {"name": "rs", "uid": "r1"}}
    assert g.plan(graph, {k: live for k in first.verify}, scope).actions == []
    recreated = {"metadata": {"name": "rs", "uid": "r2"}}  # same name, another object
    again = g.plan(graph, {k: recreated for k in first.verify}, scope)
    assert [type(a) for a in again.actions] == [g.Delete]


def test_unserved_owner_kind_leaves_the_dependent_alone():
    c = Cluster()
    c.add("Pod", "odd", owners=[{"apiVersion": "example.com/v1", "kind": "Widget",
                                 "name": "w", "uid": "w1"}])
    assert c.converge() == 0 and len(c.objs) == 1


def test_cross_namespace_owner_counts_as_absent_with_upstream_event():
    c = Cluster()
    rs = c.add("ReplicaSet", "rs", ns="a")
    stray = c.add("Pod", "stray", ns="b", owners=[c.ref(rs)])
    node = c.add("Node", "n1", owners=[c.ref(rs)])   # cluster-scoped, namespaced owner
    c.converge()
    assert not c.alive(stray) and c.alive(rs) and c.alive(node)
    messages = {(w.ref.name, w.reason, w.message) for w in c.warnings}
    uid = rs["metadata"]["uid"]
    assert ("stray", "OwnerRefInvalidNamespace",
            f'ownerRef [apps/v1/ReplicaSet, namespace: b, name: rs, uid: {uid}] does not '
            'exist in namespace "b"') in messages
    assert any(name == "n1" for name, _, _ in messages)


def test_cluster_scoped_owner_of_namespaced_dependents():
    c = Cluster()
    node = c.add("Node", "n1")
    p = c.add("Pod", "p", ns="x", owners=[c.ref(node)])
    assert c.converge() == 0 and c.alive(p)
    c.delete(node, "Background")
    c.converge()
    assert not c.alive(p)


def test_waiting_owner_is_dropped_when_another_owner_stays():
    c = Cluster()
    a = c.add("Deployment", "a")
    b = c.add("Deployment", "b")
    shared = c.add("ReplicaSet", "shared", owners=[c.ref(a), c.ref(b, controller=False)])
    c.delete(a, "Foreground")
    c.converge()
    assert not c.alive(a) and c.alive(shared)
    assert [r["name"] for r in c.get(shared)["metadata"]["ownerReferences"]] == ["b"]


def test_cycles_converge_for_every_policy():
    for policy in ("Foreground", "Background", "Orphan"):
        c = Cluster()
        x = c.add("ReplicaSet", "x", uid="x")
        y = c.add("ReplicaSet", "y", uid="y", owners=[c.ref(x)])
        z = c.add("ReplicaSet", "z", uid="z", owners=[c.ref(y)])
        c.objs["x"]["metadata"]["ownerReferences"] = [c.ref(z)]
        assert c.converge() == 0          # a cycle of live objects: nothing to do
        c.delete(x, policy)
        c.converge()
        if policy == "Orphan":
            assert set(c.objs) == {"y", "z"}
        else:
            assert c.objs == {}, policy


def test_two_object_foreground_cycle_is_unblocked():
    c = Cluster()
    a = c.add("ReplicaSet", "a", uid="a")
    b = c.add("ReplicaSet", "b", uid="b", owners=[c.ref(a)])
    c.objs["a"]["metadata"]["ownerReferences"] = [c.ref(b)]
    c.delete(a, "Foreground")
    c.converge()
    assert c.objs == {}


def test_honours_a_dependents_own_gc_finalizer():
    c = Cluster()
    dep, rs, pods = workload(c)
    c.objs[rs["metadata"]["uid"]]["metadata"]["finalizers"] = ["orphan"]
    c.delete(dep, "Background")
    c.converge()
    assert not c.alive(rs) and all(c.alive(p) for p in pods)  # its Pods were orphaned
