"""The kubelet's ConfigMaps, Secrets and Services from informers: what it reads from
the cache, when it asks the apiserver instead, and that its objects are its own."""

import threading

import pytest

from k8snet.kubelet.podinputs import PodInputs, WatchedObjects
from k8snet.machinery.client import NotFound


class FakeInformer:
    made: list = []

    def __init__(self, api, resource, **_kwargs):
        self.resource, self.items, self.synced = resource, dict(api.stored[resource]), True
        self.started = False
        FakeInformer.made.append(resource)

    def start(self, _stop):
        self.started = True

    def wait_synced(self, _timeout):
        return self.synced

    def get(self, key):
        return self.items.get(key)

    def snapshot(self):
        return dict(self.items)


class FakeApi:
    def __init__(self):
        self.calls = []
        cm = {"metadata": {"name": "kube-root-ca.crt", "namespace": "x"},
              "data": {"ca.crt": "PEM"}}
        svc = {"metadata": {"name": "web", "namespace": "x"}, "spec": {"clusterIP": "10.96.0.9"}}
        other = {"metadata": {"name": "db", "namespace": "y"}, "spec": {"clusterIP": "10.96.0.8"}}
        self.stored = {"configmaps": {"x/kube-root-ca.crt": cm}, "secrets": {},
                       "services": {"x/web": svc, "y/db": other}}

    def get(self, resource, name, namespace):
        self.calls.append(("get", resource, name))
        if resource == "configmaps" and name == "late":
            return {"metadata": {"name": "late", "namespace": namespace}, "data": {}}
        raise NotFound(404, "NotFound", f'{resource} "{name}" not found', {})

    def list(self, resource, namespace):
        self.calls.append(("list", resource, namespace))
        return {"items": [o for o in self.stored[resource].values()
                          if o["metadata"]["namespace"] == namespace]}


def objects(api, **kwargs):
    FakeInformer.made = []
    return WatchedObjects(api, threading.Event(), make=FakeInformer, **kwargs)


def test_reads_come_from_one_informer_per_resource_started_at_first_use():
    api = FakeApi()
    cache = objects(api)
    assert FakeInformer.made == []                       # no Pod, no watch
    for _ in range(3):
        assert cache.get("configmaps", "x", "kube-root-ca.crt")["data"] == {"ca.crt": "PEM"}
    assert [s["metadata"]["name"] for s in cache.list("services", "x")] == ["web"]
    assert FakeInformer.made == ["configmaps", "services"] and api.calls == []


def test_what_the_cache_lacks_is_read_from_the_apiserver():
    api = FakeApi()
    cache = objects(api)
    assert cache.get("configmaps", "x", "late")["metadata"]["name"] == "late"
    with pytest.raises(NotFound):
        cache.get("secrets", "x", "missing")
    assert api.calls == [("get", "configmaps", "late"), ("get", "secrets", "missing")]
    with pytest.raises(NotFound):                        # not a cached resource
        cache.get("persistentvolumeclaims", "x", "data")
    assert "persistentvolumeclaims" not in FakeInformer.made


def test_an_informer_not_listed_yet_means_a_direct_read():
    api = FakeApi()
    cache = objects(api)
    cache.list("services", "x")                          # the informer exists...
    cache._informers["services"].synced = False          # ...but has not listed (yet)
    assert [s["metadata"]["name"] for s in cache.list("services", "y")] == ["db"]
    assert api.calls == [("list", "services", "y")]


def test_callers_get_copies():
    api = FakeApi()
    cache = objects(api)
    got = cache.get("configmaps", "x", "kube-root-ca.crt")
    got["data"]["ca.crt"] = "changed"
    assert cache.get("configmaps", "x", "kube-root-ca.crt")["data"]["ca.crt"] == "PEM"


def test_pod_inputs_read_services_through_the_cache(tmp_path):
    api = FakeApi()
    inputs = PodInputs(api, str(tmp_path), "192.168.0.11", objects=objects(api))
    pod = {"metadata": {"name": "p", "namespace": "x", "uid": "u"}, "spec": {}}
    assert {s["metadata"]["name"] for s in inputs.services(pod)} == {"web"}
    assert api.calls == []
