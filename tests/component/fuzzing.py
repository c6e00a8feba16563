"""Hypothesis strategies for whole apiserver requests, and a tally of what came back.

A request is plain data (``FuzzRequest``: method, path, query, headers, body bytes), so a
failing one prints as something that can be replayed with curl. Strategies cover every
kind the built-in resource table serves (every version), their subresources, and:

- bodies built from the kind's OpenAPI schema (``k8snet.api.definitions``), right enough
  to get past decoding, with one field in a few replaced by garbage: a wrong type, a huge
  string, a deep nesting, a lone surrogate, a huge number;
- raw bodies no decoder should accept: bad UTF-8, bad or truncated JSON, deep nesting,
  NaN, YAML with aliases, protobuf noise, under odd or missing content types;
- patches of every type (JSON patch operations, merge, strategic merge, apply YAML);
- query strings with wrong label and field selectors, resourceVersion, limit, continue,
  watch, timeoutSeconds, dryRun, fieldValidation, propagationPolicy...

``send`` performs one request on a ``requests.Session`` and returns its ``Outcome``;
``Tally`` counts outcomes by status code and keeps the first few failures (a 5xx, a
dropped connection, a non-Status error body). Used by test_apiserver_fuzz.py (a few
thousand examples) and benchmarks/bench_fuzz.py (10,000).
"""

from __future__ import annotations

import functools
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Optional
from urllib.parse import quote

import requests
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

from k8snet.api import definitions as defs
from k8snet.machinery import resources as kinds

NAMESPACE = "fz"
NAMES = ("fz-a", "fz-b", "fz", "default", "kubernetes")
# subresources that dial a node or upgrade the connection: not request/response fuzzing
SKIP_SUBRESOURCES = ("proxy", "exec", "attach", "portforward")
WATCH_READ_TIMEOUT = 10.0


@dataclass(frozen=True)
class FuzzRequest:
    method: str
    path: str
    query: tuple = ()
    headers: tuple = ()
    body: Optional[bytes] = None

    @property
    def watching(self) -> bool:
        return any(k == "watch" and v.lower() in ("true", "1") for k, v in self.query) or \
            "/watch/" in self.path

    def curl(self, url: str) -> str:
        q = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in self.query)
        hs = " ".join(f"-H '{k}: {v}'" for k, v in self.headers)
        body = f" --data-binary {self.body[:300]!r}" if self.body is not None else ""
        return f"curl -X {self.method} {hs} '{url}{self.path}{'?' + q if q else ''}'{body}"


@dataclass
class Outcome:
    request: FuzzRequest
    code: int = 0          # 0: no response at all
    problem: str = ""      # "" when the answer is acceptable


@dataclass
class Tally:
    """Counts of answers by status code, and the first failures seen."""

    codes: Counter = field(default_factory=Counter)
    failures: list = field(default_factory=list)
    total: int = 0

    def add(self, out: Outcome) -> None:
        self.total += 1
        self.codes[out.code] += 1
        if out.problem and len(self.failures) < 50:
            self.failures.append(out)

    @property
    def server_errors(self) -> int:
        return sum(n for c, n in self.codes.items() if c >= 500)

    @property
    def dropped(self) -> int:
        return self.codes.get(0, 0)

    def summary(self) -> str:
        by_class = Counter()
        for c, n in self.codes.items():
            by_class["no response" if c == 0 else f"{c // 100}xx"] += n
        return (f"{self.total} requests: " + ", ".join(f"{k} {v}" for k, v in
                                                      sorted(by_class.items())) +
                f"; failures {sum(1 for _ in self.failures)}")


