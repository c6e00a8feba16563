"""Fuzz request bodies and paths against a live apiserver: every answer is a response
(never a dropped connection), never a 5xx, and every error is a Status object.

test_every_kind sends requests of every kind the server serves (tests/component/fuzzing.py;
1,500 here, 10,000 with K8SNET_FUZZ_PROFILE=k8snet-fuzz-full or `make fuzz`); the
regression tests pin the bugs it found; the last test checks the server is still healthy
and logged no traceback."""

from __future__ import annotations

import json

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from k8snet.machinery import resources as kinds
from tests.component import fuzzing
from tests.component.apiserver_proc import ApiServerProc

FUZZ = settings(max_examples=120, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**63) | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                max_size=5),
    max_leaves=25)

COLLECTIONS = [
    (f"/api/v1{'/namespaces/default' if k.namespaced else ''}/{k.plural}" if not k.group else
     f"/apis/{k.group}/{k.version}/namespaces/default/{k.plural}")
    for k in kinds.RESOURCES.values()]

POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "fz", "labels": {"a": "b"}},
       "spec": {"containers": [{"name": "c", "image": "busybox",
                                "ports": [{"containerPort": 80}]}]}}
PATHS = [("metadata",), ("metadata", "name"), ("metadata", "labels"), ("spec",),
         ("spec", "containers"), ("spec", "containers", 0), ("spec", "containers", 0, "ports"),
         ("spec", "containers", 0, "image"), ("spec", "nodeName"), ("status",), ("kind",),
         ("apiVersion",), ("spec", "containers", 0, "ports", 0, "containerPort")]


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    proc = ApiServerProc(str(tmp_path_factory.mktemp("fuzz")))
    try:
        yield proc.start(deadline=120)
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def s(srv):
    sess = requests.Session()
    sess.trust_env = False
    sess.verify = srv.ca_file
    sess.headers["Authorization"] = f"Bearer {srv.token}"
    r = sess.post(srv.url + "/api/v1/namespaces/default/pods", data=json.dumps(POD),
                  headers={"Content-Type": "application/json"}, timeout=10)
    assert r.status_code == 201
    yield sess
    sess.close()


def check(r: requests.Response) -> None:
    assert r.status_code < 500, (r.status_code, r.text[:500])
    if r.status_code >= 400:
        body = r.json()
        assert body["kind"] == "Status" and body["apiVersion"] == "v1", body
        assert body["code"] == r.status_code and body["reason"], body


def _set(obj, path, value):
    cur = obj
    for p in path[:-1]:
        cur = cur[p]
    cur[path[-1]] = value


@FUZZ
@given(path=st.sampled_from(COLLECTIONS), body=json_values)
def test_random_json_bodies_on_create(srv, s, path, body):
    check(s.post(srv.url + path, data=json.dumps(body), timeout=30,
                 headers={"Content-Type": "application/json"}))


@FUZZ
@given(where=st.sampled_from(PATHS), value=json_values, strict=st.booleans())
def test_mutated_pods(srv, s, where, value, strict):
    obj = json.loads(json.dumps(POD))
    obj["metadata"]["name"] = "fzm"
    _set(obj, where, value)
    q = "?fieldValidation=Strict" if strict else ""
    r = s.post(srv.url + "/api/v1/namespaces/default/pods" + q, data=json.dumps(obj),
               timeout=30, headers={"Content-Type": "application/json"})
    check(r)
    if r.status_code == 201:
        check(s.delete(srv.url + "/api/v1/namespaces/default/pods/fzm", timeout=30))


@FUZZ
@given(ctype=st.sampled_from(["application/json-patch+json", "application/merge-patch+json",
                              "application/strategic-merge-patch+json",
                              "application/apply-patch+yaml", "text/plain"]),
       body=json_values | st.binary(max_size=40).map(lambda b: b.hex()),
       sub=st.sampled_from(["", "/status"]),
       method=st.sampled_from(["PATCH", "PUT"]))
def test_patches_and_updates(srv, s, ctype, body, sub, method):
    url = srv.url + "/api/v1/namespaces/default/pods/fz" + sub + "?fieldManager=fuzz"
    check(s.request(method, url, data=json.dumps(body), timeout=30,
                    headers={"Content-Type": ctype}))


@FUZZ
@given(segments=st.lists(st.text(st.characters(blacklist_categories=("Cs",)), min_size=1,
                                 max_size=10), min_size=1, max_size=7),
       method=st.sampled_from(["GET", "DELETE", "POST", "PUT", "PATCH"]),
       query=st.dictionaries(st.sampled_from(["watch", "limit", "continue", "labelSelector",
                                              "fieldSelector", "resourceVersion",
                                              "timeoutSeconds", "gracePeriodSeconds",
                                              "dryRun"]),
                             st.text(max_size=10), max_size=3))
