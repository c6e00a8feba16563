"""The kubelet with the real runtime and apiserver in a scratch netns (root).

One node: the kubelet registers it, gets a podCIDR (set here, as node IPAM
would), runs an agnhost Pod to Running/Ready with an IP in the podCIDR,
restarts a killed container, restarts on a failing liveness probe, serves
`kubectl logs`, reports ErrImagePull, and on delete removes the Pod's
netns, veth and processes before confirming.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import signal
import tempfile

import pytest

from tests.integration.kubelet_stack import NODE, NODE_IP, POD_CIDR, NodeStack, wait_for

pytestmark = pytest.mark.timeout(400)

AGNHOST = "registry.k8s.io/e2e-test-images/agnhost:2.53"

if shutil.which("kubectl") is None:
    pytest.skip("kubectl is not installed (make setup)", allow_module_level=True)


@pytest.fixture(scope="module")
def stack():
    tmp = tempfile.mkdtemp(prefix="k8snet-test-kubelet-")
    node = NodeStack(tmp, kubelet_flags=("--backoff-base", "2", "--backoff-cap", "8"))
    try:
        node.start()
        wait_for("node w1 registered", lambda: node.get("node", NODE), deadline=60)
        cidr = json.dumps({"spec": {"podCIDR": POD_CIDR, "podCIDRs": [POD_CIDR]}})
        wait_for("podCIDR set", lambda: node.kubectl("patch", "node", NODE, "--type", "merge",
                                                     "-p", cidr, check=False).returncode == 0)
        yield node
    finally:
        node.close()


def pod(name: str, **container) -> dict:
    spec = {"name": "app", "image": AGNHOST, "args": ["netexec", "--http-port=8080"]}
    spec.update(container)
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "labels": {"app": name}},
            "spec": {"nodeName": NODE, "terminationGracePeriodSeconds": 5,
                     "containers": [spec]}}


def ready(node: NodeStack, name: str):
    p = node.get("pod", name)
    if not p:
        return None
    conds = {c["type"]: c["status"] for c in p["status"].get("conditions") or []}
    return p if conds.get("Ready") == "True" else None


def cstatus(node: NodeStack, name: str) -> dict:
    p = node.get("pod", name) or {}
    return ((p.get("status") or {}).get("containerStatuses") or [{}])[0]


def test_node_registered_ready_with_labels(stack):
    n = wait_for("node Ready", lambda: (lambda o: o if o and any(
        c["type"] == "Ready" and c["status"] == "True" for c in o["status"]["conditions"])
        else None)(stack.get("node", NODE)), deadline=60)
    labels = n["metadata"]["labels"]
    assert labels["kubernetes.io/hostname"] == NODE and labels["disk"] == "ssd"
    assert {"type": "InternalIP", "address": NODE_IP} in n["status"]["addresses"]
    assert n["status"]["nodeInfo"]["kubeletVersion"] == "v1.32.0-k8snet"
    assert n["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("k8snet://")
    lease = stack.get("lease", NODE, "-n", "kube-node-lease")
    assert lease and lease["spec"]["holderIdentity"] == NODE
    assert os.listdir(stack.conf_dir), "the kubelet wrote no CNI configuration"


def test_pod_runs_ready_restarts_and_is_deleted(stack):
    stack.apply(pod("web", readinessProbe={"httpGet": {"path": "/healthz", "port": 8080},
                                           "periodSeconds": 1}))
    p = wait_for("pod web Ready", lambda: ready(stack, "web"), deadline=90)
    st = p["status"]
    assert st["phase"] == "Running" and st["hostIP"] == NODE_IP
    assert ipaddress.ip_address(st["podIP"]) in ipaddress.ip_network(POD_CIDR)
    assert st["podIPs"] == [{"ip": st["podIP"]}]
    cs = st["containerStatuses"][0]
    assert cs["containerID"].startswith("k8snet://") and cs["restartCount"] == 0
    assert cs["ready"] and cs["started"] and "running" in cs["state"]

    # kubectl logs goes apiserver -> kubelet log server -> CRI log file
    wait_for("netexec's log line", lambda: stack.kubectl("logs", "web", check=False).stdout)

    # kill the container's process: the kubelet restarts it (restartCount 1)
    pid = stack.container_pid(cs["containerID"][len("k8snet://"):])
    assert pid > 0
    os.kill(pid, signal.SIGKILL)
    wait_for("restartCount 1", lambda: cstatus(stack, "web").get("restartCount") == 1,
             deadline=60)
    wait_for("pod web Ready again", lambda: ready(stack, "web"), deadline=60)
    last = cstatus(stack, "web")["lastState"]["terminated"]
    assert last["exitCode"] == 137 and last["reason"] == "Error"

    netns_before = stack.pod_netns()
    assert netns_before and stack.veths()
    pid = stack.container_pid(cstatus(stack, "web")["containerID"][len("k8snet://"):])
    stack.kubectl("delete", "pod", "web", "--wait=true", "--timeout=60s")
    assert stack.get("pod", "web") is None
    wait_for("pod netns removed", lambda: not stack.pod_netns(), deadline=30)
    assert not stack.veths()
    assert not os.path.exists(f"/proc/{pid}"), "the container process survived deletion"


def test_failing_liveness_probe_restarts(stack):
    stack.apply(pod("sick", livenessProbe={"tcpSocket": {"port": 9999}, "periodSeconds": 1,
                                           "failureThreshold": 2}))
    wait_for("restart after liveness failures",
             lambda: cstatus(stack, "sick").get("restartCount", 0) >= 1, deadline=90)
    events = stack.kubectl("get", "events", "--field-selector", "involvedObject.name=sick",
                           "-o", "jsonpath={.items[*].reason}").stdout.split()
    assert "Unhealthy" in events and "Killing" in events
    stack.kubectl("delete", "pod", "sick", "--wait=true", "--timeout=60s")


def test_unknown_image_reports_err_image_pull(stack):
    stack.apply(pod("nope", image="registry.example/nosuch:1", args=[]))
    reason = wait_for("ErrImagePull or ImagePullBackOff", lambda: (
        cstatus(stack, "nope").get("state", {}).get("waiting", {}).get("reason")
        in ("ErrImagePull", "ImagePullBackOff")) and cstatus(stack, "nope"), deadline=60)
    assert reason["state"]["waiting"].get("message")
    assert (stack.get("pod", "nope") or {})["status"]["phase"] == "Pending"
    wait_for("ImagePullBackOff", lambda: cstatus(stack, "nope").get("state", {}).get(
        "waiting", {}).get("reason") == "ImagePullBackOff", deadline=30)
    events = stack.kubectl("get", "events", "--field-selector", "involvedObject.name=nope",
                           "-o", "jsonpath={.items[*].reason}").stdout.split()
    assert "Failed" in events
    stack.kubectl("delete", "pod", "nope", "--wait=true", "--timeout=60s")


def test_kubelet_restart_keeps_pods_and_collects_orphans(stack):
    stack.apply(pod("keep"))
    stack.apply(pod("gone"))
    for name in ("keep", "gone"):
        wait_for(f"pod {name} Ready", lambda n=name: ready(stack, n), deadline=90)
    keep_id = cstatus(stack, "keep")["containerID"]
    stack.stop_kubelet()
    # removed from the apiserver while the kubelet is down: nobody confirms, nobody cleans
    stack.kubectl("delete", "pod", "gone", "--grace-period=0", "--force")
    assert f"{stack.ns}-default-gone" in stack.pod_netns()
    stack.start_kubelet()
    wait_for("the orphan's sandbox removed",
             lambda: f"{stack.ns}-default-gone" not in stack.pod_netns(), deadline=60)
    wait_for("pod keep Ready after the restart", lambda: ready(stack, "keep"), deadline=60)
    cs = cstatus(stack, "keep")
    assert cs["containerID"] == keep_id and cs["restartCount"] == 0
    stack.kubectl("delete", "pod", "keep", "--wait=true", "--timeout=60s")
    wait_for("no Pod netns left", lambda: not stack.pod_netns(), deadline=30)


def test_pod_bound_later_through_binding_is_picked_up(stack):
    unbound = pod("late")
    del unbound["spec"]["nodeName"]
    stack.apply(unbound)
    binding = {"apiVersion": "v1", "kind": "Binding",
               "metadata": {"name": "late", "namespace": "default"},
               "target": {"apiVersion": "v1", "kind": "Node", "name": NODE}}
    stack.kubectl("create", "--raw", "/api/v1/namespaces/default/pods/late/binding", "-f", "-",
                  stdin=json.dumps(binding))
    wait_for("pod late Ready", lambda: ready(stack, "late"), deadline=90)
    stack.kubectl("delete", "pod", "late", "--wait=true", "--timeout=60s")


def test_config_from_configmap_and_secret_in_env_files_and_etc(stack):
    """A missing ConfigMap holds the container; then env, volumes, /etc files and an update."""
    name = "cfg"
    p = pod(name, image="busybox:1.36", command=["sh", "-c"], args=[
        "echo env=$LIVES/$(LIVES)/$USER_NAME/'$$(LIVES)'; cat /etc/hostname; "
        "grep foo.local /etc/hosts; grep -E '^(search|options)' /etc/resolv.conf; "
        "while true; do echo file=$(cat /etc/config/lives) secret=$(cat /etc/creds/user); "
        "sleep 1; done"],
        env=[{"name": "LIVES", "valueFrom": {"configMapKeyRef": {"name": "game",
                                                                 "key": "lives"}}},
             {"name": "USER_NAME", "valueFrom": {"secretKeyRef": {"name": "creds",
                                                                  "key": "user"}}}],
        volumeMounts=[{"name": "config", "mountPath": "/etc/config"},
                      {"name": "creds", "mountPath": "/etc/creds", "readOnly": True}])
    p["spec"]["volumes"] = [{"name": "config", "configMap": {"name": "game"}},
                            {"name": "creds", "secret": {"secretName": "creds"}}]
    p["spec"]["hostAliases"] = [{"ip": "127.0.0.1", "hostnames": ["foo.local"]}]
    stack.apply(p)
    waiting = wait_for("CreateContainerConfigError", lambda: (
        cstatus(stack, name).get("state") or {}).get("waiting", {}).get("reason") ==
        "CreateContainerConfigError" and cstatus(stack, name)["state"]["waiting"], deadline=60)
    assert waiting["message"] == 'configmap "game" not found'
    stack.kubectl("create", "configmap", "game", "--from-literal=lives=3")
    stack.kubectl("create", "secret", "generic", "creds", "--from-literal=user=admin")
    wait_for("pod cfg running", lambda: ready(stack, name), deadline=90)
    logs = wait_for("file line in logs", lambda: (lambda t: t if "file=3" in t else None)(
        stack.kubectl("logs", name, check=False).stdout), deadline=30)
    assert "env=3/3/admin/$(LIVES)" in logs
    assert "\ncfg\n" in logs and "127.0.0.1\tfoo.local" in logs
    assert "search default.svc.cluster.local svc.cluster.local cluster.local" in logs
    assert "options ndots:5" in logs and "secret=admin" in logs
    stack.kubectl("patch", "configmap", "game", "--type", "merge", "-p",
                  json.dumps({"data": {"lives": "9"}}))
    wait_for("updated file", lambda: "file=9" in stack.kubectl("logs", name,
                                                               check=False).stdout, deadline=60)
    stack.kubectl("delete", "pod", name, "--wait=true", "--timeout=60s")


def test_init_sidecar_hooks_working_dir_user_and_memory_empty_dir(stack):
    name = "features"
    bb = "busybox:1.36"
    p = pod(name, image=bb, workingDir="/work", command=["sh", "-c"], args=[
        "pwd; id; cat order; grep ' /cache ' /proc/mounts; sleep 2; cat hook; sleep 3600"],
        securityContext={"runAsUser": 1000, "runAsGroup": 3000},
        lifecycle={"postStart": {"exec": {"command": ["sh", "-c", "echo hooked > /work/hook"]}}},
        volumeMounts=[{"name": "work", "mountPath": "/work"},
                      {"name": "cache", "mountPath": "/cache"}])
    p["spec"]["securityContext"] = {"fsGroup": 2000}
    p["spec"]["initContainers"] = [
        {"name": "init", "image": bb, "command": ["sh", "-c", "echo init > /work/order"],
         "volumeMounts": [{"name": "work", "mountPath": "/work"}]},
        {"name": "side", "image": bb, "restartPolicy": "Always",
         "command": ["sh", "-c", "echo side >> /work/order; sleep 3600"],
         "volumeMounts": [{"name": "work", "mountPath": "/work"}]}]
    p["spec"]["volumes"] = [{"name": "work", "emptyDir": {}},
                            {"name": "cache", "emptyDir": {"medium": "Memory"}}]
    stack.apply(p)
    wait_for("pod features ready", lambda: ready(stack, name), deadline=90)
    logs = wait_for("hook line", lambda: (lambda t: t if "hooked" in t else None)(
        stack.kubectl("logs", name, check=False).stdout), deadline=30)
    lines = logs.splitlines()
    assert lines[0] == "/work"
    # names come from the node's /etc/passwd (there is no image filesystem)
    assert re.fullmatch(r"uid=1000(\(\S+\))? gid=3000(\(\S+\))? groups=2000(\(\S+\))?",
                        lines[1]), lines[1]
    assert lines[2:4] == ["init", "side"]
    assert lines[4].startswith("tmpfs /cache tmpfs")
    assert lines[5] == "hooked"
    got = stack.get("pod", name)
    side = next(s for s in got["status"]["initContainerStatuses"] if s["name"] == "side")
    assert "running" in side["state"]
    stack.kubectl("delete", "pod", name, "--wait=true", "--timeout=60s")


def test_host_network_pod_runs_with_the_node_ip(stack):
    p = pod("hostnet", image="busybox:1.36", command=["sh", "-c", "cat /etc/hosts; sleep 3600"])
    p["spec"]["hostNetwork"] = True
    stack.apply(p)
    got = wait_for("hostnet ready", lambda: ready(stack, "hostnet"), deadline=60)
    assert got["status"]["podIP"] == NODE_IP
    before = set(stack.pod_netns())
    assert not [ns for ns in before if "hostnet" in ns]
    stack.kubectl("delete", "pod", "hostnet", "--wait=true", "--timeout=60s")
