"""The pod worker's effects against a fake runtime and a fake apiserver (no root)."""

import itertools
import os
import tempfile

from k8snet.kubelet.model import (
    BackoffPolicy,
    ContainerInfo,
    PodActual,
    PodMemory,
    SandboxInfo,
)
from k8snet.kubelet.podworker import PodSyncer
from k8snet.machinery.cri import CriError, ExecResult
from k8snet.machinery.events import EventRecorder


class FakeRuntime:
    def __init__(self, images=("busybox:1",), exec_code=0):
        self.images, self.exec_code = set(images), exec_code
        self.sandboxes, self.containers, self.calls, self.configs = {}, {}, [], {}
        self.ids = itertools.count(1)

    def run_pod_sandbox(self, cfg):
        sid = f"sb{next(self.ids)}"
        self.sandboxes[sid] = SandboxInfo(sid, cfg["metadata"]["attempt"], True, 1.0,
                                          "10.244.1.5", ("10.244.1.5",))
        self.calls.append(("run_sandbox", cfg["metadata"]["name"], cfg["log_directory"]))
        return sid

    def pod_sandbox_status(self, sid):
        return {"id": sid, "ip": self.sandboxes[sid].ip, "ips": list(self.sandboxes[sid].ips)}

    def image_status(self, image):
        return {"id": "sha256:1", "repo_tags": [image]} if image in self.images else None

    def pull_image(self, image, _cfg):
        self.calls.append(("pull", image))
        raise CriError("PullImage", "UNKNOWN", f'image "{image}" is not in the catalogue')

    def create_container(self, sid, cfg, _sb):
        cid = f"c{next(self.ids)}"
        self.configs[cfg["metadata"]["name"]] = cfg
        self.containers[cid] = ContainerInfo(cid, cfg["metadata"]["name"],
                                             cfg["metadata"]["attempt"], "created", sid)
        return cid

    def start_container(self, cid):
        c = self.containers[cid]
        self.containers[cid] = ContainerInfo(c.id, c.name, c.attempt, "running", c.sandbox_id,
                                             started_at=1.0, image_ref="sha256:1")
        self.calls.append(("start", c.name))

    def stop_container(self, cid, grace):
        c = self.containers[cid]
        self.containers[cid] = ContainerInfo(c.id, c.name, c.attempt, "exited", c.sandbox_id,
                                             finished_at=2.0, exit_code=137)
        self.calls.append(("stop", c.name, grace))

    def remove_container(self, cid):
        self.containers.pop(cid, None)

    def stop_pod_sandbox(self, sid):
        sb = self.sandboxes[sid]
        self.sandboxes[sid] = SandboxInfo(sid, sb.attempt, False, sb.created_at)
        self.calls.append(("stop_sandbox", sid))

    def remove_pod_sandbox(self, sid):
        self.sandboxes.pop(sid, None)
        self.calls.append(("remove_sandbox", sid))

    def exec_sync(self, cid, cmd, timeout):
        self.calls.append(("exec", cmd))
        return ExecResult(b"", b"nope" if self.exec_code else b"", self.exec_code)

    def actual(self, _uid=None):
        return PodActual.of(list(self.sandboxes.values()), list(self.containers.values()))


class FakeApi:
    def __init__(self):
        self.patches, self.created, self.deleted = [], [], []

    def patch(self, resource, name, body, namespace=None, subresource=None, **_kw):
        self.patches.append((resource, name, subresource, body))
        return {}

    def create(self, resource, obj, namespace=None):
        self.created.append((resource, obj))
        return obj

    def delete(self, resource, name, namespace=None, grace_period_seconds=None):
        self.deleted.append((resource, name, grace_period_seconds))

    def list(self, resource, namespace=None, **_kw):
        assert resource == "services"
        return {"items": [{"metadata": {"name": "kubernetes", "namespace": "default"},
                           "spec": {"clusterIP": "10.96.0.1", "ports": [
                               {"name": "https", "port": 443, "protocol": "TCP"}]}}]
                if namespace == "default" else []}


def make(runtime, now=lambda: 1000.0):
    api = FakeApi()
    recorder = EventRecorder(api, "kubelet", host="w1", clock=now)
    root = tempfile.TemporaryDirectory(prefix="k8snet-podworker-")  # volumes, /etc files
    syncer = PodSyncer(api, runtime, recorder, "10.0.0.2", root.name, runtime.actual,
                       BackoffPolicy(10, 40), clock=now)
    syncer.scratch = root   # removed with the syncer
    return api, syncer


