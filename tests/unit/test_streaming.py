"""The pure parts of exec/attach streaming: channel protocol, upgrade proxy heads,
the exec wrapper argv, the kubelet URL the apiserver picks."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

from k8snet.apiserver import podlog
from k8snet.apiserver.status import ApiStatusError
from k8snet.cri import channels, execproc
from k8snet.cri.wsconn import handshake_response
from k8snet.kubelet import node
from k8snet.machinery import upgradeproxy


def test_subprotocol_prefers_v5_then_v4_and_refuses_older():
    assert channels.pick_subprotocol("v4.channel.k8s.io, v5.channel.k8s.io") == \
        "v5.channel.k8s.io"
    assert channels.pick_subprotocol("v4.channel.k8s.io,v3.channel.k8s.io") == \
        "v4.channel.k8s.io"
    assert channels.pick_subprotocol("v3.channel.k8s.io") is None
    assert channels.pick_subprotocol("") is None


def test_messages_from_the_client():
    assert channels.parse_message(b"\x00hello") == channels.Incoming("stdin", data=b"hello")
    r = channels.parse_message(b'\x04{"Width":100,"Height":30}')
    assert (r.kind, r.width, r.height) == ("resize", 100, 30)
    assert channels.parse_message(b"\xff\x00") == channels.Incoming("close", stream=0)
    assert channels.parse_message(b"\x04not json").kind == "ignore"
    assert channels.parse_message(b"").kind == "ignore"
    assert channels.frame(channels.STDERR, b"x") == b"\x02x"


def test_exit_status_carries_the_code_as_kubectl_reads_it():
    assert json.loads(channels.exit_status(0, ["true"]))["status"] == "Success"
    st = json.loads(channels.exit_status(3, ["sh", "-c", "exit 3"]))
    assert st["status"] == "Failure" and st["reason"] == "NonZeroExitCode"
    assert st["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]


def test_stream_options_from_kubectl_and_kubelet_names():
    o = channels.parse_options("command=sh&command=-c&command=echo%20a&stdin=true&stdout=true"
                               "&stderr=true&tty=false")
    assert o.command == ("sh", "-c", "echo a") and o.stdin and o.stdout and o.stderr
    o = channels.parse_options("command=sh&input=1&output=1&tty=1")
    assert o.stdin and o.tty and not o.stderr  # a terminal merges stderr into stdout
    assert channels.parse_options("command=ls").stdin is False


def test_handshake_accept_token_is_rfc6455s():
    key = base64.b64encode(b"0123456789abcdef").decode()
    head = handshake_response(key, "v5.channel.k8s.io").decode()
    want = base64.b64encode(hashlib.sha1(
        (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
    assert head.startswith("HTTP/1.1 101 ")
    assert f"Sec-WebSocket-Accept: {want}\r\n" in head
    assert "Sec-WebSocket-Protocol: v5.channel.k8s.io\r\n" in head and head.endswith("\r\n\r\n")


def test_upgrade_request_forwards_only_the_upgrade_headers():
    head = upgradeproxy.upgrade_request("GET", "/exec/a/b/c?command=ls", "10.0.0.2:10250", [
        ("Authorization", "Bearer secret"), ("Upgrade", "websocket"),
        ("Connection", "Upgrade"), ("Sec-WebSocket-Key", "k"),
        ("Sec-WebSocket-Protocol", "v5.channel.k8s.io")]).decode()
    assert head.startswith("GET /exec/a/b/c?command=ls HTTP/1.1\r\nHost: 10.0.0.2:10250\r\n")
    assert "Authorization" not in head and "Sec-WebSocket-Key: k\r\n" in head
    assert upgradeproxy.response_status(b"HTTP/1.1 101 Switching Protocols\r\n\r\n") == 101
    assert upgradeproxy.response_status(b"garbage") == 0


def test_exec_wrapper_joins_cgroups_then_runs_and_takes_the_terminal():
    argv = execproc.wrap(["nsenter", "-t", "5", "--", "sh"], ["/cg/a/cgroup.procs"], False)
    assert argv[:2] == ["/bin/sh", "-c"]
    assert argv[3:] == ["k8snet-exec", "/cg/a/cgroup.procs", "--", "nsenter", "-t", "5", "--",
                        "sh"]
    assert execproc.wrap(["sh"], [], True)[:2] == ["/usr/bin/setsid", "-c"]


POD = {"metadata": {"name": "p", "namespace": "ns"},
       "spec": {"nodeName": "w1", "containers": [{"name": "c"}]},
       "status": {"phase": "Running",
                  "containerStatuses": [{"name": "c", "state": {"running": {}}}]}}
NODE = {"metadata": {"name": "w1", "annotations": {node.SCHEME_ANNOTATION: "https"}},
        "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.2"}],
                   "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}}}


def test_stream_url_keeps_the_query_and_uses_the_nodes_scheme():
    url = podlog.stream_url(POD, NODE, "exec", "c", "command=ls&command=-l&stdout=true")
    assert url == "https://10.0.0.2:10250/exec/ns/p/c?command=ls&command=-l&stdout=true"
    plain = {"metadata": {"name": "w1"}, "status": NODE["status"]}
    assert podlog.stream_url(POD, plain, "attach", "c", "").startswith("http://10.0.0.2:10250/")


def test_stream_url_refuses_finished_pods_and_stopped_containers():
    done = dict(POD, status={"phase": "Succeeded"})
    with pytest.raises(ApiStatusError, match="completed pod; current phase is Succeeded"):
        podlog.stream_url(done, NODE, "exec", "c", "")
    waiting = dict(POD, status={"phase": "Running", "containerStatuses": [
        {"name": "c", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]})
    with pytest.raises(ApiStatusError, match="container c is not running"):
        podlog.stream_url(waiting, NODE, "exec", "c", "")
    with pytest.raises(ApiStatusError, match="not registered"):
        podlog.stream_url(POD, None, "exec", "c", "")


def test_node_registers_and_keeps_the_kubelet_scheme():
    cfg = node.NodeConfig(name="w1", ip="10.0.0.2")
    assert node.build_node(cfg, 0)["metadata"]["annotations"][node.SCHEME_ANNOTATION] == \
        "https"
    registered = node.build_node(cfg, 0)
    assert node.merge_registration(registered, cfg) is None
    plain = node.NodeConfig(name="w1", ip="10.0.0.2", kubelet_scheme="http")
    assert node.merge_registration(registered, plain) == {
        "metadata": {"annotations": {node.SCHEME_ANNOTATION: "http"}}}
    assert node.SCHEME_ANNOTATION == podlog.SCHEME_ANNOTATION


def test_websocket_exec_is_authorized_as_create():
    from k8snet.apiserver.requestinfo import request_info
    ri = request_info("GET", "/api/v1/namespaces/d/pods/p/exec", {"command": "ls"})
    assert (ri.verb, ri.resource, ri.subresource) == ("create", "pods", "exec")
    assert request_info("GET", "/api/v1/namespaces/d/pods/p/log", {}).verb == "get"
