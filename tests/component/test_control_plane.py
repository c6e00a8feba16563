"""The scheduler and controller-manager as processes against a real apiserver on loopback,
with a fake kubelet standing in for the nodes."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from typing import Callable

import pytest

from k8snet.machinery.client import ApiClient, ApiError, NotFound
from tests.component.apiserver_proc import ApiServerProc
from tests.component.fake_kubelet import FakeKubelet

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NODES = {"w1": {"disk": "ssd", "topology.kubernetes.io/zone": "a"},
         "w2": {"disk": "ssd", "topology.kubernetes.io/zone": "b"},
         "w3": {"topology.kubernetes.io/zone": "a"},
         "w4": {"topology.kubernetes.io/zone": "b"}}


class Cluster:
    def __init__(self, api: ApiServerProc, client: ApiClient, kubelet: FakeKubelet, logs: dict):
        self.api, self.client, self.kubelet, self.logs = api, client, kubelet, logs

    def log_tail(self) -> str:
        out = []
        for name, path in self.logs.items():
            with open(path, errors="replace") as f:
                out.append(f"--- {name}\n{f.read()[-2500:]}")
        return "\n".join(out)

    def wait(self, check: Callable[[], object], what: str, deadline: float = 60.0) -> object:
        end = time.monotonic() + deadline
        last_error = None
        while time.monotonic() < end:
            try:
                result = check()
                if result:
                    return result
            except (ApiError, KeyError) as exc:
                last_error = exc
            time.sleep(0.2)
        pytest.fail(f"waited {deadline}s for {what} (last error {last_error})\n{self.log_tail()}")


def _spawn(args: list[str], log_path: str) -> subprocess.Popen:
    with open(log_path, "ab") as log:
        return subprocess.Popen([sys.executable, "-m", "k8snet.cli"] + args, stdout=log,
                                stderr=subprocess.STDOUT, cwd=REPO)


@contextlib.contextmanager
def running_cluster(tmp_path, grace: str = "4", eviction: str = "3"):
    """apiserver, scheduler, controller-manager and the fake kubelet; stopped on exit."""
    api = ApiServerProc(str(tmp_path)).start()
    procs: list[subprocess.Popen] = []
    kubelet = None
    logs = {"apiserver": api.log_path,
            "scheduler": str(tmp_path / "scheduler.log"),
            "controller-manager": str(tmp_path / "kcm.log")}
    try:
        procs.append(_spawn(["scheduler", "--kubeconfig", api.kubeconfig], logs["scheduler"]))
        procs.append(_spawn(["controller-manager", "--kubeconfig", api.kubeconfig,
                             "--node-monitor-grace-period", grace,
                             "--pod-eviction-timeout", eviction],
                            logs["controller-manager"]))
        client = ApiClient.from_kubeconfig(api.kubeconfig)
        kubelet = FakeKubelet(client, NODES, cpu="2", memory="4Gi", lease_period=0.5).start()
        yield Cluster(api, client, kubelet, logs)
    finally:
        if kubelet is not None:
            kubelet.stop()
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)
        api.stop()


@pytest.fixture
def cluster(tmp_path):
    with running_cluster(tmp_path) as c:
        yield c


def deployment(replicas: int, image: str = "registry.k8s.io/e2e-test-images/agnhost:2.39",
               surge: object = 1, unavailable: object = 1) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "strategy": {"type": "RollingUpdate", "rollingUpdate": {
                         "maxSurge": surge, "maxUnavailable": unavailable}},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                         "containers": [{"name": "web", "image": image, "ports": [
                             {"name": "http", "containerPort": 8080}]}]}}}}


def active_pods(c: Cluster, selector: str = "app=web") -> list[dict]:
    pods = c.client.list("pods", "default", label_selector=selector)["items"]
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


def rolled_out(c: Cluster, replicas: int, image: str) -> bool:
    d = c.client.get("deployments", "web", "default")
    s = d.get("status") or {}
    pods = active_pods(c)
    return (s.get("observedGeneration", 0) >= d["metadata"].get("generation", 1)
            and s.get("availableReplicas") == replicas and s.get("updatedReplicas") == replicas
            and s.get("replicas") == replicas and len(pods) == replicas
            and all(p["spec"]["containers"][0]["image"] == image for p in pods)
            and all(p["spec"].get("nodeName") for p in pods))


def test_deployment_reaches_five_scales_and_rolls(cluster: Cluster):
    c = cluster
    image1 = "registry.k8s.io/e2e-test-images/agnhost:2.39"
    image2 = "registry.k8s.io/e2e-test-images/agnhost:2.40"
    c.client.create("deployments", deployment(5, image1), "default")
    c.client.create("services", {"apiVersion": "v1", "kind": "Service",
                                 "metadata": {"name": "web", "namespace": "default"},
                                 "spec": {"selector": {"app": "web"},
                                          "ports": [{"port": 80, "targetPort": "http"}]}},
                    "default")
    c.wait(lambda: rolled_out(c, 5, image1), "5 available replicas")
    nodes = [p["spec"]["nodeName"] for p in active_pods(c)]
    assert max(nodes.count(n) for n in set(nodes)) <= 2, f"replicas not spread: {nodes}"
    for p in active_pods(c):
        assert p["metadata"]["generateName"].startswith("web-")
        assert p["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet"
        assert p["metadata"]["labels"]["pod-template-hash"]

    def endpoint_ips() -> set:
        ep = c.client.get("endpoints", "web", "default")
        return {a["ip"] for s in ep.get("subsets") or [] for a in s.get("addresses") or []}

    c.wait(lambda: endpoint_ips() == {p["status"]["podIP"] for p in active_pods(c)},
           "Endpoints listing the 5 Pod IPs")
    ep = c.client.get("endpoints", "web", "default")
    assert ep["subsets"][0]["ports"] == [{"port": 8080, "protocol": "TCP"}]

    c.client.patch("deployments", "web", {"spec": {"replicas": 2}}, "default")
    c.wait(lambda: rolled_out(c, 2, image1), "scale down to 2")
    c.wait(lambda: len(endpoint_ips()) == 2, "Endpoints down to 2 addresses")
    c.client.patch("deployments", "web", {"spec": {"replicas": 5}}, "default")
    c.wait(lambda: rolled_out(c, 5, image1), "scale back up to 5")

    patch = {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": image2}]}}}}
    c.client.patch("deployments", "web", patch, "default", patch_type="strategic")
    c.wait(lambda: rolled_out(c, 5, image2), "rollout to the new image")
    rss = c.client.list("replicasets", "default")["items"]
    assert len(rss) == 2
    by_image = {rs["spec"]["template"]["spec"]["containers"][0]["image"]: rs for rs in rss}
    assert by_image[image1]["spec"]["replicas"] == 0
    assert by_image[image2]["spec"]["replicas"] == 5
    assert by_image[image2]["metadata"]["annotations"]["deployment.kubernetes.io/revision"] \
        == "2"
    d = c.client.get("deployments", "web", "default")
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    conditions = {x["type"]: x for x in d["status"]["conditions"]}
    assert conditions["Available"]["status"] == "True"
    c.wait(lambda: {x["type"]: x for x in c.client.get("deployments", "web", "default")
                    ["status"]["conditions"]}["Progressing"]["reason"]
           == "NewReplicaSetAvailable", "Progressing=NewReplicaSetAvailable")

    # Garbage collection: deleting the Deployment takes its ReplicaSets and Pods along.
    c.client.delete("deployments", "web", "default", propagation_policy="Background")
    c.wait(lambda: not c.client.list("replicasets", "default")["items"]
           and not active_pods(c), "ReplicaSets and Pods of the deleted Deployment to go")


def events_for(c: Cluster, pod: str) -> list[dict]:
    return [e for e in c.client.list("events", "default")["items"]
            if e["involvedObject"].get("name") == pod]


def test_unschedulable_pod_gets_event_and_is_retried(cluster: Cluster):
    c = cluster
    c.wait(lambda: len(c.client.list("nodes")["items"]) == 4, "4 nodes")
    c.client.create("pods", {"apiVersion": "v1", "kind": "Pod",
                             "metadata": {"name": "fussy", "namespace": "default"},
                             "spec": {"nodeSelector": {"disk": "nvme"},
                                      "containers": [{"name": "c", "image": "busybox"}]}},
                    "default")
    c.client.create("pods", {"apiVersion": "v1", "kind": "Pod",
                             "metadata": {"name": "greedy", "namespace": "default"},
                             "spec": {"nodeSelector": {"disk": "ssd"}, "containers": [
                                 {"name": "c", "image": "busybox",
                                  "resources": {"requests": {"cpu": "3"}}}]}}, "default")
    want = {"fussy": "0/4 nodes are available: 4 node(s) didn't match Pod's node "
                     "affinity/selector.",
            "greedy": "0/4 nodes are available: 2 Insufficient cpu, 2 node(s) didn't match "
                      "Pod's node affinity/selector."}
    for pod, message in want.items():
        event = c.wait(lambda pod=pod: next((e for e in events_for(c, pod)
                                             if e["reason"] == "FailedScheduling"), None),
                       f"a FailedScheduling Event for {pod}")
        assert event["type"] == "Warning"
        assert event["message"] == message
        assert event["source"]["component"] == "default-scheduler"
        assert event["involvedObject"]["kind"] == "Pod"
        cond = next(x for x in c.client.get("pods", pod, "default")["status"]["conditions"]
                    if x["type"] == "PodScheduled")
        assert (cond["status"], cond["reason"], cond["message"]) == \
            ("False", "Unschedulable", message)
    # A node change makes the Pod fit: it is retried and bound.
    c.client.patch("nodes", "w3", {"metadata": {"labels": {"disk": "nvme"}}})
    c.wait(lambda: c.client.get("pods", "fussy", "default")["spec"].get("nodeName") == "w3",
           "fussy to be scheduled on w3 after the label change")
    c.wait(lambda: any(e["reason"] == "Scheduled" and
                       e["message"] == "Successfully assigned default/fussy to w3"
                       for e in events_for(c, "fussy")), "the Scheduled Event")
    assert not c.client.get("pods", "greedy", "default")["spec"].get("nodeName")


def test_node_failure_taints_and_evicts(cluster: Cluster):
    c = cluster
    image = "registry.k8s.io/e2e-test-images/agnhost:2.39"
    c.client.create("deployments", deployment(3, image), "default")
    c.wait(lambda: rolled_out(c, 3, image), "3 available replicas")
    victim = active_pods(c)[0]["spec"]["nodeName"]
    c.kubelet.fail(victim)

    def node_state():
        node = c.client.get("nodes", victim)
        ready = next(x for x in node["status"]["conditions"] if x["type"] == "Ready")
        taints = {(t["key"], t["effect"]) for t in node["spec"].get("taints") or []}
        return ready["status"], taints

    unreachable = ("node.kubernetes.io/unreachable", "NoExecute")
    c.wait(lambda: node_state()[0] == "Unknown" and unreachable in node_state()[1],
           f"{victim} to be Ready=Unknown with the unreachable taint")
    c.wait(lambda: rolled_out(c, 3, image)
           and all(p["spec"]["nodeName"] != victim for p in active_pods(c)),
           f"the Pods on {victim} to be evicted and replaced elsewhere")
    c.kubelet.recover(victim)
    c.wait(lambda: unreachable not in node_state()[1],
           f"the taint to be lifted when {victim}'s Lease renews")


def test_node_ipam_gives_distinct_blocks(cluster: Cluster):
    c = cluster

    def cidrs():
        return [n["spec"].get("podCIDR") for n in c.client.list("nodes")["items"]]

    c.wait(lambda: len(cidrs()) == 4 and all(cidrs()), "a podCIDR on every node")
    blocks = cidrs()
    assert len(set(blocks)) == 4
    assert all(b.startswith("10.244.") and b.endswith("/24") for b in blocks)
    for n in c.client.list("nodes")["items"]:
        assert n["spec"]["podCIDRs"] == [n["spec"]["podCIDR"]]
    with pytest.raises(NotFound):
        c.client.get("nodes", "nope")


def test_controllers_resume_after_apiserver_restart(tmp_path):
    # A grace period longer than the restart, so the nodes stay Ready meanwhile.
    with running_cluster(tmp_path, grace="60", eviction="60") as c:
        image = "registry.k8s.io/e2e-test-images/agnhost:2.39"
        c.client.create("deployments", deployment(2, image), "default")
        c.wait(lambda: rolled_out(c, 2, image), "2 available replicas")
        c.api.stop()
        c.api.start()
        c.client.patch("deployments", "web", {"spec": {"replicas": 4}}, "default")
        c.wait(lambda: rolled_out(c, 4, image),
               "the scheduler and controllers to resume their watches and scale to 4")
        c.client.create("pods", {"apiVersion": "v1", "kind": "Pod",
                                 "metadata": {"name": "after", "namespace": "default"},
                                 "spec": {"containers": [{"name": "c", "image": "busybox"}]}},
                        "default")
        c.wait(lambda: c.client.get("pods", "after", "default")["spec"].get("nodeName"),
               "a Pod created after the restart to be bound")