def pod(image="busybox:1", **extra):
    c = {"name": "app", "image": image, **extra}
    return {"metadata": {"name": "web", "namespace": "default", "uid": "u1"},
            "spec": {"nodeName": "w1", "restartPolicy": "Always",
                     "terminationGracePeriodSeconds": 30, "containers": [c]},
            "status": {}}


def reasons(api):
    return [obj["reason"] for res, obj in api.created if res == "events"]


def last_status(api):
    return [b for r, _n, sub, b in api.patches if sub == "status"][-1]["status"]


def test_new_pod_runs_and_reports_running():
    rt = FakeRuntime()
    api, syncer = make(rt)
    assert syncer.sync(pod(), "u1", PodActual(), PodMemory()) is False
    assert rt.calls[0] == ("run_sandbox", "web", f"{syncer.root_dir}/pods/default_web_u1")
    assert ("start", "app") in rt.calls
    assert reasons(api) == ["Pulled", "Created", "Started"]
    st = last_status(api)
    assert st["phase"] == "Running" and st["podIP"] == "10.244.1.5"
    assert st["containerStatuses"][0]["ready"] is True


def test_status_is_not_patched_again_when_unchanged():
    rt = FakeRuntime()
    api, syncer = make(rt)
    mem = PodMemory()
    syncer.sync(pod(), "u1", PodActual(), mem)
    n = len(api.patches)
    syncer.sync(pod(), "u1", rt.actual(), mem)
    assert len(api.patches) == n


def test_pull_failure_err_image_pull_then_backoff():
    rt = FakeRuntime()
    api, syncer = make(rt)
    mem = PodMemory()
    p = pod(image="nosuch:1")
    syncer.sync(p, "u1", PodActual(), mem)
    st = last_status(api)["containerStatuses"][0]["state"]["waiting"]
    assert st == {"reason": "ErrImagePull", "message": 'image "nosuch:1" is not in the catalogue'}
    assert "Failed" in reasons(api)
    pulls = [c for c in rt.calls if c[0] == "pull"]
    syncer.sync(p, "u1", rt.actual(), mem)
    assert [c for c in rt.calls if c[0] == "pull"] == pulls  # held back, not retried
    st = last_status(api)["containerStatuses"][0]["state"]["waiting"]
    assert st["reason"] == "ImagePullBackOff" and "not in the catalogue" in st["message"]
    assert last_status(api)["phase"] == "Pending"


def test_graceful_deletion_stops_with_grace_then_confirms():
    rt = FakeRuntime()
    api, syncer = make(rt)
    mem = PodMemory()
    syncer.sync(pod(), "u1", PodActual(), mem)
    p = pod()
    p["metadata"].update(deletionTimestamp="2026-01-01T00:00:00Z", deletionGracePeriodSeconds=7)
    assert syncer.sync(p, "u1", rt.actual(), mem) is True
    assert ("stop", "app", 7) in rt.calls
    assert not rt.sandboxes and not rt.containers
    assert api.deleted == [("pods", "web", 0)]
    assert "Killing" in reasons(api)


def test_orphan_is_torn_down():
    rt = FakeRuntime()
    _api, syncer = make(rt)
    syncer.sync(pod(), "u1", PodActual(), PodMemory())
    assert syncer.sync(None, "u1", rt.actual(), PodMemory()) is True
    assert not rt.sandboxes and not rt.containers


def test_failing_exec_liveness_kills_after_threshold():
    rt = FakeRuntime(exec_code=1)
    clock = iter(range(1000, 2000, 5))
    api, syncer = make(rt, now=lambda: float(next(clock)))
    mem = PodMemory()
    p = pod(livenessProbe={"exec": {"command": ["cat", "/ok"]}, "periodSeconds": 1,
                           "failureThreshold": 2})
    syncer.sync(p, "u1", PodActual(), mem)
    for _ in range(3):
        syncer.sync(p, "u1", rt.actual(), mem)
    assert any(c[0] == "stop" for c in rt.calls)
    assert "Unhealthy" in reasons(api) and "Killing" in reasons(api)
    assert any("Liveness probe failed" in o.get("message", "") for _r, o in api.created)


