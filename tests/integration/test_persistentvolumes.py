"""Data on a provisioned volume outlives its Pod: a Pod writes a file to a claim of the
default `standard` class, is deleted, and a new Pod on the same claim (pinned to the same
node by the volume's nodeAffinity) reads it; deleting the claim removes the volume and
its directory."""

import json
import os

import pytest

from tests.integration.conftest import k8snet, nothing_left
from tests.integration.kube import Kubectl, ready, wait_for

CLUSTER = "tpv"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    k8snet("up", "--detach", "--name", CLUSTER, "--topology", "single", "--workers", "2",
           timeout=600)
    try:
        status = json.loads(k8snet("status", "--json", "--name", CLUSTER).stdout)["clusters"][0]
        yield Kubectl(status["kubeconfig"], str(tmp_path_factory.mktemp("home")))
    finally:
        k8snet("down", "--name", CLUSTER, check=False)
    assert nothing_left(CLUSTER) == {}


def user(name: str, script: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {
        "terminationGracePeriodSeconds": 1,
        "containers": [{"name": "c", "image": "busybox:1.36",
                        "command": ["sh", "-c", script],
                        "volumeMounts": [{"name": "v", "mountPath": "/data"}]}],
        "volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": "data"}}]}}


def test_file_written_to_a_claim_is_read_by_the_next_pod(cluster):
    kubectl = cluster
    kubectl.apply({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                   "metadata": {"name": "data"},
                   "spec": {"accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": "1Gi"}}}})
    assert kubectl.json("pvc", "data")["status"]["phase"] == "Pending"
    kubectl.apply(user("writer", "echo kept > /data/f && sleep 3600"))
    writer = wait_for("pod writer Ready", lambda: (
        lambda p: p if ready(p) else None)(kubectl.json("pod", "writer")), timeout=180)
    claim = kubectl.json("pvc", "data")
    assert claim["status"]["phase"] == "Bound"
    pv = kubectl.json("pv", claim["spec"]["volumeName"])
    node = writer["spec"]["nodeName"]
    assert pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0][
        "matchExpressions"][0]["values"] == [node]
    path = pv["spec"]["hostPath"]["path"]
    assert f"/{CLUSTER}/{node}/volumes/pvc-" in path
    wait_for("the file on the node", lambda: os.path.exists(os.path.join(path, "f")))

    kubectl("delete", "pod", "writer", "--timeout=60s")
    kubectl.apply(user("reader", "cat /data/f; sleep 3600"))
    reader = wait_for("pod reader Ready", lambda: (
        lambda p: p if ready(p) else None)(kubectl.json("pod", "reader")), timeout=180)
    assert reader["spec"]["nodeName"] == node
    logs = wait_for("reader's log", lambda: kubectl("logs", "reader").stdout.strip())
    assert logs == "kept"

    kubectl("delete", "pod", "reader", "--timeout=60s")
    kubectl("delete", "pvc", "data", "--timeout=60s")
    wait_for("the volume deleted", lambda: kubectl(
        "get", "pv", pv["metadata"]["name"], check=False).returncode != 0, timeout=60)
    wait_for("its directory removed", lambda: not os.path.exists(path), timeout=30)
