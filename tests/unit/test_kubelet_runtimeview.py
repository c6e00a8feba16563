"""The kubelet's reading of CRI answers (from the one client, machinery.cri) into its model."""

import pytest

from k8snet.kubelet import runtimeview
from k8snet.kubelet.model import RUNNING
from k8snet.machinery.cri import CriError


class FakeCri:
    def __init__(self):
        self.status_calls = []
        self.images = {"busybox:1": "sha256:b"}

    def container_status(self, cid):
        self.status_calls.append(cid)
        if cid == "gone":
            raise CriError("ContainerStatus", "NOT_FOUND", "no such container")
        return {"id": cid, "name": "app", "attempt": 1, "state": "CONTAINER_RUNNING",
                "created_at": 2_000_000_000, "started_at": 3_000_000_000, "finished_at": 0,
                "exit_code": 0, "reason": "", "message": "", "image": "busybox:1",
                "image_ref": "sha256:b"}

    def image_status(self, image):
        return {"id": self.images[image]} if image in self.images else None

    def pull_image(self, image, _sandbox):
        raise CriError("PullImage", "NOT_FOUND", f'failed to pull and unpack image "{image}"')


def test_sandboxes_and_containers_become_model_objects():
    uid, sb = runtimeview.sandbox_info({"id": "s1", "uid": "u1", "attempt": 0,
                                        "state": "SANDBOX_READY", "created_at": 5_000_000_000})
    assert uid == "u1" and sb.ready and sb.created_at == 5.0
    info = runtimeview.container_info(FakeCri().container_status("c1"), "s1")
    assert (info.state, info.sandbox_id, info.started_at, info.finished_at) == \
        (RUNNING, "s1", 3.0, None)


def test_snapshot_asks_container_status_only_when_a_state_changed():
    cri, cache = FakeCri(), {}
    listed = [{"id": "c1", "sandbox_id": "s1", "state": "CONTAINER_RUNNING"},
              {"id": "gone", "sandbox_id": "s1", "state": "CONTAINER_RUNNING"}]
    first = runtimeview.container_snapshot(cri, listed, cache)
    assert list(first) == ["c1"] and cri.status_calls == ["c1", "gone"]
    cache.update(first)
    runtimeview.container_snapshot(cri, listed[:1], cache)
    assert cri.status_calls == ["c1", "gone"]          # cached: still running
    exited = [dict(listed[0], state="CONTAINER_EXITED")]
    runtimeview.container_snapshot(cri, exited, cache)
    assert cri.status_calls[-1] == "c1"                  # changed: asked again


def test_pull_policies():
    cri = FakeCri()
    assert runtimeview.ensure_image(cri, "busybox:1", "IfNotPresent", {}) == ("sha256:b", False)
    with pytest.raises(CriError, match="not present with pull policy of Never"):
        runtimeview.ensure_image(cri, "nginx:1", "Never", {})
    with pytest.raises(CriError, match="failed to pull"):
        runtimeview.ensure_image(cri, "busybox:1", "Always", {})


def test_pulling_is_announced_only_before_a_pull():
    cri, said = FakeCri(), []
    runtimeview.ensure_image(cri, "busybox:1", "IfNotPresent", {}, lambda: said.append(1))
    assert said == []
    with pytest.raises(CriError):
        runtimeview.ensure_image(cri, "busybox:1", "Always", {}, lambda: said.append(1))
    assert said == [1]
