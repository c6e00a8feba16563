"""The kubelet under the controller-manager (root): node IPAM, a Deployment, scale to 0.

The podCIDR comes from node IPAM (not set by the test); a Deployment's
ReplicaSet creates Pods bound to the node, the kubelet runs them to Ready
and the Deployment becomes available; scaling to zero deletes the Pods
gracefully and the kubelet removes every sandbox.
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import tempfile

import pytest

from tests.integration.kubelet_stack import NODE, NodeStack, wait_for

pytestmark = pytest.mark.timeout(400)

if shutil.which("kubectl") is None:
    pytest.skip("kubectl is not installed (make setup)", allow_module_level=True)


@pytest.fixture
def stack():
    node = NodeStack(tempfile.mkdtemp(prefix="k8snet-test-kubelet-"))
    try:
        yield node.start(controller_manager=True)
    finally:
        node.close()


def test_deployment_runs_on_ipam_pod_cidr_and_scales_to_zero(stack):
    n = wait_for("podCIDR from node IPAM", lambda: (stack.get("node", NODE) or {}).get(
        "spec", {}).get("podCIDR"), deadline=90)
    cidr = ipaddress.ip_network(n)
    deploy = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                     "nodeName": NODE, "terminationGracePeriodSeconds": 2,
                     "containers": [{
                         "name": "app", "image": "registry.k8s.io/e2e-test-images/agnhost:2.53",
                         "args": ["netexec", "--http-port=8080"],
                         "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080},
                                            "periodSeconds": 1}}]}}}}
    stack.apply(deploy)
    wait_for("deployment 2/2 available", lambda: (stack.get("deployment", "web") or {}).get(
        "status", {}).get("availableReplicas") == 2, deadline=120)
    pods = stack.get("pods", "-l", "app=web")["items"]
    ips = {p["status"]["podIP"] for p in pods}
    assert len(ips) == 2 and all(ipaddress.ip_address(ip) in cidr for ip in ips)
    stack.kubectl("scale", "deployment", "web", "--replicas=0")
    wait_for("no Pods left", lambda: not (stack.get("pods", "-l", "app=web") or {"items": [1]})
             ["items"], deadline=90)
    wait_for("no Pod netns left", lambda: not stack.pod_netns(), deadline=30)
    assert not stack.veths()
    assert json.loads(stack.kubectl("get", "deployment", "web", "-o", "json").stdout)[
        "spec"]["replicas"] == 0
