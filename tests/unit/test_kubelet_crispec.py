"""CRI request bodies built from a Pod: labels, env, $(VAR), resources, log paths."""

from google.protobuf import json_format

from k8snet.cri import proto
from k8snet.kubelet import crispec

POD = {
    "metadata": {"name": "web", "namespace": "shop", "uid": "u-1", "labels": {"app": "web"}},
    "spec": {"nodeName": "w1", "containers": [{
        "name": "app", "image": "busybox:1.36",
        "command": ["sh", "-c"], "args": ["echo $(GREETING) $(MISSING) $$(ESCAPED)"],
        "ports": [{"containerPort": 80, "hostPort": 8080}],
        "env": [{"name": "NAME", "value": "x"},
                {"name": "GREETING", "value": "hi-$(NAME)"},
                {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                {"name": "APP", "valueFrom": {"fieldRef": {
                    "fieldPath": "metadata.labels['app']"}}},
                {"name": "MEM", "valueFrom": {"resourceFieldRef": {
                    "resource": "limits.memory", "divisor": "1Mi"}}}],
        "resources": {"requests": {"cpu": "250m"}, "limits": {"cpu": "500m", "memory": "64Mi"}},
    }]},
}


def test_sandbox_config_parses_as_runtime_v1():
    pb, _ = proto.load()
    cfg = crispec.sandbox_config(POD, 2, "/r/pods/shop_web_u-1")
    msg = json_format.ParseDict(cfg, pb.PodSandboxConfig())
    assert (msg.metadata.name, msg.metadata.namespace, msg.metadata.uid, msg.metadata.attempt) \
        == ("web", "shop", "u-1", 2)
    assert msg.log_directory == "/r/pods/shop_web_u-1" and msg.hostname == "web"
    assert msg.labels[crispec.POD_UID] == "u-1" and msg.labels["app"] == "web"
    assert msg.port_mappings[0].host_port == 8080


def test_container_config_env_expansion_and_resources():
    pb, _ = proto.load()
    cfg = crispec.container_config(POD, POD["spec"]["containers"][0], 3, "10.244.1.9", "10.0.0.2")
    msg = json_format.ParseDict(cfg, pb.ContainerConfig())
    env = {kv.key: kv.value for kv in msg.envs}
    assert env == {"NAME": "x", "GREETING": "hi-x", "POD_IP": "10.244.1.9", "NS": "shop",
                   "APP": "web", "MEM": "64"}
    assert list(msg.args) == ["echo hi-x $(MISSING) $(ESCAPED)"]
    assert msg.log_path == "app/3.log" and msg.metadata.attempt == 3
    res = msg.linux.resources
    assert (res.cpu_shares, res.cpu_quota, res.cpu_period) == (256, 50_000, 100_000)
    assert res.memory_limit_in_bytes == 64 * 2**20
    assert msg.labels[crispec.CONTAINER_NAME] == "app"


def test_no_resources_means_minimum_shares_and_no_limits():
    # crispec and cri/cgroups disagreed here: the kubelet sent no shares at all (the kernel's
    # default, 1024: a BestEffort container weighed as much as one requesting a whole CPU).
    cfg = crispec.container_config(POD, {"name": "c", "image": "busybox"}, 0)
    assert cfg["command"] == [] and cfg["envs"] == []
    assert cfg["linux"]["resources"] == {"cpu_shares": 2, "cpu_quota": 0,
                                         "cpu_period": 100_000, "memory_limit_in_bytes": 0}


def test_security_context_container_over_pod_with_fs_group_first():
    p = {"metadata": {}, "spec": {"securityContext": {"runAsUser": 1000, "runAsGroup": 3000,
                                                       "fsGroup": 2000,
                                                       "supplementalGroups": [4000, 2000]}}}
    cfg = crispec.container_config(p, {"name": "c", "securityContext": {"runAsUser": 2000}}, 0)
    assert cfg["linux"]["security_context"] == {
        "run_as_user": {"value": 2000}, "run_as_group": {"value": 3000},
        "supplemental_groups": [2000, 4000]}
    assert "security_context" not in crispec.container_config(
        {"metadata": {}, "spec": {}}, {"name": "c"}, 0)["linux"]


def test_host_network_sandbox_asks_for_the_node_namespace():
    pb, _ = proto.load()
    p = {"metadata": {"name": "agent", "namespace": "kube-system", "uid": "u"},
         "spec": {"hostNetwork": True, "containers": []}}
    msg = json_format.ParseDict(crispec.sandbox_config(p, 0, "/l"), pb.PodSandboxConfig())
    assert msg.linux.security_context.namespace_options.network == 2   # NODE
    from k8snet.cri.servicer import sandbox_config
    assert sandbox_config(msg)["host_network"] is True
    plain = json_format.ParseDict(crispec.sandbox_config(POD, 0, "/l"), pb.PodSandboxConfig())
    assert sandbox_config(plain)["host_network"] is False
    long = {"metadata": {"name": "x" * 70, "namespace": "n"}, "spec": {}}
    assert crispec.sandbox_config(long, 0, "/l")["hostname"] == "x" * 63


def test_share_process_namespace_asks_for_the_pod_pid_namespace():
    pb, _ = proto.load()
    p = {"metadata": {}, "spec": {"shareProcessNamespace": True}}
    msg = json_format.ParseDict(crispec.container_config(p, {"name": "c"}, 0),
                                pb.ContainerConfig())
    from k8snet.cri.servicer import container_config
    assert container_config(msg)["share_pid"] is True
    plain = json_format.ParseDict(crispec.container_config({"metadata": {}, "spec": {}},
                                                           {"name": "c"}, 0),
                                  pb.ContainerConfig())
    assert container_config(plain)["share_pid"] is False


def test_ephemeral_target_asks_for_the_target_containers_pid_namespace():
    pb, _ = proto.load()
    from k8snet.cri.servicer import container_config
    ec = {"name": "dbg", "image": "busybox", "stdin": True, "tty": True,
          "targetContainerName": "c"}
    cfg = crispec.container_config({"metadata": {}, "spec": {}}, ec, 0, target_id="abc123")
    plain = container_config(json_format.ParseDict(cfg, pb.ContainerConfig()))
    assert plain["target_id"] == "abc123" and plain["share_pid"] is False
    assert plain["stdin"] is True and plain["tty"] is True and plain["stdin_once"] is False
    untargeted = container_config(json_format.ParseDict(crispec.container_config(
        {"metadata": {}, "spec": {}}, ec, 0), pb.ContainerConfig()))
    assert untargeted["target_id"] == ""


def test_namespace_options_host_pid_ipc_pod_and_target():
    assert crispec.namespace_options({}) == {}
    assert crispec.namespace_options({"hostPID": True, "hostIPC": True}) == \
        {"pid": "NODE", "ipc": "NODE"}
    # hostIPC alone must still say CONTAINER: runtime.v1's zero PID mode is POD
    assert crispec.namespace_options({"hostIPC": True}) == {"pid": "CONTAINER", "ipc": "NODE"}
    assert crispec.namespace_options({"shareProcessNamespace": True}, "t1") == {"pid": "POD"}
    assert crispec.namespace_options({}, "t1") == {"pid": "TARGET", "target_id": "t1"}
    pb, _ = proto.load()
    from k8snet.cri.servicer import container_config
    node = {"metadata": {}, "spec": {"hostPID": True, "hostIPC": True, "hostNetwork": True}}
    plain = container_config(json_format.ParseDict(crispec.container_config(
        node, {"name": "debugger"}, 0), pb.ContainerConfig()))
    assert plain["host_pid"] is True and plain["share_pid"] is False
