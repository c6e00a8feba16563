"""Authentication pieces without a server: ServiceAccount JWTs (sign, verify, expiry,
audience, revocation by uid), the static token file, impersonation, request attributes,
health reports and metric labels."""

from __future__ import annotations

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from k8snet.apiserver import authn, health, metrics, satokens
from k8snet.apiserver.identity import UserInfo
from k8snet.apiserver.requestinfo import request_info


@pytest.fixture(scope="module")
def key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class Clock:
    def __init__(self, t: float = 1_800_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_token_round_trip_and_claims(key):
    clock = Clock()
    issuer = satokens.TokenIssuer(key, clock=clock)
    token, exp = issuer.issue("demo", "app", "uid-1", issuer.api_audiences, 600)
    assert exp == int(clock.t) + 600
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS256" and header["kid"] == issuer.kid
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["sub"] == "system:serviceaccount:demo:app"
    assert claims["iss"] == "https://kubernetes.default.svc.cluster.local"
    assert claims["kubernetes.io"] == {"namespace": "demo",
                                       "serviceaccount": {"name": "app", "uid": "uid-1"}}
    got = issuer.verify(token)
    assert (got.namespace, got.name, got.uid, got.expires) == ("demo", "app", "uid-1", exp)
    assert got.username == "system:serviceaccount:demo:app"


def test_token_expiry_audience_signature(key):
    clock = Clock()
    issuer = satokens.TokenIssuer(key, clock=clock)
    token, _ = issuer.issue("demo", "app", "u", ("https://vault",), 600)
    with pytest.raises(satokens.TokenInvalid, match="audiences"):
        issuer.verify(token)
    assert issuer.verify(token, ("https://vault",)).audiences == ("https://vault",)
    token, _ = issuer.issue("demo", "app", "u", issuer.api_audiences, 600)
    clock.t += 600 + satokens.LEEWAY + 1
    with pytest.raises(satokens.TokenInvalid, match="service account token has expired"):
        issuer.verify(token)
    other = satokens.TokenIssuer(rsa.generate_private_key(public_exponent=65537,
                                                          key_size=2048), clock=clock)
    forged, _ = other.issue("demo", "app", "u", other.api_audiences, 600)
    with pytest.raises(satokens.TokenInvalid, match="invalid bearer token"):
        issuer.verify(forged)
    tampered = token.split(".")
    with pytest.raises(satokens.TokenInvalid):
        issuer.verify(".".join([tampered[0], tampered[1][:-2] + "AA", tampered[2]]))


def test_expiration_limits():
    assert satokens.expiration_error(599) == "may not specify a duration less than 10 minutes"
    assert satokens.expiration_error(600) is None
    assert satokens.expiration_error((1 << 32) + 1).startswith("may not specify a duration "
                                                               "larger")


def test_signing_key_created_once(tmp_path):
    path = satokens.ensure_signing_key(str(tmp_path))
    first = open(path, "rb").read()
    assert satokens.ensure_signing_key(str(tmp_path)) == path
    assert open(path, "rb").read() == first
    assert (tmp_path / "sa.key").stat().st_mode & 0o777 == 0o600
    assert isinstance(satokens.load_signing_key(path), rsa.RSAPrivateKey)


class Store:
    def __init__(self):
        self.objs: dict = {}

    def lookup(self, kind, ns, name):
        return self.objs.get((kind, ns, name))


def test_serviceaccount_token_authenticates_while_the_account_lives(key):
    store = Store()
    store.objs[("ServiceAccount", "demo", "app")] = {"metadata": {"uid": "u1"}}
    issuer = satokens.TokenIssuer(key)
    a = authn.Authenticator({}, issuer, store.lookup)
    token, _ = issuer.issue("demo", "app", "u1", issuer.api_audiences, 3600)
    user = a.authenticate(f"Bearer {token}")
    assert user.name == "system:serviceaccount:demo:app" and user.uid == "u1"
    assert user.groups == ("system:serviceaccounts", "system:serviceaccounts:demo",
                           "system:authenticated")
    assert dict(user.extra)["authentication.kubernetes.io/credential-id"][0].startswith("JTI=")
    # deleted and recreated under the same name: another uid, the old token is dead
    store.objs[("ServiceAccount", "demo", "app")] = {"metadata": {"uid": "u2"}}
    with pytest.raises(authn.Unauthenticated, match=r"service account UID \(u2\) does not "
                                                    r"match claim \(u1\)"):
        a.authenticate(f"Bearer {token}")
    del store.objs[("ServiceAccount", "demo", "app")]
    with pytest.raises(authn.Unauthenticated, match='serviceaccounts "app" not found'):
        a.authenticate(f"Bearer {token}")


def test_remembered_tokens_still_expire(key):
    store = Store()
    store.objs[("ServiceAccount", "demo", "app")] = {"metadata": {"uid": "u1"}}
    clock = Clock()
    issuer = satokens.TokenIssuer(key, clock=clock)
    a = authn.Authenticator({}, issuer, store.lookup)
    token, _ = issuer.issue("demo", "app", "u1", issuer.api_audiences, 600)
    assert a.authenticate_token(token).uid == "u1"
    assert token in a._verified
    clock.t += 600 + satokens.LEEWAY + 1
    with pytest.raises(authn.Unauthenticated, match="expired"):
        a.authenticate_token(token)


def test_bound_token_dies_with_its_pod(key):
    store = Store()
    store.objs[("ServiceAccount", "demo", "app")] = {"metadata": {"uid": "u1"}}
    store.objs[("Pod", "demo", "p1")] = {"metadata": {"uid": "pod-1"}}
    issuer = satokens.TokenIssuer(key)
    a = authn.Authenticator({}, issuer, store.lookup)
    token, _ = issuer.issue("demo", "app", "u1", issuer.api_audiences, 3600,
                            ("Pod", "p1", "pod-1"))
    assert a.authenticate_token(token).name == "system:serviceaccount:demo:app"
    store.objs[("Pod", "demo", "p1")] = {"metadata": {"uid": "pod-2"}}
    with pytest.raises(authn.Unauthenticated, match="pod UID"):
        a.authenticate_token(token)


def test_static_tokens_and_bearer_parsing():
    users, warnings = authn.parse_token_file(
        'tok1,alice,1001,"dev,qa"\n\ntok2,bob,1002\n,nobody,1\ntok1,carol,1003\n', "f.csv")
    assert users["tok1"] == UserInfo("carol", "1003")          # the last one wins, warned
    assert users["tok2"] == UserInfo("bob", "1002")
    assert any("empty token" in w for w in warnings)
    assert any("duplicate token" in w for w in warnings)
    users, _ = authn.parse_token_file('t,alice,1001,"dev,qa"\n')
    assert users["t"].groups == ("dev", "qa")
    with pytest.raises(ValueError, match="must have at least 3 columns"):
        authn.parse_token_file("t,alice\n", "f.csv")
    a = authn.Authenticator({"secret": authn.admin_user()})
    admin = a.authenticate("Bearer secret")
    assert admin.name == "kubernetes-admin"
    assert admin.groups == ("system:masters", "system:authenticated")
    assert a.authenticate(None) is None and a.authenticate("Basic abc") is None
    with pytest.raises(authn.Unauthenticated):
        a.authenticate("Bearer wrong")


def test_impersonation_requests_and_resulting_user():
    reqs = authn.impersonation_requests([("Impersonate-User", "system:serviceaccount:ns:sa")])
    assert [(r.kind, r.namespace, r.name) for r in reqs] == [("ServiceAccount", "ns", "sa")]
    assert reqs[0].resource() == ("", "serviceaccounts", "")
    user = authn.impersonated_user(reqs)
    assert user == UserInfo("system:serviceaccount:ns:sa", "",
                            ("system:serviceaccounts", "system:serviceaccounts:ns",
                             "system:authenticated"))
    reqs = authn.impersonation_requests([("Impersonate-User", "jane"),
                                         ("Impersonate-Group", "dev"),
                                         ("Impersonate-Group", "ops"),
                                         ("Impersonate-Extra-Scopes", "view")])
    assert [r.kind for r in reqs] == ["User", "Group", "Group", "UserExtra"]
    assert reqs[3].resource() == ("authentication.k8s.io", "userextras", "scopes")
    user = authn.impersonated_user(reqs)
    assert user.groups == ("dev", "ops", "system:authenticated")
    assert user.extra_dict() == {"scopes": ["view"]}
    assert authn.impersonated_user(authn.impersonation_requests(
        [("Impersonate-User", "system:anonymous")])).groups == ("system:unauthenticated",)
    assert authn.impersonation_requests([("Accept", "x")]) == []
    with pytest.raises(ValueError, match="without impersonating a user"):
        authn.impersonation_requests([("Impersonate-Group", "dev")])


@pytest.mark.parametrize("method,path,query,want", [
    ("GET", "/api/v1/namespaces/demo/pods", {}, ("list", "demo", "", "pods", "", "")),
    ("GET", "/api/v1/namespaces/demo/pods", {"watch": "true"},
     ("watch", "demo", "", "pods", "", "")),
    ("GET", "/api/v1/namespaces/demo/pods", {"watch": "false"},
     ("list", "demo", "", "pods", "", "")),
    ("GET", "/api/v1/watch/namespaces/demo/pods/p1", {},
     ("watch", "demo", "", "pods", "p1", "")),
    ("GET", "/api/v1/namespaces/demo/pods", {"fieldSelector": "metadata.name=p1",
                                             "watch": "1"},
     ("watch", "demo", "", "pods", "p1", "")),
    ("GET", "/api/v1/namespaces/demo/pods/p1/log", {}, ("get", "demo", "", "pods", "p1",
                                                        "log")),
    ("POST", "/apis/apps/v1/namespaces/demo/deployments", {},
     ("create", "demo", "apps", "deployments", "", "")),
    ("PATCH", "/apis/apps/v1/namespaces/d/deployments/w/scale", {},
     ("patch", "d", "apps", "deployments", "w", "scale")),
    ("DELETE", "/api/v1/namespaces/demo/pods", {}, ("deletecollection", "demo", "", "pods",
                                                    "", "")),
    ("DELETE", "/api/v1/nodes/n1", {}, ("delete", "", "", "nodes", "n1", "")),
    ("PUT", "/api/v1/namespaces/demo", {}, ("update", "demo", "", "namespaces", "demo", "")),
    ("PUT", "/api/v1/namespaces/demo/finalize", {},
     ("update", "demo", "", "namespaces", "demo", "finalize")),
    ("GET", "/api/v1/namespaces", {}, ("list", "", "", "namespaces", "", "")),
])
def test_request_info_resource_requests(method, path, query, want):
    ri = request_info(method, path, query)
    assert ri.resource_request
    assert (ri.verb, ri.namespace, ri.api_group, ri.resource, ri.name, ri.subresource) == want


@pytest.mark.parametrize("path", ["/version", "/api", "/api/v1", "/apis", "/apis/apps",
                                  "/apis/apps/v1", "/healthz", "/readyz/etcd", "/metrics",
                                  "/openapi/v3/api/v1"])
def test_request_info_non_resource(path):
    ri = request_info("GET", path, {})
    assert not ri.resource_request and ri.verb == "get" and ri.path == path


CHECKS = [health.Check("ping", lambda: None), health.Check("etcd", lambda: None),
          health.Check("informer-sync", lambda: "not yet"),
          health.Check("shutdown", lambda: None)]


def test_health_reports_as_kube_apiserver():
    assert health.report("livez", CHECKS, False) == (200, "ok")
    assert health.report("livez", CHECKS, True) == (
        200, "[+]ping ok\n[+]etcd ok\nlivez check passed\n")
    assert health.report("readyz", CHECKS, False) == (
        500, "[+]ping ok\n[+]etcd ok\n[-]informer-sync failed: reason withheld\n"
             "[+]shutdown ok\nreadyz check failed\n")
    code, text = health.report("readyz", CHECKS, True, ("informer-sync", "bogus"))
    assert code == 200 and "[+]informer-sync excluded: ok\n" in text
    assert 'warn: some health checks cannot be excluded: no matches for "bogus"' in text
    assert health.report_one("readyz", "etcd", CHECKS) == (200, "ok")
    assert health.report_one("readyz", "informer-sync", CHECKS) == (
        500, "internal server error: not yet\n")
    assert health.report_one("livez", "informer-sync", CHECKS) is None


def test_metric_labels():
    lab = metrics.request_labels(request_info("GET", "/api/v1/namespaces/d/pods", {}), {})
    assert lab == {"verb": "LIST", "dry_run": "", "group": "", "version": "v1",
                   "resource": "pods", "subresource": "", "scope": "namespace",
                   "component": "apiserver"}
    lab = metrics.request_labels(request_info("GET", "/api/v1/pods", {"watch": "true"}), {})
    assert (lab["verb"], lab["scope"]) == ("WATCH", "cluster")
    lab = metrics.request_labels(request_info("POST", "/api/v1/namespaces/d/pods", {}),
                                 {"dryRun": "All"})
    assert (lab["verb"], lab["scope"], lab["dry_run"]) == ("POST", "resource", "All")
    lab = metrics.request_labels(request_info("PATCH", "/apis/apps/v1/namespaces/d/"
                                              "deployments/w", {}), {},
                                 "application/apply-patch+yaml")
    assert lab["verb"] == "APPLY" and lab["group"] == "apps"
    lab = metrics.request_labels(request_info("GET", "/readyz", {}), {})
    assert (lab["verb"], lab["subresource"], lab["resource"]) == ("GET", "/readyz", "")
    assert metrics.request_labels(request_info("GET", "/random/junk", {}), {}) is None
    assert metrics.request_labels(request_info("GET", "/api/v1/widgets", {}), {},
                                  known_resource=False) is None


def test_metrics_render_per_server_registry():
    a, b = metrics.ApiMetrics(), metrics.ApiMetrics()
    lab = metrics.request_labels(request_info("GET", "/api/v1/nodes/n1", {}), {})
    a.observe(lab, 200, 0.003)
    text = a.render().decode()
    assert ('apiserver_request_total{code="200",component="apiserver",dry_run="",group="",'
            'resource="nodes",scope="resource",subresource="",verb="GET",version="v1"} 1.0'
            ) in text
    assert 'apiserver_request_duration_seconds_bucket{component="apiserver"' in text
    assert "process_cpu_seconds_total" in text
    assert 'resource="nodes"' not in b.render().decode()
