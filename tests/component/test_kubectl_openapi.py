"""The real kubectl 1.32 against `k8snet control-plane`: explain, client-side validation
and field-validation errors from the OpenAPI v3/v2 documents, as against a 1.32 cluster.

The v2 tests put a small loopback proxy between kubectl and the apiserver that hides
/openapi/v3 (kubectl then falls back to the protobuf /openapi/v2), and optionally
drops the fieldValidation parameter from the v2 document (kubectl then validates
the manifest itself against the v2 schemas)."""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

from k8snet.api import definitions as defs
from k8snet.apiserver import openapiv2pb

KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
pytestmark = pytest.mark.skipif(not os.path.exists(KUBECTL), reason="kubectl not installed")

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: {name}}}
  strategy:
    rollingUpdate: {{maxSurge: 1, maxUnavailable: "25%"}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
      - name: c
        image: busybox
        resources:
          limits: {{cpu: 1, memory: 64Mi}}
{extra}"""


def deployment(name: str, replicas: object = 1, extra: str = "") -> str:
    return DEPLOYMENT.format(name=name, replicas=replicas, extra=extra)


@pytest.fixture(scope="module")
def cp():
    """`k8snet control-plane` on a free port; yields its data dir and a kubectl env."""
    tmp = tempfile.mkdtemp(prefix="k8snet-kubectl-openapi-")
    data = os.path.join(tmp, "cp")
    log = open(os.path.join(tmp, "out.log"), "wb")
    proc = subprocess.Popen([sys.executable, "-m", "k8snet.cli", "control-plane", "--data-dir",
                             data, "--port", "0"], stdout=log, stderr=subprocess.STDOUT,
                            cwd=REPO)
    try:
        end = time.monotonic() + 60
        text = ""
        while time.monotonic() < end and "try: kubectl" not in text:
            assert proc.poll() is None, text
            time.sleep(0.2)
            with open(os.path.join(tmp, "out.log"), errors="replace") as f:
                text = f.read()
        assert "try: kubectl" in text, f"control-plane did not come up in 60s:\n{text}"
        home = os.path.join(tmp, "home")
        os.makedirs(home)
        kubeconfig = os.path.join(data, "kubeconfig")
        yield {"tmp": tmp, "kubeconfig": kubeconfig,
               "env": dict(os.environ, HOME=home, KUBECONFIG=kubeconfig)}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


def kubectl(env: dict, *args: str, cache: str = "cache", ok: bool = True,
            stdin: str | None = None) -> subprocess.CompletedProcess:
    p = subprocess.run([KUBECTL, "--cache-dir", os.path.join(env["HOME"], cache), *args],
                       input=stdin, env=env, capture_output=True, text=True, timeout=120)
    if ok:
        assert p.returncode == 0, f"kubectl {' '.join(args)}: {p.stderr}"
    return p


def flat(text: str) -> str:
    """Text with kubectl's wrapping and indentation undone."""
    return re.sub(r"\s+", " ", text).strip()


def prop(definition: str, name: str) -> dict:
    return defs.definition(definition)["properties"][name]


# -- OpenAPI v3: explain and server-side validation ---------------------------------------

def test_explain_rolling_update_prints_upstream_descriptions(cp):
    out = kubectl(cp["env"], "explain", "deployment.spec.strategy.rollingUpdate").stdout
    lines = out.splitlines()
    assert lines[:3] == ["GROUP:      apps", "KIND:       Deployment", "VERSION:    v1"]
    assert "FIELD: rollingUpdate <RollingUpdateDeployment>" in lines
    assert "  maxSurge\t<IntOrString>" in lines and "  maxUnavailable\t<IntOrString>" in lines
    text = flat(out)
    rolling = "io.k8s.api.apps.v1.RollingUpdateDeployment"
    assert flat(prop("io.k8s.api.apps.v1.DeploymentStrategy", "rollingUpdate")["description"]) \
        in text
    assert flat(defs.definition(rolling)["description"]) in text
    assert flat(prop(rolling, "maxSurge")["description"]) in text
    assert "maximum number of pods that can be scheduled above the desired number" in text


def test_explain_pod_containers_lists_fields_with_types(cp):
    out = kubectl(cp["env"], "explain", "pod.spec.containers").stdout
    lines = out.splitlines()
    assert "FIELD: containers <[]Container>" in lines
    assert "  image\t<string>" in lines
    assert "  name\t<string> -required-" in lines
    assert "  ports\t<[]ContainerPort>" in lines
    assert "  resources\t<ResourceRequirements>" in lines
    assert flat(prop("io.k8s.api.core.v1.PodSpec", "containers")["description"]) in flat(out)
    limits = kubectl(cp["env"], "explain", "pod.spec.containers.resources.limits").stdout
    assert "FIELD: limits <map[string]Quantity>" in limits.splitlines()


def test_explain_recursive_and_every_served_kind(cp):
    out = kubectl(cp["env"], "explain", "pods", "--recursive").stdout
    lines = out.splitlines()
    assert "  spec\t<PodSpec>" in lines
    assert "    containers\t<[]Container> -required-" in lines
    assert "      image\t<string>" in lines
    assert len(lines) > 500
    for resource in ("deployments", "replicasets", "services", "nodes", "namespaces",
                     "endpoints", "events", "leases"):
        got = kubectl(cp["env"], "explain", resource).stdout
        assert "DESCRIPTION:" in got and "FIELDS:" in got, resource


def test_create_with_a_misspelled_field_fails_as_upstream(cp, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(deployment("typo", extra="        imagee: busybox\n"))
    p = kubectl(cp["env"], "create", "-f", str(bad), ok=False)
    assert p.returncode == 1
    assert p.stderr.strip() == (
        f'Error from server (BadRequest): error when creating "{bad}": strict decoding '
        f'error: unknown field "spec.template.spec.containers[0].imagee"')
    p = kubectl(cp["env"], "apply", "-f", str(bad), ok=False)
    assert 'strict decoding error: unknown field "spec.template.spec.containers[0].imagee"' \
        in p.stderr
    svc = tmp_path / "svc.yaml"
    svc.write_text("apiVersion: v1\nkind: Service\nmetadata: {name: s}\n"
                   "spec:\n  prots: [{port: 80}]\n  ports: [{port: 80, targetPort: web}]\n")
    p = kubectl(cp["env"], "create", "-f", str(svc), ok=False)
    assert 'strict decoding error: unknown field "spec.prots"' in p.stderr
    warn = kubectl(cp["env"], "create", "-f", str(bad), "--validate=warn")
    assert 'Warning: unknown field "spec.template.spec.containers[0].imagee"' in warn.stderr
    assert warn.stdout.strip() == "deployment.apps/typo created"
    stored = json.loads(kubectl(cp["env"], "get", "deployment", "typo", "-o", "json").stdout)
    container = stored["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "busybox" and "imagee" not in container  # dropped, as upstream


def test_create_with_a_wrong_type_fails_as_upstream(cp, tmp_path):
    bad = tmp_path / "type.yaml"
    bad.write_text(deployment("wrongtype", replicas='"3"'))
    p = kubectl(cp["env"], "create", "-f", str(bad), ok=False)
    assert p.stderr.strip() == (
        f'Error from server (BadRequest): error when creating "{bad}": Deployment in version '
        f'"v1" cannot be handled as a Deployment: json: cannot unmarshal string into Go struct '
        f'field DeploymentSpec.spec.replicas of type int32')
    # a wrong type fails whatever fieldValidation says, as upstream's decoder does
    p = kubectl(cp["env"], "create", "-f", str(bad), "--validate=false", ok=False)
    assert "cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas" in p.stderr
    good = tmp_path / "good.yaml"
    good.write_text(deployment("fine"))
    assert kubectl(cp["env"], "create", "-f", str(good)).stdout.strip() == \
        "deployment.apps/fine created"


def test_get_raw_openapi_v2_is_json(cp):
    out = kubectl(cp["env"], "get", "--raw", "/openapi/v2").stdout
    assert out.lstrip().startswith("{")
    doc = json.loads(out)
    assert doc["swagger"] == "2.0"
    assert "/api/v1/namespaces/{namespace}/pods/{name}" in doc["paths"]
    assert "io.k8s.api.apps.v1.Deployment" in doc["definitions"]
    index = json.loads(kubectl(cp["env"], "get", "--raw", "/openapi/v3").stdout)
    url = index["paths"]["apis/apps/v1"]["serverRelativeURL"]
    assert re.fullmatch(r"/openapi/v3/apis/apps/v1\?hash=[0-9A-F]{128}", url)


# -- OpenAPI v2 only: a proxy hides /openapi/v3 -------------------------------------------

class Proxy:
    """Plain HTTP on loopback to the apiserver's HTTPS, adding the admin token.

    hide_v3: answer 404 for /openapi/v3...; strip_field_validation: drop the
    fieldValidation parameter from the protobuf /openapi/v2. Records each request.
    """

    def __init__(self, kubeconfig: str, hide_v3: bool, strip_field_validation: bool) -> None:
        with open(kubeconfig) as f:
            conf = yaml.safe_load(f)
        cluster = conf["clusters"][0]["cluster"]
        self.backend = cluster["server"].removeprefix("https://")
        self.token = conf["users"][0]["user"]["token"]
        self.tls = ssl.create_default_context(cadata=base64.b64decode(
            cluster["certificate-authority-data"]).decode())
        self.hide_v3, self.strip = hide_v3, strip_field_validation
        self.seen: list[tuple[str, str, str, int]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def _handler(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def forward(self) -> None:
                accept = self.headers.get("Accept") or ""
                if proxy.hide_v3 and self.path.startswith("/openapi/v3"):
                    return self.answer(404, b"", {"Content-Type": "text/plain"})
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("host", "connection", "authorization")}
                headers["Authorization"] = f"Bearer {proxy.token}"
                conn = http.client.HTTPSConnection(proxy.backend, context=proxy.tls, timeout=30)
                try:
                    conn.request(self.command, self.path, body, headers)
                    resp = conn.getresponse()
                    data = resp.read()
                finally:
                    conn.close()
                if proxy.strip and self.path.startswith("/openapi/v2") and resp.status == 200 \
                        and "protobuf" in accept:
                    data = strip_field_validation(data)
                keep = {k: v for k, v in resp.getheaders()
                        if k.lower() not in ("transfer-encoding", "content-length", "connection")}
                self.answer(resp.status, data, keep)

            def answer(self, status: int, data: bytes, headers: dict) -> None:
                proxy.seen.append((self.command, self.path,
                                   self.headers.get("Accept") or "", status))
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = forward

        return Handler

    def kubeconfig(self, path: str) -> str:
        conf = {"apiVersion": "v1", "kind": "Config",
                "clusters": [{"name": "proxy", "cluster": {"server": self.url}}],
                "users": [{"name": "anyone", "user": {}}],
                "contexts": [{"name": "proxy", "context": {"cluster": "proxy", "user": "anyone",
                                                           "namespace": "default"}}],
                "current-context": "proxy"}
        with open(path, "w") as f:
            yaml.safe_dump(conf, f)
        return path

    def __enter__(self) -> Proxy:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def strip_field_validation(data: bytes) -> bytes:
    doc = openapiv2pb.decode(data)
    for path in doc.paths.path:
        for method in ("post", "put", "patch"):
            op = getattr(path.value, method)
            keep = [p for p in op.parameters if p.parameter.non_body_parameter
                    .query_parameter_sub_schema.name != "fieldValidation"]
            del op.parameters[:]
            op.parameters.extend(keep)
    return doc.SerializeToString()


def proxied_env(cp: dict, proxy: Proxy, name: str) -> dict:
    kubeconfig = proxy.kubeconfig(os.path.join(cp["tmp"], f"{name}.kubeconfig"))
    return dict(cp["env"], KUBECONFIG=kubeconfig)


def test_without_v3_kubectl_reads_protobuf_v2_and_the_server_validates(cp, tmp_path):
    with Proxy(cp["kubeconfig"], hide_v3=True, strip_field_validation=False) as proxy:
        env = proxied_env(cp, proxy, "v2only")
        bad = tmp_path / "bad.yaml"
        bad.write_text(deployment("v2typo", extra="        imagee: busybox\n"))
        p = kubectl(env, "create", "-f", str(bad), cache="cache-v2", ok=False)
        assert 'strict decoding error: unknown field "spec.template.spec.containers[0].imagee"' \
            in p.stderr
        v2 = [s for s in proxy.seen if s[1].startswith("/openapi/v2")]
        assert v2 and "application/com.github.proto-openapi.spec.v2@v1.0+protobuf" in v2[0][2]
        assert v2[0][3] == 200
        assert any(s[0] == "POST" and "fieldValidation=Strict" in s[1] for s in proxy.seen)
        out = kubectl(env, "explain", "--output=plaintext-openapiv2",
                      "deployment.spec.strategy.rollingUpdate", cache="cache-v2").stdout
        assert "RESOURCE: rollingUpdate <Object>" in out
        assert "   maxSurge\t<string>" in out.splitlines()
        assert flat(prop("io.k8s.api.apps.v1.RollingUpdateDeployment", "maxSurge")
                    ["description"]) in flat(out)


def test_without_field_validation_kubectl_validates_against_the_v2_schemas(cp, tmp_path):
    with Proxy(cp["kubeconfig"], hide_v3=True, strip_field_validation=True) as proxy:
        env = proxied_env(cp, proxy, "clientside")
        bad = tmp_path / "bad.yaml"
        bad.write_text(deployment("csv", extra="        imagee: busybox\n"))
        p = kubectl(env, "create", "-f", str(bad), cache="cache-cs", ok=False)
        assert p.stderr.strip() == (
            f'error: error validating "{bad}": error validating data: '
            f'ValidationError(Deployment.spec.template.spec.containers[0]): unknown field '
            f'"imagee" in io.k8s.api.core.v1.Container; if you choose to ignore these errors, '
            f'turn validation off with --validate=false')
        wrong = tmp_path / "wrong.yaml"
        wrong.write_text(deployment("csv", replicas='"3"'))
        p = kubectl(env, "create", "-f", str(wrong), cache="cache-cs", ok=False)
        assert ('ValidationError(Deployment.spec.replicas): invalid type for '
                'io.k8s.api.apps.v1.DeploymentSpec.replicas: got "string", expected "integer"'
                in p.stderr)
        assert not any(s[0] == "POST" for s in proxy.seen)  # kubectl stopped them itself
        good = tmp_path / "good.yaml"
        good.write_text(deployment("csvok"))
        assert kubectl(env, "create", "-f", str(good), cache="cache-cs").stdout.strip() == \
            "deployment.apps/csvok created"


def test_openapi_caching_headers_over_http(cp):
    import requests

    with open(cp["kubeconfig"]) as f:
        conf = yaml.safe_load(f)
    cluster = conf["clusters"][0]["cluster"]
    ca = os.path.join(cp["tmp"], "ca.crt")
    with open(ca, "wb") as f:
        f.write(base64.b64decode(cluster["certificate-authority-data"]))
    s = requests.Session()
    s.trust_env = False
    s.verify = ca
    s.headers["Authorization"] = f"Bearer {conf['users'][0]['user']['token']}"
    base = cluster["server"]
    index = s.get(base + "/openapi/v3", timeout=30)
    assert index.status_code == 200 and index.headers["Etag"].startswith('"')
    again = s.get(base + "/openapi/v3", headers={"If-None-Match": index.headers["Etag"]},
                  timeout=30)
    assert again.status_code == 304 and again.content == b""
    url = index.json()["paths"]["apis/apps/v1"]["serverRelativeURL"]
    doc = s.get(base + url, timeout=30)
    assert doc.status_code == 200
    assert doc.headers["Cache-Control"] == "public, immutable"
    assert doc.headers["Etag"] == '"' + url.split("hash=")[1] + '"'
    assert "Expires" in doc.headers and doc.headers["Vary"] == "Accept"
    plain = s.get(base + "/openapi/v3/apis/apps/v1", timeout=30)
    assert plain.headers["Cache-Control"] == "no-cache, private" and plain.content == doc.content
    stale = s.get(base + "/openapi/v3/apis/apps/v1?hash=ABC", allow_redirects=False, timeout=30)
    assert stale.status_code == 301 and stale.headers["Location"] == url
    pb = s.get(base + "/openapi/v2", timeout=30, headers={
        "Accept": "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"})
    assert pb.headers["Content-Type"] == \
        "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
    assert [p.name for p in openapiv2pb.decode(pb.content).paths.path] == \
        list(s.get(base + "/openapi/v2", timeout=30).json()["paths"])
    assert s.get(base + "/openapi/v2", headers={"Accept": "text/html"},
                 timeout=30).status_code == 406


def test_patches_are_decoded_like_bodies(cp, tmp_path):
    good = tmp_path / "patchme.yaml"
    good.write_text(deployment("patchme"))
    kubectl(cp["env"], "create", "-f", str(good))
    p = kubectl(cp["env"], "patch", "deployment", "patchme", "--type=merge",
                "-p", '{"spec":{"replica":3}}')
    assert 'Warning: unknown field "spec.replica"' in p.stderr
    stored = json.loads(kubectl(cp["env"], "get", "deployment", "patchme", "-o", "json").stdout)
    assert "replica" not in stored["spec"]
    p = kubectl(cp["env"], "patch", "deployment", "patchme", "-p", '{"spec":{"replicas":"3"}}',
                ok=False)
    assert p.returncode == 1
    assert p.stderr.startswith('The request is invalid: patch: Invalid value: "{')
    assert p.stderr.strip().endswith(
        "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of "
        "type int32")
    p = kubectl(cp["env"], "patch", "deployment", "patchme", "--type=json",
                "-p", '[{"op":"add","path":"/spec/paused","value":"yes"}]', ok=False)
    assert "cannot unmarshal string into Go struct field DeploymentSpec.spec.paused of type " \
           "bool" in p.stderr
