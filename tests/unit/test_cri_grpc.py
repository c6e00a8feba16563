"""The CRI service over a unix socket, spoken to by a generic gRPC client.

No root: only calls that touch files (Version, Status, the ImageService).
The client uses bare method paths (/runtime.v1.ImageService/PullImage ...),
as any other CRI client would, not k8snet's stubs.
"""

from concurrent import futures

import grpc
import pytest

from k8snet.cri.proto import load
from k8snet.cri.runtime import Runtime, RuntimeConfig
from k8snet.cri.servicer import add_to_server
from k8snet.machinery.cri import CriError, RuntimeClient, container_config, sandbox_config

pb, pb_grpc = load()


@pytest.fixture()
def server(tmp_path):
    rt = Runtime(RuntimeConfig(root_dir=str(tmp_path / "root"), netns_prefix="k8snet-t-w1",
                               cni_conf_dir=str(tmp_path / "cni")))
    rt.prepare()
    srv = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    add_to_server(srv, rt)
    sock = str(tmp_path / "cri.sock")
    assert srv.add_insecure_port(f"unix://{sock}")
    srv.start()
    try:
        yield sock, tmp_path
    finally:
        srv.stop(0).wait(5)


def call(sock, path, request, response_cls):
    with grpc.insecure_channel(f"unix://{sock}") as channel:
        method = channel.unary_unary(path, request_serializer=request.SerializeToString,
                                     response_deserializer=response_cls.FromString)
        return method(request, timeout=10)


def test_proto_has_published_package_services_and_method_names():
    services = pb.DESCRIPTOR.services_by_name
    assert pb.DESCRIPTOR.package == "runtime.v1"
    runtime_methods = {m.name for m in services["RuntimeService"].methods}
    assert {"Version", "RunPodSandbox", "StopPodSandbox", "RemovePodSandbox",
            "PodSandboxStatus", "ListPodSandbox", "CreateContainer", "StartContainer",
            "StopContainer", "RemoveContainer", "ListContainers", "ContainerStatus",
            "ExecSync"} <= runtime_methods
    assert {m.name for m in services["ImageService"].methods} == \
        {"ListImages", "ImageStatus", "PullImage", "RemoveImage"}
    # a few published field numbers
    fields = pb.ContainerStatus.DESCRIPTOR.fields_by_name
    assert fields["exit_code"].number == 7 and fields["reason"].number == 10
    assert fields["log_path"].number == 15 and fields["image_id"].number == 17
    assert pb.ContainerConfig.DESCRIPTOR.fields_by_name["log_path"].number == 11
    assert pb.PodSandboxConfig.DESCRIPTOR.fields_by_name["log_directory"].number == 3
    assert pb.ExecSyncRequest.DESCRIPTOR.fields_by_name["timeout"].number == 3
    assert pb.ImageSpec.DESCRIPTOR.fields_by_name["user_specified_image"].number == 18


def test_version_through_a_generic_client(server):
    sock, _ = server
    resp = call(sock, "/runtime.v1.RuntimeService/Version", pb.VersionRequest(version="v1"),
                pb.VersionResponse)
    assert resp.runtime_name == "k8snet" and resp.runtime_api_version == "v1"


def test_status_says_network_not_ready_without_cni_config(server):
    sock, tmp_path = server
    client = RuntimeClient(sock)
    try:
        conds = client.status()
        assert conds["RuntimeReady"][0] is True
        assert conds["NetworkReady"][0] is False
        assert conds["NetworkReady"][1] == "NetworkPluginNotReady"
        (tmp_path / "cni").mkdir()
        (tmp_path / "cni" / "10-k8snet.conflist").write_text('{"name":"k8snet","plugins":[]}')
        assert client.status()["NetworkReady"][0] is True
    finally:
        client.close()


def test_image_service_pull_status_list_remove(server):
    sock, _ = server
    ref = "registry.k8s.io/e2e-test-images/agnhost:2.53"
    pulled = call(sock, "/runtime.v1.ImageService/PullImage",
                  pb.PullImageRequest(image=pb.ImageSpec(image=ref)), pb.PullImageResponse)
    assert pulled.image_ref.startswith("sha256:")
    status = call(sock, "/runtime.v1.ImageService/ImageStatus",
                  pb.ImageStatusRequest(image=pb.ImageSpec(image=ref)), pb.ImageStatusResponse)
    assert status.image.id == pulled.image_ref and ref in status.image.repo_tags
    listed = call(sock, "/runtime.v1.ImageService/ListImages", pb.ListImagesRequest(),
                  pb.ListImagesResponse)
    assert [i.id for i in listed.images] == [pulled.image_ref]
    call(sock, "/runtime.v1.ImageService/RemoveImage",
         pb.RemoveImageRequest(image=pb.ImageSpec(image=ref)), pb.RemoveImageResponse)
    status = call(sock, "/runtime.v1.ImageService/ImageStatus",
                  pb.ImageStatusRequest(image=pb.ImageSpec(image=ref)), pb.ImageStatusResponse)
    assert not status.HasField("image")


def test_unknown_image_pull_fails_with_a_clear_message(server):
    sock, _ = server
    client = RuntimeClient(sock)
    try:
        with pytest.raises(CriError) as info:
            client.pull_image("quay.io/nobody/nothing:1")
        assert info.value.code == "NOT_FOUND"
        assert 'failed to pull and unpack image "quay.io/nobody/nothing:1"' in info.value.message
        assert "k8snet catalogue" in info.value.message
        assert client.list_images() == []
    finally:
        client.close()


