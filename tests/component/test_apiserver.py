"""The apiserver over real HTTPS on loopback: auth, discovery, verbs, subresources,
allocation, graceful deletion, namespaces, watch, logs, error shapes."""

from __future__ import annotations

import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from tests.component.apiserver_proc import ApiServerProc, EtcdForTest


@pytest.fixture(scope="module", params=["sqlite", "etcd"])
def api(request, tmp_path_factory):
    """The apiserver on each store (etcd when Debian's etcd-server is installed)."""
    tmp = str(tmp_path_factory.mktemp(f"apiserver-{request.param}"))
    extra: tuple = ("--bookmark-interval", "1")
    etcd = None
    if request.param == "etcd":
        from k8snet.store.etcd_process import ETCD_BIN
        if not os.access(ETCD_BIN, os.X_OK):
            pytest.skip(f"{ETCD_BIN} missing")
        etcd = EtcdForTest(tmp)
    srv = ApiServerProc(tmp, extra=extra)
    try:
        if etcd is not None:
            srv.extra += ["--store", etcd.start()]
        yield srv.start()
    finally:
        srv.stop()
        if etcd is not None:
            etcd.stop()


@pytest.fixture()
def s(api):
    sess = requests.Session()
    sess.trust_env = False  # REQUESTS_CA_BUNDLE would override verify
    sess.verify = api.ca_file
    sess.headers["Authorization"] = f"Bearer {api.token}"
    sess.base = api.url  # type: ignore[attr-defined]
    yield sess
    sess.close()


def call(s, method, path, body=None, ctype="application/json", **kw):
    data = body if isinstance(body, (bytes, str)) or body is None else json.dumps(body)
    headers = {"Content-Type": ctype} if data is not None else {}
    headers.update(kw.pop("headers", {}))
    r = s.request(method, s.base + path, data=data, headers=headers, timeout=30, **kw)
    return r.status_code, (r.json() if r.content.strip() else None)


def pod(name, labels=None, node=None, **spec):
    obj = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "labels": labels or {}},
           "spec": {"containers": [{"name": "c", "image": "busybox"}], **spec}}
    if node:
        obj["spec"]["nodeName"] = node
    return obj


