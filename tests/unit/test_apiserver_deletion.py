"""DELETE only marks: GC finalizers by propagation policy, graceful Pods, Namespaces
Terminating until finalized, and an update that removes the last finalizer removes the
object. Pure plans first, then the Registry over a SQLite file."""

from __future__ import annotations

import pytest

from k8snet.apiserver import deletion as d
from k8snet.apiserver.context import Ctx
from k8snet.apiserver.ipam import ServiceIPAM
from k8snet.apiserver.registry import Registry
from k8snet.apiserver.status import ApiStatusError
from k8snet.machinery import resources as kinds
from k8snet.store.sqlite import SqliteStore

NOW = 1_700_000_000.0
DEP = kinds.RESOURCES["deployments"]
PODS = kinds.RESOURCES["pods"]
NS = kinds.RESOURCES["namespaces"]


def obj(finalizers=None, **meta):
    m = {"name": "x", "namespace": "default", "uid": "u1", "generation": 1, **meta}
    if finalizers is not None:
        m["finalizers"] = finalizers
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": m, "spec": {}}


def opts(**kw):
    return d.parse_delete_options(kw)


@pytest.mark.parametrize("policy,want", [
    ("Orphan", ["orphan"]), ("Foreground", ["foregroundDeletion"])])
def test_orphan_and_foreground_only_mark(policy, want):
    plan = d.plan_delete(DEP, obj(), opts(propagationPolicy=policy), NOW)
    assert not plan.remove and plan.write
    meta = plan.obj["metadata"]
    assert meta["finalizers"] == want
    assert meta["deletionTimestamp"] == "2023-11-14T22:13:20Z"
    assert meta["deletionGracePeriodSeconds"] == 0 and meta["generation"] == 2


def test_background_removes_at_once_unless_finalizers():
    assert d.plan_delete(DEP, obj(), opts(propagationPolicy="Background"), NOW).remove
    assert d.plan_delete(DEP, obj(), opts(), NOW).remove
    kept = d.plan_delete(DEP, obj(["example.com/x"]), opts(), NOW)
    assert kept.write and kept.obj["metadata"]["finalizers"] == ["example.com/x"]
    # an explicit Background replaces a foreground finalizer set by an earlier delete
    again = d.plan_delete(DEP, obj(["foregroundDeletion"], deletionTimestamp="t"),
                          opts(propagationPolicy="Background"), NOW)
    assert again.remove
    # no policy: the finalizer already there decides
    same = d.plan_delete(DEP, obj(["orphan"], deletionTimestamp="2023-11-14T22:00:00Z"),
                         opts(), NOW)
    assert same.obj["metadata"]["finalizers"] == ["orphan"]
    assert same.obj["metadata"]["deletionTimestamp"] == "2023-11-14T22:00:00Z"


def test_kind_defaults_jobs_and_rcs_orphan_events_take_no_finalizer():
    jobs = kinds.KindInfo("Job", "jobs", "job", "batch", "v1", True)
    rcs = kinds.KindInfo("ReplicationController", "replicationcontrollers",
                         "replicationcontroller", "", "v1", True)
    events = kinds.RESOURCES["events"]
    for info in (jobs, rcs):
        plan = d.plan_delete(info, obj(), opts(), NOW)
        assert plan.obj["metadata"]["finalizers"] == ["orphan"]
        assert d.plan_delete(info, obj(), opts(propagationPolicy="Background"), NOW).remove
    assert d.plan_delete(events, obj(), opts(propagationPolicy="Orphan"), NOW).remove
    assert d.gc_finalizers(["a"], "Foreground", "Unsupported") == ["a"]
    assert d.gc_finalizers([], None, "Orphan") == ["orphan"]
    assert d.gc_finalizers(["orphan"], "Foreground", "Background") == ["foregroundDeletion"]