def test_status_resent_when_apiserver_copy_differs_after_resync_period():
    rt = FakeRuntime()
    t = [1000.0]
    api, syncer = make(rt, now=lambda: t[0])
    mem = PodMemory()
    syncer.sync(pod(), "u1", PodActual(), mem)
    n = len(api.patches)
    t[0] += 11  # someone else overwrote the status meanwhile (pod() has an empty one)
    syncer.sync(pod(), "u1", rt.actual(), mem)
    assert len(api.patches) == n + 1


def test_missing_configmap_holds_container_in_create_container_config_error():
    rt = FakeRuntime()
    api, syncer = make(rt)
    objects = {}

    def get(resource, name, namespace=None):
        from k8snet.machinery.client import NotFound
        if (resource, name) not in objects:
            raise NotFound(404, "NotFound", f"{resource} \"{name}\" not found")
        return objects[(resource, name)]

    api.get = get
    mem = PodMemory()
    p = pod(env=[{"name": "V", "valueFrom": {"configMapKeyRef": {"name": "x", "key": "k"}}}])
    syncer.sync(p, "u1", PodActual(), mem)
    st = last_status(api)["containerStatuses"][0]["state"]["waiting"]
    assert st == {"reason": "CreateContainerConfigError", "message": 'configmap "x" not found'}
    assert not [c for c in rt.calls if c[0] == "start"]
    msgs = [o["message"] for r, o in api.created if r == "events" and o["reason"] == "Failed"]
    assert msgs == ['Error: configmap "x" not found']
    objects[("configmaps", "x")] = {"data": {"other": "1"}}
    syncer.sync(p, "u1", rt.actual(), mem)
    st = last_status(api)["containerStatuses"][0]["state"]["waiting"]
    assert st["message"] == "couldn't find key k in ConfigMap default/x"
    objects[("configmaps", "x")] = {"data": {"k": "v"}}
    syncer.sync(p, "u1", rt.actual(), mem)
    assert ("start", "app") in rt.calls


def test_volumes_mounted_etc_files_written_and_configmap_updates_swap_in():
    rt = FakeRuntime()
    now = [1000.0]
    api, syncer = make(rt, now=lambda: now[0])
    objects = {}

    def get(resource, name, namespace=None):
        from k8snet.machinery.client import NotFound
        if (resource, name) not in objects:
            raise NotFound(404, "NotFound", f"{resource} \"{name}\" not found")
        return objects[(resource, name)]

    api.get = get
    mem = PodMemory()
    p = pod(volumeMounts=[{"name": "cfg", "mountPath": "/etc/config", "readOnly": True},
                          {"name": "scratch", "mountPath": "/cache"}])
    p["spec"]["volumes"] = [{"name": "cfg", "configMap": {"name": "game"}},
                            {"name": "scratch", "emptyDir": {}}]
    p["spec"]["hostAliases"] = [{"ip": "127.0.0.1", "hostnames": ["foo.local"]}]
    syncer.sync(p, "u1", PodActual(), mem)
    failed = [o["message"] for r, o in api.created
              if r == "events" and o["reason"] == "FailedMount"]
    assert failed == ['MountVolume.SetUp failed for volume "cfg" : configmap "game" not found']
    st = last_status(api)["containerStatuses"][0]["state"]["waiting"]
    assert st == {"reason": "ContainerCreating"}
    assert not [c for c in rt.calls if c[0] == "start"]

    objects[("configmaps", "game")] = {"data": {"lives": "3"}}
    syncer.sync(p, "u1", rt.actual(), mem)
    assert ("start", "app") in rt.calls
    env = {e["key"]: e["value"] for e in rt.configs["app"]["envs"]}
    assert env["KUBERNETES_SERVICE_HOST"] == "10.96.0.1"
    assert env["KUBERNETES_PORT"] == "tcp://10.96.0.1:443"
    mounts = {m["container_path"]: m for m in rt.configs["app"]["mounts"]}
    assert set(mounts) == {"/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/etc/config",
                           "/cache"}
    assert mounts["/etc/config"]["readonly"] is True
    assert open(os.path.join(mounts["/etc/config"]["host_path"], "lives")).read() == "3"
    hosts = open(mounts["/etc/hosts"]["host_path"]).read()
    assert "10.244.1.5\tweb\n" in hosts and "127.0.0.1\tfoo.local\n" in hosts
    assert "nameserver 10.96.0.10" in open(mounts["/etc/resolv.conf"]["host_path"]).read()
    assert os.path.isdir(mounts["/cache"]["host_path"])

    objects[("configmaps", "game")] = {"data": {"lives": "5"}}
    now[0] += 11
    syncer.sync(p, "u1", rt.actual(), mem)
    assert open(os.path.join(mounts["/etc/config"]["host_path"], "lives")).read() == "5"


