"""Watch semantics against the apiserver (SQLite and etcd) with a short compaction
interval: 410 Expired for history that is gone (raw HTTP, kubectl, the machinery
client), BOOKMARKs only when asked and carrying the store's progress, WatchList, too
large resourceVersions, and an Informer that bookmarks keep from re-listing."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
import time

import pytest
import requests

from k8snet.machinery.client import ApiClient, Gone
from k8snet.machinery.informer import Informer
from tests.component.apiserver_proc import ApiServerProc, EtcdForTest

KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"
pytestmark = pytest.mark.timeout(300)
PODS = "/api/v1/namespaces/default/pods"
QUIET = "/apis/coordination.k8s.io/v1/namespaces/kube-public/leases"


@pytest.fixture(scope="module", params=["sqlite", "etcd"])
def api(request, tmp_path_factory):
    tmp = str(tmp_path_factory.mktemp(f"watch-{request.param}"))
    etcd = None
    srv = ApiServerProc(tmp, extra=("--compaction-interval", "3"))
    try:
        if request.param == "etcd":
            from k8snet.store.etcd_process import ETCD_BIN
            if not os.access(ETCD_BIN, os.X_OK):
                pytest.skip(f"{ETCD_BIN} missing")
            etcd = EtcdForTest(tmp)
            srv.extra += ["--store", etcd.start()]
        yield srv.start()
    finally:
        srv.stop()
        if etcd is not None:
            etcd.stop()


@pytest.fixture()
def s(api):
    sess = requests.Session()
    sess.trust_env = False
    sess.verify = api.ca_file
    sess.headers["Authorization"] = f"Bearer {api.token}"
    yield sess
    sess.close()


_names = iter(range(1_000_000))


def make_pod(s, api) -> dict:
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": f"w{next(_names)}", "labels": {"suite": "watch"}},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    r = s.post(api.url + PODS, json=body, timeout=30)
    assert r.status_code == 201, r.text
    return r.json()


def stream(s, api, path: str, timeout: float = 60) -> tuple[int, list[dict], float]:
    """(HTTP status, events, seconds the stream lasted)."""
    start = time.monotonic()
    r = s.get(api.url + path, stream=True, timeout=timeout)
    events = [json.loads(x) for x in r.iter_lines() if x.strip()]
    return r.status_code, events, time.monotonic() - start


def test_expired_resource_version_is_200_then_error_410(s, api):
    for _ in range(3):
        make_pod(s, api)
    deadline = time.monotonic() + 30
    while True:  # compaction every 3 s forgets what is older than the round before
        code, events, _ = stream(s, api, f"{PODS}?watch=true&resourceVersion=1"
                                         "&timeoutSeconds=1")
        if events and events[0]["type"] == "ERROR":
            break
        assert time.monotonic() < deadline, f"history never compacted: {events[:2]}"
        time.sleep(0.5)
    assert code == 200 and len(events) == 1
    status = events[0]["object"]
    assert status["kind"] == "Status" and status["status"] == "Failure"
    assert status["code"] == 410 and status["reason"] == "Expired"
    oldest = int(re.fullmatch(r"too old resource version: 1 \((\d+)\)",
                              status["message"]).group(1))
    assert oldest > 1
    # the machinery client raises Gone (what the Informer re-lists on)
    client = ApiClient.from_kubeconfig(api.kubeconfig)
    with pytest.raises(Gone) as e:
        list(client.watch("pods", "default", resource_version="1", timeout_seconds=5))
    assert e.value.code == 410 and "too old resource version: 1" in e.value.message
    # kubectl shows the same stream
    if os.path.exists(KUBECTL):
        home = os.path.join(api.tmp, "home")
        os.makedirs(home, exist_ok=True)
        p = subprocess.run([KUBECTL, "--cache-dir", os.path.join(api.tmp, "cache"), "get",
                            "--raw", f"{PODS}?watch=true&resourceVersion=1&timeoutSeconds=2"],
                           env=dict(os.environ, HOME=home, KUBECONFIG=api.kubeconfig),
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        ev = json.loads(p.stdout.strip().splitlines()[0])
        assert ev["type"] == "ERROR" and ev["object"]["reason"] == "Expired"


def test_bookmarks_only_when_asked_and_with_the_store_progress(s, api):
    rv = s.get(api.url + QUIET, timeout=30).json()["metadata"]["resourceVersion"]
    written: list[int] = []

    def write_elsewhere():
        time.sleep(0.5)
        written.append(int(make_pod(s, api)["metadata"]["resourceVersion"]))
    t = threading.Thread(target=write_elsewhere)
    t.start()
    code, events, took = stream(s, api, f"{QUIET}?watch=true&resourceVersion={rv}"
                                        "&allowWatchBookmarks=true&timeoutSeconds=10")
    t.join()
    assert code == 200 and 9 < took < 20
    assert [e["type"] for e in events] == ["BOOKMARK"]   # 2 s before the timeout
    obj = events[0]["object"]
    assert obj["kind"] == "Lease" and obj["apiVersion"] == "coordination.k8s.io/v1"
    assert int(obj["metadata"]["resourceVersion"]) >= written[0] > int(rv)
    rv = s.get(api.url + QUIET, timeout=30).json()["metadata"]["resourceVersion"]
    t = threading.Thread(target=write_elsewhere)
    t.start()
    code, events, _ = stream(s, api, f"{QUIET}?watch=true&resourceVersion={rv}"
                                     "&timeoutSeconds=4")
    t.join()
    assert code == 200 and events == []


def test_watch_list_sends_state_then_initial_events_end(s, api):
    mine = [make_pod(s, api) for _ in range(2)]
    names = {p["metadata"]["name"] for p in mine}
    code, events, _ = stream(s, api, f"{PODS}?watch=true&sendInitialEvents=true"
                                     "&resourceVersionMatch=NotOlderThan"
                                     "&allowWatchBookmarks=true&timeoutSeconds=3"
                                     "&labelSelector=suite%3Dwatch")
    assert code == 200
    kinds_seen = [e["type"] for e in events]
    end = kinds_seen.index("BOOKMARK")
    assert set(kinds_seen[:end]) == {"ADDED"}
    assert names <= {e["object"]["metadata"]["name"] for e in events[:end]}
    mark = events[end]["object"]["metadata"]
    assert mark["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert int(mark["resourceVersion"]) >= max(int(p["metadata"]["resourceVersion"])
                                               for p in mine)
    r = s.get(api.url + f"{PODS}?watch=true&sendInitialEvents=true", timeout=30)
    assert r.status_code == 422 and r.json()["message"] == (
        'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: '
        "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan")
    # sendInitialEvents=false: no state, only what happens next
    code, events, _ = stream(s, api, f"{PODS}?watch=true&sendInitialEvents=false"
                                     "&resourceVersionMatch=NotOlderThan&timeoutSeconds=1")
    assert code == 200 and events == []


def test_too_large_resource_version(s, api):
    rv = int(s.get(api.url + PODS, timeout=30).json()["metadata"]["resourceVersion"])
    code, events, took = stream(s, api, f"{PODS}?watch=true&resourceVersion={rv + 10000}"
                                        "&timeoutSeconds=30")
    assert code == 200 and 2.5 < took < 15
    assert [e["type"] for e in events] == ["ERROR"]
    st = events[0]["object"]
    assert st["code"] == 504 and st["reason"] == "Timeout"
    assert st["message"].startswith(f"Too large resource version: {rv + 10000}, current: ")


def test_informer_on_a_quiet_resource_is_kept_current_by_bookmarks(api):
    """Its watches end every 4 s; each resumes from the revision of the BOOKMARK sent 2 s
    before, which compaction (every 3 s, to the previous round) has not overtaken: it
    never has to list again, although its own resource does not change at all."""
    client = ApiClient.from_kubeconfig(api.kubeconfig)
    lists = []
    real_list = client.list
    client.list = lambda *a, **kw: lists.append(1) or real_list(*a, **kw)  # type: ignore
    stop = threading.Event()
    inf = Informer(client, "leases", namespace="kube-public", watch_timeout=4)
    inf.start(stop)
    try:
        assert inf.wait_synced(30)
        writer = ApiClient.from_kubeconfig(api.kubeconfig)
        last = 0
        end = time.monotonic() + 16
        while time.monotonic() < end:
            pod = writer.create("pods", {"apiVersion": "v1", "kind": "Pod", "metadata": {
                "generateName": "busy-", "namespace": "default"},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]}}, "default")
            last = int(pod["metadata"]["resourceVersion"])
            time.sleep(0.5)
        time.sleep(5)  # one more watch round
        assert lists == [1], "the Informer had to list again (its watch expired)"
        assert int(inf.resource_version) >= last - 20
    finally:
        stop.set()
