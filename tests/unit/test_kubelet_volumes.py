"""Volume plans (files, modes, optional, errors), mounts, and the atomic writer on a tmp dir."""

import base64
import os

import pytest

from k8snet.kubelet import atomicwriter, volumes
from k8snet.kubelet.volumes import EmptyDir, FileData, Files, HostPath, VolumeError

POD = {"metadata": {"name": "web", "namespace": "shop", "uid": "u-1",
                    "labels": {"app": "web"}},
       "spec": {"nodeName": "w1", "serviceAccountName": "robot",
                "containers": [{"name": "app", "resources": {"limits": {"memory": "64Mi"}}}]}}
OBJECTS = {
    ("ConfigMap", "shop", "game"): {
        "data": {"game.properties": "lives=3\n", "ui": "dark"},
        "binaryData": {"logo": base64.b64encode(b"\x00\x01").decode()}},
    ("Secret", "shop", "creds"): {"data": {"user": base64.b64encode(b"admin").decode()}},
}


def lookup(kind, ns, name):
    return OBJECTS.get((kind, ns, name))


def plan(volume, tokens=volumes.no_tokens):
    return volumes.volume_plan(volume, POD, lookup, tokens, "10.244.1.9", "10.0.0.2")


def test_empty_dir_and_host_path():
    assert plan({"name": "c", "emptyDir": {}}) == EmptyDir(False)
    assert plan({"name": "c", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}}) == \
        EmptyDir(True, "1Gi")
    assert plan({"name": "h", "hostPath": {"path": "/var/log", "type": "Directory"}}) == \
        HostPath("/var/log", "Directory")
    with pytest.raises(VolumeError):
        plan({"name": "h", "hostPath": {"path": "/x", "type": "Bogus"}})


def test_configmap_whole_and_items_with_modes():
    whole = plan({"name": "v", "configMap": {"name": "game"}})
    assert whole == Files("configmap", {"game.properties": FileData(b"lives=3\n", 0o644),
                                        "ui": FileData(b"dark", 0o644),
                                        "logo": FileData(b"\x00\x01", 0o644)})
    items = plan({"name": "v", "configMap": {"name": "game", "defaultMode": 0o400, "items": [
        {"key": "ui", "path": "conf/ui.txt"}, {"key": "game.properties", "path": "g",
                                               "mode": 0o600}]}})
    assert items.files == {"conf/ui.txt": FileData(b"dark", 0o400), "g": FileData(b"lives=3\n",
                                                                                   0o600)}


def test_secret_decoded_and_missing_errors_as_kubelet():
    assert plan({"name": "s", "secret": {"secretName": "creds"}}).files == {
        "user": FileData(b"admin", 0o644)}
    for volume, message in [
        ({"configMap": {"name": "nope"}}, 'configmap "nope" not found'),
        ({"secret": {"secretName": "nope"}}, 'secret "nope" not found'),
        ({"configMap": {"name": "game", "items": [{"key": "k", "path": "k"}]}},
         "configmap references non-existent config key: k"),
        ({"secret": {"secretName": "creds", "items": [{"key": "k", "path": "k"}]}},
         "references non-existent secret key: k"),
    ]:
        with pytest.raises(VolumeError) as err:
            plan(dict(name="v", **volume))
        assert str(err.value) == message
    assert plan({"name": "v", "configMap": {"name": "nope", "optional": True}}).files == {}
    assert plan({"name": "v", "secret": {"secretName": "creds", "optional": True,
                                         "items": [{"key": "k", "path": "k"}]}}).files == {}


def test_paths_may_not_escape_the_volume():
    with pytest.raises(VolumeError):
        plan({"name": "v", "configMap": {"name": "game", "items": [
            {"key": "ui", "path": "../etc/passwd"}]}})


