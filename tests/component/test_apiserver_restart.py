"""Restart and kill -9 of the apiserver with SQLite: nothing acknowledged is lost,
allocations persist, and watches resume from the last resourceVersion they saw."""

from __future__ import annotations

import json
import signal
import threading
import time

import requests

from tests.component.apiserver_proc import ApiServerProc


def session(srv):
    s = requests.Session()
    s.trust_env = False
    s.verify = srv.ca_file
    s.headers["Authorization"] = f"Bearer {srv.token}"
    return s


def post(s, srv, path, obj):
    r = s.post(srv.url + path, data=json.dumps(obj), timeout=30,
               headers={"Content-Type": "application/json"})
    return r.status_code, r.json()


def cm_pod(name):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


def watch_until_dropped(s, srv, path, events):
    try:
        with s.get(srv.url + path, stream=True, timeout=60) as r:
            for line in r.iter_lines():
                if line:
                    events.append(json.loads(line))
    except (requests.RequestException, ValueError):
        pass


def test_kill9_and_restart_lose_nothing_and_watch_resumes(tmp_path):
    srv = ApiServerProc(str(tmp_path))
    try:
        srv.start()
        s = session(srv)
        base = "/api/v1/namespaces/default/pods"
        rv0 = s.get(srv.url + base, timeout=10).json()["metadata"]["resourceVersion"]
        events: list = []
        t = threading.Thread(target=watch_until_dropped, daemon=True, args=(
            s, srv, f"{base}?watch=true&resourceVersion={rv0}", events))
        t.start()
        acked = {}
        for i in range(30):
            code, obj = post(s, srv, base, cm_pod(f"k{i}"))
            assert code == 201
            acked[obj["metadata"]["name"]] = (obj["metadata"]["uid"],
                                              obj["metadata"]["resourceVersion"])
        code, svc = post(s, srv, "/api/v1/namespaces/default/services", {
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "keep"},
            "spec": {"type": "NodePort", "ports": [{"port": 80}]}})
        assert code == 201
        k8s_uid = s.get(srv.url + "/api/v1/namespaces/default/services/kubernetes",
                        timeout=10).json()["metadata"]["uid"]
        srv.kill9()
        t.join(timeout=20)
        assert not t.is_alive(), "the watch did not end when its apiserver was killed"
        last_rv = events[-1]["object"]["metadata"]["resourceVersion"] if events else rv0

        srv.start()
        s = session(srv)
        # created after the kill, before the watcher comes back: must not be missed
        assert post(s, srv, base, cm_pod("after"))[0] == 201
        lst = s.get(srv.url + base, timeout=10).json()
        have = {p["metadata"]["name"]: (p["metadata"]["uid"], p["metadata"]["resourceVersion"])
                for p in lst["items"]}
        for name, meta in acked.items():
            assert have.get(name) == meta, f"{name} lost or changed by kill -9"
        got = s.get(srv.url + "/api/v1/namespaces/default/services/kubernetes",
                    timeout=10).json()
        assert got["metadata"]["uid"] == k8s_uid
        # allocations survived: the same ClusterIP / NodePort cannot be taken again
        code, err = post(s, srv, "/api/v1/namespaces/default/services", {
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "dup"},
            "spec": {"clusterIP": svc["spec"]["clusterIP"], "ports": [{"port": 80}]}})
        assert code == 422 and "already allocated" in err["message"]
        r = s.get(srv.url + f"{base}?watch=true&resourceVersion={last_rv}&timeoutSeconds=3",
                  timeout=30)
        resumed = [json.loads(x) for x in r.text.splitlines() if x.strip()]
        names = [e["object"]["metadata"]["name"] for e in resumed if e["type"] == "ADDED"]
        seen_before = {e["object"]["metadata"]["name"] for e in events}
        assert set(acked) <= seen_before | set(names)
        assert "after" in names

        # a graceful restart (SIGTERM) keeps everything too
        srv.stop(signal.SIGTERM)
        assert srv.proc.returncode == 0, srv.log()
        srv.start()
        s = session(srv)
        assert len(s.get(srv.url + base, timeout=10).json()["items"]) == 31
    finally:
        srv.stop()