def test_unknown_sandbox_is_not_found(server):
    sock, _ = server
    with pytest.raises(grpc.RpcError) as info:
        call(sock, "/runtime.v1.RuntimeService/PodSandboxStatus",
             pb.PodSandboxStatusRequest(pod_sandbox_id="nope"), pb.PodSandboxStatusResponse)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    # stop/remove of an unknown sandbox are idempotent successes
    call(sock, "/runtime.v1.RuntimeService/StopPodSandbox",
         pb.StopPodSandboxRequest(pod_sandbox_id="nope"), pb.StopPodSandboxResponse)
    call(sock, "/runtime.v1.RuntimeService/RemovePodSandbox",
         pb.RemovePodSandboxRequest(pod_sandbox_id="nope"), pb.RemovePodSandboxResponse)


def test_the_one_cri_client_images_versions_and_errors(server):
    sock, _ = server
    ref = "registry.k8s.io/e2e-test-images/agnhost:2.53"
    with RuntimeClient(sock, timeout=10) as client:
        assert client.wait_ready(5)["runtime_name"] == "k8snet"
        assert client.image_status(ref) is None
        pulled = client.pull_image(ref, sandbox_config("default", "web", "u1"))
        assert client.image_status(ref)["id"] == pulled
        assert [i["id"] for i in client.list_images()] == [pulled]
        client.remove_image(ref)
        assert client.image_status(ref) is None
        with pytest.raises(CriError) as info:
            client.pod_sandbox_status("nope")
        assert info.value.code == "NOT_FOUND" and info.value.method == "PodSandboxStatus"
        assert str(info.value).startswith("CRI PodSandboxStatus: ")


def test_wait_ready_names_the_socket_at_its_deadline(tmp_path):
    ticks = iter(range(100))
    with RuntimeClient(str(tmp_path / "absent.sock"), timeout=0.2) as client:
        with pytest.raises(CriError, match=r"absent\.sock did not answer within 3s"):
            client.wait_ready(3, sleep=lambda _s: None, clock=lambda: float(next(ticks)))


def test_config_builders_are_runtime_v1_messages():
    from google.protobuf import json_format

    sb = json_format.ParseDict(sandbox_config("ns", "web", "u1", attempt=2,
                                              labels={"app": "web"}), pb.PodSandboxConfig())
    assert (sb.metadata.namespace, sb.metadata.attempt, sb.hostname) == ("ns", 2, "web")
    c = json_format.ParseDict(container_config(
        "app", "busybox", ["sh"], ["-c", "true"], env={"A": 1},
        resources={"requests": {"cpu": "250m"}, "limits": {"cpu": "500m", "memory": "64Mi"}}),
        pb.ContainerConfig())
    assert list(c.command) == ["sh"] and c.envs[0].value == "1"
    res = c.linux.resources
    assert (res.cpu_shares, res.cpu_quota, res.memory_limit_in_bytes) == (256, 50_000, 64 << 20)


def test_a_refusal_keeps_its_status_code(server):
    # Exec without a command is INVALID_ARGUMENT; a handler's own abort used to come
    # out as INTERNAL ("Exception: "), gRPC's abort raising inside the error wrapper
    sock, _ = server
    with pytest.raises(grpc.RpcError) as info:
        call(sock, "/runtime.v1.RuntimeService/Exec", pb.ExecRequest(container_id="c1"),
             pb.ExecResponse)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details() == "Exec needs a command"


def _client_answers(client, ref):
    """What a kubelet would see of one runtime: answers and errors, as plain data."""
    out = {"version": client.version(), "status": client.status(),
           "pulled": client.pull_image(ref), "images": client.list_images(),
           "sandboxes": client.list_pod_sandboxes(), "containers": client.list_containers()}
    for name, fn in (("sandbox", lambda: client.pod_sandbox_status("nope")),
                     ("exec", lambda: client.exec_url("c1", [])),
                     ("pull", lambda: client.pull_image("quay.io/nobody/nothing:1"))):
        with pytest.raises(CriError) as info:
            fn()
        out[name] = (info.value.code, info.value.message)
    client.remove_image(ref)
    return out


def test_a_runtime_in_the_same_process_answers_without_grpc(tmp_path):
    """Registered servicers answer a client of their socket in-process, exactly as the
    same servicers answer over gRPC; unregistered, the client goes to the socket."""
    from k8snet.cri import local

    ref = "registry.k8s.io/e2e-test-images/agnhost:2.53"
    rt = Runtime(RuntimeConfig(root_dir=str(tmp_path / "root"), netns_prefix="k8snet-t-w1",
                               cni_conf_dir=str(tmp_path / "cni")))
    rt.prepare()
    srv = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    servicers = add_to_server(srv, rt)
    sock = str(tmp_path / "cri.sock")
    assert srv.add_insecure_port(f"unix://{sock}")
    srv.start()
    nowhere = str(tmp_path / "nothing-listens-here.sock")
    try:
        with RuntimeClient(sock, timeout=10) as client:
            over_grpc = _client_answers(client, ref)
        local.register(nowhere, *servicers)   # no server: only in-process calls can answer
        with RuntimeClient(nowhere, timeout=2) as client:
            assert _client_answers(client, ref) == over_grpc
            local.unregister(nowhere)
            with pytest.raises(CriError) as info:
                client.version()
            assert info.value.code == "UNAVAILABLE"
    finally:
        local.unregister(nowhere)
        srv.stop(0).wait(5)


def test_an_in_process_handler_crash_is_unknown_as_grpc_says():
    from k8snet.cri import local

    class Broken:
        def Version(self, request, context):  # noqa: N802
            raise RuntimeError("boom")

    with pytest.raises(grpc.RpcError) as info:
        local.call(Broken(), "Version", pb.VersionRequest())
    assert info.value.code() == grpc.StatusCode.UNKNOWN
    assert info.value.details() == "Exception calling application: boom"
