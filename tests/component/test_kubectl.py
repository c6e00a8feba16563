"""The real kubectl 1.32 against the apiserver: every command of KUBECTL.md, with the
output a user expects."""

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

from tests.component.apiserver_proc import ApiServerProc, free_port

KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"
pytestmark = pytest.mark.skipif(not os.path.exists(KUBECTL), reason="kubectl not installed")

MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: k8snet/agnhost:1
        ports:
        - containerPort: 8080
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  type: NodePort
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 8080
---
apiVersion: v1
kind: Pod
metadata:
  name: p1
  labels: {app: p}
spec:
  containers:
  - name: c
    image: busybox
    command: ["sleep", "3600"]
"""


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = str(tmp_path_factory.mktemp("kubectl"))
    srv = ApiServerProc(tmp)
    try:
        srv.start()
        home = os.path.join(tmp, "home")
        os.makedirs(home)
        yield {"srv": srv, "tmp": tmp,
               "env": dict(os.environ, HOME=home, KUBECONFIG=srv.kubeconfig)}
    finally:
        srv.stop()


def kubectl(env, *args, stdin=None, ok=True, timeout=60):
    cache = os.path.join(env["tmp"], "cache")
    p = subprocess.run([KUBECTL, "--cache-dir", cache, *args], input=stdin, env=env["env"],
                       capture_output=True, text=True, timeout=timeout)
    if ok:
        assert p.returncode == 0, f"kubectl {' '.join(args)}: {p.stderr}"
    return p


def api(env, method, path, body=None, ctype="application/json"):
    srv = env["srv"]
    s = requests.Session()
    s.trust_env = False
    r = s.request(method, srv.url + path, verify=srv.ca_file, timeout=30,
                  data=None if body is None else json.dumps(body),
                  headers={"Authorization": f"Bearer {srv.token}", "Content-Type": ctype})
    return r.status_code, r.json()


def lines(text):
    return [re.split(r"\s{2,}", x.strip()) for x in text.strip().splitlines()]


def test_version_cluster_info_api_resources(env):
    out = kubectl(env, "version").stdout
    assert "Server Version: v1.32.0-k8snet" in out
    out = kubectl(env, "cluster-info").stdout
    assert f"Kubernetes control plane is running at {env['srv'].url}" in out
    rows = {}
    for r in lines(kubectl(env, "api-resources").stdout):
        rows.setdefault(r[0], r)  # the core kind first; metrics.k8s.io also has nodes, pods
    assert rows["deployments"] == ["deployments", "deploy", "apps/v1", "true", "Deployment"]
    assert rows["nodes"] == ["nodes", "no", "v1", "false", "Node"]
    assert rows["leases"] == ["leases", "coordination.k8s.io/v1", "true", "Lease"]


def test_create_get_describe(env, tmp_path):
    f = tmp_path / "m.yaml"
    f.write_text(MANIFEST)
    out = kubectl(env, "create", "-f", str(f)).stdout
    assert out.splitlines() == ["deployment.apps/web created", "service/web created",
                                "pod/p1 created"]
    rows = lines(kubectl(env, "get", "pods").stdout)
    assert rows[0] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert rows[1][:4] == ["p1", "0/1", "Pending", "0"]
    rows = lines(kubectl(env, "get", "pods", "-o", "wide").stdout)
    assert rows[0][:7] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE"]
    assert rows[1][5:7] == ["<none>", "<none>"]
    rows = lines(kubectl(env, "get", "svc").stdout)
    assert rows[0] == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    web = next(r for r in rows if r[0] == "web")
    assert web[1] == "NodePort" and re.fullmatch(r"10\.\d+\.\d+\.\d+", web[2])
    assert re.fullmatch(r"80:3\d{4}/TCP", web[4])
    rows = lines(kubectl(env, "get", "deployments").stdout)
    assert rows[0] == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert rows[1][:4] == ["web", "0/2", "0", "0"]
    rows = lines(kubectl(env, "get", "pods", "-A", "--show-labels").stdout)
    assert rows[0][0] == "NAMESPACE" and rows[0][-1] == "LABELS"
    assert rows[1][0] == "default" and rows[1][1] == "p1" and rows[1][-1] == "app=p"
    doc = json.loads(kubectl(env, "get", "pods", "-o", "json").stdout)
    assert doc["kind"] == "List" and doc["items"][0]["metadata"]["name"] == "p1"
    out = kubectl(env, "get", "pod", "p1", "-o", "yaml").stdout
    assert "kind: Pod" in out and "restartPolicy: Always" in out
    out = kubectl(env, "get", "deploy,svc").stdout
    assert "deployment.apps/web" in out and "service/kubernetes" in out
    out = kubectl(env, "describe", "pod", "p1").stdout
    assert re.search(r"^Name:\s+p1$", out, re.M) and re.search(r"^Status:\s+Pending$", out,
                                                               re.M)
    assert "Image:" in out and "busybox" in out


def test_nodes_table(env):
    node = {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": "w1", "labels": {"node-role.kubernetes.io/worker": ""}},
            "status": {"conditions": [{"type": "Ready", "status": "True"}],
                       "addresses": [{"type": "InternalIP", "address": "10.0.0.2"}],
                       "nodeInfo": {"kubeletVersion": "v1.32.0-k8snet"}}}
    assert api(env, "POST", "/api/v1/nodes", node)[0] == 201
    rows = lines(kubectl(env, "get", "nodes").stdout)
    assert rows[0] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert rows[1][:3] == ["w1", "Ready", "worker"] and rows[1][4] == "v1.32.0-k8snet"
    rows = lines(kubectl(env, "get", "nodes", "-o", "wide").stdout)
    assert rows[0][5] == "INTERNAL-IP" and rows[1][5] == "10.0.0.2"


def test_apply_twice_changed_and_server_side(env, tmp_path):
    f = tmp_path / "a.yaml"
    dep = MANIFEST.split("---")[0].replace("name: web", "name: ap").replace(
        "app: web", "app: ap")
    f.write_text(dep)
    assert kubectl(env, "apply", "-f", str(f)).stdout.strip() == "deployment.apps/ap created"
    assert kubectl(env, "apply", "-f", str(f)).stdout.strip() == \
        "deployment.apps/ap unchanged"
    f.write_text(dep.replace("k8snet/agnhost:1", "k8snet/agnhost:2").replace(
        "replicas: 2", "replicas: 3"))
    assert kubectl(env, "apply", "-f", str(f)).stdout.strip() == \
        "deployment.apps/ap configured"
    obj = json.loads(kubectl(env, "get", "deploy", "ap", "-o", "json").stdout)
    c = obj["spec"]["template"]["spec"]["containers"]
    assert [x["image"] for x in c] == ["k8snet/agnhost:2"] and obj["spec"]["replicas"] == 3
    assert c[0]["ports"] == [{"containerPort": 8080, "protocol": "TCP"}]
    assert "kubectl.kubernetes.io/last-applied-configuration" in obj["metadata"]["annotations"]
    g = tmp_path / "ss.yaml"
    g.write_text(dep.replace("name: ap", "name: ss").replace("app: ap", "app: ss"))
    assert kubectl(env, "apply", "--server-side", "-f", str(g)).stdout.strip() == \
        "deployment.apps/ss serverside-applied"
    g.write_text(g.read_text().replace("replicas: 2", "replicas: 4"))
    assert kubectl(env, "apply", "--server-side", "-f", str(g)).stdout.strip() == \
        "deployment.apps/ss serverside-applied"
    obj = json.loads(kubectl(env, "get", "deploy", "ss", "-o", "json",
                             "--show-managed-fields").stdout)
    assert obj["spec"]["replicas"] == 4
    assert any(m["manager"] == "kubectl" and m["operation"] == "Apply"
               for m in obj["metadata"]["managedFields"])


def test_scale(env):
    out = kubectl(env, "scale", "deployment", "web", "--replicas=5").stdout
    assert out.strip() == "deployment.apps/web scaled"
    obj = json.loads(kubectl(env, "get", "deploy", "web", "-o", "json").stdout)
    assert obj["spec"]["replicas"] == 5


def test_errors_as_kubectl_prints_them(env):
    p = kubectl(env, "get", "pod", "nope", ok=False)
    assert p.returncode == 1
    assert p.stderr.strip() == 'Error from server (NotFound): pods "nope" not found'
    bad = json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bad"},
                      "spec": {"containers": [{"name": "c"}]}})
    p = kubectl(env, "create", "-f", "-", stdin=bad, ok=False)
    assert p.stderr.strip() == \
        'The Pod "bad" is invalid: spec.containers[0].image: Required value'
    p = kubectl(env, "create", "-f", "-", stdin=bad.replace('"bad"', '"Bad_"'), ok=False)
    assert p.stderr.startswith('The Pod "Bad_" is invalid: \n* metadata.name: Invalid value')
    assert "* spec.containers[0].image: Required value" in p.stderr
    p = kubectl(env, "create", "-f", "-", stdin=bad.replace('"c"}', '"c","image":"x","imagee":1}'),
                ok=False)
    assert 'strict decoding error: unknown field "spec.containers[0].imagee"' in p.stderr


def test_logs_clear_errors(env):
    p = kubectl(env, "logs", "p1", ok=False)
    assert p.returncode == 1 and "not scheduled to a node" in p.stderr
    port = free_port()  # nothing listens there: no kubelet
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "nokubelet"},
            "status": {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                       "daemonEndpoints": {"kubeletEndpoint": {"Port": port}}}}
    assert api(env, "POST", "/api/v1/nodes", node)[0] == 201
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "onw1"},
           "spec": {"nodeName": "nokubelet",
                    "containers": [{"name": "c", "image": "busybox"}]}}
    assert api(env, "POST", "/api/v1/namespaces/default/pods", pod)[0] == 201
    p = kubectl(env, "logs", "onw1", ok=False)
    assert p.returncode == 1
    assert f"cannot reach the kubelet at http://127.0.0.1:{port}/containerLogs/default/onw1/c" \
        in p.stderr and "Error from server (ServiceUnavailable)" in p.stderr


def test_delete_unscheduled_and_graceful(env):
    out = kubectl(env, "delete", "pod", "p1").stdout
    assert out.strip() == 'pod "p1" deleted'
    assert kubectl(env, "get", "pod", "p1", ok=False).returncode == 1
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "gr"},
           "spec": {"nodeName": "w1", "containers": [{"name": "c", "image": "busybox"}]}}
    assert api(env, "POST", "/api/v1/namespaces/default/pods", pod)[0] == 201

    def fake_kubelet():
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            code, obj = api(env, "GET", "/api/v1/namespaces/default/pods/gr")
            if code == 200 and obj["metadata"].get("deletionTimestamp"):
                time.sleep(1)
                api(env, "DELETE", "/api/v1/namespaces/default/pods/gr?gracePeriodSeconds=0")
                return
            time.sleep(0.1)
    t = threading.Thread(target=fake_kubelet, daemon=True)
    t.start()
    out = kubectl(env, "delete", "pod", "gr", timeout=60).stdout
    t.join(timeout=35)
    assert out.strip() == 'pod "gr" deleted'
    assert api(env, "GET", "/api/v1/namespaces/default/pods/gr")[0] == 404


def test_get_watch_briefly(env):
    proc = subprocess.Popen([KUBECTL, "--cache-dir", os.path.join(env["tmp"], "cache"),
                             "get", "pods", "-w"], env=env["env"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        seen: list = []
        reader = threading.Thread(target=lambda: seen.extend(iter(proc.stdout.readline, "")),
                                  daemon=True)
        reader.start()
        deadline = time.monotonic() + 20
        while not any(x.startswith("NAME") for x in seen):
            assert time.monotonic() < deadline, f"no header from kubectl get -w: {seen}"
            time.sleep(0.1)
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "watched"},
               "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
        assert api(env, "POST", "/api/v1/namespaces/default/pods", pod)[0] == 201
        while not any(x.startswith("watched") for x in seen):
            assert time.monotonic() < deadline, f"kubectl get -w did not show the Pod: {seen}"
            time.sleep(0.1)
        row = re.split(r"\s{2,}", next(x for x in seen if x.startswith("watched")).strip())
        assert row[:4] == ["watched", "0/1", "Pending", "0"]
        assert proc.poll() is None, "kubectl get -w ended although the watch is open"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_generator_commands_send_protobuf(env):
    """`kubectl create namespace|deployment|service` use typed clients (protobuf bodies)."""
    assert kubectl(env, "create", "namespace", "team-a").stdout.strip() == \
        "namespace/team-a created"
    out = kubectl(env, "-n", "team-a", "create", "deployment", "gen", "--image=busybox",
                  "--replicas=2", "--port=80", "--", "sleep", "10").stdout
    assert out.strip() == "deployment.apps/gen created"
    want = json.loads(kubectl(env, "-n", "team-a", "create", "deployment", "gen",
                              "--image=busybox", "--replicas=2", "--port=80",
                              "--dry-run=client", "-o", "json", "--", "sleep", "10").stdout)
    got = json.loads(kubectl(env, "-n", "team-a", "get", "deploy", "gen", "-o", "json").stdout)
    assert got["spec"]["replicas"] == want["spec"]["replicas"] == 2
    assert got["spec"]["selector"] == want["spec"]["selector"]
    c_got = got["spec"]["template"]["spec"]["containers"][0]
    c_want = want["spec"]["template"]["spec"]["containers"][0]
    for k in ("name", "image", "command"):
        assert c_got[k] == c_want[k]
    assert c_got["ports"][0]["containerPort"] == 80
    out = kubectl(env, "-n", "team-a", "create", "service", "nodeport", "gsvc",
                  "--tcp=80:8080", "--node-port=30111").stdout
    assert out.strip() == "service/gsvc created"
    rows = lines(kubectl(env, "-n", "team-a", "get", "svc", "gsvc").stdout)
    assert rows[1][1] == "NodePort" and rows[1][4] == "80:30111/TCP"


def test_cordon_drain_uncordon(env):
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "dr1"},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    assert api(env, "POST", "/api/v1/nodes", node)[0] == 201
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "ondr1"},
           "spec": {"nodeName": "dr1", "containers": [{"name": "c", "image": "busybox"}]}}
    assert api(env, "POST", "/api/v1/namespaces/default/pods", pod)[0] == 201
    assert kubectl(env, "cordon", "dr1").stdout.strip() == "node/dr1 cordoned"

    def kubelet_confirms():  # what the node's kubelet does after stopping the containers
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            code, obj = api(env, "GET", "/api/v1/namespaces/default/pods/ondr1")
            if code == 200 and obj["metadata"].get("deletionTimestamp"):
                api(env, "DELETE", "/api/v1/namespaces/default/pods/ondr1?gracePeriodSeconds=0")
                return
            time.sleep(0.1)
    t = threading.Thread(target=kubelet_confirms, daemon=True)
    t.start()
    out = kubectl(env, "drain", "dr1", "--force", "--timeout=30s", timeout=60).stdout
    t.join(timeout=35)
    assert "pod/ondr1 evicted" in out or "pod/ondr1 deleted" in out
    assert "node/dr1 drained" in out
    rows = lines(kubectl(env, "get", "node", "dr1").stdout)
    assert rows[1][1] == "Ready,SchedulingDisabled"
    assert kubectl(env, "uncordon", "dr1").stdout.strip() == "node/dr1 uncordoned"
    p = kubectl(env, "exec", "ondr1", "--", "ls", ok=False)
    assert p.returncode != 0
