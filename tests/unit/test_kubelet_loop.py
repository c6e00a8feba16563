"""The kubelet loop's local effects: the CNI conflist it writes for the runtime."""

import json

from k8snet.kubelet.loop import CNI_FILE, Kubelet, KubeletConfig
from k8snet.kubelet.node import NodeConfig


def kubelet(tmp_path, mode):
    cfg = KubeletConfig(node=NodeConfig(name="w1", ip="10.0.0.2"), root_dir=str(tmp_path),
                        cni_conf_dir=str(tmp_path / "net.d"),
                        cni_data_dir=str(tmp_path / "ipam"), mode=mode, uplink_mtu=1500)
    return Kubelet(cfg, api=None, runtime=None)


def test_routed_mode_writes_ptp_with_the_pod_cidr(tmp_path):
    path = kubelet(tmp_path, "routed").write_cni("10.244.3.0/24")
    assert path.endswith(CNI_FILE)
    conf = json.loads(open(path).read())
    plugin = conf["plugins"][0]
    assert plugin["type"] == "ptp" and plugin["mtu"] == 1500
    assert plugin["ipam"]["ranges"][0][0]["subnet"] == "10.244.3.0/24"
    assert plugin["ipam"]["dataDir"] == str(tmp_path / "ipam")
    assert not (tmp_path / "net.d" / (CNI_FILE + ".tmp")).exists()


def test_overlay_mode_writes_bridge_with_vxlan_mtu(tmp_path):
    conf = json.loads(open(kubelet(tmp_path, "overlay").write_cni("10.244.4.0/24")).read())
    assert conf["plugins"][0]["type"] == "bridge" and conf["plugins"][0]["mtu"] == 1450
