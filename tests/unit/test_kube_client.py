"""k8snet.machinery.client and k8snet.machinery.informer against a scripted fake HTTP server."""

from __future__ import annotations

import base64
import datetime
import json
import ssl
import threading

import pytest
from kube_fake_http import FakeServer

from k8snet.errors import K8snetError
from k8snet.machinery import resources as kinds
from k8snet.machinery.client import (
    AlreadyExists,
    ApiClient,
    ApiError,
    Conflict,
    Gone,
    NotFound,
    Unreachable,
    resource_path,
)
from k8snet.machinery.informer import Informer


def pod(name: str, rv: str = "1", ns: str = "default") -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "resourceVersion": rv}}


@pytest.fixture
def server():
    fake = FakeServer().start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def client(server):
    return ApiClient(server.url, token="secret", timeout=5)


def test_paths():
    assert resource_path("pods", "default", "a") == "/api/v1/namespaces/default/pods/a"
    assert resource_path("pods") == "/api/v1/pods"
    assert resource_path("nodes", None, "n1", "status") == "/api/v1/nodes/n1/status"
    assert resource_path("deployments", "d", "x", "scale") == \
        "/apis/apps/v1/namespaces/d/deployments/x/scale"
    assert resource_path("leases", "kube-node-lease") == \
        "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"
    with pytest.raises(K8snetError):
        resource_path("widgets")
    with pytest.raises(K8snetError):
        resource_path("pods", None, "a")


def test_every_registered_resource_has_a_path_from_the_one_registry():
    # the client once kept its own table of nine; now it reads machinery.resources
    for plural, info in kinds.RESOURCES.items():
        prefix = "/api/v1" if not info.group else f"/apis/{info.api_version}"
        scoped = "/namespaces/ns" if info.namespaced else ""
        assert resource_path(plural, "ns") == f"{prefix}{scoped}/{plural}"
    # kinds and short names resolve too, as kubectl resolves them
    assert resource_path("deploy", "d") == "/apis/apps/v1/namespaces/d/deployments"
    assert resource_path("Node") == "/api/v1/nodes"


def test_get_and_not_found(server, client):
    server.route("GET", "/api/v1/namespaces/default/pods/a", lambda r: (200, pod("a")))
    assert client.get("pods", "a", "default")["metadata"]["name"] == "a"
    assert server.requests[-1]["headers"]["Authorization"] == "Bearer secret"
    with pytest.raises(NotFound) as info:
        client.get("pods", "b", "default")
    assert info.value.code == 404 and "not found" in info.value.message


def test_unauthorized_is_api_error(server):
    anon = ApiClient(server.url)
    with pytest.raises(ApiError) as info:
        anon.get("nodes", "n1")
    assert info.value.code == 401 and info.value.reason == "Unauthorized"


def test_list_query(server, client):
    server.route("GET", "/api/v1/pods", lambda r: (200, {
        "kind": "PodList", "metadata": {"resourceVersion": "9"}, "items": [pod("a")]}))
    result = client.list("pods", label_selector="app=web,tier!=db",
                         field_selector="spec.nodeName=n1", limit=5)
    assert result["items"][0]["metadata"]["name"] == "a"
    query = server.requests[-1]["query"]
    assert "labelSelector=app%3Dweb%2Ctier%21%3Ddb" in query
    assert "fieldSelector=spec.nodeName%3Dn1" in query and "limit=5" in query


def test_create_conflicts(server, client):
    seen = set()

    def create(req):
        obj = json.loads(req["body"])
        name = obj["metadata"]["name"]
        if name in seen:
            return 409, {"kind": "Status", "code": 409, "reason": "AlreadyExists",
                         "message": f'pods "{name}" already exists'}
        seen.add(name)
        return 201, obj

    server.route("POST", "/api/v1/namespaces/default/pods", create)
    assert client.create("pods", pod("a"))["metadata"]["name"] == "a"
    with pytest.raises(AlreadyExists) as info:
        client.create("pods", pod("a"))
    assert isinstance(info.value, Conflict)


def test_update_needs_a_name(client):
    with pytest.raises(K8snetError, match="no metadata.name"):
        client.update("pods", {"metadata": {"namespace": "default"}})