def test_token_required_and_status_shape(api):
    r = requests.get(api.url + "/api/v1/pods", verify=api.ca_file, timeout=10)
    assert r.status_code == 401
    body = r.json()
    assert body["kind"] == "Status" and body["reason"] == "Unauthorized" and body["code"] == 401
    r = requests.get(api.url + "/api/v1/pods", verify=api.ca_file, timeout=10,
                     headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401
    v = requests.get(api.url + "/version", verify=api.ca_file, timeout=10).json()
    assert v["minor"] == "32" and v["gitVersion"] == "v1.32.0-k8snet"


def test_discovery_aggregated_and_legacy(s):
    r = s.get(s.base + "/apis", headers={
        "Accept": "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
                  "application/json"}, timeout=10)
    assert "as=APIGroupDiscoveryList" in r.headers["Content-Type"]
    groups = {g["metadata"]["name"]: g for g in r.json()["items"]}
    # kind's 19 groups, and metrics.k8s.io as a cluster with metrics-server has it
    assert len(groups) == 20 and {"apps", "batch", "networking.k8s.io",
                                  "metrics.k8s.io"} <= set(groups)
    assert [v["version"] for v in groups["autoscaling"]["versions"]] == ["v2", "v1"]
    res = groups["apps"]["versions"][0]["resources"]
    assert {x["resource"]: x["scope"] for x in res}["deployments"] == "Namespaced"
    assert call(s, "GET", "/api")[1]["versions"] == ["v1"]
    _, lst = call(s, "GET", "/api/v1")
    names = {x["name"] for x in lst["resources"]}
    assert {"pods", "pods/status", "pods/binding", "pods/log", "nodes/status"} <= names
    _, idx = call(s, "GET", "/openapi/v3")
    assert "apis/apps/v1" in idx["paths"]
    _, doc = call(s, "GET", idx["paths"]["api/v1"]["serverRelativeURL"])
    patch_ops = [p["patch"] for p in doc["paths"].values() if "patch" in p]
    assert any(o["x-kubernetes-group-version-kind"]["kind"] == "Pod" for o in patch_ops)
    code, v2 = call(s, "GET", "/openapi/v2", headers={"Accept": "application/json"})
    assert code == 200 and v2["swagger"] == "2.0"


def test_bootstrap_objects(s):
    _, nss = call(s, "GET", "/api/v1/namespaces")
    assert {"default", "kube-system", "kube-public", "kube-node-lease"} <= {
        n["metadata"]["name"] for n in nss["items"]}
    _, svc = call(s, "GET", "/api/v1/namespaces/default/services/kubernetes")
    assert svc["spec"]["clusterIP"] == "10.96.0.1" and svc["spec"]["ports"][0]["port"] == 443
    _, ep = call(s, "GET", "/api/v1/namespaces/default/endpoints/kubernetes")
    assert ep["subsets"][0]["addresses"][0]["ip"] == "127.0.0.1"


def test_create_get_list_selectors_and_paging(s):
    base = "/api/v1/namespaces/default/pods"
    for i in range(5):
        code, obj = call(s, "POST", base, pod(f"lp{i}", {"tier": "a" if i < 3 else "b"}))
        assert code == 201, obj
        assert obj["metadata"]["uid"] and obj["metadata"]["resourceVersion"]
        assert obj["metadata"]["creationTimestamp"].endswith("Z")
        assert obj["spec"]["restartPolicy"] == "Always"  # defaults applied
        assert obj["kind"] == "Pod" and obj["apiVersion"] == "v1"
    code, lst = call(s, "GET", base + "?labelSelector=tier%3Da")
    assert code == 200 and lst["kind"] == "PodList" and lst["apiVersion"] == "v1"
    assert sorted(p["metadata"]["name"] for p in lst["items"]) == ["lp0", "lp1", "lp2"]
    _, lst = call(s, "GET", base + "?fieldSelector=metadata.name%3Dlp4")
    assert [p["metadata"]["name"] for p in lst["items"]] == ["lp4"]
    seen, cont = [], ""
    while True:
        _, page = call(s, "GET", base + "?labelSelector=tier+in+(a,b)&limit=2" +
                       (f"&continue={cont}" if cont else ""))
        assert len(page["items"]) <= 2
        seen += [p["metadata"]["name"] for p in page["items"]]
        cont = page["metadata"].get("continue", "")
        if not cont:
            break
    assert seen == [f"lp{i}" for i in range(5)]
    assert call(s, "GET", base + "?labelSelector=a%20in")[0] == 400
    code, got = call(s, "GET", base + "/lp0")
    assert code == 200 and got["metadata"]["name"] == "lp0"
    code, err = call(s, "GET", base + "/nope")
    assert code == 404 and err["message"] == 'pods "nope" not found'
    code, err = call(s, "POST", base, pod("lp0"))
    assert code == 409 and err["reason"] == "AlreadyExists"


def test_generate_name_update_conflict_and_generation(s):
    base = "/apis/apps/v1/namespaces/default/deployments"
    dep = {"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"generateName": "gen-"},
           "spec": {"selector": {"matchLabels": {"app": "g"}},
                    "template": {"metadata": {"labels": {"app": "g"}},
                                 "spec": {"containers": [{"name": "c", "image": "x"}]}}}}
    code, obj = call(s, "POST", base, dep)
    assert code == 201 and obj["metadata"]["name"].startswith("gen-")
    assert len(obj["metadata"]["name"]) == 9 and obj["metadata"]["generation"] == 1
    name = obj["metadata"]["name"]
    stale = json.loads(json.dumps(obj))
    obj["spec"]["replicas"] = 3
    code, upd = call(s, "PUT", f"{base}/{name}", obj)
    assert code == 200 and upd["metadata"]["generation"] == 2
    assert int(upd["metadata"]["resourceVersion"]) > int(obj["metadata"]["resourceVersion"])
    stale["spec"]["replicas"] = 4
    code, err = call(s, "PUT", f"{base}/{name}", stale)
    assert code == 409 and err["reason"] == "Conflict"
    # status through the main resource is ignored; through /status only status changes
    upd["status"] = {"replicas": 7}
    upd["metadata"]["labels"] = {"x": "y"}
    code, upd2 = call(s, "PUT", f"{base}/{name}", upd)
    assert code == 200 and upd2["status"].get("replicas") is None
    upd2["status"] = {"replicas": 7, "readyReplicas": 2}
    upd2["spec"]["replicas"] = 9
    code, upd3 = call(s, "PUT", f"{base}/{name}/status", upd2)
    assert code == 200 and upd3["status"]["replicas"] == 7 and upd3["spec"]["replicas"] == 3
    # scale subresource
    code, sc = call(s, "GET", f"{base}/{name}/scale")
    assert code == 200 and sc["kind"] == "Scale" and sc["apiVersion"] == "autoscaling/v1"
    assert sc["spec"]["replicas"] == 3 and sc["status"]["selector"] == "app=g"
    code, sc = call(s, "PATCH", f"{base}/{name}/scale", {"spec": {"replicas": 1}},
                    "application/merge-patch+json")
    assert code == 200 and sc["spec"]["replicas"] == 1
    assert call(s, "GET", f"{base}/{name}")[1]["spec"]["replicas"] == 1


def test_validation_and_strict_fields(s):
    base = "/api/v1/namespaces/default/pods"
    code, err = call(s, "POST", base, pod("Bad_Name"))
    assert code == 422 and err["reason"] == "Invalid"
    assert any(c["field"] == "metadata.name" for c in err["details"]["causes"])
    bad = pod("strict1")
    bad["spec"]["containers"][0]["imagee"] = "x"
    code, err = call(s, "POST", base + "?fieldValidation=Strict", bad)
    assert code == 400 and err["reason"] == "BadRequest"
    assert 'strict decoding error: unknown field "spec.containers[0].imagee"' in err["message"]
    r = s.post(s.base + base, data=json.dumps(bad), timeout=10,
               headers={"Content-Type": "application/json"})
    assert r.status_code == 201 and "unknown field" in r.headers.get("Warning", "")
    assert "imagee" not in r.json()["spec"]["containers"][0]  # dropped, as upstream does
    code, err = call(s, "PATCH", base + "/strict1?fieldValidation=Strict",
                     {"spec": {"nodeSelectr": {"a": "b"}}}, ctype="application/merge-patch+json")
    assert code == 400 and err["message"] == \
        'strict decoding error: unknown field "spec.nodeSelectr"'
    code, err = call(s, "POST", base, dict(pod("typed"), spec={"containers": "c"}))
    assert code == 400 and err["message"] == (
        'Pod in version "v1" cannot be handled as a Pod: json: cannot unmarshal string into '
        'Go struct field PodSpec.spec.containers of type []v1.Container')
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "badport"},
           "spec": {"ports": [{"port": 70000}]}}
    code, err = call(s, "POST", "/api/v1/namespaces/default/services", svc)
    assert code == 422
    code, err = call(s, "POST", "/api/v1/namespaces/nons/pods", pod("x"))
    assert code == 404 and 'namespaces "nons" not found' in err["message"]
    code, err = call(s, "POST", base, {"apiVersion": "apps/v1", "kind": "Pod"})
    assert code == 400