def judge(resp: requests.Response) -> str:
    """'' when a reply is acceptable: below 500 and, for an error, a v1 Status."""
    if resp.status_code >= 500:
        return f"{resp.status_code}: {resp.text[:400]}"
    if resp.status_code >= 400 and resp.request.method != "HEAD":
        try:
            body = json.loads(resp.content)
        except ValueError:
            return f"{resp.status_code} with a body that is not JSON: {resp.content[:200]!r}"
        if not (isinstance(body, dict) and body.get("kind") == "Status"
                and body.get("code") == resp.status_code and body.get("reason")):
            return f"{resp.status_code} with a body that is not a Status: {resp.text[:300]}"
    return ""


def send(session: requests.Session, url: str, req: FuzzRequest) -> Outcome:
    """Perform req; of a watch, only the status line and headers are read."""
    out = Outcome(req)
    try:
        resp = session.request(req.method, url + req.path, params=list(req.query),
                               headers=dict(req.headers), data=req.body,
                               timeout=(10, WATCH_READ_TIMEOUT if req.watching else 60),
                               stream=req.watching, allow_redirects=False)
        try:
            out.code = resp.status_code
            out.problem = judge(resp)
        finally:
            resp.close()
    except requests.RequestException as e:
        out.problem = f"no response: {type(e).__name__}: {e}"
    return out


# -- paths ------------------------------------------------------------------------------
def _infos() -> list:
    return [i for i in kinds.builtin_view().infos()]


INFOS = _infos()


@functools.cache
def _choice(values: tuple):
    """sampled_from, built once per tuple (building strategies is slow in hypothesis)."""
    return st.sampled_from(values)


@functools.cache
def _subresources(info) -> tuple:
    return tuple(s.name for s in info.subresources if s.name not in SKIP_SUBRESOURCES)


def collection_path(info, namespace: Optional[str]) -> str:
    base = f"/apis/{info.group}/{info.version}" if info.group else f"/api/{info.version}"
    if info.namespaced and namespace is not None:
        base += f"/namespaces/{namespace}"
    return f"{base}/{info.plural}"


@st.composite
def resource_paths(draw, named: Optional[bool] = None):
    """(info, path, subresource) for some served kind, collection or named object."""
    info = draw(st.sampled_from(INFOS))
    ns = draw(_choice((NAMESPACE, NAMESPACE, "default", "nope", None))) \
        if info.namespaced else None
    path = collection_path(info, ns)
    is_named = draw(st.booleans()) if named is None else named
    sub = None
    if is_named:
        path += "/" + quote(draw(OBJECT_NAMES), safe="")
        subs = _subresources(info)
        if subs and draw(st.integers(0, 2)) == 0:
            sub = draw(_choice(subs))
            path += "/" + sub
    return info, path, sub


NAME_TEXT = st.text(st.characters(codec="utf-8"), min_size=0, max_size=70) | \
    st.from_regex(r"\A[a-z0-9]([-a-z0-9.]{0,60}[a-z0-9])?\Z")
OBJECT_NAMES = st.sampled_from(NAMES) | NAME_TEXT


def names():
    return NAME_TEXT


# -- garbage ----------------------------------------------------------------------------
def deep(depth: int, leaf: object = 1, as_dict: bool = False) -> object:
    value = leaf
    for _ in range(depth):
        value = {"a": value} if as_dict else [value]
    return value


garbage = st.one_of(
    st.none(), st.booleans(),
    st.sampled_from([2**63, -2**63 - 1, 2**64, 10**30, -1, 0, 1.5, 1e308, -0.0]),
    st.integers(), st.floats(allow_nan=False),
    st.text(max_size=30),
    st.sampled_from(["\ud800", "a\udfffb", "\x00", "\u202e", "💥" * 3, "1e999", "-",
                     "100Mi", "1.5", "true", "null", "{}", "$(x)", "../..", "%00"]),
    st.sampled_from([1000, 70_000, 300_000]).map(lambda n: "x" * n),
    st.sampled_from([20, 99, 101, 500, 3000]).map(lambda n: deep(n)),
    st.sampled_from([20, 99, 101, 500, 3000]).map(lambda n: deep(n, as_dict=True)),
    st.lists(st.integers(), max_size=5), st.dictionaries(st.text(max_size=8), st.integers(),
                                                         max_size=4),
    st.sampled_from([1000, 20000]).map(lambda n: {f"k{i}": i for i in range(n)}),
)


