"""The RBAC cache over a real SQLite store: it lists, follows writes through its watches,
coalesces bursts into few policy builds, and writes aggregated ClusterRoles' unions back."""

from __future__ import annotations

import json
import threading
import time

import pytest

from k8snet.apiserver import rbac
from k8snet.apiserver.bootstrap import aggregation_writer, ensure_default_rbac
from k8snet.apiserver.context import Ctx
from k8snet.apiserver.identity import UserInfo
from k8snet.apiserver.ipam import ServiceIPAM
from k8snet.apiserver.rbaccache import RbacCache
from k8snet.apiserver.registry import Registry
from k8snet.machinery import resources as kinds
from k8snet.store import open_store

APP = UserInfo("system:serviceaccount:demo:app",
               groups=("system:serviceaccounts", "system:authenticated"))


@pytest.fixture
def env(tmp_path):
    store = open_store(f"sqlite:///{tmp_path}/state.db")
    reg = Registry(store, ServiceIPAM(store, "10.96.0.0/12", (30000, 32767)))
    reg.create(kinds.KINDS["Namespace"], None, {"metadata": {"name": "demo"}}, Ctx())
    ensure_default_rbac(reg)
    stop = threading.Event()
    cache = RbacCache(store, reconcile=aggregation_writer(reg))
    cache.start(stop)
    cache.wait_synced(10)
    try:
        yield reg, cache
    finally:
        stop.set()
        time.sleep(0.1)
        store.close()


def binding(name, role, sa):
    return {"metadata": {"name": name},
            "roleRef": {"apiGroup": rbac.GROUP, "kind": "ClusterRole", "name": role},
            "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": "demo"}]}


def list_pods(cache):
    return rbac.authorize(cache.policy(), rbac.Attributes(APP, "list", True, "demo", "",
                                                          "v1", "pods"))


def test_follows_writes_and_deletes(env):
    reg, cache = env
    info = kinds.RESOURCES["rolebindings"]
    assert not list_pods(cache).allowed
    obj = reg.create(info, "demo", binding("app-view", "view", "app"), Ctx())
    key = "/registry/rolebindings/demo/app-view"
    assert cache.wait_observed(key, int(obj["metadata"]["resourceVersion"]), 5)
    assert list_pods(cache).allowed
    reg.delete(info, "demo", "app-view", {}, Ctx())
    assert cache.wait_observed(key, None, 5)
    assert not list_pods(cache).allowed


def test_burst_of_bindings_is_coalesced(env):
    """Writes faster than a policy build are folded into the next build."""
    reg, cache = env
    before = cache.builds
    rev = 0
    for i in range(2000):
        rev = reg.store.create(f"/registry/rolebindings/demo/b{i}",
                               json.dumps(dict(binding(f"b{i}", "view", f"sa{i}"), metadata={
                                   "name": f"b{i}", "namespace": "demo"})).encode())
    assert cache.wait_observed("/registry/rolebindings/demo/b1999", rev, 20)
    assert sum(len(v) for v in cache.policy().role_bindings.values()) == 2000
    assert cache.builds - before < 2000 / 4


def test_aggregated_roles_are_written_back(env):
    reg, cache = env
    info = kinds.RESOURCES["clusterroles"]
    end = time.monotonic() + 60  # a deadline, not a speed target: the machine may be loaded
    while time.monotonic() < end and not reg.get(info, None, "view").get("rules"):
        time.sleep(0.05)
    view = reg.get(info, None, "view")
    assert {"verbs": ["get", "list", "watch"], "apiGroups": [""],
            "resources": ["namespaces"]} in view["rules"]
    admin = reg.get(info, None, "admin")
    assert any("rolebindings" in r.get("resources", []) for r in admin["rules"])
    reg.create(info, None, {"metadata": {"name": "leases-view", "labels": {
        "rbac.authorization.k8s.io/aggregate-to-view": "true"}},
        "rules": [{"verbs": ["list"], "apiGroups": ["coordination.k8s.io"],
                   "resources": ["leases"]}]}, Ctx())
    end = time.monotonic() + 60
    rule = {"verbs": ["list"], "apiGroups": ["coordination.k8s.io"], "resources": ["leases"]}
    while time.monotonic() < end and not all(
            rule in (reg.get(info, None, name).get("rules") or []) for name in ("view", "edit")):
        time.sleep(0.05)
    assert rule in reg.get(info, None, "view")["rules"]
    assert rule in reg.get(info, None, "edit")["rules"]       # view aggregates into edit


def test_default_rbac_is_idempotent_and_repairs(env):
    reg, _cache = env
    info = kinds.RESOURCES["clusterrolebindings"]
    first = reg.get(info, None, "system:basic-user")
    ensure_default_rbac(reg)
    assert reg.get(info, None, "system:basic-user")["metadata"]["resourceVersion"] == \
        first["metadata"]["resourceVersion"]
    reg.update(info, None, "system:basic-user", dict(first, subjects=[]), Ctx())
    ensure_default_rbac(reg)
    assert reg.get(info, None, "system:basic-user")["subjects"] == first["subjects"]