def test_post_start_failure_kills_and_pre_stop_runs_before_stop():
    rt = FakeRuntime(exec_code=1)
    api, syncer = make(rt)
    mem = PodMemory()
    p = pod(lifecycle={"postStart": {"exec": {"command": ["sh", "-c", "false"]}}})
    syncer.sync(p, "u1", PodActual(), mem)
    msgs = [o["message"] for r, o in api.created
            if r == "events" and o["reason"] == "FailedPostStartHook"]
    assert msgs == ["Exec lifecycle hook (['sh', '-c', 'false']) for Container \"app\" in Pod "
                    "\"web_default(u1)\" failed - error: command ['sh', '-c', 'false'] exited "
                    "with 1: nope"]
    assert rt.calls[-1] == ("stop", "app", 30)

    rt2 = FakeRuntime()
    api2, syncer2 = make(rt2)
    mem2 = PodMemory()
    p2 = pod(lifecycle={"preStop": {"exec": {"command": ["nginx", "-s", "quit"]}}})
    syncer2.sync(p2, "u1", PodActual(), mem2)
    p2["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    p2["metadata"]["deletionGracePeriodSeconds"] = 30
    syncer2.sync(p2, "u1", rt2.actual(), mem2)
    i = rt2.calls.index(("exec", ["nginx", "-s", "quit"]))
    assert rt2.calls[i + 1] == ("stop", "app", 30)


def test_apiserver_errors_while_fetching_volume_sources_are_failed_mounts():
    from k8snet.machinery.client import ApiError
    rt = FakeRuntime()
    api, syncer = make(rt)

    def get(resource, name, namespace=None):
        raise ApiError(500, "InternalError", "etcd is down")

    api.get = get
    p = pod(volumeMounts=[{"name": "cfg", "mountPath": "/etc/config"}])
    p["spec"]["volumes"] = [{"name": "cfg", "configMap": {"name": "game"}}]
    assert syncer.sync(p, "u1", PodActual(), PodMemory()) is False
    failed = [o["message"] for r, o in api.created
              if r == "events" and o["reason"] == "FailedMount"]
    assert failed == ['MountVolume.SetUp failed for volume "cfg" : etcd is down '
                      "(HTTP 500 InternalError)"]


def test_a_pod_is_settled_only_when_its_sync_found_nothing_to_do():
    rt = FakeRuntime()
    api, syncer = make(rt)
    mem = PodMemory()
    syncer.sync(pod(), "u1", PodActual(), mem)
    assert mem.settled is False                  # it started the sandbox and the container
    syncer.sync(pod(), "u1", rt.actual(), mem)
    assert mem.settled is True                   # running, nothing to do or to probe
    probed = pod(readinessProbe={"exec": {"command": ["true"]}, "periodSeconds": 5})
    syncer.sync(probed, "u1", rt.actual(), mem)
    assert mem.settled is False                  # its probes need the next relist
    held = pod(image="nosuch:1")
    mem2 = PodMemory()
    syncer.sync(held, "u2", PodActual(), mem2)
    syncer.sync(held, "u2", rt.actual(), mem2)
    assert mem2.settled is False                 # ImagePullBackOff ends by the clock


def test_a_status_that_could_not_be_written_keeps_the_pod_unsettled():
    rt = FakeRuntime()
    api, syncer = make(rt)
    mem = PodMemory()
    syncer.sync(pod(), "u1", PodActual(), mem)

    def refuse(*_a, **_kw):
        from k8snet.machinery.client import ApiError
        raise ApiError(503, "ServiceUnavailable", "unavailable")

    api.patch = refuse
    mem.last_status = None                       # so the next sync writes again
    syncer.sync(pod(), "u1", rt.actual(), mem)
    assert mem.settled is False
