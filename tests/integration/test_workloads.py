"""Issue #10's workloads on a real cluster: the docs' examples, applied unchanged
with the real kubectl, doing what the docs say the user sees.

The manifests are tests/data/examples/*.yaml, written in the shapes of the
Kubernetes website's content/en/examples (controllers/daemonset.yaml,
application/web/web.yaml, controllers/job.yaml, application/job/cronjob.yaml,
the ConfigMap/Secret Pod pages, policy/zookeeper-pod-disruption-budget). One
single-switch cluster with two workers serves every test in this module.
"""

import json
import os
import re

import pytest

from tests.integration.conftest import k8snet, nothing_left
from tests.integration.kube import Kubectl, ready, wait_for

CLUSTER = "twl"
EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "data", "examples")


def example(name: str) -> str:
    return os.path.join(EXAMPLES, name)


@pytest.fixture(scope="module")
def kubectl(tmp_path_factory):
    k8snet("up", "--detach", "--name", CLUSTER, "--topology", "single", "--workers", "2",
           timeout=600)
    try:
        status = json.loads(k8snet("status", "--json", "--name", CLUSTER).stdout)["clusters"][0]
        yield Kubectl(status["kubeconfig"], str(tmp_path_factory.mktemp("home")))
    finally:
        k8snet("down", "--name", CLUSTER, check=False)
    assert nothing_left(CLUSTER) == {}


def test_applying_every_example_creates_its_objects(kubectl):
    # Applied all at once first, so the slow parts (Job, CronJob) run in parallel.
    for name in ("daemonset.yaml", "web.yaml", "job.yaml", "cronjob.yaml",
                 "configmap-multikeys.yaml", "pod-configmap-secret.yaml"):
        out = kubectl("apply", "-f", example(name)).stdout
        assert "created" in out, out


def test_daemonset_rolls_out_one_pod_per_worker(kubectl):
    out = kubectl("rollout", "status", "ds/fluentd-elasticsearch", "-n", "kube-system",
                  "--timeout=180s", timeout=200).stdout
    assert 'daemon set "fluentd-elasticsearch" successfully rolled out' in out
    pods = kubectl.json("pods", "-n", "kube-system", "-l", "name=fluentd-elasticsearch")["items"]
    workers = [n["metadata"]["name"] for n in kubectl.json("nodes")["items"]
               if not any(t.get("effect") == "NoSchedule" and "control-plane" in t.get("key", "")
                          for t in n["spec"].get("taints", []))]
    assert sorted(p["spec"]["nodeName"] for p in pods) == sorted(workers)
    assert all(map(ready, pods))


def test_job_prints_pi(kubectl):
    kubectl("wait", "--for=condition=complete", "job/pi", "--timeout=180s", timeout=200)
    out = kubectl("logs", "job/pi").stdout.strip()
    assert out.startswith("3.14159265358979323846"), out[:200]
    assert len(out) > 1000
    assert re.search(r"pi\s+Complete\s+1/1\s", kubectl("get", "job", "pi").stdout)


def test_cronjob_job_says_hello(kubectl):
    def finished_job():
        jobs = kubectl.json("jobs")["items"]
        done = [j["metadata"]["name"] for j in jobs
                if j["metadata"]["name"].startswith("hello-")
                and j.get("status", {}).get("succeeded")]
        return done[0] if done else None
    job = wait_for("a Job of CronJob hello to succeed", finished_job, timeout=150, interval=3)
    out = kubectl("logs", f"job/{job}").stdout
    assert "Hello from the Kubernetes cluster" in out
    assert re.search(r"UTC \d{4}", out), out  # busybox `date`
    assert kubectl.json("cronjob", "hello")["status"].get("lastScheduleTime")
    kubectl("delete", "cronjob", "hello")