# -- schema-driven objects --------------------------------------------------------------
MAX_DEPTH = 5


def _resolve(schema: dict) -> dict:
    seen = 0
    while "$ref" in schema and seen < 5:
        target = defs.definition(defs.ref_name(schema) or "")
        if target is None:
            return {}
        schema = target
        seen += 1
    if "allOf" in schema and len(schema["allOf"]) == 1:
        return _resolve(schema["allOf"][0])
    return schema


@functools.cache
def _some_of(keys: tuple):
    return st.sets(st.sampled_from(keys), max_size=4)


ROLL = st.integers(0, 40)
QUANTITIES = st.sampled_from(["1", "100m", "1Gi", "0.5", "1e3", "-1", "", "Ki", "1.5.5"]) | \
    st.integers(-5, 10**12)
INT_OR_STRINGS = st.integers(-10, 70000) | st.sampled_from(["http", "50%", "x", "", "-1"])
TIMES = st.sampled_from(["2026-01-01T00:00:00Z", "2026-01-01T00:00:00.123456Z", "yesterday",
                         "", "0000-00-00T00:00:00Z"])
BYTES64 = st.sampled_from(["aGVsbG8=", "not base64!", ""])
STRINGS = st.sampled_from(["fz", "a", "", "busybox", "10.0.0.1", "TCP"]) | st.text(max_size=12)
INTEGERS = st.integers(-3, 100) | st.sampled_from([65535, 65536, 2**31, -2**31])
NUMBERS = st.floats(-1e6, 1e6, allow_nan=False)
ANYTHING = st.none() | st.text(max_size=5) | st.integers()
SMALL = st.integers(0, 2)


def _value(draw, schema: dict, depth: int) -> object:
    if draw(ROLL) == 0:
        return draw(garbage)
    ref = defs.ref_name(schema) if "$ref" in schema else None
    schema = _resolve(schema)
    if ref == defs.QUANTITY:
        return draw(QUANTITIES)
    if ref == defs.INT_OR_STRING or schema.get("format") == "int-or-string":
        return draw(INT_OR_STRINGS)
    if ref in (defs.TIME, defs.MICRO_TIME) or schema.get("format") == "date-time":
        return draw(TIMES)
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        if not props:
            extra = schema.get("additionalProperties")
            if isinstance(extra, dict) and depth < MAX_DEPTH:
                return {k: _value(draw, extra, depth + 1)
                        for k in draw(LABEL_KEY_SETS)}
            return {}
        required = [k for k in schema.get("required") or [] if k in props]
        chosen = set(required)
        if depth < MAX_DEPTH:
            chosen |= draw(_some_of(tuple(sorted(props))))
        return {k: _value(draw, props[k], depth + 1) for k in sorted(chosen)}
    if kind == "array":
        if depth >= MAX_DEPTH:
            return []
        return [_value(draw, schema.get("items") or {}, depth + 1)
                for _ in range(draw(SMALL))]
    if kind == "string":
        enum = schema.get("enum")
        if enum:
            return draw(_choice(tuple(enum)))
        if schema.get("format") == "byte":
            return draw(BYTES64)
        return draw(STRINGS)
    if kind == "integer":
        return draw(INTEGERS)
    if kind == "number":
        return draw(NUMBERS)
    if kind == "boolean":
        return draw(st.booleans())
    return draw(ANYTHING)


LABEL_KEYS = st.sampled_from(["a", "app", "k8s.io/x", "bad key", "", "x" * 70]) | \
    st.text(max_size=10)
