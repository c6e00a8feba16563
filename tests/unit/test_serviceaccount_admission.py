"""The ServiceAccount admission plugin's decisions on Pod create."""

import random

import pytest

from k8snet.apiserver import saadmission as sa
from k8snet.apiserver.status import ApiStatusError

MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"


def pod(**spec):
    spec.setdefault("containers", [{"name": "c", "image": "busybox"}])
    return {"metadata": {"name": "p", "namespace": "x"}, "spec": spec}


def accounts(*names, **sa_fields):
    table = {n: dict({"metadata": {"name": n, "namespace": "x"}}, **sa_fields) for n in names}
    return lambda ns, name: table.get(name) if ns == "x" else None


def admit(p, lookup=None):
    return sa.admit_pod(p, lookup or accounts("default"), random.Random(1))


def test_defaults_to_default_and_mounts_the_api_access_volume():
    got = admit(pod(initContainers=[{"name": "i", "image": "busybox"}]))
    spec = got["spec"]
    assert spec["serviceAccountName"] == spec["serviceAccount"] == "default"
    [volume] = spec["volumes"]
    assert volume["name"].startswith("kube-api-access-") and len(volume["name"]) == 21
    assert volume["projected"] == {"defaultMode": 420, "sources": [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt",
                       "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {
            "apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}]}
    want = [{"name": volume["name"], "readOnly": True, "mountPath": MOUNT}]
    assert spec["containers"][0]["volumeMounts"] == want
    assert spec["initContainers"][0]["volumeMounts"] == want


def test_deprecated_service_account_field_names_the_account():
    got = admit(pod(serviceAccount="robot"), accounts("robot"))
    assert got["spec"]["serviceAccountName"] == "robot"


def test_missing_service_account_is_forbidden_with_upstreams_message():
    with pytest.raises(ApiStatusError) as err:
        admit(pod(serviceAccountName="nope"))
    assert err.value.code == 403
    assert str(err.value.message) == ('pods "p" is forbidden: error looking up service '
                                      'account x/nope: serviceaccount "nope" not found')


@pytest.mark.parametrize("pod_flag,sa_flag,mounted", [
    (None, None, True), (False, None, False), (None, False, False), (True, False, True),
    (False, True, False)])
def test_automount_opt_out_pod_wins_over_service_account(pod_flag, sa_flag, mounted):
    spec = {} if pod_flag is None else {"automountServiceAccountToken": pod_flag}
    fields = {} if sa_flag is None else {"automountServiceAccountToken": sa_flag}
    got = admit(pod(**spec), accounts("default", **fields))
    assert bool(got["spec"].get("volumes")) is mounted
    assert bool(got["spec"]["containers"][0].get("volumeMounts")) is mounted


def test_existing_mount_at_the_path_is_kept_and_others_still_get_the_volume():
    own = {"name": "mine", "mountPath": MOUNT}
    got = admit(pod(containers=[{"name": "a", "volumeMounts": [own]}, {"name": "b"}],
                    volumes=[{"name": "mine", "emptyDir": {}}]))
    a, b = got["spec"]["containers"]
    assert a["volumeMounts"] == [own]
    assert b["volumeMounts"][0]["mountPath"] == MOUNT
    assert len(got["spec"]["volumes"]) == 2


def test_no_volume_when_every_container_has_its_own_mount():
    own = {"name": "mine", "mountPath": MOUNT}
    got = admit(pod(containers=[{"name": "a", "volumeMounts": [own]}],
                    volumes=[{"name": "mine", "emptyDir": {}}]))
    assert [v["name"] for v in got["spec"]["volumes"]] == ["mine"]


def test_existing_api_access_volume_is_reused():
    volume = sa.api_access_volume("kube-api-access-abcde")
    got = admit(pod(volumes=[volume]))
    assert got["spec"]["volumes"] == [volume]
    assert got["spec"]["containers"][0]["volumeMounts"][0]["name"] == "kube-api-access-abcde"


def test_mirror_pods_get_nothing_and_may_not_name_an_account():
    mirror = pod()
    mirror["metadata"]["annotations"] = {"kubernetes.io/config.mirror": "hash"}
    assert admit(mirror, accounts()) == mirror
    mirror["spec"]["serviceAccountName"] = "default"
    with pytest.raises(ApiStatusError) as err:
        admit(mirror)
    assert err.value.code == 403 and "may not reference service accounts" in err.value.message


@pytest.mark.parametrize("spec,why", [
    ({"imagePullSecrets": [{"name": "s"}]}, "may not reference secrets"),
    ({"volumes": [{"name": "v", "secret": {"secretName": "s"}}]}, "may not reference secrets"),
    ({"containers": [{"name": "c", "envFrom": [{"secretRef": {"name": "s"}}]}]},
     "may not reference secrets"),
    ({"volumes": [sa.api_access_volume("kube-api-access-abcde")]},
     "may not use ServiceAccountToken volume projections")])
def test_mirror_pods_may_not_reference_secrets_or_tokens(spec, why):
    mirror = pod(**spec)
    mirror["metadata"]["annotations"] = {"kubernetes.io/config.mirror": "hash"}
    with pytest.raises(ApiStatusError) as err:
        admit(mirror)
    assert err.value.message == f'pods "p" is forbidden: a mirror pod {why}'


def test_image_pull_secrets_come_from_the_service_account_unless_set():
    lookup = accounts("default", imagePullSecrets=[{"name": "reg"}])
    assert admit(pod(), lookup)["spec"]["imagePullSecrets"] == [{"name": "reg"}]
    own = admit(pod(imagePullSecrets=[{"name": "mine"}]), lookup)
    assert own["spec"]["imagePullSecrets"] == [{"name": "mine"}]
    assert "imagePullSecrets" not in admit(pod())["spec"]


def test_host_network_pods_are_treated_like_others():
    got = admit(pod(hostNetwork=True))
    assert got["spec"]["containers"][0]["volumeMounts"][0]["mountPath"] == MOUNT


@pytest.mark.parametrize("spec", [
    None, "x", {"containers": None}, {"containers": "x"}, {"containers": [None, 3]},
    {"containers": [{"name": "c", "volumeMounts": "x"}]}, {"volumes": "x"},
    {"volumes": [None], "containers": [{"name": "c", "volumeMounts": [None]}]},
    {"serviceAccountName": 7}])
def test_malformed_pods_are_left_for_validation(spec):
    malformed = {"metadata": {"name": "p", "namespace": "x"}, "spec": spec}
    admit(malformed)  # no crash: validation answers 422 afterwards