def test_update_stale_is_conflict(server, client):
    def put(req):
        obj = json.loads(req["body"])
        if obj["metadata"]["resourceVersion"] != "2":
            return 409, {"kind": "Status", "code": 409, "reason": "Conflict",
                         "message": "the object has been modified"}
        return 200, obj

    server.route("PUT", "/api/v1/namespaces/default/pods/a/status", put)
    assert client.update("pods", pod("a", "2"), subresource="status")
    with pytest.raises(Conflict) as info:
        client.update("pods", pod("a", "1"), subresource="status")
    assert not isinstance(info.value, AlreadyExists)


@pytest.mark.parametrize("kind,ctype", [
    ("merge", "application/merge-patch+json"),
    ("strategic", "application/strategic-merge-patch+json"),
    ("json", "application/json-patch+json"),
    ("apply", "application/apply-patch+yaml"),
])
def test_patch_content_types(server, client, kind, ctype):
    server.route("PATCH", "/apis/apps/v1/namespaces/default/deployments/web",
                 lambda r: (200, {"ok": True}))
    body = [{"op": "add", "path": "/x", "value": 1}] if kind == "json" else {"spec": {}}
    client.patch("deployments", "web", body, "default", patch_type=kind)
    req = server.requests[-1]
    assert req["headers"]["Content-Type"] == ctype
    assert json.loads(req["body"]) == body
    if kind == "apply":
        assert "fieldManager=k8snet" in req["query"]


def test_patch_unknown_type(client):
    with pytest.raises(K8snetError):
        client.patch("pods", "a", {}, "default", patch_type="xml")


def test_delete_with_options(server, client):
    server.route("DELETE", "/api/v1/namespaces/default/pods/a",
                 lambda r: (200, {"kind": "Status", "status": "Success"}))
    client.delete("pods", "a", "default", grace_period_seconds=0,
                  propagation_policy="Background")
    body = json.loads(server.requests[-1]["body"])
    assert body["gracePeriodSeconds"] == 0 and body["propagationPolicy"] == "Background"


def test_bind_and_log(server, client):
    server.route("POST", "/api/v1/namespaces/default/pods/a/binding",
                 lambda r: (201, {"kind": "Status", "status": "Success"}))
    server.route("GET", "/api/v1/namespaces/default/pods/a/log",
                 lambda r: (200, "hello\nworld\n", "text/plain"))
    client.bind("default", "a", "node-1")
    binding = json.loads(server.requests[-1]["body"])
    assert binding["kind"] == "Binding" and binding["target"]["name"] == "node-1"
    assert binding["metadata"] == {"name": "a", "namespace": "default"}
    assert client.pod_log("default", "a", container="c") == "hello\nworld\n"
    assert server.requests[-1]["query"] == "container=c"


def test_watch_events_then_gone(server, client):
    events = [
        {"type": "ADDED", "object": pod("a", "5")},
        {"type": "MODIFIED", "object": pod("a", "6")},
        {"type": "DELETED", "object": pod("a", "7")},
        {"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired",
                                     "message": "too old resource version"}},
    ]
    server.route("GET", "/api/v1/pods", lambda r: (200, events))
    seen = []
    with pytest.raises(Gone):
        for kind, obj in client.watch("pods", resource_version="4", timeout_seconds=30):
            seen.append((kind, obj["metadata"]["resourceVersion"]))
    assert seen == [("ADDED", "5"), ("MODIFIED", "6"), ("DELETED", "7")]
    query = server.requests[-1]["query"]
    assert "watch=true" in query and "resourceVersion=4" in query


def test_watch_http_error(server, client):
    with pytest.raises(NotFound):
        client.watch("pods", "nowhere")


def test_unreachable():
    c = ApiClient("http://127.0.0.1:1", timeout=2)
    with pytest.raises(Unreachable) as info:
        c.get("nodes", "n1")
    assert "cannot reach apiserver" in str(info.value)