LABEL_KEY_SETS = st.sets(LABEL_KEYS, max_size=3)
LABELS = st.dictionaries(LABEL_KEYS, st.text(max_size=8) | garbage, max_size=3)


@st.composite
def schema_object(draw, info, sub: Optional[str] = None) -> object:
    """A body for info (or its subresource's kind), from its OpenAPI schema."""
    group, version, kind = info.group, info.version, info.kind
    if sub:
        s = next((x for x in info.subresources if x.name == sub), None)
        if s is not None:
            group, version, kind = s.group, s.version, s.kind
    name = defs.name_for(group, version, kind)
    schema = defs.definition(name) if name else None
    obj = _value(draw, schema or {"type": "object"}, 0)
    if isinstance(obj, dict) and draw(st.integers(0, 4)) > 0:
        api_version = f"{group}/{version}" if group else version
        obj["apiVersion"] = api_version if draw(st.integers(0, 8)) else draw(garbage)
        obj["kind"] = kind if draw(st.integers(0, 8)) else draw(garbage)
        meta = obj.get("metadata")
        if not isinstance(meta, dict):
            meta = obj["metadata"] = {}
        meta["name"] = draw(_choice(NAMES[:3])) if draw(st.integers(0, 5)) else \
            draw(NAME_TEXT | garbage)
        if draw(st.booleans()):
            meta["labels"] = draw(LABELS)
    return obj


def _encode(obj: object) -> bytes:
    """JSON of obj; lone surrogates and deep nesting survive as the server would see them."""
    try:
        return json.dumps(obj).encode("utf-8", "surrogatepass")
    except (RecursionError, ValueError):
        return b"[]"


# -- raw bodies and content types -------------------------------------------------------
DEPTHS = st.sampled_from([10, 99, 100, 101, 990, 1100, 200_000])
raw_bodies = st.one_of(
    st.binary(max_size=300),
    st.sampled_from([b"", b" ", b"\xff\xfe{}", b"\xef\xbb\xbf{}", b"{", b'{"a":', b"[1,2",
                     b"null", b"1", b'"x"', b"[]", b"NaN", b'{"a":NaN}', b'{"a":1e999}',
                     b'{"a":-Infinity}', b'{"a":"\\ud800"}', b'{"a":"\xc3\x28"}',
                     b'{"metadata":{"name":"\xed\xa0\x80"}}', b"\x00\x00\x00",
                     b"k8s\x00", b"k8s\x00\x0a\x02\x08\x01",
                     b"a: &a [1,1,1]\nb: &b [*a,*a,*a]\nc: [*b,*b,*b]\n",
                     b"!!python/object:os.system ls", b"--- 1\n--- 2\n", b"a: b: c",
                     b'{"a":1,"a":2}', b"1" * 5000]),
    DEPTHS.map(lambda n: b"[" * n + b"]" * n),
    DEPTHS.map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
    DEPTHS.map(lambda n: b"[" * n),
    st.sampled_from([1, 64, 2000, 4000]).map(
        lambda n: b'{"metadata":{"name":"' + b"x" * (n * 1024) + b'"}}'),
)

CONTENT_TYPES = ("application/json", "application/json; charset=utf-8",
                 "application/json; charset=latin-1", "application/yaml",
                 "application/vnd.kubernetes.protobuf", "text/plain", "", "*/*",
                 "multipart/form-data; boundary=x", "application/json;;;",
                 "application/merge-patch+json", "application/json-patch+json",
                 "application/strategic-merge-patch+json", "application/apply-patch+yaml",
                 "application/apply-patch+cbor", "application/cbor", "\x7f")
ACCEPTS = ("", "application/json", "application/json;as=Table;g=meta.k8s.io;v=v1",
           "application/json;as=Table;v=v1beta1;g=meta.k8s.io, application/json",
           "application/vnd.kubernetes.protobuf", "application/yaml", "text/html",
           "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1",
           "application/json;as=Nope", "*/*;q=0", ";;;")