def test_delete_options_validation_as_upstream():
    with pytest.raises(ApiStatusError) as e:
        opts(propagationPolicy="Sideways")
    assert e.value.code == 422
    assert e.value.message == ('DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: '
                               'Unsupported value: "Sideways": supported values: '
                               '"Foreground", "Background", "Orphan", "nil"')
    with pytest.raises(ApiStatusError) as e:
        opts(propagationPolicy="Orphan", orphanDependents=True)
    assert "orphanDependents and deletionPropagation cannot be both set" in e.value.message
    assert opts(orphanDependents=False).explicit == "Background"
    assert opts(gracePeriodSeconds=-5).grace == 1


def pod(node="w1", grace=None, **meta):
    p = {"apiVersion": "v1", "kind": "Pod",
         "metadata": {"name": "p", "namespace": "default", "uid": "p1", **meta},
         "spec": {"nodeName": node, "containers": [{"name": "c", "image": "i"}]}}
    if grace is not None:
        p["spec"]["terminationGracePeriodSeconds"] = grace
    return p


def test_graceful_pods_unchanged():
    plan = d.plan_delete(PODS, pod(grace=10), opts(), NOW)
    assert plan.write and plan.obj["metadata"]["deletionGracePeriodSeconds"] == 10
    assert plan.obj["metadata"]["deletionTimestamp"] == "2023-11-14T22:13:30Z"
    marked = plan.obj
    assert not d.plan_delete(PODS, marked, opts(), NOW).write        # pending: nothing
    assert not d.plan_delete(PODS, marked, opts(gracePeriodSeconds=20), NOW).write
    assert d.plan_delete(PODS, marked, opts(gracePeriodSeconds=0), NOW).remove  # kubelet
    assert d.plan_delete(PODS, pod(node=None), opts(), NOW).remove   # unscheduled
    # grace 0 with a finalizer: kept, grace 0, removed when the finalizer goes
    held = d.plan_delete(PODS, pod(finalizers=["f"]), opts(gracePeriodSeconds=0), NOW)
    assert held.write and held.obj["metadata"]["deletionGracePeriodSeconds"] == 0
    assert d.should_remove_on_update(PODS, held.obj, pod())
    assert not d.should_remove_on_update(PODS, marked, pod())  # still in its grace period


def test_namespace_terminates_then_waits_for_finalize():
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo", "uid": "n"},
          "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}
    plan = d.plan_namespace_delete(ns, opts(propagationPolicy="Background"), NOW)
    assert plan.write and plan.obj["status"]["phase"] == "Terminating"
    assert plan.obj["metadata"]["deletionTimestamp"]
    assert "deletionGracePeriodSeconds" not in plan.obj["metadata"]
    assert "finalizers" not in plan.obj["metadata"]
    assert not d.plan_namespace_delete(plan.obj, opts(), NOW).write   # spec finalizers left
    fg = d.plan_namespace_delete(ns, opts(propagationPolicy="Foreground"), NOW)
    assert fg.obj["metadata"]["finalizers"] == ["foregroundDeletion"]
    finalized = dict(plan.obj, spec={"finalizers": []})
    assert d.should_remove_on_update(NS, plan.obj, finalized)
    assert not d.should_remove_on_update(NS, plan.obj, plan.obj)


def test_update_rules_on_finalizers():
    deleting = obj(["a"], deletionTimestamp="2023-11-14T22:00:00Z")
    causes = d.update_causes(deleting, obj(["a", "b"]))
    assert causes[0]["field"] == "metadata.finalizers"
    assert causes[0]["message"] == ('Forbidden: no new finalizers can be added if the object '
                                    'is being deleted, found new finalizers []string{"b"}')
    both = d.update_causes(obj(), obj(["orphan", "foregroundDeletion"]))
    assert "finalizer orphan and foregroundDeletion cannot be both set" in both[0]["message"]
    assert d.update_causes(deleting, obj([])) == []


# -- the Registry over a real store --------------------------------------------------------
@pytest.fixture
def reg(tmp_path):
    store = SqliteStore(str(tmp_path / "db.sqlite"))
    r = Registry(store, ServiceIPAM(store, "10.96.0.0/12", (30000, 32767)), clock=lambda: NOW)
    for name in ("default", "demo"):
        r.create(NS, None, {"metadata": {"name": name}}, Ctx())
    yield r
    store.close()


