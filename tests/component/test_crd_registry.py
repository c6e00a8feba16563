"""The apiextensions side of the registry, in process over a SQLite store: names taken in a
group, versions served with conversion "None", and the cleanup finalizer waiting for
custom resources that hold finalizers of their own."""

from __future__ import annotations

import copy
import json
import os
import threading
import time
from typing import Callable

import pytest
import yaml

from k8snet.apiextensions import crdstatus
from k8snet.apiextensions.manager import CustomResources
from k8snet.apiserver.context import Ctx
from k8snet.apiserver.ipam import ServiceIPAM
from k8snet.apiserver.registry import Registry
from k8snet.store import open_store

CRONTAB = os.path.join(os.path.dirname(__file__), "..", "data", "crds", "crontab.yaml")
DEADLINE = 20.0


def wait_for(what: str, check: Callable[[], object]) -> object:
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        got = check()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"gave up after {DEADLINE}s waiting for {what}")


@pytest.fixture()
def reg(tmp_path):
    store = open_store(f"sqlite:///{tmp_path}/state.db")
    registry = Registry(store, ServiceIPAM(store, "10.96.0.0/12", (30000, 32767)))
    registry.extensions = CustomResources(registry, cleanup_deadline=0.5)
    registry.extensions.retry_interval = 0.2
    stop = threading.Event()
    thread = threading.Thread(target=registry.extensions.run, args=(stop,), daemon=True)
    thread.start()
    registry.create(registry.table.get("", "v1", "namespaces"), None,
                    {"metadata": {"name": "default"}}, Ctx())
    try:
        yield registry
    finally:
        stop.set()
        thread.join(10)
        store.close()


def crontab_crd() -> dict:
    with open(CRONTAB) as f:
        return yaml.safe_load(f)


def crd_info(reg):
    return reg.table.get("apiextensions.k8s.io", "v1", "customresourcedefinitions")


def condition(reg, name: str, ctype: str) -> dict:
    crd = reg.read(crd_info(reg), None, name)
    return (crdstatus.condition((crd or {}).get("status"), ctype) or {}) if crd else {}


def test_a_plural_in_use_is_refused_until_freed(reg):
    reg.create(crd_info(reg), None, crontab_crd(), Ctx())
    wait_for("crontabs established",
             lambda: condition(reg, "crontabs.stable.example.com", "Established")
             .get("status") == "True")
    other = crontab_crd()
    other["metadata"]["name"] = "crontabs.stable.example.com"
    other["spec"]["names"] = {"plural": "crons", "singular": "crontab", "kind": "Cron"}
    other["metadata"]["name"] = "crons.stable.example.com"
    reg.create(crd_info(reg), None, other, Ctx())
    names = wait_for("a naming decision", lambda: condition(
        reg, "crons.stable.example.com", "NamesAccepted") or None)
    assert (names["status"], names["reason"], names["message"]) == \
        ("False", "SingularConflict", '"crontab" is already in use')
    assert reg.table.get("stable.example.com", "v1", "crons") is None
    reg.delete(crd_info(reg), None, "crontabs.stable.example.com", {}, Ctx())
    wait_for("crons accepted once crontabs is gone", lambda: condition(
        reg, "crons.stable.example.com", "Established").get("status") == "True")
    assert reg.table.get("stable.example.com", "v1", "crons") is not None
    assert reg.table.get("stable.example.com", "v1", "crontabs") is None


def test_versions_share_the_storage_version(reg):
    crd = crontab_crd()
    beta = copy.deepcopy(crd["spec"]["versions"][0])
    beta.update(name="v1beta1", storage=False)
    crd["spec"]["versions"].insert(0, beta)
    reg.create(crd_info(reg), None, crd, Ctx())
    v1beta1 = wait_for("v1beta1 served", lambda: reg.table.get("stable.example.com",
                                                                "v1beta1", "crontabs"))
    v1 = reg.table.get("stable.example.com", "v1", "crontabs")
    ctx = Ctx(params={"fieldValidation": "Strict"})
    reg.create(v1beta1, "default", {"apiVersion": "stable.example.com/v1beta1",
                                    "kind": "CronTab", "metadata": {"name": "a"},
                                    "spec": {"cronSpec": "* * * * */5", "image": "i"}}, ctx)
    raw, _ = reg.store.get("/registry/stable.example.com/crontabs/default/a")
    assert json.loads(raw)["apiVersion"] == "stable.example.com/v1"
    assert reg.get(v1, "default", "a")["apiVersion"] == "stable.example.com/v1"
    assert reg.get(v1beta1, "default", "a")["apiVersion"] == "stable.example.com/v1beta1"


def test_cleanup_waits_for_finalizers_of_custom_resources(reg):
    reg.create(crd_info(reg), None, crontab_crd(), Ctx())
    info = wait_for("crontabs served", lambda: reg.table.get("stable.example.com", "v1",
                                                              "crontabs"))
    reg.create(info, "default", {"apiVersion": "stable.example.com/v1", "kind": "CronTab",
                                 "metadata": {"name": "held", "finalizers": ["example.com/x"]},
                                 "spec": {"cronSpec": "* * * * */5", "image": "i"}}, Ctx())
    marked, code = reg.delete(crd_info(reg), None, "crontabs.stable.example.com", {}, Ctx())
    assert code == 200 and marked["metadata"]["deletionTimestamp"]
    assert crdstatus.CLEANUP_FINALIZER in marked["metadata"]["finalizers"]
    assert crdstatus.condition(marked["status"], "Terminating")["reason"] == \
        "InstanceDeletionPending"
    wait_for("the cleanup to give up waiting once", lambda: condition(
        reg, "crontabs.stable.example.com", "Terminating").get("reason") ==
        "InstanceDeletionCheck")
    held = reg.get(info, "default", "held")
    assert held["metadata"]["deletionTimestamp"]

    def release(cur):
        new = copy.deepcopy(cur)
        new["metadata"]["finalizers"] = []
        return new
    reg.guaranteed_update(info, "default", "held", release, Ctx())
    wait_for("the CRD to go", lambda: reg.read(crd_info(reg), None,
                                               "crontabs.stable.example.com") is None)
    wait_for("crontabs unserved", lambda: reg.table.get("stable.example.com", "v1",
                                                         "crontabs") is None)
