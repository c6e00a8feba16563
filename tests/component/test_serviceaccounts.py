"""ServiceAccounts on `k8snet control-plane --simulated-nodes 2`, through the real kubectl:
every namespace gets `default` and kube-root-ca.crt, Pods get the API access volume."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KUBECTL = "/usr/bin/kubectl"
MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sa")
    data = tmp / "cp"
    log = tmp / "out.log"
    out = open(log, "wb")
    proc = subprocess.Popen([sys.executable, "-m", "k8snet.cli", "control-plane", "--data-dir",
                             str(data), "--port", "0", "--simulated-nodes", "2"],
                            stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
    try:
        end = time.monotonic() + 60
        while time.monotonic() < end and "simulated nodes" not in log.read_text():
            assert proc.poll() is None, log.read_text()
            time.sleep(0.2)
        env = dict(os.environ, HOME=str(tmp), KUBECONFIG=str(data / "kubeconfig"))
        yield {"env": env, "cache": str(tmp / "cache"), "kubeconfig": data / "kubeconfig"}
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        out.close()


def kubectl(cluster, *args, ok=True):
    p = subprocess.run([KUBECTL, "--cache-dir", cluster["cache"], *args], env=cluster["env"],
                       capture_output=True, text=True, timeout=30)
    if ok:
        assert p.returncode == 0, f"kubectl {' '.join(args)}: {p.stderr}"
    return p


def eventually(what, check, timeout=30.0):
    end = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        assert time.monotonic() < end, f"timed out after {timeout:.0f}s waiting for {what}"
        time.sleep(0.3)


def test_new_namespace_gets_default_service_account_and_root_ca(cluster):
    kubectl(cluster, "create", "ns", "x")
    config = yaml.safe_load(cluster["kubeconfig"].read_text())
    ca = base64.b64decode(config["clusters"][0]["cluster"]["certificate-authority-data"]).decode()
    eventually("kube-root-ca.crt in x", lambda: kubectl(
        cluster, "get", "configmap", "kube-root-ca.crt", "-n", "x", "-o",
        r"jsonpath={.data.ca\.crt}", ok=False).stdout == ca)
    first = kubectl(cluster, "get", "sa", "default", "-n", "x", "-o",
                    "jsonpath={.metadata.uid}").stdout
    assert first
    kubectl(cluster, "delete", "sa", "default", "-n", "x")
    second = eventually("default recreated", lambda: kubectl(
        cluster, "get", "sa", "default", "-n", "x", "-o", "jsonpath={.metadata.uid}",
        ok=False).stdout)
    assert second != first
    # the publisher puts a changed CA back
    kubectl(cluster, "patch", "configmap", "kube-root-ca.crt", "-n", "x", "--type", "merge",
            "-p", '{"data": {"ca.crt": "tampered"}}')
    eventually("kube-root-ca.crt repaired", lambda: kubectl(
        cluster, "get", "configmap", "kube-root-ca.crt", "-n", "x", "-o",
        r"jsonpath={.data.ca\.crt}", ok=False).stdout == ca)


def test_pod_gets_the_api_access_volume_and_mounts(cluster):
    kubectl(cluster, "create", "ns", "y")
    kubectl(cluster, "run", "p", "-n", "y", "--image", "busybox", "--", "sleep", "3600")
    pod = yaml.safe_load(kubectl(cluster, "get", "pod", "p", "-n", "y", "-o", "yaml").stdout)
    spec = pod["spec"]
    assert spec["serviceAccountName"] == spec["serviceAccount"] == "default"
    [volume] = [v for v in spec["volumes"] if v["name"].startswith("kube-api-access-")]
    assert volume["projected"]["defaultMode"] == 420
    assert [list(s) for s in volume["projected"]["sources"]] == [
        ["serviceAccountToken"], ["configMap"], ["downwardAPI"]]
    assert volume["projected"]["sources"][0]["serviceAccountToken"] == {
        "expirationSeconds": 3607, "path": "token"}
    assert spec["containers"][0]["volumeMounts"] == [
        {"name": volume["name"], "readOnly": True, "mountPath": MOUNT}]


def test_opt_out_and_missing_service_account(cluster):
    kubectl(cluster, "create", "ns", "z")
    overrides = {"spec": {"automountServiceAccountToken": False}}
    kubectl(cluster, "run", "quiet", "-n", "z", "--image", "busybox",
            "--overrides", json.dumps(overrides), "--", "sleep", "3600")
    spec = json.loads(kubectl(cluster, "get", "pod", "quiet", "-n", "z", "-o",
                              "json").stdout)["spec"]
    assert not spec.get("volumes") and not spec["containers"][0].get("volumeMounts")
    p = kubectl(cluster, "run", "lost", "-n", "z", "--image", "busybox", "--overrides",
                json.dumps({"spec": {"serviceAccountName": "nope"}}), ok=False)
    assert p.returncode == 1
    assert ('Error from server (Forbidden): pods "lost" is forbidden: error looking up service '
            'account z/nope: serviceaccount "nope" not found') in p.stderr
