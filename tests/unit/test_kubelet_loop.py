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


def actual_of(*states):
    from k8snet.kubelet.model import ContainerInfo, PodActual, SandboxInfo

    return PodActual.of([SandboxInfo("sb", 0, True, 1.0, "10.244.1.9")],
                        [ContainerInfo(f"c{i}", f"c{i}", 0, s, "sb") for i, s in enumerate(states)])


def test_a_relist_queues_only_pods_that_changed_are_due_or_are_new():
    from k8snet.kubelet.loop import due_for_sync

    quiet, changed = actual_of("running"), actual_of("exited")
    last = {"settled": (quiet, 110.0), "exited": (quiet, 110.0), "busy": (quiet, 0.0),
            "due": (quiet, 100.0)}
    snap = {"settled": quiet, "exited": changed, "busy": quiet, "due": quiet, "new": quiet,
            "orphan": quiet}
    known = {"settled", "exited", "busy", "due", "new", "gone"}
    assert due_for_sync(known, snap, last, now=100.0) == [
        "busy", "due", "exited", "gone", "new", "orphan"]
    # a Pod whose sandbox vanished from the runtime is a change too
    assert due_for_sync({"settled"}, {}, {"settled": (quiet, 110.0)}, 100.0) == ["settled"]


def test_a_failed_sync_waits_for_its_back_off_not_the_next_relist():
    from k8snet.kubelet.loop import RETRY, due_for_sync, sync_delay

    assert sync_delay(0, False, 10.0) == 0.0 and sync_delay(0, True, 10.0) == 10.0
    assert [sync_delay(n, False, 10.0) for n in (1, 2, 3)] == \
        [RETRY.delay(1), RETRY.delay(2), RETRY.delay(3)]
    assert sync_delay(20, True, 10.0) == RETRY.cap
    quiet = actual_of("running")
    last = {"failing": (quiet, 100.0 + sync_delay(3, False, 10.0))}
    assert due_for_sync({"failing"}, {"failing": quiet}, last, 101.0) == []
    assert due_for_sync({"failing"}, {"failing": quiet}, last, 104.0) == ["failing"]


class SettlingSyncer:
    """Marks every Pod settled; counts the syncs."""

    def __init__(self):
        self.synced = []

    def sync(self, pod, uid, actual, mem):
        self.synced.append(uid)
        mem.settled = True
        return False


def test_a_settled_pod_waits_for_a_change_or_the_quiet_resync(tmp_path, monkeypatch):
    import k8snet.kubelet.loop as loop

    k = kubelet(tmp_path, "routed")
    k.runtime = CountingRuntime(["a"])
    k.syncer = SettlingSyncer()
    k.cfg.sync_period, k.cfg.quiet_resync = 0.0, 10.0
    k.changed_pods({"d/a": pod("a", "1")})
    t = [1000.0]
    monkeypatch.setattr(loop.time, "monotonic", lambda: t[0])
    assert k.all_pods() == ["a"]
    k.sync_pod("a")
    t[0] += 1
    assert k.all_pods() == []                     # nothing changed: not synced every relist
    k.runtime.uids = []                           # its sandbox went away
    t[0] += 1
    assert k.all_pods() == ["a"]
    k.runtime.uids = ["a"]
    t[0] += 1
    k.sync_pod("a")
    t[0] += 9.5
    assert k.all_pods() == []
    t[0] += 1
    assert k.all_pods() == ["a"]                  # the quiet resync


class LeaseApi:
    """A fake apiserver holding one Lease; counts requests by verb."""

    def __init__(self):
        self.lease, self.calls, self.rv = None, [], 0

    def _stored(self, body):
        from k8snet.machinery.client import Conflict

        if self.lease and body["metadata"].get("resourceVersion") != \
                self.lease["metadata"]["resourceVersion"]:
            raise Conflict(409, "Conflict", "the object has been modified")
        self.rv += 1
        self.lease = dict(body, metadata=dict(body["metadata"], resourceVersion=str(self.rv)))
        return self.lease

    def get(self, resource, name, namespace=None):
        from k8snet.machinery.client import NotFound

        self.calls.append("GET")
        if self.lease is None:
            raise NotFound(404, "NotFound", "no lease")
        return self.lease

    def create(self, resource, body, namespace=None):
        self.calls.append("POST")
        return self._stored(body)

    def update(self, resource, body, namespace=None):
        self.calls.append("PUT")
        return self._stored(body)


def test_the_lease_is_renewed_with_one_put_and_read_again_after_a_conflict(tmp_path):
    k = kubelet(tmp_path, "routed")
    k.api = api = LeaseApi()
    k.renew_lease()
    k.renew_lease()
    k.renew_lease()
    assert api.calls == ["GET", "POST", "PUT", "PUT"]
    api.lease = dict(api.lease, metadata=dict(api.lease["metadata"], resourceVersion="99"))
    api.calls.clear()
    k.renew_lease()                            # someone else wrote it: conflict, read again
    assert api.calls == ["PUT", "GET", "PUT"]
    assert api.lease["spec"]["holderIdentity"] == "w1"
