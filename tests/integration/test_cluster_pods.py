"""Issue #4's acceptance: Pods on Mininet workers, driven by the real kubectl.

One single-switch cluster with two workers serves every test in this module. Its
workers run each component as a process of its own (--separate-agents); the
other modules' clusters run each worker's components in one node agent.
"""

import ipaddress
import json
import os
import subprocess

import pytest

from tests.integration.conftest import k8snet, nothing_left
from tests.integration.kube import Kubectl, agnhost_deployment, ready, service, wait_for

CLUSTER = "tpods"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    k8snet("up", "--detach", "--name", CLUSTER, "--topology", "single", "--workers", "2",
           "--separate-agents", timeout=600)
    try:
        status = json.loads(k8snet("status", "--json", "--name", CLUSTER).stdout)["clusters"][0]
        assert {"kubelet@w1", "runtime@w2", "kube-proxy@w1", "policy-agent@w2"} <= \
            {p["name"] for p in status["processes"]}
        kubectl = Kubectl(status["kubeconfig"], str(tmp_path_factory.mktemp("home")))
        yield status, kubectl
    finally:
        k8snet("down", "--name", CLUSTER, check=False)
    assert nothing_left(CLUSTER) == {}


def pod_exec(pod, *cmd, container=None, check=True):
    args = ["exec", "--name", CLUSTER, pod, *(["-c", container] if container else []), "--", *cmd]
    return k8snet(*args, check=check, timeout=60)


def node_exec(node, *cmd):
    return k8snet("exec", "--name", CLUSTER, node, "--", *cmd, check=False, timeout=60)


def test_deployment_of_four_spreads_over_both_workers(cluster):
    status, kubectl = cluster
    kubectl.apply(agnhost_deployment("web", 4))
    pods = wait_for("4 Ready web Pods", lambda: (
        lambda items: items if len(items) == 4 and all(map(ready, items)) else None)(
        kubectl.pods("app=web")), timeout=180)
    cidrs = {n["metadata"]["name"]: ipaddress.ip_network(n["spec"]["podCIDR"])
             for n in kubectl.json("nodes")["items"]}
    ips = [p["status"]["podIP"] for p in pods]
    assert len(set(ips)) == 4
    for pod in pods:
        assert ipaddress.ip_address(pod["status"]["podIP"]) in cidrs[pod["spec"]["nodeName"]]
    assert {p["spec"]["nodeName"] for p in pods} == {"w1", "w2"}
    wide = kubectl("get", "pods", "-o", "wide", "-l", "app=web").stdout
    for ip in ips:
        assert ip in wide
    out = kubectl("get", "deployment", "web").stdout
    assert "4/4" in out


def test_containers_of_a_pod_talk_over_localhost(cluster):
    _status, kubectl = cluster
    kubectl.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "duo"}, "spec": {
        "containers": [
            {"name": "server", "image": "registry.k8s.io/e2e-test-images/agnhost:2.45",
             "args": ["netexec", "--http-port=8080"]},
            {"name": "client", "image": "busybox:1.36", "command": ["sleep", "3600"]}]}})
    wait_for("pod duo Ready", lambda: ready(kubectl.json("pod", "duo")))
    out = wait_for("busybox reaching agnhost on 127.0.0.1", lambda: pod_exec(
        "duo", "wget", "-qO-", "http://127.0.0.1:8080/clientip", container="client",
        check=False).stdout)
    assert out.startswith("127.0.0.1:")


def test_same_node_pods_reach_each_other_without_nat(cluster):
    _status, kubectl = cluster
    pods = kubectl.pods("app=web")
    by_node = {}
    for pod in pods:
        by_node.setdefault(pod["spec"]["nodeName"], []).append(pod)
    a, b = next(group for group in by_node.values() if len(group) >= 2)[:2]
    out = node_exec(a["spec"]["nodeName"], "curl", "-s", "-m", "5",
                    f"http://{b['status']['podIP']}:8080/clientip").stdout
    assert out  # the node reaches the Pod
    dial = pod_exec(a["metadata"]["name"], "wget", "-qO-", "-T", "5",
                    f"http://{b['status']['podIP']}:8080/clientip", check=False)
    if dial.returncode != 0:  # agnhost's image has no wget: use its /dial endpoint
        dial = node_exec(a["spec"]["nodeName"], "curl", "-s", "-m", "10",
                         f"http://{a['status']['podIP']}:8080/dial?request=clientip&host="
                         f"{b['status']['podIP']}&port=8080&protocol=http&tries=1")
        responses = json.loads(dial.stdout)["responses"]
        assert responses and responses[0].startswith(a["status"]["podIP"] + ":")
    else:
        assert dial.stdout.startswith(a["status"]["podIP"] + ":")