def _svc(name, typ="ClusterIP", ip=None, node_port=None):
    port = {"port": 80}
    if node_port:
        port["nodePort"] = node_port
    spec = {"type": typ, "selector": {"app": name}, "ports": [port]}
    if ip:
        spec["clusterIP"] = ip
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": spec}


def test_service_allocation(s):
    base = "/api/v1/namespaces/default/services"
    ips, ports = set(), set()
    for i in range(6):
        code, obj = call(s, "POST", base, _svc(f"al{i}", "NodePort"))
        assert code == 201, obj
        ips.add(obj["spec"]["clusterIP"])
        ports.add(obj["spec"]["ports"][0]["nodePort"])
        assert obj["spec"]["clusterIPs"] == [obj["spec"]["clusterIP"]]
    assert len(ips) == 6 and len(ports) == 6 and "10.96.0.1" not in ips
    assert all(30000 <= p <= 32767 for p in ports)
    code, obj = call(s, "POST", base, _svc("want", ip="10.96.100.100", node_port=None))
    assert code == 201 and obj["spec"]["clusterIP"] == "10.96.100.100"
    code, err = call(s, "POST", base, _svc("want2", ip="10.96.100.100"))
    assert code == 422 and "already allocated" in err["message"]
    code, err = call(s, "POST", base, _svc("out", ip="192.168.1.1"))
    assert code == 422
    code, obj = call(s, "POST", base, _svc("np", "NodePort", node_port=31234))
    assert code == 201 and obj["spec"]["ports"][0]["nodePort"] == 31234
    code, err = call(s, "POST", base, _svc("np2", "NodePort", node_port=31234))
    assert code == 422 and "already allocated" in err["message"]
    # update keeps the addresses; switching type back releases the node port
    obj["spec"]["type"] = "ClusterIP"
    obj["spec"]["ports"][0].pop("nodePort")
    code, upd = call(s, "PUT", f"{base}/np", obj)
    assert code == 200, upd
    assert upd["spec"]["clusterIP"] == obj["spec"]["clusterIP"]
    assert "nodePort" not in upd["spec"]["ports"][0]
    assert call(s, "POST", base, _svc("np3", "NodePort", node_port=31234))[0] == 201
    # delete releases
    assert call(s, "DELETE", f"{base}/want")[0] == 200
    assert call(s, "POST", base, _svc("want3", ip="10.96.100.100"))[0] == 201


