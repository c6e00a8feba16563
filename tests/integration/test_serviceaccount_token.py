"""A Pod's ServiceAccount token, CA and namespace at /var/run/secrets/kubernetes.io/
serviceaccount are accepted by the apiserver: from inside the Pod, curl with the token and
the CA (no -k) to https://kubernetes.default.svc gets 403 naming the ServiceAccount, then
200 once a RoleBinding grants `view`.

kubernetes.default.svc is pinned to $KUBERNETES_SERVICE_HOST with curl --resolve (cluster
DNS is another issue), so the serving certificate's SAN for that name is still checked.
"""

import json
import shutil

import pytest

from tests.integration.conftest import k8snet, nothing_left
from tests.integration.kube import Kubectl, ready, wait_for

CLUSTER = "tsa"
NS = "sademo"
SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"

pytestmark = pytest.mark.timeout(900)

if shutil.which("kubectl") is None:
    pytest.skip("kubectl is not installed (make setup)", allow_module_level=True)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    k8snet("up", "--detach", "--name", CLUSTER, "--topology", "single", "--workers", "1",
           timeout=600)
    try:
        status = json.loads(k8snet("status", "--json", "--name", CLUSTER).stdout)["clusters"][0]
        kubectl = Kubectl(status["kubeconfig"], str(tmp_path_factory.mktemp("home")))
        yield status, kubectl
    finally:
        k8snet("down", "--name", CLUSTER, check=False)
    assert nothing_left(CLUSTER) == {}


def pod_exec(pod, *cmd, check=True):
    return k8snet("exec", "--name", CLUSTER, "-n", NS, pod, "--", *cmd, check=check,
                  timeout=60)


def test_pod_token_is_authenticated_and_authorized_by_rbac(cluster):
    _status, kubectl = cluster
    kubectl("create", "namespace", NS)
    wait_for("default ServiceAccount in the namespace",
             lambda: kubectl("get", "sa", "default", "-n", NS, check=False).returncode == 0)
    kubectl.apply({"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"name": "caller", "namespace": NS},
                   "spec": {"containers": [{"name": "c", "image": "curlimages/curl:8.11.1",
                                            "command": ["sleep", "3600"]}]}})
    wait_for("pod caller Ready", lambda: ready(kubectl.json("pod", "caller", "-n", NS)),
             timeout=180)
    token = pod_exec("caller", "cat", f"{SA_DIR}/token").stdout.strip()
    assert token.count(".") == 2
    assert pod_exec("caller", "cat", f"{SA_DIR}/namespace").stdout == NS
    assert "BEGIN CERTIFICATE" in pod_exec("caller", "cat", f"{SA_DIR}/ca.crt").stdout
    host, port = pod_exec("caller", "sh", "-c", "echo $KUBERNETES_SERVICE_HOST "
                          "$KUBERNETES_SERVICE_PORT").stdout.split()

    def call():
        out = pod_exec("caller", "curl", "-sS", "-m", "10", "--cacert", f"{SA_DIR}/ca.crt",
                       "--resolve", f"kubernetes.default.svc:{port}:{host}",
                       "-H", f"Authorization: Bearer {token}", "-w", "\n%{http_code}",
                       f"https://kubernetes.default.svc:{port}/api/v1/namespaces/{NS}/pods",
                       check=False).stdout
        body, _, code = out.rpartition("\n")
        return code, body

    code, body = call()
    assert code == "403", body
    status = json.loads(body)
    assert status["reason"] == "Forbidden"
    assert status["message"] == (f'pods is forbidden: User "system:serviceaccount:{NS}:default"'
                                 f' cannot list resource "pods" in API group "" in the '
                                 f'namespace "{NS}"')
    kubectl("create", "rolebinding", "sa-view", "-n", NS, "--clusterrole=view",
            f"--serviceaccount={NS}:default")
    code, body = wait_for("200 after the RoleBinding",
                          lambda: (lambda r: r if r[0] == "200" else None)(call()), timeout=30)
    names = [p["metadata"]["name"] for p in json.loads(body)["items"]]
    assert names == ["caller"]