def test_clusterip_and_nodeport_reach_the_app(cluster):
    status, kubectl = cluster
    kubectl.apply(service("web", {"app": "web"}, "NodePort"))
    svc = kubectl.json("service", "web")
    cluster_ip = svc["spec"]["clusterIP"]
    node_port = next(p["nodePort"] for p in svc["spec"]["ports"] if p["name"] == "http")
    pod_ips = {p["status"]["podIP"] for p in kubectl.pods("app=web")}

    def hostnames_via(node, url, tries=40):
        seen = set()
        for _ in range(tries):
            out = node_exec(node, "curl", "-s", "-m", "2", url).stdout.strip()
            if out:
                seen.add(out)
        return seen
    assert hostnames_via("w1", f"http://{cluster_ip}/hostname")
    nodes = {n["name"]: n["ip"] for n in status["nodes"]}
    out = wait_for("NodePort from ext1", lambda: node_exec(
        "ext1", "curl", "-s", "-m", "3", f"http://{nodes['w1']}:{node_port}/clientip").stdout)
    # NodePort traffic from outside is masqueraded to the node (externalTrafficPolicy Cluster).
    assert out.split(":")[0] in {nodes["w1"], *{ip.rsplit(".", 1)[0] + ".1" for ip in pod_ips}}


def container_status(kubectl, pod_name, container):
    pod = kubectl.json("pod", pod_name)
    return next((c for c in pod["status"].get("containerStatuses", [])
                 if c["name"] == container), {})


def test_a_killed_container_is_restarted(cluster):
    _status, kubectl = cluster
    kubectl.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "victim"}, "spec": {
        "containers": [{"name": "app", "image": "busybox", "command": ["sleep", "3600"]}]}})
    wait_for("pod victim Ready", lambda: ready(kubectl.json("pod", "victim")))
    # The container's process is PID 1 of its own PID namespace; kill it from the host.
    cid = container_status(kubectl, "victim", "app")["containerID"].split("://")[-1]
    host_pid = find_container_pid(cid)
    os.kill(host_pid, 9)
    wait_for("restartCount 1", lambda: container_status(
        kubectl, "victim", "app").get("restartCount") == 1, timeout=90)
    wait_for("pod victim Ready again", lambda: ready(kubectl.json("pod", "victim")), timeout=90)


def find_container_pid(container_id):
    from k8snet.machinery.cri import RuntimeClient

    for node in ("w1", "w2"):
        socket = f"/run/k8snet/{CLUSTER}/{node}/runtime.sock"
        with RuntimeClient(socket) as runtime:
            try:
                return int(runtime.container_status(container_id)["pid"])
            except Exception:
                continue
    raise AssertionError(f"container {container_id} not found on any worker")


def test_a_failing_liveness_probe_restarts_the_container(cluster):
    _status, kubectl = cluster
    kubectl.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "sick"}, "spec": {
        "containers": [{"name": "app", "image": "busybox",
                        "command": ["sh", "-c", "touch /tmp/k8snet-sick-$HOSTNAME; sleep 3600"],
                        "livenessProbe": {"exec": {"command": ["false"]},
                                          "periodSeconds": 1, "failureThreshold": 2}}]}})
    wait_for("a liveness restart", lambda: container_status(
        kubectl, "sick", "app").get("restartCount", 0) >= 1, timeout=120)
    events = kubectl("get", "events", "--field-selector", "involvedObject.name=sick").stdout
    assert "Unhealthy" in events or "Killing" in events


def test_deleting_the_deployment_removes_every_trace(cluster):
    _status, kubectl = cluster
    pods = kubectl.pods("app=web")
    netns_before = subprocess.run(["ip", "netns", "list"], capture_output=True,
                                  text=True).stdout
    names = [p["metadata"]["name"] for p in pods]
    assert all(any(name in line for line in netns_before.splitlines()) for name in names)
    kubectl("delete", "deployment", "web", timeout=120)
    wait_for("web Pods gone", lambda: not kubectl.pods("app=web"), timeout=120)

    def leftovers():
        listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        left = [n for n in names if n in listed]
        ipam = []
        for node in ("w1", "w2"):
            base = f"/run/k8snet/{CLUSTER}/{node}/ipam"
            for _root, _dirs, files in os.walk(base):
                ipam += [f for f in files for p in pods if f == p["status"]["podIP"]]
        return left + ipam
    wait_for("no netns or address reservation left", lambda: not leftovers(), timeout=60)