def deployment(name="web", finalizers=None):
    meta = {"name": name}
    if finalizers:
        meta["finalizers"] = finalizers
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
            "spec": {"selector": {"matchLabels": {"a": "b"}},
                     "template": {"metadata": {"labels": {"a": "b"}},
                                  "spec": {"containers": [{"name": "c", "image": "i"}]}}}}


def test_registry_marks_and_removes_when_finalizers_go(reg):
    reg.create(DEP, "default", deployment(), Ctx())
    out, code = reg.delete(DEP, "default", "web", {"propagationPolicy": "Foreground"}, Ctx())
    assert code == 200 and out["metadata"]["finalizers"] == ["foregroundDeletion"]
    kept = reg.get(DEP, "default", "web")
    assert kept["metadata"]["deletionTimestamp"]
    with pytest.raises(ApiStatusError) as e:       # no new finalizers while deleting
        reg.update(DEP, "default", "web", dict(kept, metadata=dict(
            kept["metadata"], finalizers=["foregroundDeletion", "x"])), Ctx())
    assert e.value.code == 422
    reg.update(DEP, "default", "web", dict(kept, metadata=dict(kept["metadata"],
                                                               finalizers=[])), Ctx())
    assert reg.read(DEP, "default", "web") is None
    reg.create(DEP, "default", deployment("bg"), Ctx())
    reg.delete(DEP, "default", "bg", {"propagationPolicy": "Background"}, Ctx())
    assert reg.read(DEP, "default", "bg") is None
    reg.create(DEP, "default", deployment("od"), Ctx())
    out, code = reg.delete(DEP, "default", "od", {"orphanDependents": False},
                           Ctx())  # removed now: 200, no finalizer
    assert code == 200 and reg.read(DEP, "default", "od") is None


def test_registry_namespace_lifecycle(reg):
    out, _ = reg.delete(NS, None, "demo", {"propagationPolicy": "Background"}, Ctx())
    assert out["status"]["phase"] == "Terminating"
    with pytest.raises(ApiStatusError) as e:
        reg.create(kinds.RESOURCES["services"], "demo", {
            "metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}]}}, Ctx())
    assert e.value.code == 403 and e.value.message == (
        'services "s" is forbidden: unable to create new content in namespace demo because '
        "it is being terminated")
    ns = reg.get(NS, None, "demo")
    # a plain update cannot drop spec.finalizers; /finalize can, and then it is gone
    reg.update(NS, None, "demo", dict(ns, spec={"finalizers": []}), Ctx())
    ns = reg.get(NS, None, "demo")
    assert ns["spec"]["finalizers"] == ["kubernetes"]
    reg.update(NS, None, "demo", dict(ns, spec={"finalizers": []}), Ctx(), "finalize")
    assert reg.read(NS, None, "demo") is None


def test_deletecollection_marks_each(reg):
    for n in ("a", "b"):
        reg.create(DEP, "default", deployment(n), Ctx())
    out = reg.delete_collection(DEP, "default", {"propagationPolicy": "Orphan"}, Ctx())
    assert [i["metadata"]["finalizers"] for i in out["items"]] == [["orphan"], ["orphan"]]
    assert all(reg.get(DEP, "default", n)["metadata"]["deletionTimestamp"] for n in "ab")


def test_job_default_orphans_with_upstream_warning(reg):
    from k8snet.apiserver import objects as o
    jobs = kinds.KindInfo("Job", "jobs", "job", "batch", "v1", True)
    job = obj()
    reg.store.create(o.key(jobs, "default", "x"), o.encode(job))
    ctx = Ctx()
    out, _ = reg.delete(jobs, "default", "x", {}, ctx)
    assert out["metadata"]["finalizers"] == ["orphan"]
    assert ctx.warnings == [d.JOB_ORPHAN_WARNING]
    ctx = Ctx()
    reg.create(DEP, "default", deployment("w"), Ctx())
    reg.delete(DEP, "default", "w", {}, ctx)
    assert ctx.warnings == []  # only Jobs warn