def test_pod_reads_configmap_and_secret_from_env_and_files(kubectl):
    wait_for("dapi-test-pod running", lambda: kubectl.json("pod", "dapi-test-pod")
             ["status"].get("phase") == "Running", timeout=120)
    out = wait_for("dapi-test-pod logs", lambda: (
        lambda text: text if text.count("\n") >= 4 else None)(
        kubectl("logs", "dapi-test-pod").stdout), timeout=30)
    lines = out.splitlines()
    assert lines[0] == "very charm my-app"
    assert set(lines[1:3]) == {"SPECIAL_LEVEL", "SPECIAL_TYPE"}
    assert lines[3] == "very"
    assert lines[4] == "39528$vdg7Jb"
    kubectl("delete", "pod", "dapi-test-pod", "--wait=false")


def test_statefulset_pods_keep_their_names(kubectl):
    kubectl("rollout", "status", "sts/web", "--timeout=180s", timeout=200)
    names = sorted(p["metadata"]["name"] for p in kubectl.pods("app=nginx"))
    assert names == ["web-0", "web-1", "web-2"]
    old = {p["metadata"]["name"]: p["metadata"]["uid"] for p in kubectl.pods("app=nginx")}
    # --wait=false: kubectl 1.32's wait misses a Pod deleted and made again under the
    # same name between its get and its list (see test_controllers); we wait below
    out = kubectl("delete", "pod", "-l", "app=nginx", "--wait=false", timeout=120).stdout
    assert 'pod "web-0" deleted' in out
    def back():
        pods = kubectl.pods("app=nginx")
        fresh = [p for p in pods if p["metadata"]["uid"] not in old.values()]
        return pods if len(fresh) == 3 and all(map(ready, fresh)) else None
    pods = wait_for("web-0..2 recreated and Ready", back, timeout=180, interval=2)
    assert sorted(p["metadata"]["name"] for p in pods) == ["web-0", "web-1", "web-2"]
    for pod in pods:  # the stable network identity: hostname and subdomain
        assert pod["spec"]["hostname"] == pod["metadata"]["name"]
        assert pod["spec"]["subdomain"] == "nginx"
    # The docs' `kubectl exec web-$i -- sh -c 'hostname'` (kubectl exec is `k8snet exec` here)
    for name in ("web-0", "web-1"):
        out = k8snet("exec", "--name", CLUSTER, name, "--", "sh", "-c", "hostname; cat /etc/hosts",
                     timeout=60).stdout
        assert out.splitlines()[0] == name
        assert f"{name}.nginx.default.svc.cluster.local" in out, out


def test_drain_waits_for_the_pdb(kubectl):
    kubectl("apply", "-f", example("zookeeper-pod-disruption-budget.yaml"))
    kubectl("rollout", "status", "deployment/zookeeper", "--timeout=120s", timeout=140)
    wait_for("zk-pdb to allow 0 disruptions with 2 healthy", lambda: (
        lambda st: st.get("currentHealthy") == 2 and st.get("disruptionsAllowed") == 0)(
        kubectl.json("pdb", "zk-pdb").get("status", {})), timeout=60)
    node = sorted(p["spec"]["nodeName"] for p in kubectl.pods("app=zookeeper"))[0]
    blocked = kubectl("drain", node, "--ignore-daemonsets", "--delete-emptydir-data",
                      "--timeout=20s", check=False, timeout=90)
    assert blocked.returncode != 0
    assert "Cannot evict pod as it would violate the pod's disruption budget" in blocked.stderr \
        + blocked.stdout, blocked.stderr
    assert "SchedulingDisabled" in kubectl("get", "node", node).stdout
    # One more replica (scheduled on the other, schedulable node) makes room.
    kubectl("scale", "deployment/zookeeper", "--replicas=3")
    wait_for("zk-pdb to allow a disruption", lambda: kubectl.json("pdb", "zk-pdb")
             .get("status", {}).get("disruptionsAllowed", 0) >= 1, timeout=120)
    drained = kubectl("drain", node, "--ignore-daemonsets", "--delete-emptydir-data",
                      "--timeout=120s", timeout=150)
    assert f"node/{node} drained" in drained.stdout, drained.stdout
    left = [p for p in kubectl.pods("app=zookeeper") if p["spec"].get("nodeName") == node]
    assert left == []