def test_downward_api_and_projected_with_fake_token_source():
    calls = []

    def tokens(ns, account, audience, seconds, pod):
        calls.append((ns, account, audience, seconds))
        return "tok-1"

    down = plan({"name": "d", "downwardAPI": {"items": [
        {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
        {"path": "mem", "resourceFieldRef": {"containerName": "app",
                                             "resource": "limits.memory", "divisor": "1Mi"}}]}})
    assert down.files == {"labels": FileData(b'app="web"', 0o644), "mem": FileData(b"64", 0o644)}
    proj = plan({"name": "p", "projected": {"defaultMode": 0o420, "sources": [
        {"serviceAccountToken": {"path": "token", "audience": "vault",
                                 "expirationSeconds": 600}},
        {"configMap": {"name": "game", "items": [{"key": "ui", "path": "ui"}]}},
        {"secret": {"name": "creds"}},
        {"downwardAPI": {"items": [{"path": "namespace",
                                    "fieldRef": {"fieldPath": "metadata.namespace"}}]}}]}},
                tokens)
    assert proj.files == {"token": FileData(b"tok-1", 0o420), "ui": FileData(b"dark", 0o420),
                          "user": FileData(b"admin", 0o420),
                          "namespace": FileData(b"shop", 0o420)}
    assert calls == [("shop", "robot", "vault", 600)]
    with pytest.raises(VolumeError, match="failed to fetch token"):
        plan({"name": "p", "projected": {"sources": [{"serviceAccountToken": {"path": "t"}}]}})


def test_container_mounts_subpath_subpathexpr_readonly():
    c = {"name": "app", "volumeMounts": [
        {"name": "cfg", "mountPath": "/etc/config", "readOnly": True},
        {"name": "data", "mountPath": "/var/log/app", "subPathExpr": "$(POD_NAME)"},
        {"name": "data", "mountPath": "/x.conf", "subPath": "conf/x.conf"}]}
    mounts = volumes.container_mounts(POD, c, {"cfg": "/r/cfg", "data": "/r/data"},
                                      {"POD_NAME": "web"})
    assert mounts == [
        {"container_path": "/etc/config", "host_path": "/r/cfg", "readonly": True},
        {"container_path": "/var/log/app", "host_path": "/r/data/web", "readonly": False},
        {"container_path": "/x.conf", "host_path": "/r/data/conf/x.conf", "readonly": False}]
    with pytest.raises(VolumeError, match='unable to find volume "nope"'):
        volumes.container_mounts(POD, {"name": "a", "volumeMounts": [
            {"name": "nope", "mountPath": "/n"}]}, {}, {})
    with pytest.raises(VolumeError):
        volumes.container_mounts(POD, {"name": "a", "volumeMounts": [
            {"name": "cfg", "mountPath": "/n", "subPath": "../../etc"}]}, {"cfg": "/r"}, {})


def test_atomic_writer_layout_update_and_removal(tmp_path):
    target = str(tmp_path / "vol")
    first = {"game.properties": FileData(b"lives=3\n", 0o644), "conf/ui": FileData(b"dark", 0o600)}
    assert atomicwriter.write(target, first, clock=lambda: 1000.5) is True
    assert os.readlink(os.path.join(target, "..data")).startswith("..1970_01_01_00_16_40.5")
    assert os.readlink(os.path.join(target, "game.properties")) == "..data/game.properties"
    assert open(os.path.join(target, "conf", "ui")).read() == "dark"
    assert os.stat(os.path.join(target, "conf", "ui")).st_mode & 0o777 == 0o600
    old_dir = atomicwriter.current_dir(target)
    assert atomicwriter.write(target, first, clock=lambda: 1001.0) is False  # unchanged
    second = {"game.properties": FileData(b"lives=5\n", 0o644)}
    assert atomicwriter.write(target, second, clock=lambda: 1002.0) is True
    assert open(os.path.join(target, "game.properties")).read() == "lives=5\n"
    assert not os.path.lexists(os.path.join(target, "conf"))   # gone from the payload
    assert not os.path.exists(old_dir)                          # old timestamped dir removed
    assert sorted(os.listdir(target)) == sorted(
        ["..data", os.path.basename(atomicwriter.current_dir(target)), "game.properties"])
    assert atomicwriter.write(target, second, clock=lambda: 1003.0) is False
    # mode-only change rewrites
    assert atomicwriter.write(target, {"game.properties": FileData(b"lives=5\n", 0o400)},
                              clock=lambda: 1004.0) is True


def test_memory_empty_dirs_are_named_for_the_runtime():
    from k8snet.kubelet import volumesetup
    p = {"spec": {"volumes": [{"name": "a", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
                              {"name": "b", "emptyDir": {}},
                              {"name": "c", "emptyDir": {"medium": "Memory"}}]}}
    assert volumesetup.memory_volumes(p, {"a": "/r/a", "b": "/r/b", "c": "/r/c"}) == \
        {"/r/a": "64Mi", "/r/c": ""}


def test_persistent_volume_claim_resolves_to_its_node_local_volume():
    objs = {("PersistentVolumeClaim", "shop", "data"): {
                "spec": {"volumeName": "pv-1"}, "status": {"phase": "Bound"}},
            ("PersistentVolume", "", "pv-1"): {"spec": {"hostPath": {"path": "/srv/pv-1"}}},
            ("PersistentVolumeClaim", "shop", "pending"): {"spec": {},
                                                           "status": {"phase": "Pending"}},
            ("PersistentVolumeClaim", "shop", "nfs"): {"spec": {"volumeName": "pv-2"}},
            ("PersistentVolume", "", "pv-2"): {"spec": {"nfs": {"server": "x", "path": "/"}}}}

    def look(kind, ns, name):
        return objs.get((kind, ns, name))

    def plan_of(claim):
        return volumes.volume_plan({"name": "d", "persistentVolumeClaim": {"claimName": claim}},
                                   POD, look)
    assert plan_of("data") == HostPath("/srv/pv-1", "DirectoryOrCreate")
    assert volumes.volume_dir("/r", "u", {"name": "d"}, plan_of("data")) == "/srv/pv-1"
    with pytest.raises(VolumeError, match='persistentvolumeclaim "gone" not found'):
        plan_of("gone")
    with pytest.raises(VolumeError, match="PVC shop/pending is not bound"):
        plan_of("pending")
    with pytest.raises(VolumeError, match="only hostPath and local.*nfs"):
        plan_of("nfs")


def test_token_cache_reuses_until_80_percent_of_the_lifetime():
    from k8snet.kubelet.podinputs import TokenCache
    now = [0.0]
    issued = []

    def source(ns, account, audience, seconds, pod):
        issued.append(now[0])
        return f"tok-{len(issued)}"

    cache = TokenCache(source, clock=lambda: now[0])
    assert cache("shop", "robot", "", 3600, POD) == "tok-1"
    now[0] = 2879.0
    assert cache("shop", "robot", "", 3600, POD) == "tok-1"
    now[0] = 2881.0
    assert cache("shop", "robot", "", 3600, POD) == "tok-2"
    assert cache("shop", "robot", "vault", 3600, POD) == "tok-3"   # another audience
    cache.forget("u-1")
    assert cache("shop", "robot", "", 3600, POD) == "tok-4"