def test_binding_and_graceful_pod_deletion(s):
    base = "/api/v1/namespaces/default/pods"
    assert call(s, "POST", base, pod("b1"))[0] == 201
    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "b1"},
               "target": {"apiVersion": "v1", "kind": "Node", "name": "w1"}}
    code, st = call(s, "POST", f"{base}/b1/binding", binding)
    assert code == 201 and st["status"] == "Success"
    _, got = call(s, "GET", f"{base}/b1")
    assert got["spec"]["nodeName"] == "w1"
    assert any(c["type"] == "PodScheduled" and c["status"] == "True"
               for c in got["status"]["conditions"])
    code, err = call(s, "POST", f"{base}/b1/binding", binding)
    assert code == 409 and 'already assigned to node "w1"' in err["message"]
    code, obj = call(s, "DELETE", f"{base}/b1", {"propagationPolicy": "Background"})
    assert code == 200 and obj["metadata"]["deletionTimestamp"]
    assert obj["metadata"]["deletionGracePeriodSeconds"] == 30
    assert call(s, "GET", f"{base}/b1")[0] == 200  # still there until the kubelet confirms
    code, _ = call(s, "DELETE", f"{base}/b1?gracePeriodSeconds=0")
    assert code == 200 and call(s, "GET", f"{base}/b1")[0] == 404
    # unscheduled Pods go at once
    assert call(s, "POST", base, pod("b2"))[0] == 201
    assert call(s, "DELETE", f"{base}/b2")[0] == 200
    assert call(s, "GET", f"{base}/b2")[0] == 404