# -- query strings ----------------------------------------------------------------------
def selectors():
    return st.one_of(
        st.text(max_size=20),
        st.sampled_from(["a=b", "a!=b", "a in (b,c)", "a notin (b)", "!a", "a", "a=",
                         "=b", "a==b", "a in (", "a in ()", "a in b", "a,,b", ",", "a=b,",
                         "x" * 70 + "=b", "a=" + "y" * 70, "k8s.io/x=y", "a=b=c", "!",
                         "metadata.name=fz", "metadata.namespace!=x", "spec.nodeName=",
                         "status.phase=Running", "nope.field=1", "metadata.name",
                         "a>1", "a<1", "a in (b", " ", "\x00=1", "é=é"]),
    )


def _query_values() -> dict:
    common = st.text(max_size=12) | st.sampled_from(["", "-1", "0", "1", "true", "false",
                                                     "9" * 25, "1e3", "nan", "inf",
                                                     "-inf", "0x10", " 1"])
    special = {
        "labelSelector": selectors(), "fieldSelector": selectors(),
        "resourceVersion": st.sampled_from(["", "0", "1", "-1", "999999999", "abc",
                                            "9" * 30, "1.5"]) | st.text(max_size=6),
        "resourceVersionMatch": st.sampled_from(["", "Exact", "NotOlderThan", "x"]),
        "continue": st.sampled_from(["", "x", "eyJ4IjoxfQ==", "e30", "%%%", "bnVsbA"]) |
        st.binary(max_size=30).map(lambda b: __import__("base64").b64encode(b).decode()),
        "watch": st.sampled_from(["true", "false", "1", "0", "yes", ""]),
        "dryRun": st.sampled_from(["All", "all", "", "x"]),
        "fieldValidation": st.sampled_from(["Strict", "Warn", "Ignore", "x", ""]),
        "propagationPolicy": st.sampled_from(["Orphan", "Background", "Foreground", "x"]),
        "fieldManager": st.text(max_size=10) | st.just("x" * 200),
        "force": st.sampled_from(["true", "false", "x"]),
    }
    special[""] = common
    return special


QUERY_VALUES = _query_values()


def query_value(key: str):
    return QUERY_VALUES.get(key, QUERY_VALUES[""])


QUERY_KEYS = ("labelSelector", "fieldSelector", "resourceVersion", "resourceVersionMatch",
              "limit", "continue", "watch", "timeoutSeconds", "allowWatchBookmarks",
              "sendInitialEvents", "gracePeriodSeconds", "propagationPolicy",
              "orphanDependents", "dryRun", "fieldManager", "fieldValidation", "force",
              "pretty", "includeObject", "exclude", "container", "tailLines",
              "sinceSeconds", "follow", "previous", "limitBytes", "timestamps")


QUERY_KEY_LISTS = st.lists(st.sampled_from(QUERY_KEYS) | st.text(max_size=6), max_size=4)


@st.composite
def queries(draw):
    keys = draw(QUERY_KEY_LISTS)
    out = [(k, draw(query_value(k))) for k in keys]
    # a watch ends within a second unless its timeout is what is fuzzed
    if any(k == "watch" for k, _ in out) and not any(k == "timeoutSeconds" for k, _ in out):
        out.append(("timeoutSeconds", "1"))
    return tuple(out)


# -- patches ----------------------------------------------------------------------------
json_patch_ops = st.fixed_dictionaries(
    {"op": st.sampled_from(["add", "remove", "replace", "move", "copy", "test", "x"]),
     "path": st.sampled_from(["", "/", "/metadata/labels/a", "/metadata/labels",
                              "/spec/containers/0/image", "/spec/containers/-",
                              "/spec/replicas", "/metadata/name", "/a/b/c", "/~2",
                              "/spec/containers/99", "/status", "/metadata/~1x",
                              "/data/k", "/spec/ports/0/port"]) | st.text(max_size=8)},
    optional={"value": garbage | st.just("x") | st.just({"a": "b"}),
              "from": st.sampled_from(["/metadata/labels", "/spec", "", "/x"])})