def test_keepalive_reuses_connection(server, client):
    server.route("GET", "/api/v1/nodes/n1", lambda r: (200, {"metadata": {"name": "n1"}}))
    for _ in range(5):
        assert client.get("nodes", "n1")["metadata"]["name"] == "n1"
    assert len(server.requests) == 5


def test_short_lived_threads_share_kept_alive_connections(server, client):
    server.route("GET", "/api/v1/nodes/n1", lambda r: (200, {"metadata": {"name": "n1"}}))
    for _ in range(5):                 # one thread after another, as a sync's pool makes
        t = threading.Thread(target=client.get, args=("nodes", "n1"))
        t.start()
        t.join()
    assert len(server.requests) == 5
    assert len({r["peer"] for r in server.requests}) == 1


def test_bad_url():
    with pytest.raises(K8snetError):
        ApiClient("127.0.0.1:6443")


def _self_signed(tmp_path):
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_path = tmp_path / "key.pem"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    cert_path = tmp_path / "cert.pem"
    cert_path.write_bytes(cert_pem)
    return cert_pem, str(cert_path), str(key_path)


def test_kubeconfig_https(tmp_path):
    cert_pem, cert_path, key_path = _self_signed(tmp_path)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_path, key_path)
    fake = FakeServer(token="tok", ssl_context=ctx).start()
    try:
        fake.route("GET", "/api/v1/nodes/n1", lambda r: (200, {"metadata": {"name": "n1"}}))
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(f"""apiVersion: v1
kind: Config
current-context: k8snet
clusters:
- name: c
  cluster:
    server: {fake.url}
    certificate-authority-data: {base64.b64encode(cert_pem).decode()}
contexts:
- name: k8snet
  context: {{cluster: c, user: admin}}
users:
- name: admin
  user: {{token: tok}}
""")
        c = ApiClient.from_kubeconfig(str(kubeconfig))
        assert c.get("nodes", "n1")["metadata"]["name"] == "n1"
        # Without the CA, the self-signed certificate is refused.
        with pytest.raises(Unreachable):
            ApiClient(fake.url, token="tok").get("nodes", "n1")
    finally:
        fake.stop()


def test_kubeconfig_errors(tmp_path):
    with pytest.raises(K8snetError, match="cannot read kubeconfig"):
        ApiClient.from_kubeconfig(str(tmp_path / "missing"))
    bad = tmp_path / "bad"
    bad.write_text("clusters: []\ncontexts: []\ncurrent-context: x\n")
    with pytest.raises(K8snetError, match="no context named 'x'"):
        ApiClient.from_kubeconfig(str(bad))


def test_informer_list_watch_relist(server, client):
    lists = [
        {"metadata": {"resourceVersion": "5"}, "items": [pod("a", "3"), pod("b", "4")]},
        {"metadata": {"resourceVersion": "20"}, "items": [pod("z", "19")]},
    ]
    watches = [
        [{"type": "ADDED", "object": pod("c", "6")},
         {"type": "DELETED", "object": pod("a", "7")}],
        [{"type": "ERROR", "object": {"code": 410, "reason": "Expired", "message": "old"}}],
    ]

    def handler(req):
        if "watch=true" in req["query"]:
            return 200, watches.pop(0) if watches else []
        return 200, lists.pop(0) if lists else {"metadata": {"resourceVersion": "20"},
                                                   "items": [pod("z", "19")]}

    server.route("GET", "/api/v1/pods", handler)
    seen: list[set] = []
    done = threading.Event()

    def on_change(items):
        seen.append(set(items))
        if set(items) == {"default/z"}:
            done.set()

    stop = threading.Event()
    informer = Informer(client, "pods", on_change=on_change, watch_timeout=1,
                        retry_seconds=0.05)
    informer.start(stop)
    try:
        assert done.wait(10), f"informer never re-listed; saw {seen}"
    finally:
        stop.set()
    assert seen[0] == {"default/a", "default/b"}
    assert {"default/a", "default/b", "default/c"} in seen
    assert {"default/b", "default/c"} in seen
    watch_queries = [r["query"] for r in server.requests if "watch=true" in r["query"]]
    assert "resourceVersion=5" in watch_queries[0]
    assert "resourceVersion=7" in watch_queries[1]