def test_namespace_deletion_marks_until_finalized(s):
    """The apiserver only marks a namespace; emptying it is the namespace controller's
    (tests/component/test_gc_kubectl.py), which ends with PUT .../finalize."""
    assert call(s, "POST", "/api/v1/namespaces", {"metadata": {"name": "gone"}})[0] == 201
    assert call(s, "POST", "/api/v1/namespaces/gone/pods", pod("p"))[0] == 201
    code, ns = call(s, "DELETE", "/api/v1/namespaces/gone")
    assert code == 200 and ns["status"]["phase"] == "Terminating"
    assert ns["metadata"]["deletionTimestamp"] and ns["spec"]["finalizers"] == ["kubernetes"]
    code, err = call(s, "POST", "/api/v1/namespaces/gone/pods", pod("q"))
    assert code == 403 and err["message"] == (
        'pods "q" is forbidden: unable to create new content in namespace gone because it '
        "is being terminated")
    time.sleep(1.5)  # nothing in the apiserver empties it
    assert [p["metadata"]["name"] for p in
            call(s, "GET", "/api/v1/namespaces/gone/pods")[1]["items"]] == ["p"]
    code, again = call(s, "DELETE", "/api/v1/namespaces/gone")
    assert code == 200 and again["metadata"]["deletionTimestamp"]
    _, cur = call(s, "GET", "/api/v1/namespaces/gone")
    code, _ = call(s, "PUT", "/api/v1/namespaces/gone", dict(cur, spec={"finalizers": []}))
    assert code == 200 and call(s, "GET", "/api/v1/namespaces/gone")[1]["spec"][
        "finalizers"] == ["kubernetes"]       # only /finalize changes spec.finalizers
    _, cur = call(s, "GET", "/api/v1/namespaces/gone")
    code, _ = call(s, "PUT", "/api/v1/namespaces/gone/finalize",
                   dict(cur, spec={"finalizers": []}))
    assert code == 200 and call(s, "GET", "/api/v1/namespaces/gone")[0] == 404
    assert call(s, "DELETE", "/api/v1/namespaces/default")[0] == 403


class _Watch:
    """Read a watch stream in a thread, collecting events."""

    def __init__(self, s, path):
        self.events: list = []
        self.r = s.get(s.base + path, stream=True, timeout=30)
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        try:
            for line in self.r.iter_lines():
                if line:
                    self.events.append(json.loads(line))
        except (requests.RequestException, ValueError, AttributeError):
            pass

    def wait(self, pred, what, timeout=15.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if pred(self.events):
                return self.events
            time.sleep(0.05)
        raise AssertionError(f"watch: no {what} within {timeout}s; got {self.events}")

    def close(self):
        self.r.close()


def test_watch_events_selectors_and_bookmarks(s):
    base = "/api/v1/namespaces/default/pods"
    _, lst = call(s, "GET", base)
    rv = lst["metadata"]["resourceVersion"]
    w = _Watch(s, f"{base}?watch=true&resourceVersion={rv}&labelSelector=w%3Dyes"
               "&allowWatchBookmarks=true")
    try:
        code, p = call(s, "POST", base, pod("w1", {"w": "yes"}))
        p["metadata"]["labels"]["extra"] = "1"
        _, p = call(s, "PUT", f"{base}/w1", p)
        p["metadata"]["labels"]["w"] = "no"
        call(s, "PUT", f"{base}/w1", p)            # leaves the selector: DELETED
        call(s, "POST", base, pod("w2", {"w": "no"}))   # never matches: nothing
        call(s, "DELETE", f"{base}/w1")
        evs = w.wait(lambda e: len([x for x in e if x["type"] != "BOOKMARK"]) >= 3,
                     "3 events")
        real = [(e["type"], e["object"]["metadata"]["name"]) for e in evs
                if e["type"] != "BOOKMARK"]
        assert real[:3] == [("ADDED", "w1"), ("MODIFIED", "w1"), ("DELETED", "w1")]
        w.wait(lambda e: any(x["type"] == "BOOKMARK" for x in e), "BOOKMARK", 10)
        bm = [e for e in w.events if e["type"] == "BOOKMARK"][-1]
        assert bm["object"]["kind"] == "Pod" and int(bm["object"]["metadata"]["resourceVersion"])
    finally:
        w.close()


def test_watch_without_rv_sends_initial_state_and_times_out(s):
    base = "/api/v1/namespaces/default/pods"
    start = time.monotonic()
    r = s.get(s.base + base + "?watch=1&timeoutSeconds=2&fieldSelector=metadata.name%3Dlp1",
              timeout=30)
    assert r.status_code == 200
    evs = [json.loads(x) for x in r.text.splitlines() if x.strip()]
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in evs] == [("ADDED", "lp1")]
    assert time.monotonic() - start >= 1.5


