"""Authentication, RBAC, reviews, /metrics and /readyz with the real kubectl 1.32 against
`k8snet control-plane`: what a user sees (kubectl output, exit codes, messages)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
import yaml

from tests.component.apiserver_proc import ApiServerProc

KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
pytestmark = pytest.mark.skipif(not os.path.exists(KUBECTL), reason="kubectl not installed")
APP = "system:serviceaccount:demo:app"


@pytest.fixture(scope="module")
def cp(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("auth")
    data = tmp / "cp"
    home = tmp / "home"
    home.mkdir()
    out = open(tmp / "out.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "k8snet.cli", "control-plane", "--data-dir",
                             str(data), "--port", "0"], stdout=out, stderr=subprocess.STDOUT,
                            cwd=REPO)
    try:
        end = time.monotonic() + 60
        text = ""
        while time.monotonic() < end and "try: kubectl" not in text:
            assert proc.poll() is None, (tmp / "out.log").read_text()
            time.sleep(0.2)
            text = (tmp / "out.log").read_text()
        assert "try: kubectl" in text, f"control-plane never said it was up:\n{text}"
        kubeconfig = str(data / "kubeconfig")
        env = {"env": dict(os.environ, HOME=str(home), KUBECONFIG=kubeconfig),
               "cache": str(tmp / "cache"), "kubeconfig": kubeconfig,
               "server": yaml.safe_load(open(kubeconfig))["clusters"][0]["cluster"]["server"],
               "ca": str(data / "apiserver" / "ca.crt")}
        kubectl(env, "create", "namespace", "demo")
        kubectl(env, "-n", "demo", "create", "serviceaccount", "app")
        kubectl(env, "-n", "demo", "run", "p1", "--image=busybox", "--restart=Never")
        yield env
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        out.close()


def kubectl(env, *args, ok=True, token=None):
    argv = [KUBECTL, "--cache-dir", env["cache"]]
    if token:
        argv.append(f"--token={token}")
    p = subprocess.run(argv + list(args), env=env["env"], capture_output=True, text=True,
                       timeout=60)
    if ok:
        assert p.returncode == 0, f"kubectl {' '.join(args)}: {p.stderr}"
    return p


def whoami(env, token=None) -> dict:
    rows = kubectl(env, "auth", "whoami", token=token).stdout.strip().splitlines()
    assert rows[0].split() == ["ATTRIBUTE", "VALUE"]
    return {r.split("  ")[0]: r.split("  ", 1)[1].strip() for r in rows[1:]}


def token_for(env, sa="app", *extra) -> str:
    return kubectl(env, "-n", "demo", "create", "token", sa, *extra).stdout.strip()


def anonymous(env, path):
    ctx = ssl.create_default_context(cafile=env["ca"])
    try:
        with urllib.request.urlopen(env["server"] + path, context=ctx, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_whoami_admin_and_serviceaccount(cp):
    assert whoami(cp) == {"Username": "kubernetes-admin",
                          "Groups": "[system:masters system:authenticated]"}
    sa = kubectl(cp, "-n", "demo", "get", "sa", "app", "-o", "json").stdout
    me = whoami(cp, token_for(cp))
    assert me["Username"] == APP
    assert me["UID"] == json.loads(sa)["metadata"]["uid"]
    assert me["Groups"] == ("[system:serviceaccounts system:serviceaccounts:demo "
                            "system:authenticated]")
    assert me["Extra: authentication.kubernetes.io/credential-id"].startswith("[JTI=")


def test_serviceaccount_forbidden_until_bound(cp):
    token = token_for(cp, "app", "--duration=10m")
    got = kubectl(cp, "-n", "demo", "get", "pods", ok=False, token=token)
    assert got.returncode == 1
    assert got.stderr.strip() == (
        'Error from server (Forbidden): pods is forbidden: User "system:serviceaccount:demo:'
        'app" cannot list resource "pods" in API group "" in the namespace "demo"')
    got = kubectl(cp, "-n", "demo", "get", "pod", "p1", ok=False, token=token)
    assert got.stderr.strip() == (
        'Error from server (Forbidden): pods "p1" is forbidden: User "system:serviceaccount:'
        'demo:app" cannot get resource "pods" in API group "" in the namespace "demo"')
    got = kubectl(cp, "get", "nodes", ok=False, token=token)
    assert 'cannot list resource "nodes" in API group "" at the cluster scope' in got.stderr
    can = kubectl(cp, "auth", "can-i", "list", "pods", "-n", "demo", f"--as={APP}", ok=False)
    assert (can.returncode, can.stdout.strip()) == (1, "no")

    kubectl(cp, "-n", "demo", "create", "rolebinding", "app-view", "--clusterrole=view",
            "--serviceaccount=demo:app")
    rows = kubectl(cp, "-n", "demo", "get", "pods", "--no-headers", token=token).stdout
    assert rows.split()[0] == "p1"
    assert kubectl(cp, "auth", "can-i", "list", "pods", "-n", "demo",
                   f"--as={APP}").stdout.strip() == "yes"
    for args in (("create", "pods", "-n", "demo"), ("list", "pods", "-n", "kube-system"),
                 ("get", "secrets", "-n", "demo")):
        can = kubectl(cp, "auth", "can-i", *args, f"--as={APP}", ok=False)
        assert (can.returncode, can.stdout.strip()) == (1, "no"), args
    got = kubectl(cp, "-n", "demo", "delete", "pod", "p1", ok=False, token=token)
    assert 'cannot delete resource "pods" in API group "" in the namespace "demo"' in got.stderr
    # the admin acting as the ServiceAccount sees what it sees
    rows = kubectl(cp, "-n", "demo", "get", "pods", "--no-headers", f"--as={APP}").stdout
    assert rows.split()[0] == "p1"
    got = kubectl(cp, "-n", "kube-system", "get", "pods", f"--as={APP}", ok=False)
    assert got.stderr.strip() == (
        'Error from server (Forbidden): pods is forbidden: User "system:serviceaccount:demo:'
        'app" cannot list resource "pods" in API group "" in the namespace "kube-system"')


def test_can_i_list(cp):
    kubectl(cp, "-n", "demo", "create", "sa", "lister")
    kubectl(cp, "-n", "demo", "create", "rolebinding", "lister", "--clusterrole=view",
            "--serviceaccount=demo:lister")
    out = kubectl(cp, "auth", "can-i", "--list", "-n", "demo",
                  token=token_for(cp, "lister")).stdout
    rows = [line.split() for line in out.strip().splitlines()]
    assert rows[0] == ["Resources", "Non-Resource", "URLs", "Resource", "Names", "Verbs"]
    assert ["pods", "[]", "[]", "[get", "list", "watch]"] in rows
    assert ["selfsubjectaccessreviews.authorization.k8s.io", "[]", "[]", "[create]"] in rows
    assert ["[/api/*]", "[]", "[get]"] in rows
    assert not any(r[0] == "secrets" for r in rows)


def test_escalation_is_refused(cp):
    kubectl(cp, "-n", "demo", "create", "sa", "boss")
    kubectl(cp, "-n", "demo", "create", "rolebinding", "boss", "--clusterrole=admin",
            "--serviceaccount=demo:boss")
    token = token_for(cp, "boss")
    got = kubectl(cp, "-n", "demo", "create", "rolebinding", "grab", "--clusterrole=cluster-admin",
                  "--serviceaccount=demo:boss", ok=False, token=token)
    assert got.returncode == 1
    assert ('rolebindings.rbac.authorization.k8s.io "grab" is forbidden: user '
            '"system:serviceaccount:demo:boss" (groups=["system:serviceaccounts" '
            '"system:serviceaccounts:demo" "system:authenticated"]) is attempting to grant '
            'RBAC permissions not currently held:\n{APIGroups:["*"], Resources:["*"], '
            'Verbs:["*"]}') in got.stderr
    # what the admin role holds, it may hand on
    kubectl(cp, "-n", "demo", "create", "rolebinding", "pass", "--clusterrole=view",
            "--user=someone", token=token)
    got = kubectl(cp, "-n", "demo", "create", "role", "nodes", "--verb=get", "--resource=nodes",
                  ok=False, token=token)
    assert '{APIGroups:[""], Resources:["nodes"], Verbs:["get"]}' in got.stderr
    got = kubectl(cp, "get", "pods", "-n", "demo", "--as=someone-else", ok=False, token=token)
    assert got.stderr.strip() == (
        'Error from server (Forbidden): users "someone-else" is forbidden: User '
        '"system:serviceaccount:demo:boss" cannot impersonate resource "users" in API group "" '
        'at the cluster scope')


def test_token_dies_with_its_serviceaccount(cp):
    kubectl(cp, "-n", "demo", "create", "sa", "ephemeral")
    kubectl(cp, "-n", "demo", "create", "rolebinding", "ephemeral", "--clusterrole=view",
            "--serviceaccount=demo:ephemeral")
    token = token_for(cp, "ephemeral")
    kubectl(cp, "-n", "demo", "get", "pods", token=token)
    kubectl(cp, "-n", "demo", "delete", "sa", "ephemeral")
    kubectl(cp, "-n", "demo", "create", "sa", "ephemeral")
    got = kubectl(cp, "-n", "demo", "get", "pods", ok=False, token=token)
    assert got.returncode == 1
    assert "error: You must be logged in to the server (Unauthorized)" in got.stderr
    kubectl(cp, "-n", "demo", "get", "pods", token=token_for(cp, "ephemeral"))
    got = kubectl(cp, "-n", "demo", "create", "token", "ephemeral", "--duration=5m", ok=False)
    assert ('TokenRequest.authentication.k8s.io "ephemeral" is invalid: '
            'spec.expirationSeconds: Invalid value: 300: '
            'may not specify a duration less than 10 minutes') in got.stderr


def test_aggregated_role_extends_view(cp):
    kubectl(cp, "-n", "demo", "create", "sa", "watcher")
    kubectl(cp, "create", "clusterrolebinding", "watcher-view", "--clusterrole=view",
            "--serviceaccount=demo:watcher")
    token = token_for(cp, "watcher")
    assert kubectl(cp, "get", "nodes", ok=False, token=token).returncode == 1
    manifest = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": "nodes-view", "labels": {
                    "rbac.authorization.k8s.io/aggregate-to-view": "true"}},
                "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["list"]}]}
    p = subprocess.run([KUBECTL, "--cache-dir", cp["cache"], "create", "-f", "-"],
                       input=json.dumps(manifest), env=cp["env"], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    got = kubectl(cp, "get", "nodes", ok=False, token=token)
    assert got.returncode == 0 and "No resources found" in got.stderr
    end = time.monotonic() + 10
    rules: list = []
    while time.monotonic() < end:
        view = json.loads(kubectl(cp, "get", "clusterrole", "view", "-o", "json").stdout)
        rules = view.get("rules") or []
        if {"apiGroups": [""], "resources": ["nodes"], "verbs": ["list"]} in rules:
            break
        time.sleep(0.2)
    assert {"apiGroups": [""], "resources": ["nodes"], "verbs": ["list"]} in rules, \
        "the aggregated view ClusterRole never showed the new rule"


def test_metrics(cp):
    kubectl(cp, "-n", "demo", "get", "pods")
    text = kubectl(cp, "get", "--raw", "/metrics").stdout
    lines = [x for x in text.splitlines() if x.startswith("apiserver_request_total{")]
    pods = [x for x in lines if 'resource="pods"' in x and 'verb="LIST"' in x
            and 'code="200"' in x and 'scope="namespace"' in x]
    assert pods and float(pods[0].rsplit(" ", 1)[1]) >= 1
    assert "# TYPE apiserver_request_duration_seconds histogram" in text
    assert "process_resident_memory_bytes" in text
    got = kubectl(cp, "get", "--raw", "/metrics", ok=False, token=token_for(cp))
    assert got.stderr.strip() == ('Error from server (Forbidden): forbidden: User '
                                  f'"{APP}" cannot get path "/metrics"')


def test_readyz_livez(cp):
    out = kubectl(cp, "get", "--raw", "/readyz?verbose").stdout.splitlines()
    assert out[0] == "[+]ping ok" and "[+]etcd ok" in out and "[+]informer-sync ok" in out
    assert "[+]poststarthook/rbac/bootstrap-roles ok" in out
    assert out[-1] == "readyz check passed"
    out = kubectl(cp, "get", "--raw", "/livez?verbose").stdout.splitlines()
    assert "[+]etcd ok" in out and "[+]shutdown ok" not in out
    assert out[-1] == "livez check passed"
    assert kubectl(cp, "get", "--raw", "/readyz/etcd").stdout == "ok"
    out = kubectl(cp, "get", "--raw", "/readyz?verbose&exclude=etcd").stdout
    assert "[+]etcd excluded: ok" in out


def test_anonymous_only_on_public_paths(cp):
    code, body = anonymous(cp, "/version")
    assert code == 200 and json.loads(body)["minor"] == "32"
    assert anonymous(cp, "/readyz") == (200, "ok")
    code, body = anonymous(cp, "/api/v1/namespaces/demo/pods")
    assert code == 401 and json.loads(body)["reason"] == "Unauthorized"


def test_static_token_file_users(tmp_path):
    tokens = tmp_path / "tokens.csv"
    tokens.write_text('alice-secret,alice,1001,"dev,qa"\nbob-secret,bob,1002\n')
    srv = ApiServerProc(str(tmp_path), extra=("--token-auth-file", str(tokens)))
    env = {"env": dict(os.environ, HOME=str(tmp_path), KUBECONFIG=srv.kubeconfig),
           "cache": str(tmp_path / "cache")}
    try:
        srv.start()
        assert whoami(env, "alice-secret") == {"Username": "alice", "UID": "1001",
                                               "Groups": "[dev qa system:authenticated]"}
        kubectl(env, "create", "clusterrolebinding", "devs", "--clusterrole=view",
                "--group=dev")
        kubectl(env, "-n", "default", "get", "pods", token="alice-secret")
        got = kubectl(env, "-n", "default", "get", "pods", ok=False, token="bob-secret")
        assert 'User "bob" cannot list resource "pods"' in got.stderr
        got = kubectl(env, "get", "pods", ok=False, token="nobody-secret")
        assert "You must be logged in to the server (Unauthorized)" in got.stderr
    finally:
        srv.stop()


def api(env, method, path, body=None, token=None):
    """(code, JSON body) of one request with the admin token (or `token`)."""
    cfg = yaml.safe_load(open(env["kubeconfig"]))
    req = urllib.request.Request(env["server"] + path, method=method,
                                 data=None if body is None else json.dumps(body).encode())
    req.add_header("Authorization", f"Bearer {token or cfg['users'][0]['user']['token']}")
    req.add_header("Content-Type", "application/json")
    ctx = ssl.create_default_context(cafile=env["ca"])
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_subject_access_and_token_reviews(cp):
    kubectl(cp, "-n", "demo", "create", "sa", "reviewed")
    kubectl(cp, "-n", "demo", "create", "rolebinding", "reviewed", "--clusterrole=view",
            "--serviceaccount=demo:reviewed")
    who = {"user": "system:serviceaccount:demo:reviewed",
           "groups": ["system:serviceaccounts", "system:authenticated"]}
    sar = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
           "spec": dict(who, resourceAttributes={"namespace": "demo", "verb": "list",
                                                 "resource": "pods"})}
    code, got = api(cp, "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", sar)
    assert code == 201 and got["status"] == {
        "allowed": True, "reason": 'RBAC: allowed by RoleBinding "reviewed/demo" of '
                                   'ClusterRole "view" to ServiceAccount "reviewed/demo"'}
    sar["spec"]["resourceAttributes"]["verb"] = "delete"
    code, got = api(cp, "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", sar)
    assert code == 201 and got["status"] == {"allowed": False}
    sar["kind"] = "LocalSubjectAccessReview"
    sar["spec"]["resourceAttributes"]["namespace"] = "other"
    code, got = api(cp, "POST", "/apis/authorization.k8s.io/v1/namespaces/demo/"
                                "localsubjectaccessreviews", sar)
    assert code == 400 and got["message"] == ("spec.resourceAttributes.namespace must match "
                                              "namespace: demo")
    token = token_for(cp, "reviewed")
    code, got = api(cp, "POST", "/apis/authentication.k8s.io/v1/tokenreviews",
                    {"kind": "TokenReview", "spec": {"token": token}})
    assert code == 201 and got["status"]["authenticated"] is True
    assert got["status"]["user"]["username"] == "system:serviceaccount:demo:reviewed"
    code, got = api(cp, "POST", "/apis/authentication.k8s.io/v1/tokenreviews",
                    {"kind": "TokenReview", "spec": {"token": token[:-4] + "AAAA"}})
    assert code == 201 and "authenticated" not in got["status"]
    assert got["status"]["error"].startswith("[invalid bearer token")
    # a ServiceAccount may not review tokens or other subjects (system:auth-delegator may)
    code, got = api(cp, "POST", "/apis/authentication.k8s.io/v1/tokenreviews",
                    {"kind": "TokenReview", "spec": {"token": token}}, token=token)
    assert code == 403 and got["message"] == (
        'tokenreviews.authentication.k8s.io is forbidden: User "system:serviceaccount:demo:'
        'reviewed" cannot create resource "tokenreviews" in API group "authentication.k8s.io" '
        'at the cluster scope')
    # reviews are answers, not objects: nothing to list
    code, _ = api(cp, "GET", "/apis/authorization.k8s.io/v1/subjectaccessreviews")
    assert code == 405


def test_rbac_on_etcd_store(tmp_path):
    """The authorizer's watches work on etcd too: a new binding counts at once."""
    from k8snet.store.etcd_process import ETCD_BIN
    if not os.access(ETCD_BIN, os.X_OK):
        pytest.skip(f"{ETCD_BIN} missing")
    from tests.component.apiserver_proc import EtcdForTest
    etcd = EtcdForTest(str(tmp_path))
    srv = ApiServerProc(str(tmp_path))
    try:
        srv.extra += ["--store", etcd.start()]
        srv.start()
        assert srv.request("POST", "/api/v1/namespaces", {"metadata": {"name": "demo"}})[0] \
            == 201
        assert srv.request("POST", "/api/v1/namespaces/demo/serviceaccounts",
                           {"metadata": {"name": "app"}})[0] == 201
        code, tr = srv.request("POST", "/api/v1/namespaces/demo/serviceaccounts/app/token",
                               {"spec": {}})
        assert code == 201
        token = tr["status"]["token"]
        code, body = srv.request("GET", "/api/v1/namespaces/demo/pods", token=token)
        assert code == 403 and body["reason"] == "Forbidden"
        for i in range(5):
            code, _ = srv.request(
                "POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/demo/rolebindings",
                {"metadata": {"name": f"v{i}"},
                 "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                             "name": "view"},
                 "subjects": [{"kind": "ServiceAccount", "name": "app",
                               "namespace": "demo"}]})
            assert code == 201
            assert srv.request("GET", "/api/v1/namespaces/demo/pods", token=token)[0] == 200
            assert srv.request("DELETE", "/apis/rbac.authorization.k8s.io/v1/namespaces/demo/"
                                         f"rolebindings/v{i}")[0] == 200
            assert srv.request("GET", "/api/v1/namespaces/demo/pods", token=token)[0] == 403
    finally:
        srv.stop()
        etcd.stop()
