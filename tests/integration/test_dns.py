"""Cluster DNS on a real cluster (issue 11): the add-on `up` deploys answers
every record type to Pods on both workers, survives a DNS Pod being killed,
and follows an edited Corefile without a restart.

One single-switch cluster with two workers (and ext1, the upstream resolver)
serves every test in this module.
"""

import json
import threading
import time

import pytest

from tests.integration.conftest import k8snet, nothing_left
from tests.integration.kube import Kubectl, PodShell, agnhost_deployment, ready, service, wait_for

CLUSTER = "dns2"
DNS_IP = "10.96.0.10"

# Run in a Pod: query 10.96.0.10 from one fixed source port for a while (as a
# long-lived client does: the same conntrack entry each time) and report the
# longest time without an answer.
OUTAGE = r"""
import json, sys, time
import dns.message, dns.query
q = dns.message.make_query(sys.argv[1], "A")
end = time.monotonic() + float(sys.argv[2])
sent = failed = 0
last_ok = time.monotonic(); gap = 0.0
while time.monotonic() < end:
    sent += 1
    try:
        dns.query.udp(q, "10.96.0.10", timeout=0.5, source_port=40053)
        now = time.monotonic(); gap = max(gap, now - last_ok); last_ok = now
    except Exception:
        failed += 1
    time.sleep(0.05)
print(json.dumps({"sent": sent, "failed": failed, "longest_gap": round(gap, 2)}))
"""


def client_pod(name, node):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"nodeName": node, "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "c", "image": "python:3.12-alpine",
                                     "command": ["sleep", "100000"]}]}}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    k8snet("up", "--detach", "--name", CLUSTER, "--topology", "single", "--workers", "2",
           timeout=600)
    try:
        status = json.loads(k8snet("status", "--json", "--name", CLUSTER).stdout)["clusters"][0]
        kubectl = Kubectl(status["kubeconfig"], str(tmp_path_factory.mktemp("home")))
        web = agnhost_deployment("web", 2)
        headless = service("nginx", {"app": "web"})
        headless["spec"]["clusterIP"] = "None"
        external = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "ext"},
                    "spec": {"type": "ExternalName", "externalName": "example.test"}}
        kubectl.apply(web, service("web", {"app": "web"}), headless, external,
                      client_pod("c1", "w1"), client_pod("c2", "w2"))
        wait_for("web, clients and DNS Pods ready", lambda: all(map(ready, kubectl.json(
            "pods", "-A")["items"])) and len(kubectl.json("pods", "-A")["items"]) == 6,
            timeout=180)
        yield kubectl, PodShell(CLUSTER)
    finally:
        k8snet("down", "--name", CLUSTER, check=False)
    assert nothing_left(CLUSTER) == {}


def lookup(shell, pod, *names):
    """getaddrinfo in the Pod (its resolv.conf): name -> sorted addresses or the error."""
    script = ("import json, socket, sys\nout = {}\nfor n in sys.argv[1:]:\n"
              "    try:\n        out[n] = sorted({i[4][0] for i in socket.getaddrinfo(n, 80)})\n"
              "    except OSError as e:\n        out[n] = str(e)\nprint(json.dumps(out))")
    proc = shell.run(pod, "python3", "-c", script, *names)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_the_add_on_runs_as_kubeadm_deploys_it(env):
    kubectl, shell = env
    svc = kubectl.json("service", "kube-dns", "-n", "kube-system")
    assert svc["spec"]["clusterIP"] == DNS_IP
    pods = kubectl.json("pods", "-n", "kube-system", "-l", "k8s-app=kube-dns")["items"]
    assert len(pods) == 2 and all(map(ready, pods))
    assert sorted(p["spec"]["nodeName"] for p in pods) == ["w1", "w2"]   # spread
    resolv = shell.run("c1", "cat", "/etc/resolv.conf").stdout
    assert f"nameserver {DNS_IP}" in resolv and "options ndots:5" in resolv
    assert "search default.svc.cluster.local svc.cluster.local cluster.local" in resolv


def test_every_record_type_from_pods_on_both_nodes(env):
    kubectl, shell = env
    web_ip = kubectl.json("service", "web")["spec"]["clusterIP"]
    endpoints = sorted(p["status"]["podIP"] for p in kubectl.pods("app=web"))
    for pod in ("c1", "c2"):
        got = lookup(shell, pod, "web", "web.default", "web.default.svc.cluster.local",
                     "nginx", "ext", "example.test", "nope")
        assert got["web"] == got["web.default"] == got["web.default.svc.cluster.local"] \
            == [web_ip], got
        assert got["nginx"] == endpoints and got["ext"] == got["example.test"] == ["10.1.0.1"]
        assert "not known" in got["nope"] or "not found" in got["nope"].lower(), got
        srv = shell.run(pod, "nslookup", "-type=srv", "_http._tcp.web.default.svc.cluster.local")
        assert "web.default.svc.cluster.local" in srv.stdout and " 80 " in srv.stdout, srv.stdout
        ptr = shell.run(pod, "nslookup", web_ip)
        assert "web.default.svc.cluster.local" in ptr.stdout, ptr.stdout
        dashed = endpoints[0].replace(".", "-")
        pod_a = lookup(shell, pod, f"{dashed}.default.pod.cluster.local")
        assert list(pod_a.values()) == [[endpoints[0]]]
        body = shell.run(pod, "sh", "-c", "timeout 5 wget -qO- http://web/hostname").stdout
        assert body.startswith("web-"), body


def test_killing_a_dns_pod_breaks_resolution_for_under_a_few_seconds(env):
    kubectl, shell = env
    result = {}

    def query_loop():
        proc = shell.run("c1", "python3", "-c", OUTAGE, "web.default.svc.cluster.local", "20",
                         timeout=60)
        result["out"] = proc.stdout or proc.stderr

    thread = threading.Thread(target=query_loop)
    thread.start()
    time.sleep(4)
    victim = kubectl.json("pods", "-n", "kube-system", "-l", "k8s-app=kube-dns")["items"][0]
    kubectl("delete", "pod", "-n", "kube-system", victim["metadata"]["name"], "--wait=false")
    thread.join(90)
    figures = json.loads(result["out"])
    print(f"DNS Pod killed: {figures}")
    assert figures["longest_gap"] < 5.0, figures


def test_an_edited_corefile_applies_without_a_restart(env):
    kubectl, shell = env
    corefile = kubectl.json("configmap", "coredns", "-n", "kube-system")["data"]["Corefile"]
    edited = corefile.replace("    ready\n", "    ready\n    hosts {\n"
                              "       10.9.9.9 edited.example\n    }\n")
    patch = json.dumps({"data": {"Corefile": edited}})
    restarts = {p["metadata"]["name"]: p["status"]["containerStatuses"][0]["restartCount"]
                for p in kubectl.json("pods", "-n", "kube-system", "-l",
                                      "k8s-app=kube-dns")["items"]}
    kubectl("patch", "configmap", "coredns", "-n", "kube-system", "--type=merge", "-p", patch)
    started = time.monotonic()
    wait_for("the edited Corefile to answer edited.example", lambda: lookup(
        shell, "c2", "edited.example")["edited.example"] == ["10.9.9.9"], timeout=120,
        interval=1)
    print(f"Corefile edit applied after {time.monotonic() - started:.1f}s")
    after = kubectl.json("pods", "-n", "kube-system", "-l", "k8s-app=kube-dns")["items"]
    for p in after:
        name = p["metadata"]["name"]
        if name in restarts:
            assert p["status"]["containerStatuses"][0]["restartCount"] == restarts[name]