def test_watch_table_events(s):
    base = "/api/v1/namespaces/default/pods"
    r = s.get(s.base + base + "?watch=true&timeoutSeconds=1&fieldSelector=metadata.name%3Dlp2",
              headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}, timeout=30)
    ev = json.loads(r.text.splitlines()[0])
    assert ev["object"]["kind"] == "Table" and len(ev["object"]["rows"]) == 1
    assert ev["object"]["rows"][0]["cells"][0] == "lp2"


def test_table_list(s):
    r = s.get(s.base + "/api/v1/namespaces/default/services?limit=500",
              headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"},
              timeout=10)
    t = r.json()
    assert t["kind"] == "Table" and t["apiVersion"] == "meta.k8s.io/v1"
    assert [c["name"] for c in t["columnDefinitions"]][:6] == [
        "Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age"]
    row = next(r for r in t["rows"] if r["cells"][0] == "kubernetes")
    assert row["cells"][1:5] == ["ClusterIP", "10.96.0.1", "<none>", "443/TCP"]
    assert row["object"]["metadata"]["namespace"] == "default"


class _FakeKubelet(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        body = f"log of {self.path}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


def test_pod_log_proxied_to_kubelet_or_clear_error(s):
    kubelet = ThreadingHTTPServer(("127.0.0.1", 0), _FakeKubelet)
    threading.Thread(target=kubelet.serve_forever, daemon=True).start()
    try:
        port = kubelet.server_address[1]
        node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "logn"},
                "status": {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                           "daemonEndpoints": {"kubeletEndpoint": {"Port": port}}}}
        assert call(s, "POST", "/api/v1/nodes", node)[0] == 201
        base = "/api/v1/namespaces/default/pods"
        assert call(s, "POST", base, pod("lg", node="logn"))[0] == 201
        r = s.get(s.base + base + "/lg/log?container=c&tailLines=5", timeout=10)
        assert r.status_code == 200
        assert r.text == "log of /containerLogs/default/lg/c?tailLines=5\n"
        r = s.get(s.base + base + "/lg/log?follow=true&timestamps=true", timeout=10)
        assert r.status_code == 200 and r.headers.get("Transfer-Encoding") == "chunked"
        assert r.text == "log of /containerLogs/default/lg/c?follow=true&timestamps=true\n"
    finally:
        kubelet.shutdown()
        kubelet.server_close()
    r = s.get(s.base + base + "/lg/log", timeout=10)
    assert r.status_code == 503 and "cannot reach the kubelet" in r.json()["message"]
    r = s.get(s.base + base + "/lp3/log", timeout=10)
    assert r.status_code == 400 and "not scheduled" in r.json()["message"]


def test_errors_never_drop_the_connection(s):
    base = "/api/v1/namespaces/default/pods"
    for body, ctype in ((b"{", "application/json"), (b"[]", "application/json"),
                        (b"\xff\xfe", "application/json"), (b"", "application/json"),
                        (b"a: [", "application/yaml"),
                        (b"x", "application/vnd.kubernetes.protobuf")):
        code, err = call(s, "POST", base, body, ctype)
        assert 400 <= code < 500 and err["kind"] == "Status", (body, code, err)
    code, err = call(s, "PATCH", base + "/lp0", b"{}", "text/plain")
    assert code == 415
    code, err = call(s, "PATCH", base + "/lp0", b'{"op":1}', "application/json-patch+json")
    assert code == 400
    code, err = call(s, "PUT", "/api/v1/namespaces/default/pods", pod("x"))
    assert code == 405
    assert call(s, "GET", "/api/v1/namespaces/default/pods/lp0/nope")[0] == 404