def test_random_paths_and_queries(srv, s, segments, method, query):
    prefix = ["api", "v1", "namespaces", "default"]
    path = "/" + "/".join(requests.utils.quote(x, safe="") for x in prefix[:len(segments) % 5]
                          + segments)
    q = dict(query)
    if q.get("watch"):
        q["timeoutSeconds"] = "1"
    check(s.request(method, srv.url + path, params=q, timeout=30,
                    data=b"{}" if method in ("POST", "PUT", "PATCH") else None,
                    headers={"Content-Type": "application/merge-patch+json"}))


@FUZZ
@given(raw=st.binary(max_size=200), prefix=st.booleans())
def test_protobuf_bodies(srv, s, raw, prefix):
    body = (b"k8s\x00" if prefix else b"") + raw
    check(s.post(srv.url + "/api/v1/namespaces", data=body, timeout=30,
                 headers={"Content-Type": "application/vnd.kubernetes.protobuf"}))


TALLY = fuzzing.Tally()


@fuzzing.profile()
@given(req=fuzzing.any_request)
def test_every_kind(srv, s, req):
    if TALLY.total == 0:
        fuzzing.seed(s, srv.url)
    elif TALLY.total % 500 == 0:
        fuzzing.seed(s, srv.url, strict=False)
    out = fuzzing.send(s, srv.url, req)
    TALLY.add(out)
    assert not out.problem, f"{out.problem}\n{req.curl(srv.url)[:600]}"


# -- regressions found by the fuzzer -----------------------------------------------------
def _expect(r: requests.Response, code: int, words: str) -> None:
    check(r)
    assert r.status_code == code and words in r.json()["message"], (r.status_code, r.text)


@pytest.mark.parametrize("raw", [b"[" * 5000 + b"]" * 5000, b'{"a":' * 3000 + b"1" + b"}" * 3000,
                                 b'{"metadata":{"labels":' + b"[" * 150 + b"]" * 150 + b"}}"])
def test_deep_json_bodies_are_400_not_500(srv, s, raw):
    """They were a RecursionError in the decoder, or later in deepcopy (500)."""
    for method, path, ctype in (
            ("POST", "/api/v1/namespaces/default/configmaps", "application/json"),
            ("PATCH", "/api/v1/namespaces/default/pods/fz", "application/merge-patch+json"),
            ("PATCH", "/api/v1/namespaces/default/pods/fz",
             "application/strategic-merge-patch+json"),
            ("DELETE", "/api/v1/namespaces/default/configmaps/nope", "application/json")):
        _expect(s.request(method, srv.url + path, data=raw, timeout=30,
                          headers={"Content-Type": ctype}), 400, "nests deeper than")


def test_deep_and_exploding_yaml_apply_is_400_quickly(srv, s):
    """Deep YAML took the pure-Python parser seconds; aliases expand without bound."""
    url = srv.url + "/api/v1/namespaces/default/configmaps/fzy?fieldManager=fz"
    ctype = {"Content-Type": "application/apply-patch+yaml"}
    _expect(s.patch(url, data=b"[" * 3000 + b"]" * 3000, headers=ctype, timeout=10), 400,
            "nesting depth")
    lines = ["a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"] + [
        f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    _expect(s.patch(url, data="\n".join(lines).encode(), headers=ctype, timeout=10), 400,
            "more than")


def test_nan_and_infinity_are_refused(srv, s):
    """Python's decoder took NaN; stored, it made the object's JSON invalid."""
    for raw in (b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"n",'
                b'"annotations":{"a":NaN}}}', b'{"metadata":{"name":"n"},"x":1e999}'):
        _expect(s.post(srv.url + "/api/v1/namespaces/default/configmaps", data=raw,
                       headers={"Content-Type": "application/json"}, timeout=30), 400,
                "not a JSON")


def test_too_large_body_gets_its_413(srv, s):
    """The server closed before reading the body: the client saw a reset, not the 413."""
    raw = b'{"metadata":{"name":"' + b"x" * (4 * 1024 * 1024) + b'"}}'
    _expect(s.post(srv.url + "/api/v1/namespaces/default/configmaps", data=raw, timeout=30,
                   headers={"Content-Type": "application/json"}), 413, "too large")


def test_access_reviews_of_the_wrong_shape_are_400(srv, s):
    """spec.groups: true was a TypeError in the review (500)."""
    for path, spec in (
            ("/apis/authorization.k8s.io/v1/namespaces/fz/localsubjectaccessreviews",
             {"extra": None, "groups": True}),
            ("/apis/authorization.k8s.io/v1/subjectaccessreviews",
             {"user": "u", "extra": {"k": 5}, "resourceAttributes": {"verb": "get"}}),
            ("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
             {"resourceAttributes": {"verb": 5}})):
        _expect(s.post(srv.url + path, data=json.dumps({"spec": spec}), timeout=30,
                       headers={"Content-Type": "application/json"}), 400,
                "cannot be handled as a")


def test_still_healthy_after_the_fuzz(srv, s):
    print(f"\nfuzz: {TALLY.summary()}; by status "
          + ", ".join(f"{c}: {n}" for c, n in sorted(TALLY.codes.items())))
    assert srv.proc.poll() is None, srv.log()
    assert fuzzing.healthy(s, srv.url) == ""
    assert "Traceback" not in srv.log_text(), srv.log()
