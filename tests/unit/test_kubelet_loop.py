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


class CountingRuntime:
    """Lists one ready sandbox per uid in `uids`; counts the list calls."""

    def __init__(self, uids):
        self.uids, self.lists = list(uids), 0

    def list_pod_sandboxes(self):
        self.lists += 1
        return [{"id": f"sb-{u}", "uid": u, "attempt": 0, "state": "SANDBOX_READY",
                 "created_at": 1} for u in self.uids]

    def pod_sandbox_status(self, sid):
        return {"ip": "10.244.1.9", "ips": ["10.244.1.9"]}

    def list_containers(self):
        return []


def pod(uid, rv, node="w1"):
    return {"metadata": {"name": uid, "namespace": "d", "uid": uid, "resourceVersion": rv},
            "spec": {"nodeName": node}}


def test_only_changed_or_vanished_pods_are_queued(tmp_path):
    k = kubelet(tmp_path, "routed")
    assert sorted(k.changed_pods({"d/a": pod("a", "1"), "d/b": pod("b", "1")})) == ["a", "b"]
    assert k.changed_pods({"d/a": pod("a", "2"), "d/b": pod("b", "1")}) == ["a"]
    assert k.changed_pods({"d/a": pod("a", "2")}) == ["b"]          # deleted: clean up
    assert k.changed_pods({"d/c": pod("c", "1", node="w2")}) == ["a"]  # not ours


def test_workers_share_a_snapshot_taken_after_the_pods_last_sync(tmp_path):
    k = kubelet(tmp_path, "routed")
    k.runtime = rt = CountingRuntime(["a", "b"])
    k.cfg.sync_period = 3600.0
    assert sorted(k.all_pods()) == ["a", "b"] and rt.lists == 1   # resync takes one snapshot
    assert k.actual("a").sandbox.ip == "10.244.1.9"
    k.actual("b")
    assert rt.lists == 1                                           # shared by both Pods
    k._done_at["a"] = k._snap_at + 1.0                             # a's sync ended after it
    k.actual("a")
    assert rt.lists == 2                                           # so a looks again
    k.actual("b")
    assert rt.lists == 2
