"""The kubelet's pod loop end to end without root: the Reconciler's keys, the shared
runtime snapshot and the pod worker, against an in-memory CRI speaking machinery.cri's
dict shapes and a fake apiserver."""

from __future__ import annotations

import itertools
import threading
import time

from k8snet.kubelet.loop import Kubelet, KubeletConfig
from k8snet.kubelet.model import BackoffPolicy
from k8snet.kubelet.node import NodeConfig
from k8snet.kubelet.podworker import PodSyncer
from k8snet.machinery.cri import ExecResult
from k8snet.machinery.events import EventRecorder


class MemoryCri:
    """Sandboxes and containers kept as machinery.cri returns them (nanosecond stamps)."""

    def __init__(self):
        self.sandboxes, self.containers = {}, {}
        self.ids = itertools.count(1)
        self.t = itertools.count(1_000_000_000, 1_000_000)

    def list_pod_sandboxes(self):
        return [dict(s) for s in self.sandboxes.values()]

    def pod_sandbox_status(self, sid):
        return dict(self.sandboxes[sid], ip="10.244.1.5", ips=["10.244.1.5"])

    def run_pod_sandbox(self, cfg):
        sid = f"sb{next(self.ids)}"
        m = cfg["metadata"]
        self.sandboxes[sid] = {"id": sid, "uid": m["uid"], "name": m["name"],
                               "namespace": m["namespace"], "attempt": m["attempt"],
                               "state": "SANDBOX_READY", "created_at": next(self.t)}
        return sid

    def stop_pod_sandbox(self, sid):
        self.sandboxes[sid]["state"] = "SANDBOX_NOTREADY"

    def remove_pod_sandbox(self, sid):
        self.sandboxes.pop(sid, None)

    def image_status(self, image):
        return {"id": "sha256:img"}

    def create_container(self, sid, cfg, _sandbox):
        cid = f"c{next(self.ids)}"
        self.containers[cid] = {"id": cid, "sandbox_id": sid, "name": cfg["metadata"]["name"],
                                "attempt": cfg["metadata"]["attempt"],
                                "state": "CONTAINER_CREATED", "created_at": next(self.t),
                                "started_at": 0, "finished_at": 0, "exit_code": 0,
                                "reason": "", "message": "", "image": cfg["image"]["image"],
                                "image_ref": "sha256:img"}
        return cid

    def start_container(self, cid):
        self.containers[cid].update(state="CONTAINER_RUNNING", started_at=next(self.t))

    def stop_container(self, cid, _grace):
        self.containers[cid].update(state="CONTAINER_EXITED", finished_at=next(self.t),
                                    exit_code=137)

    def remove_container(self, cid):
        self.containers.pop(cid, None)

    def list_containers(self):
        return [dict(c) for c in self.containers.values()]

    def container_status(self, cid):
        return dict(self.containers[cid])

    def exec_sync(self, cid, cmd, timeout):
        return ExecResult(b"", b"", 0)


class FakeApi:
    def __init__(self):
        self.status_patches, self.events, self.deleted = [], [], []

    def patch(self, resource, name, body, namespace=None, subresource=None, **_kw):
        if subresource == "status":
            self.status_patches.append((name, body["status"]))
        return {}

    def create(self, resource, obj, namespace=None):
        self.events.append(obj["reason"])
        return obj

    def delete(self, resource, name, namespace=None, grace_period_seconds=None):
        self.deleted.append((resource, name, grace_period_seconds))

    def list(self, resource, namespace=None, **_kw):
        return {"items": []}   # no Services: no service variables


def pod(rv="1", deleting=False):
    meta = {"name": "web", "namespace": "default", "uid": "u1", "resourceVersion": rv}
    if deleting:
        meta["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    return {"metadata": meta, "spec": {"nodeName": "w1", "restartPolicy": "Always",
                                       "terminationGracePeriodSeconds": 5,
                                       "containers": [{"name": "app", "image": "busybox:1",
                                                       "imagePullPolicy": "IfNotPresent"}]},
            "status": {}}