def test_a_response_after_which_the_server_closes_says_connection_close(api):
    """A client reusing a keep-alive connection the server is closing gets no response
    at all: the server must say it closes (as Go's net/http does), so clients do not."""
    import socket
    import ssl

    host, port = api.url.split("//")[1].rsplit(":", 1)
    tls = ssl.create_default_context(cafile=api.ca_file)
    for framing in ("Content-Length: -5", "Transfer-Encoding: chunked"):
        with socket.create_connection((host, int(port)), timeout=10) as raw, \
                tls.wrap_socket(raw, server_hostname=host) as conn:
            conn.sendall((f"POST /api/v1/namespaces/default/pods HTTP/1.1\r\nHost: {host}\r\n"
                          f"Authorization: Bearer {api.token}\r\n"
                          f"Content-Type: application/json\r\n{framing}\r\n\r\n"
                          "zz\r\n").encode())
            reply = b""
            while True:
                got = conn.recv(65536)
                if not got:
                    break
                reply += got
        head = reply.split(b"\r\n\r\n", 1)[0].decode().lower()
        assert head.startswith("http/1.1 400"), (framing, head)
        assert "\r\nconnection: close" in head, (framing, head)


def test_deletion_marks_and_deletecollection(s):
    """The apiserver does not cascade: dependents stay for the garbage collector."""
    apps = "/apis/apps/v1/namespaces/default"
    tmpl = {"metadata": {"labels": {"app": "cas"}},
            "spec": {"containers": [{"name": "c", "image": "x"}]}}
    _, dep = call(s, "POST", f"{apps}/deployments", {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "cas"},
        "spec": {"selector": {"matchLabels": {"app": "cas"}}, "template": tmpl}})
    owner = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "cas",
             "uid": dep["metadata"]["uid"], "controller": True}
    code, rs = call(s, "POST", f"{apps}/replicasets", {
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "cas-1", "ownerReferences": [owner]},
        "spec": {"selector": {"matchLabels": {"app": "cas"}}, "template": tmpl}})
    assert code == 201
    assert call(s, "DELETE", f"{apps}/deployments/cas",
                {"propagationPolicy": "Background"})[0] == 200
    assert call(s, "GET", f"{apps}/deployments/cas")[0] == 404
    assert call(s, "GET", f"{apps}/replicasets/cas-1")[0] == 200
    code, marked = call(s, "DELETE", f"{apps}/replicasets/cas-1",
                        {"propagationPolicy": "Foreground"})
    assert code == 200 and marked["metadata"]["finalizers"] == ["foregroundDeletion"]
    code, err = call(s, "DELETE", f"{apps}/replicasets/cas-1", {"propagationPolicy": "Up"})
    assert code == 422 and err["message"].startswith(
        'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: "Up"')
    code, patched = call(s, "PATCH", f"{apps}/replicasets/cas-1",
                         {"metadata": {"finalizers": None}}, "application/merge-patch+json")
    assert code == 200 and call(s, "GET", f"{apps}/replicasets/cas-1")[0] == 404
    for i in range(3):
        assert call(s, "POST", "/api/v1/namespaces/default/pods", pod(f"dc{i}", {"dc": "1"}))[
            0] == 201
    code, lst = call(s, "DELETE", "/api/v1/namespaces/default/pods?labelSelector=dc%3D1")
    assert code == 200 and len(lst["items"]) == 3 and lst["kind"] == "PodList"
    assert call(s, "GET", "/api/v1/namespaces/default/pods?labelSelector=dc%3D1")[1][
        "items"] == []