def test_watch_and_continue_from_compacted_revision_get_410(tmp_path):
    srv = ApiServerProc(str(tmp_path), extra=("--compaction-interval", "0.5",
                                              "--compaction-keep", "3"))
    try:
        srv.start()
        s = session(srv)
        base = "/api/v1/namespaces/default/pods"
        first = None
        for i in range(8):
            code, obj = post(s, srv, base, cm_pod(f"c{i}"))
            assert code == 201
            first = first or obj["metadata"]["resourceVersion"]
        page = s.get(srv.url + base + "?limit=2", timeout=10).json()
        cont = page["metadata"]["continue"]
        for i in range(8, 16):
            assert post(s, srv, base, cm_pod(f"c{i}"))[0] == 201
        deadline = time.monotonic() + 20
        while True:
            r = s.get(srv.url + f"{base}?watch=true&resourceVersion={first}&timeoutSeconds=2",
                      timeout=30)
            evs = [json.loads(x) for x in r.text.splitlines() if x.strip()]
            if evs and evs[0]["type"] == "ERROR":
                break
            assert time.monotonic() < deadline, "history never compacted"
            time.sleep(0.3)
        assert len(evs) == 1
        st = evs[0]["object"]
        assert st["kind"] == "Status" and st["code"] == 410 and st["reason"] == "Expired"
        assert "too old resource version" in st["message"]
        while True:  # compaction runs every 0.5 s: wait until it passed the list's revision
            r = s.get(srv.url + f"{base}?limit=2&continue={cont}", timeout=10)
            if r.status_code != 200:
                break
            assert time.monotonic() < deadline, "continue token never expired"
            time.sleep(0.3)
        assert r.status_code == 410 and r.json()["reason"] == "Expired"
    finally:
        srv.stop()


def test_flags_insecure_http_tls_san_and_usage_errors(tmp_path):
    import subprocess
    import sys

    from cryptography import x509
    bad = subprocess.run([sys.executable, "-m", "k8snet.cli", "apiserver", "--data-dir",
                          str(tmp_path / "x"), "--insecure-http", "--bind-address", "0.0.0.0"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "loopback only" in bad.stderr
    bad = subprocess.run([sys.executable, "-m", "k8snet.cli", "apiserver", "--data-dir",
                          str(tmp_path / "x"), "--node-port-range", "5-1"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--node-port-range" in bad.stderr
    srv = ApiServerProc(str(tmp_path / "plain"), extra=("--insecure-http",))
    try:
        srv.proc = subprocess.Popen(
            [sys.executable, "-m", "k8snet.cli", "apiserver", "--data-dir", srv.data_dir,
             "--port", str(srv.port), "--insecure-http", "--tls-san", "api.example",
             "--advertise-address", "10.0.0.1"], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:
                r = requests.get(f"http://127.0.0.1:{srv.port}/api/v1/namespaces", timeout=5)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "plain-http apiserver never answered"
                time.sleep(0.2)
        assert r.status_code == 200 and r.json()["kind"] == "NamespaceList"
        with open(srv.data_dir + "/apiserver.crt", "rb") as f:
            cert = x509.load_pem_x509_certificate(f.read())
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert "api.example" in sans.get_values_for_type(x509.DNSName)
        assert {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)} >= {
            "127.0.0.1", "10.0.0.1"}
        ep = requests.get(f"http://127.0.0.1:{srv.port}/api/v1/namespaces/default/endpoints/"
                          "kubernetes", timeout=5).json()
        assert ep["subsets"][0]["addresses"][0]["ip"] == "10.0.0.1"
    finally:
        srv.stop()