def test_a_pod_runs_reports_and_is_torn_down_through_the_loop(tmp_path):
    cri, api = MemoryCri(), FakeApi()
    cfg = KubeletConfig(node=NodeConfig(name="w1", ip="10.0.0.2"), root_dir=str(tmp_path),
                        cni_conf_dir=str(tmp_path / "net.d"), cni_data_dir=str(tmp_path / "i"))
    k = Kubelet(cfg, api, cri)  # type: ignore[arg-type]
    k.syncer = PodSyncer(api, cri, EventRecorder(api, "kubelet", host="w1"), "10.0.0.2",  # type: ignore[arg-type]
                         str(tmp_path), k.observe, BackoffPolicy(), log=k.log)
    assert k.changed_pods({"default/web": pod()}) == ["u1"]
    k.sync_pod("u1")
    assert [c["state"] for c in cri.containers.values()] == ["CONTAINER_RUNNING"]
    assert api.events == ["Pulled", "Created", "Started"]
    assert api.status_patches[-1][1]["phase"] == "Running"
    assert api.status_patches[-1][1]["containerStatuses"][0]["imageID"] == "sha256:img"
    k.sync_pod("u1")                                   # nothing to do: nothing new created
    assert len(cri.containers) == 1 and len(cri.sandboxes) == 1
    # force-deleted from the apiserver: what is left in the runtime is removed
    assert k.changed_pods({}) == ["u1"] and k.all_pods() == ["u1"]
    k.sync_pod("u1")
    assert cri.sandboxes == {} and cri.containers == {} and k.all_pods() == []
    # graceful deletion: the containers stop, then the kubelet confirms with grace 0
    k.changed_pods({"default/web": pod("3")})
    k.sync_pod("u1")
    assert len(cri.containers) == 1
    assert k.changed_pods({"default/web": pod("4", deleting=True)}) == ["u1"]
    k.sync_pod("u1")
    assert ("pods", "web", 0) in api.deleted
    assert all(c["state"] == "CONTAINER_EXITED" for c in cri.containers.values())


class CountingCri(MemoryCri):
    def __init__(self):
        super().__init__()
        self.lists = 0

    def list_pod_sandboxes(self):
        self.lists += 1
        return super().list_pod_sandboxes()


def test_workers_asking_at_once_share_one_snapshot(tmp_path):
    cri = CountingCri()
    cfg = KubeletConfig(node=NodeConfig(name="w1", ip="10.0.0.2"), root_dir=str(tmp_path),
                        cni_conf_dir=str(tmp_path / "net.d"), cni_data_dir=str(tmp_path / "i"))
    k = Kubelet(cfg, FakeApi(), cri)  # type: ignore[arg-type]
    gate = threading.Event()
    real = cri.list_containers

    def slow_list():
        gate.wait(5)
        return real()

    cri.list_containers = slow_list
    threads = [threading.Thread(target=k.actual, args=(f"u{i}",)) for i in range(5)]
    for t in threads:
        t.start()
    time.sleep(0.2)                   # all five are asking while the first snapshot runs
    gate.set()
    for t in threads:
        t.join(5)
    assert cri.lists <= 2             # the first, and at most one for those queued behind it
    k.observe("u1")
    assert cri.lists <= 3             # after an action: always a snapshot taken afterwards


def test_a_terminating_pod_is_stopped_by_a_thread_of_its_own(tmp_path):
    from k8snet.machinery.reconciler import Reconciler

    cri, api = MemoryCri(), FakeApi()
    cfg = KubeletConfig(node=NodeConfig(name="w1", ip="10.0.0.2"), root_dir=str(tmp_path),
                        cni_conf_dir=str(tmp_path / "net.d"), cni_data_dir=str(tmp_path / "i"))
    k = Kubelet(cfg, api, cri)  # type: ignore[arg-type]
    k.syncer = PodSyncer(api, cri, EventRecorder(api, "kubelet", host="w1"), "10.0.0.2",  # type: ignore[arg-type]
                         str(tmp_path), k.observe, BackoffPolicy(), log=k.log)
    k.changed_pods({"default/web": pod()})
    k.sync_pod("u1")
    k._reconciler = Reconciler("kubelet", lambda uid: k.sync_pod(uid))
    release, stopping = threading.Event(), threading.Event()
    real_stop = cri.stop_container

    def slow_stop(cid, grace):         # a container taking its grace period
        stopping.set()
        release.wait(5)
        real_stop(cid, grace)

    cri.stop_container = slow_stop
    k.changed_pods({"default/web": pod("2", deleting=True)})
    k.sync_pod("u1")                   # returns at once: the stop runs in its own thread
    assert stopping.wait(5) and not release.is_set()
    k.sync_pod("u1")                   # a resync meanwhile does nothing
    release.set()
    end = time.monotonic() + 5
    while "u1" in k._terminating and time.monotonic() < end:
        time.sleep(0.01)
    assert "u1" in k._reconciler.queue.pending()    # queued again once stopped
    assert all(c["state"] == "CONTAINER_EXITED" for c in cri.containers.values())
    assert ("pods", "web", 0) not in api.deleted     # the rest is a worker's
    k.sync_pod("u1")
    assert ("pods", "web", 0) in api.deleted and cri.sandboxes == {}
    assert api.events.count("Killing") == 1
