"""A container's environment: sources, order, $(VAR) expansion, upstream's error messages."""

import base64

import pytest

from k8snet.kubelet import crispec, envvars
from k8snet.kubelet.envvars import ContainerConfigError, container_env, expand

POD = {"metadata": {"name": "web", "namespace": "shop", "uid": "u-1",
                    "labels": {"app": "web", "tier": "fe"}, "annotations": {"a": "1"}},
       "spec": {"nodeName": "w1", "serviceAccountName": "default"}}


def b64(text):
    return base64.b64encode(text.encode()).decode()


OBJECTS = {
    ("ConfigMap", "shop", "game"): {"data": {"lives": "3", "mode": "hard", "bad key": "x",
                                              "1st": "y"}},
    ("Secret", "shop", "creds"): {"data": {"user": b64("admin"), "pass": b64("s3cr$t")}},
}


def lookup(kind, ns, name):
    return OBJECTS.get((kind, ns, name))


def env_of(container, **kw):
    return container_env(POD, dict(name="c", **container), "10.244.1.9", "10.0.0.2", lookup,
                         **kw).env


@pytest.mark.parametrize("text,want", [
    ("$(A)", "a"), ("x$(A)y", "xay"), ("$(MISSING)", "$(MISSING)"), ("$$(A)", "$(A)"),
    ("$$", "$"), ("$$$$", "$$"), ("$", "$"), ("a$b", "a$b"), ("$(A", "$(A"),
    ("$(A)$(B)", "ab"), ("$()", "$()"), ("$$$(A)", "$a"), ("50$", "50$"),
])
def test_expand_follows_kubernetes_rules(text, want):
    assert expand(text, {"A": "a", "B": "b"}) == want


def test_value_field_and_resource_refs():
    env = env_of({"env": [
        {"name": "NAME", "value": "x"},
        {"name": "GREETING", "value": "hi-$(NAME)-$(LATER)"},
        {"name": "LATER", "value": "z"},
        {"name": "EMPTY", "value": ""},
        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "HOST", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
        {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "SA", "valueFrom": {"fieldRef": {"fieldPath": "spec.serviceAccountName"}}},
        {"name": "TIER", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['tier']"}}},
        {"name": "LABELS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels"}}},
        {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "requests.cpu",
                                                            "divisor": "1m"}}},
        {"name": "MEMLIM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory"}}},
    ], "resources": {"requests": {"cpu": "250m"}}}, allocatable={"memory": "2Gi"})
    assert env == {"NAME": "x", "GREETING": "hi-x-$(LATER)", "LATER": "z", "EMPTY": "",
                   "POD": "web", "NODE": "w1", "HOST": "10.0.0.2", "IP": "10.244.1.9",
                   "SA": "default", "TIER": "fe", "LABELS": 'app="web"\ntier="fe"',
                   "CPU": "250", "MEMLIM": str(2 * 2**30)}


def test_configmap_and_secret_key_refs():
    env = env_of({"env": [
        {"name": "LIVES", "valueFrom": {"configMapKeyRef": {"name": "game", "key": "lives"}}},
        {"name": "PASS", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "pass"}}},
        {"name": "OPT", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "k",
                                                          "optional": True}}},
        {"name": "OPTKEY", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "k",
                                                          "optional": True}}},
    ]})
    assert env == {"LIVES": "3", "PASS": "s3cr$t"}  # optional and missing: not set at all


@pytest.mark.parametrize("ref,message", [
    ({"configMapKeyRef": {"name": "x", "key": "k"}}, 'configmap "x" not found'),
    ({"secretKeyRef": {"name": "x", "key": "k"}}, 'secret "x" not found'),
    ({"configMapKeyRef": {"name": "game", "key": "k"}},
     "couldn't find key k in ConfigMap shop/game"),
    ({"secretKeyRef": {"name": "creds", "key": "k"}}, "couldn't find key k in Secret shop/creds"),
])
def test_missing_required_source_is_a_config_error(ref, message):
    with pytest.raises(ContainerConfigError) as err:
        env_of({"env": [{"name": "V", "valueFrom": ref}]})
    assert str(err.value) == message


