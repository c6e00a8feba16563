"""`k8snet proxy` against a real apiserver, both in one scratch netns (root).

Checks the watch -> render -> apply path and that a restarted proxy re-syncs
changes made while it was down.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

import pytest

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for network namespaces"),
    pytest.mark.skipif(not shutil.which("kubectl"), reason="needs kubectl"),
]

OBJECTS = """
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  type: NodePort
  selector: {app: none}
  ports: [{name: http, port: 80, targetPort: 8080, protocol: TCP}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-manual
  namespace: default
  labels: {kubernetes.io/service-name: web}
addressType: IPv4
endpoints: [{addresses: [%s], conditions: {ready: true}}]
ports: [{name: http, port: 8080, protocol: TCP}]
"""


def wait_for(what: str, cond, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.1)


@pytest.fixture
def cluster():
    ns = f"k8snet-test-pxw{uuid.uuid4().hex[:6]}"
    tmp = tempfile.mkdtemp(prefix="k8snet-test-pxw")
    procs: list[subprocess.Popen] = []
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        kc = os.path.join(tmp, "kubeconfig")
        with open(os.path.join(tmp, "api.log"), "w") as log:
            procs.append(subprocess.Popen(
                ["ip", "netns", "exec", ns, sys.executable, "-m", "k8snet.cli", "apiserver",
                 "--data-dir", os.path.join(tmp, "api"), "--port", "16443",
                 "--kubeconfig-out", kc], stdout=log, stderr=subprocess.STDOUT))

        def kubectl(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
            return subprocess.run(["ip", "netns", "exec", ns, "kubectl", "--kubeconfig", kc,
                                   *args], input=stdin, capture_output=True, text=True,
                                  timeout=30)

        wait_for("the apiserver to answer", lambda: os.path.exists(kc) and
                 kubectl("get", "namespaces").returncode == 0)
        yield {"ns": ns, "kc": kc, "tmp": tmp, "kubectl": kubectl, "procs": procs}
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


def start_proxy(cluster, mode: str) -> subprocess.Popen:
    log = open(os.path.join(cluster["tmp"], f"proxy-{mode}.log"), "a")
    proc = subprocess.Popen(
        ["ip", "netns", "exec", cluster["ns"], sys.executable, "-m", "k8snet.cli", "proxy",
         "--kubeconfig", cluster["kc"], "--node-name", "w1", "--node-ip", "10.0.0.2",
         "--mode", mode, "--sync-period", "5", "-v"], stdout=log, stderr=subprocess.STDOUT)
    log.close()
    cluster["procs"].append(proc)
    return proc


def rules(cluster, mode: str) -> str:
    argv = ["iptables-save", "-t", "nat"] if mode == "iptables" else \
        ["nft", "list", "table", "ip", "k8snet-proxy"]
    return subprocess.run(["ip", "netns", "exec", cluster["ns"], *argv], capture_output=True,
                          text=True, timeout=30).stdout


@pytest.mark.parametrize("mode", ["iptables", "nftables"])
def test_proxy_follows_the_apiserver_and_resyncs_after_restart(cluster, mode):
    proxy = start_proxy(cluster, mode)
    result = cluster["kubectl"]("apply", "-f", "-", stdin=OBJECTS % "10.244.1.2")
    assert result.returncode == 0, result.stderr
    wait_for("DNAT to 10.244.1.2:8080", lambda: "10.244.1.2:8080" in rules(cluster, mode))
    proxy.terminate()
    proxy.wait(15)
    result = cluster["kubectl"]("apply", "-f", "-", stdin=OBJECTS % "10.244.1.3")
    assert result.returncode == 0, result.stderr
    time.sleep(0.5)
    assert "10.244.1.2:8080" in rules(cluster, mode)  # nobody has changed the rules yet
    start_proxy(cluster, mode)
    wait_for("the restarted proxy to re-sync to 10.244.1.3:8080",
             lambda: "10.244.1.3:8080" in rules(cluster, mode)
             and "10.244.1.2:8080" not in rules(cluster, mode))
    log = open(os.path.join(cluster["tmp"], f"proxy-{mode}.log")).read()
    assert "endpoints change to rules applied" in log, log
