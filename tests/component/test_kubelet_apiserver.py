"""The kubelet's API side against a real apiserver (no runtime): register the Node, renew
its Lease, watch for spec.podCIDR, and report what the official client's models accept."""

from __future__ import annotations

import threading

import pytest

from k8snet.errors import K8snetError
from k8snet.kubelet.loop import Kubelet, KubeletConfig
from k8snet.kubelet.node import NodeConfig
from k8snet.machinery.client import ApiClient
from tests.component.apiserver_proc import ApiServerProc


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    srv = ApiServerProc(str(tmp_path_factory.mktemp("kubelet-api")))
    try:
        srv.start()
        yield ApiClient.from_kubeconfig(srv.kubeconfig)
    finally:
        srv.stop()


def kubelet(api, tmp_path, name, timeout=30.0):
    cfg = KubeletConfig(node=NodeConfig(name=name, ip="10.0.0.9", kernel="6.1", boot_id="b",
                                        machine_id="m"),
                        root_dir=str(tmp_path), cni_conf_dir=str(tmp_path / "net.d"),
                        cni_data_dir=str(tmp_path / "ipam"), pod_cidr_timeout=timeout)
    return Kubelet(cfg, api, runtime=None)  # type: ignore[arg-type]


def test_register_lease_and_pod_cidr_from_a_watch(api, tmp_path):
    k = kubelet(api, tmp_path, "kw1")
    k.register()
    k.renew_lease()
    lease = api.get("leases", "kw1", "kube-node-lease")
    assert lease["spec"]["holderIdentity"] == "kw1"
    assert lease["metadata"]["ownerReferences"][0]["uid"] == k.node_uid
    got: list = []
    stop = threading.Event()
    waiter = threading.Thread(target=lambda: got.append(k.wait_pod_cidr(stop)), daemon=True)
    waiter.start()
    api.patch("nodes", "kw1", {"spec": {"podCIDR": "10.244.7.0/24",
                                        "podCIDRs": ["10.244.7.0/24"]}})
    waiter.join(15)
    assert got == ["10.244.7.0/24"]

    kubernetes = pytest.importorskip("kubernetes.client")
    k.network_ready.set()
    k.post_node_status()
    node = kubernetes.V1Node.from_dict(api.get("nodes", "kw1"))
    assert node.status.node_info.machine_id == "m"
    assert {c.type: c.status for c in node.status.conditions}["Ready"] == "True"


def test_pod_cidr_wait_has_a_deadline_and_stops(api, tmp_path):
    k = kubelet(api, tmp_path, "kw2", timeout=1.0)
    k.register()
    with pytest.raises(K8snetError, match="kw2 got no spec.podCIDR within 1s"):
        k.wait_pod_cidr(threading.Event())
    stop = threading.Event()
    stop.set()
    assert kubelet(api, tmp_path, "kw2", timeout=60).wait_pod_cidr(stop) is None