def test_env_from_with_prefix_invalid_keys_and_env_overrides():
    res = container_env(POD, {"name": "c", "envFrom": [
        {"configMapRef": {"name": "game"}},
        {"prefix": "S_", "secretRef": {"name": "creds"}},
        {"configMapRef": {"name": "absent", "optional": True}},
    ], "env": [{"name": "mode", "value": "easy-$(S_user)"}]}, "", "", lookup)
    assert res.env == {"lives": "3", "mode": "easy-admin", "S_user": "admin",
                       "S_pass": "s3cr$t"}
    assert res.warnings == ["Keys [1st, bad key] from the EnvFrom configMap shop/game were "
                            "skipped since they are considered invalid environment variable "
                            "names."]
    with pytest.raises(ContainerConfigError, match='configmap "absent" not found'):
        container_env(POD, {"name": "c", "envFrom": [{"configMapRef": {"name": "absent"}}]},
                      "", "", lookup)


def test_command_and_args_expand_with_the_resolved_env():
    c = {"name": "c", "image": "busybox", "command": ["sh", "-c", "echo $(LIVES) $$HOME"],
         "args": ["$(S_user)", "$(NOPE)"], "envFrom": [{"prefix": "S_", "secretRef": {
             "name": "creds"}}],
         "env": [{"name": "LIVES", "valueFrom": {"configMapKeyRef": {"name": "game",
                                                                     "key": "lives"}}}]}
    resolved = container_env(POD, c, "", "", lookup)
    cfg = crispec.container_config(POD, c, 0, env_map=resolved.env)
    assert cfg["command"] == ["sh", "-c", "echo 3 $HOME"]
    assert cfg["args"] == ["admin", "$(NOPE)"]
    assert {e["key"]: e["value"] for e in cfg["envs"]}["LIVES"] == "3"


def test_no_objects_lookup_makes_refs_fail():
    with pytest.raises(ContainerConfigError):
        container_env(POD, {"name": "c", "env": [{"name": "V", "valueFrom": {
            "configMapKeyRef": {"name": "x", "key": "k"}}}]}, "", "", envvars.no_objects)


SERVICES = [
    {"metadata": {"name": "kubernetes", "namespace": "default"},
     "spec": {"clusterIP": "10.96.0.1", "ports": [{"name": "https", "port": 443,
                                                   "protocol": "TCP"}]}},
    {"metadata": {"name": "redis-primary", "namespace": "shop"},
     "spec": {"clusterIP": "10.96.0.11", "ports": [{"port": 6379, "protocol": "TCP"}]}},
    {"metadata": {"name": "headless", "namespace": "shop"},
     "spec": {"clusterIP": "None", "ports": [{"port": 80}]}},
    {"metadata": {"name": "other", "namespace": "elsewhere"},
     "spec": {"clusterIP": "10.96.0.12", "ports": [{"port": 80}]}},
]


def test_service_variables_as_the_kubelet_sets_them():
    env = container_env(POD, {"name": "c", "env": [
        {"name": "URL", "value": "redis://$(REDIS_PRIMARY_SERVICE_HOST)"},
        {"name": "KUBERNETES_SERVICE_PORT", "value": "mine"}]}, "", "", lookup,
        services=SERVICES).env
    assert env["URL"] == "redis://10.96.0.11"
    assert env["KUBERNETES_SERVICE_PORT"] == "mine"          # the Pod's own wins
    assert env["KUBERNETES_SERVICE_HOST"] == "10.96.0.1"
    assert env["KUBERNETES_SERVICE_PORT_HTTPS"] == "443"
    assert env["KUBERNETES_PORT"] == "tcp://10.96.0.1:443"
    assert env["KUBERNETES_PORT_443_TCP"] == "tcp://10.96.0.1:443"
    assert env["KUBERNETES_PORT_443_TCP_PROTO"] == "tcp"
    assert env["KUBERNETES_PORT_443_TCP_PORT"] == "443"
    assert env["KUBERNETES_PORT_443_TCP_ADDR"] == "10.96.0.1"
    assert env["REDIS_PRIMARY_PORT_6379_TCP_ADDR"] == "10.96.0.11"
    assert not any(k.startswith(("HEADLESS_", "OTHER_")) for k in env)
    no_links = dict(POD, spec=dict(POD["spec"], enableServiceLinks=False))
    env = container_env(no_links, {"name": "c"}, "", "", lookup, services=SERVICES).env
    assert "KUBERNETES_SERVICE_HOST" in env and "REDIS_PRIMARY_SERVICE_HOST" not in env
