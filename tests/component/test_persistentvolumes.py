"""PersistentVolumes end to end: `k8snet control-plane --simulated-nodes 2` and the real
kubectl. The default `standard` class waits for the first consumer, then provisions a
hostPath volume pinned to the Pod's node; deleting the claim deletes the volume."""

from __future__ import annotations

import json
import pathlib
import time

import pytest
from test_controllers import KUBECTL, ControlPlane

pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")

CLAIM = """
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
"""

POD = """
apiVersion: v1
kind: Pod
metadata: {name: user}
spec:
  containers:
  - name: c
    image: busybox
    command: [sleep, "3600"]
    volumeMounts: [{name: v, mountPath: /data}]
  volumes:
  - name: v
    persistentVolumeClaim: {claimName: data}
"""

STATEFULSET = """
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  replicas: 2
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: c
        image: busybox
        command: [sleep, "3600"]
        volumeMounts: [{name: www, mountPath: /data}]
  volumeClaimTemplates:
  - metadata: {name: www}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
"""


@pytest.fixture(scope="module")
def cp(tmp_path_factory):
    plane = ControlPlane(tmp_path_factory.mktemp("pv"), nodes=2)
    yield plane
    plane.stop()


def _wait(cp, what: str, check, timeout: float = 60):
    end = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > end:
            pytest.fail(f"timed out after {timeout}s waiting for {what}\n{cp.logs()}")
        time.sleep(0.3)


def test_default_storage_class_is_standard(cp):
    sc = _wait(cp, "the standard StorageClass",
               lambda: cp.kubectl("get", "sc", "standard", check=False).returncode == 0)
    assert sc
    out = cp.kubectl("get", "sc").stdout.split("\n")
    assert out[0].split() == ["NAME", "PROVISIONER", "RECLAIMPOLICY", "VOLUMEBINDINGMODE",
                              "ALLOWVOLUMEEXPANSION", "AGE"]
    assert out[1].split()[:5] == ["standard", "(default)", "rancher.io/local-path", "Delete",
                                  "WaitForFirstConsumer"]


def test_claim_waits_for_first_consumer_then_binds_on_its_node(cp):
    test_default_storage_class_is_standard(cp)
    cp.kubectl("apply", "-f", "-", stdin=CLAIM)
    time.sleep(2)
    claim = cp.get("pvc", "data")
    assert claim["spec"]["storageClassName"] == "standard"
    assert claim["status"]["phase"] == "Pending"
    events = cp.kubectl("get", "events", "--field-selector",
                        "involvedObject.name=data").stdout
    assert "WaitForFirstConsumer" in events
    cp.kubectl("apply", "-f", "-", stdin=POD)
    claim = _wait(cp, "the claim to be Bound",
                  lambda: (lambda c: c if c["status"].get("phase") == "Bound" else None)(
                      cp.get("pvc", "data")))
    pod = _wait(cp, "the Pod to be scheduled",
                lambda: (lambda p: p if p["spec"].get("nodeName") else None)(
                    cp.get("pod", "user")))
    node = pod["spec"]["nodeName"]
    assert claim["metadata"]["annotations"]["volume.kubernetes.io/selected-node"] == node
    pv = cp.get("pv", claim["spec"]["volumeName"])
    assert pv["status"]["phase"] == "Bound"
    assert pv["spec"]["claimRef"]["name"] == "data"
    assert pv["spec"]["storageClassName"] == "standard"
    terms = pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"]
    assert terms == [{"matchExpressions": [{"key": "kubernetes.io/hostname",
                                            "operator": "In", "values": [node]}]}]
    assert f"/volumes/{node}/pvc-" in pv["spec"]["hostPath"]["path"]
    line = cp.kubectl("get", "pvc", "data").stdout.split("\n")[1].split()
    assert line[:2] == ["data", "Bound"] and line[2] == pv["metadata"]["name"]

    # The node's kubelet makes the directory (hostPath DirectoryOrCreate); simulated
    # nodes do not, so make it here: reclaim must remove it.
    path = pathlib.Path(pv["spec"]["hostPath"]["path"])
    path.mkdir(parents=True)
    (path / "file").write_text("data")
    # In use by the Pod: the claim waits, Terminating, for the Pod to go.
    cp.kubectl("delete", "pvc", "data", "--wait=false")
    time.sleep(2)
    line = cp.kubectl("get", "pvc", "data").stdout.split("\n")[1].split()
    assert line[:2] == ["data", "Terminating"]
    assert cp.get("pvc", "data")["metadata"]["finalizers"] == ["kubernetes.io/pvc-protection"]
    cp.kubectl("delete", "pod", "user", "--wait=false")
    _wait(cp, "claim data to be deleted",
          lambda: cp.kubectl("get", "pvc", "data", check=False).returncode != 0)
    _wait(cp, f"PersistentVolume {pv['metadata']['name']} to be deleted",
          lambda: cp.kubectl("get", "pv", pv["metadata"]["name"],
                             check=False).returncode != 0)
    missing = cp.kubectl("get", "pv", pv["metadata"]["name"], check=False)
    assert f'persistentvolumes "{pv["metadata"]["name"]}" not found' in missing.stderr
    _wait(cp, f"{path} to be removed", lambda: not path.exists(), timeout=10)
    assert path.parent.is_dir()


def test_statefulset_claims_bind_per_ordinal_and_survive_pod_deletion(cp):
    test_default_storage_class_is_standard(cp)
    cp.kubectl("apply", "-f", "-", stdin=STATEFULSET)
    cp.kubectl("rollout", "status", "sts/db", "--timeout=90s", timeout=120)

    def bound():
        claims = {c["metadata"]["name"]: c for c in cp.get("pvc", "-l", "app=db")["items"]}
        ok = sorted(claims) == ["www-db-0", "www-db-1"] and \
            all(c["status"].get("phase") == "Bound" for c in claims.values())
        return claims if ok else None
    claims = _wait(cp, "www-db-0 and www-db-1 to be Bound", bound)
    volumes = {n: c["spec"]["volumeName"] for n, c in claims.items()}
    for name, c in claims.items():
        pod = cp.get("pod", name.removeprefix("www-"))
        assert c["metadata"]["annotations"]["volume.kubernetes.io/selected-node"] == \
            pod["spec"]["nodeName"]
    uid = cp.get("pod", "db-1")["metadata"]["uid"]
    cp.kubectl("delete", "pod", "db-1", "--wait=false")

    def recreated():
        got = cp.kubectl("get", "pod", "db-1", "-o", "json", check=False)
        if got.returncode != 0:
            return None
        p = json.loads(got.stdout)
        return p if p["metadata"]["uid"] != uid and p["spec"].get("nodeName") else None
    _wait(cp, "db-1 to be recreated and scheduled", recreated, timeout=120)
    again = bound()
    assert again and {n: c["spec"]["volumeName"] for n, c in again.items()} == volumes