patch_bodies = st.one_of(
    st.lists(json_patch_ops, max_size=4).map(_encode),
    st.dictionaries(st.sampled_from(["metadata", "spec", "status", "data", "kind",
                                     "apiVersion", "$patch", "$retainKeys", "x"]),
                    garbage | st.just({"labels": {"a": "b"}}) | st.just({"$patch": "delete"}),
                    max_size=3).map(_encode),
    raw_bodies,
)
PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json",
               "application/strategic-merge-patch+json", "application/apply-patch+yaml",
               "application/json", "text/plain", "")


# -- whole requests ---------------------------------------------------------------------
@st.composite
def create_requests(draw):
    info, path, sub = draw(resource_paths(named=False))
    body = _encode(draw(schema_object(info)))
    ctype = "application/json" if draw(st.integers(0, 5)) else draw(st.sampled_from(
        CONTENT_TYPES))
    return FuzzRequest("POST", path, draw(queries()), (("Content-Type", ctype),), body)


@st.composite
def update_requests(draw):
    info, path, sub = draw(resource_paths(named=True))
    body = _encode(draw(schema_object(info, sub)))
    return FuzzRequest("PUT", path, draw(queries()), (("Content-Type", "application/json"),),
                       body)


@st.composite
def patch_requests(draw):
    info, path, sub = draw(resource_paths(named=True))
    ctype = draw(st.sampled_from(PATCH_TYPES))
    if draw(st.booleans()) and ctype.startswith("application/apply"):
        body = _encode(draw(schema_object(info, sub)))
    else:
        body = draw(patch_bodies)
    query = draw(queries())
    if ctype.startswith("application/apply") and draw(st.integers(0, 4)):
        query += (("fieldManager", "fuzz"),)
    return FuzzRequest("PATCH", path, query, (("Content-Type", ctype),), body)


@st.composite
def read_requests(draw):
    info, path, sub = draw(resource_paths())
    method = draw(st.sampled_from(["GET", "GET", "GET", "HEAD", "DELETE", "OPTIONS"]))
    extra: tuple = ()
    if draw(st.integers(0, 5)) == 0:
        path = path.replace("/api/", "/api/v1/watch/", 1) if path.startswith("/api/v1") \
            else path.replace(f"/{info.version}/", f"/{info.version}/watch/", 1)
        path = path.replace("/api/v1/watch/v1/", "/api/v1/watch/", 1)
        extra = (("timeoutSeconds", "1"),)
    headers = [("Accept", draw(st.sampled_from(ACCEPTS)))]
    body = None
    if method == "DELETE" and draw(st.booleans()):
        opts = draw(st.fixed_dictionaries({}, optional={
            "kind": st.just("DeleteOptions") | garbage, "apiVersion": st.just("v1") | garbage,
            "gracePeriodSeconds": garbage | st.integers(-5, 60),
            "propagationPolicy": st.sampled_from(["Orphan", "x"]) | garbage,
            "preconditions": st.just({"uid": "x"}) | garbage, "dryRun": garbage,
            "orphanDependents": garbage}))
        body = _encode(opts) if draw(st.integers(0, 3)) else draw(raw_bodies)
        headers.append(("Content-Type", draw(st.sampled_from(CONTENT_TYPES))))
    query = draw(queries())
    if not any(k == "timeoutSeconds" for k, _ in query):
        query += extra
    return FuzzRequest(method, path, query, tuple(headers), body)


@st.composite
def garbage_requests(draw):
    info, path, sub = draw(resource_paths())
    method = draw(st.sampled_from(["POST", "PUT", "PATCH"]))
    return FuzzRequest(method, path, draw(queries()),
                       (("Content-Type", draw(st.sampled_from(CONTENT_TYPES))),),
                       draw(raw_bodies))


