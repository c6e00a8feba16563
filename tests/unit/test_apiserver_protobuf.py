"""The protobuf decoder for kubectl's typed-client bodies."""

import pytest

from k8snet.apiserver import protobuf as pb


def varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def f(num: int, value) -> bytes:
    if isinstance(value, int):
        return varint(num << 3) + varint(value)
    data = value.encode() if isinstance(value, str) else value
    return varint(num << 3 | 2) + varint(len(data)) + data


def envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    return pb.MAGIC + f(1, f(1, api_version) + f(2, kind)) + f(2, raw)


def test_namespace_with_labels_and_zero_fields_skipped():
    meta = f(1, "team-a") + f(4, "") + f(11, f(1, "env") + f(2, "dev")) + f(8, b"")
    body = envelope("v1", "Namespace", f(1, meta) + f(2, b"") + f(3, b""))
    assert pb.decode(body) == {"apiVersion": "v1", "kind": "Namespace",
                               "metadata": {"name": "team-a", "labels": {"env": "dev"}}}


def test_deployment_like_kubectl_create_deployment():
    container = f(1, "busybox") + f(2, "busybox") + f(3, "sleep") + f(3, "10") + \
        f(6, f(3, 80)) + f(8, b"")
    template = f(1, f(11, f(1, "app") + f(2, "web"))) + f(2, f(2, container))
    spec = f(1, 0) + f(2, f(1, f(1, "app") + f(2, "web"))) + f(3, template) + f(4, b"")
    obj = pb.decode(envelope("apps/v1", "Deployment", f(1, f(1, "web")) + f(2, spec)))
    assert obj["spec"]["replicas"] == 0  # a pointer field keeps its zero
    assert obj["spec"]["selector"] == {"matchLabels": {"app": "web"}}
    c = obj["spec"]["template"]["spec"]["containers"][0]
    assert c == {"name": "busybox", "image": "busybox", "command": ["sleep", "10"],
                 "ports": [{"containerPort": 80}]}


def test_service_target_port_int_or_string():
    port = f(1, "http") + f(2, "TCP") + f(3, 80) + f(4, f(1, 1) + f(3, "web")) + f(5, 30080)
    raw = f(1, f(1, "s")) + f(2, f(1, port) + f(4, "NodePort"))
    obj = pb.decode(envelope("v1", "Service", raw))
    assert obj["spec"] == {"ports": [{"name": "http", "protocol": "TCP", "port": 80,
                                      "targetPort": "web", "nodePort": 30080}],
                           "type": "NodePort"}


def test_delete_options_from_kubectl_drain():
    raw = f(1, 0) + f(2, f(1, "u-1")) + f(4, "Background")
    assert pb.decode(envelope("v1", "DeleteOptions", raw)) == {
        "apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0,
        "preconditions": {"uid": "u-1"}, "propagationPolicy": "Background"}


def test_configmap_and_secret_bodies():
    meta = f(1, f(1, "cm"))
    entry = f(2, f(1, "a") + f(2, "b"))
    assert pb.decode(envelope("v1", "ConfigMap", meta + entry)) == {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"},
        "data": {"a": "b"}}
    secret = pb.decode(envelope("v1", "Secret", meta + f(2, f(1, "pw") + f(2, "hi"))
                                + f(3, "Opaque")))
    assert secret["data"] == {"pw": "aGk="} and secret["type"] == "Opaque"


def test_refusals_are_clear():
    with pytest.raises(pb.ProtobufError, match="field 99 of ObjectMeta"):
        pb.decode(envelope("v1", "Namespace", f(1, f(99, "x"))))
    with pytest.raises(pb.ProtobufError, match="not supported by k8snet"):
        pb.decode(envelope("v1", "LimitRange", b""))
    with pytest.raises(pb.ProtobufError, match="prefix"):
        pb.decode(b"{}")
    with pytest.raises(pb.ProtobufError, match="truncated"):
        pb.decode(pb.MAGIC + b"\x0a\x50")


def test_node_debugger_pod_like_kubectl_debug_node():
    """The Pod `kubectl debug node/w1` posts: host namespaces, / at /host, all tolerations."""
    container = f(1, "debugger") + f(2, "busybox") + f(9, f(1, "host-root") + f(3, "/host")) + \
        f(16, 1) + f(18, 1) + f(20, "File")
    spec = f(1, f(1, "host-root") + f(2, f(1, f(1, "/")))) + f(2, container) + \
        f(3, "Never") + f(10, "w1") + f(11, 1) + f(12, 1) + f(13, 1) + f(22, f(2, "Exists"))
    body = envelope("v1", "Pod", f(1, f(1, "node-debugger-w1-abcde")) + f(2, spec))
    got = pb.decode(body)
    assert got["metadata"] == {"name": "node-debugger-w1-abcde"}
    assert got["spec"] == {
        "volumes": [{"name": "host-root", "hostPath": {"path": "/"}}],
        "containers": [{"name": "debugger", "image": "busybox", "stdin": True, "tty": True,
                        "terminationMessagePolicy": "File",
                        "volumeMounts": [{"name": "host-root", "mountPath": "/host"}]}],
        "restartPolicy": "Never", "nodeName": "w1", "hostNetwork": True, "hostPID": True,
        "hostIPC": True, "tolerations": [{"operator": "Exists"}]}