@st.composite
def odd_paths(draw):
    segments = draw(st.lists(st.sampled_from(["api", "apis", "v1", "namespaces", NAMESPACE,
                                              "pods", "watch", "status", "..", "", "%2F",
                                              "apps", "openapi", "v3", "version", "healthz",
                                              "readyz", "livez", "metrics", "x"])
                             | st.text(max_size=8).map(lambda s: quote(s, safe="")),
                             min_size=1, max_size=8))
    method = draw(st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]))
    body = b"{}" if method in ("POST", "PUT", "PATCH") else None
    return FuzzRequest(method, "/" + "/".join(segments), draw(queries()),
                       (("Content-Type", "application/merge-patch+json"),
                        ("Accept", draw(st.sampled_from(ACCEPTS)))), body)


any_request = st.one_of(create_requests(), update_requests(), patch_requests(),
                        read_requests(), garbage_requests(), odd_paths())


# -- a run ------------------------------------------------------------------------------
SEED_OBJECTS = (
    ("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                            "metadata": {"name": NAMESPACE}}),
    (f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts", {
        "apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}}),
    (f"/api/v1/namespaces/{NAMESPACE}/pods", {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "fz-a", "labels": {"a": "b"}},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}}),
    (f"/api/v1/namespaces/{NAMESPACE}/configmaps", {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "fz-a"},
        "data": {"k": "v"}}),
    (f"/api/v1/namespaces/{NAMESPACE}/services", {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "fz-a"},
        "spec": {"ports": [{"port": 80}], "selector": {"a": "b"}}}),
    (f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments", {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "fz-a"},
        "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {
            "metadata": {"labels": {"a": "b"}},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}),
    ("/api/v1/nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "fz-a"}}),
)


def session_for(ca_file: str, token: str) -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    s.verify = ca_file
    s.headers["Authorization"] = f"Bearer {token}"
    return s


def seed(session: requests.Session, url: str, strict: bool = True) -> None:
    """Objects for named requests to find (created anew whenever the fuzz deleted them;
    not strict then: the fuzz may have left the namespace terminating)."""
    for path, obj in SEED_OBJECTS:
        r = session.post(url + path, json=obj, timeout=30)
        if strict and r.status_code not in (201, 409):
            raise AssertionError(f"seeding {path}: {r.status_code} {r.text[:300]}")


def healthy(session: requests.Session, url: str) -> str:
    """'' when the server answers /readyz and a create/get/delete round trip."""
    r = session.get(url + "/readyz", timeout=30)
    if r.status_code != 200:
        return f"/readyz: {r.status_code} {r.text[:300]}"
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "fz-health"}}
    path = "/api/v1/namespaces/default/configmaps"
    for code, resp in ((201, session.post(url + path, json=cm, timeout=30)),
                       (200, session.get(url + path + "/fz-health", timeout=30)),
                       (200, session.delete(url + path + "/fz-health", timeout=30))):
        if resp.status_code != code:
            return f"round trip: {resp.status_code} {resp.text[:300]}"
    return ""


# -- hypothesis profiles: how many requests a run sends --------------------------------
PROFILE_ENV = "K8SNET_FUZZ_PROFILE"
settings.register_profile("k8snet-fuzz-ci", max_examples=1500, deadline=None,
                          database=None, suppress_health_check=list(HealthCheck))
settings.register_profile("k8snet-fuzz-full", max_examples=10_000, deadline=None,
                          database=None, phases=[Phase.generate],
                          suppress_health_check=list(HealthCheck))


def profile() -> settings:
    """`make test` sends a few thousand requests; K8SNET_FUZZ_PROFILE=k8snet-fuzz-full
    (as `make fuzz`) sends 10,000."""
    return settings.get_profile(os.environ.get(PROFILE_ENV, "k8snet-fuzz-ci"))
