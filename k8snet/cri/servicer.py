"""The gRPC layer: runtime.v1 RuntimeService and ImageService over k8snet.cri.runtime.

Each handler converts the request to plain data, calls the Runtime, and
builds the response; errors become gRPC status codes with the message.
The same servicers answer in-process callers without gRPC (k8snet.cri.local).
"""

from __future__ import annotations

import functools
import logging
import time
from typing import Callable, Optional

import grpc

from k8snet.cri import channels
from k8snet.cri import runtime as rt
from k8snet.cri.proto import load
from k8snet.cri.streaming import StreamingServer
from k8snet.errors import K8snetError

LOG = logging.getLogger(__name__)
SANDBOX_STATES = {"ready": 0, "notready": 1}
CONTAINER_STATES = {"created": 0, "running": 1, "exited": 2, "unknown": 3}


class RpcAbort(Exception):
    """A handler's own refusal with a status code. Raised, not `context.abort`ed inside
    the handler: gRPC's abort raises a bare Exception, which `_grpc_errors` would have
    turned into INTERNAL."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def _grpc_errors(fn: Callable) -> Callable:
    @functools.wraps(fn)
    def wrapper(self, request, context):
        try:
            return fn(self, request, context)
        except RpcAbort as exc:
            context.abort(exc.code, exc.message)
        except rt.NotFound as exc:
            context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
        except rt.FailedPrecondition as exc:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
        except rt.ExecTimeout as exc:
            context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, str(exc))
        except K8snetError as exc:
            context.abort(grpc.StatusCode.UNKNOWN, str(exc))
        except Exception as exc:  # noqa: BLE001 - a handler must answer, never hang
            LOG.exception("%s failed", fn.__name__)
            context.abort(grpc.StatusCode.INTERNAL, f"{type(exc).__name__}: {exc}")
    return wrapper


def sandbox_config(msg) -> dict:
    """PodSandboxConfig message -> plain dict."""
    return {"metadata": {"name": msg.metadata.name, "uid": msg.metadata.uid,
                         "namespace": msg.metadata.namespace,
                         "attempt": msg.metadata.attempt},
            "hostname": msg.hostname, "log_directory": msg.log_directory,
            "labels": dict(msg.labels), "annotations": dict(msg.annotations),
            "cgroup_parent": msg.linux.cgroup_parent,
            "host_network": msg.linux.security_context.namespace_options.network == 2}  # NODE


def container_config(msg) -> dict:
    """ContainerConfig message -> plain dict (resources as LinuxContainerResources values)."""
    res = msg.linux.resources
    sec = msg.linux.security_context
    return {"run_as_user": sec.run_as_user.value if sec.HasField("run_as_user") else None,
            "run_as_group": sec.run_as_group.value if sec.HasField("run_as_group") else None,
            "supplemental_groups": list(sec.supplemental_groups),
            "share_pid": sec.HasField("namespace_options") and sec.namespace_options.pid == 0,
            "host_pid": sec.HasField("namespace_options") and sec.namespace_options.pid == 2,
            "target_id": sec.namespace_options.target_id
            if sec.HasField("namespace_options") and sec.namespace_options.pid == 3 else "",
            "metadata": {"name": msg.metadata.name, "attempt": msg.metadata.attempt},
            "image": {"image": msg.image.image}, "command": list(msg.command),
            "args": list(msg.args), "working_dir": msg.working_dir,
            "envs": [{"key": kv.key, "value": kv.value} for kv in msg.envs],
            "labels": dict(msg.labels), "annotations": dict(msg.annotations),
            "log_path": msg.log_path,
            "stdin": msg.stdin, "stdin_once": msg.stdin_once, "tty": msg.tty,
            "mounts": [{"container_path": m.container_path, "host_path": m.host_path,
                        "readonly": m.readonly} for m in msg.mounts],
            "resources": {"cpu_period": res.cpu_period, "cpu_quota": res.cpu_quota,
                          "cpu_shares": res.cpu_shares,
                          "memory_limit_in_bytes": res.memory_limit_in_bytes}}


class RuntimeServicer:
    """Implements runtime.v1.RuntimeService (registered by `add_to_server`)."""

    def __init__(self, runtime: rt.Runtime, streaming: Optional[StreamingServer] = None):
        self.rt = runtime
        self.streaming = streaming
        self.pb, _ = load()

    def _meta(self, rec: dict):
        m = rec["metadata"]
        return self.pb.PodSandboxMetadata(name=m["name"], uid=m.get("uid", ""),
                                          namespace=m["namespace"],
                                          attempt=int(m.get("attempt", 0)))

    @_grpc_errors
    def Version(self, request, context):  # noqa: N802 - gRPC method names
        return self.pb.VersionResponse(**self.rt.version())

    @_grpc_errors
    def Status(self, request, context):  # noqa: N802
        conds = [self.pb.RuntimeCondition(**c) for c in self.rt.status()]
        return self.pb.StatusResponse(status=self.pb.RuntimeStatus(conditions=conds))

    @_grpc_errors
    def RunPodSandbox(self, request, context):  # noqa: N802
        config = sandbox_config(request.config)
        config["runtime_handler"] = request.runtime_handler
        return self.pb.RunPodSandboxResponse(pod_sandbox_id=self.rt.run_pod_sandbox(config))

    @_grpc_errors
    def StopPodSandbox(self, request, context):  # noqa: N802
        self.rt.stop_pod_sandbox(request.pod_sandbox_id)
        return self.pb.StopPodSandboxResponse()

    @_grpc_errors
    def RemovePodSandbox(self, request, context):  # noqa: N802
        self.rt.remove_pod_sandbox(request.pod_sandbox_id)
        return self.pb.RemovePodSandboxResponse()

    @_grpc_errors
    def PodSandboxStatus(self, request, context):  # noqa: N802
        rec = self.rt.sandbox(request.pod_sandbox_id)
        state = SANDBOX_STATES["ready" if self.rt.sandbox_ready(rec) else "notready"]
        status = self.pb.PodSandboxStatus(
            id=rec["id"], metadata=self._meta(rec), state=state, created_at=rec["created_at"],
            network=self.pb.PodSandboxNetworkStatus(ip=rec.get("ip", "")),
            labels=rec.get("labels", {}), annotations=rec.get("annotations", {}),
            runtime_handler=rec.get("runtime_handler", ""))
        info = {"netns": rec["netns"]} if request.verbose else {}
        return self.pb.PodSandboxStatusResponse(status=status, info=info,
                                                timestamp=time.time_ns())

    @_grpc_errors
    def ListPodSandbox(self, request, context):  # noqa: N802
        f = request.filter
        state = None
        if f.HasField("state"):
            state = "ready" if f.state.state == 0 else "notready"
        items = [self.pb.PodSandbox(id=r["id"], metadata=self._meta(r),
                                    state=SANDBOX_STATES[r["state"]], created_at=r["created_at"],
                                    labels=r.get("labels", {}),
                                    annotations=r.get("annotations", {}),
                                    runtime_handler=r.get("runtime_handler", ""))
                 for r in self.rt.list_pod_sandboxes(f.id, state, dict(f.label_selector))]
        return self.pb.ListPodSandboxResponse(items=items)

    @_grpc_errors
    def CreateContainer(self, request, context):  # noqa: N802
        cid = self.rt.create_container(request.pod_sandbox_id, container_config(request.config))
        return self.pb.CreateContainerResponse(container_id=cid)

    @_grpc_errors
    def StartContainer(self, request, context):  # noqa: N802
        self.rt.start_container(request.container_id)
        return self.pb.StartContainerResponse()

    @_grpc_errors
    def StopContainer(self, request, context):  # noqa: N802
        self.rt.stop_container(request.container_id, int(request.timeout))
        return self.pb.StopContainerResponse()

    @_grpc_errors
    def RemoveContainer(self, request, context):  # noqa: N802
        self.rt.remove_container(request.container_id)
        return self.pb.RemoveContainerResponse()

    def _container(self, s: dict):
        return self.pb.Container(
            id=s["id"], pod_sandbox_id=s["sandbox_id"],
            metadata=self.pb.ContainerMetadata(name=s["metadata"].get("name", ""),
                                               attempt=int(s["metadata"].get("attempt", 0))),
            image=self.pb.ImageSpec(image=s["image"]), image_ref=s["image_id"],
            state=CONTAINER_STATES[s["state"]], created_at=s["created_at"],
            labels=s.get("labels", {}), annotations=s.get("annotations", {}),
            image_id=s["image_id"])

    @_grpc_errors
    def ListContainers(self, request, context):  # noqa: N802
        f = request.filter
        state = None
        if f.HasField("state"):
            state = {v: k for k, v in CONTAINER_STATES.items()}[f.state.state]
        found = self.rt.list_containers(f.id, f.pod_sandbox_id, state, dict(f.label_selector))
        return self.pb.ListContainersResponse(containers=[self._container(s) for s in found])

    @_grpc_errors
    def ContainerStatus(self, request, context):  # noqa: N802
        s = self.rt.container_status(request.container_id)
        res = s.get("resources") or {}
        status = self.pb.ContainerStatus(
            id=s["id"], metadata=self.pb.ContainerMetadata(
                name=s["metadata"].get("name", ""), attempt=int(s["metadata"].get("attempt", 0))),
            state=CONTAINER_STATES[s["state"]], created_at=s["created_at"],
            started_at=s["started_at"], finished_at=s["finished_at"], exit_code=s["exit_code"],
            image=self.pb.ImageSpec(image=s["image"]), image_ref=s["image_id"],
            reason=s["reason"], message=s["message"], labels=s.get("labels", {}),
            annotations=s.get("annotations", {}), log_path=s["log_path"],
            resources=self.pb.ContainerResources(linux=self.pb.LinuxContainerResources(
                **{k: int(v) for k, v in res.items()})),
            image_id=s["image_id"])
        info = {"pid": str(s["pid"])} if request.verbose else {}
        return self.pb.ContainerStatusResponse(status=status, info=info)

    @_grpc_errors
    def ExecSync(self, request, context):  # noqa: N802
        out, err, code = self.rt.exec_sync(request.container_id, list(request.cmd),
                                           int(request.timeout))
        return self.pb.ExecSyncResponse(stdout=out, stderr=err, exit_code=code)

    def _stream_url(self, kind: str, cid: str, opts: channels.StreamOptions) -> str:
        if self.streaming is None:
            raise RpcAbort(grpc.StatusCode.UNIMPLEMENTED, "this runtime has no streaming server")
        status = self.rt.container_status(cid)  # NotFound for an unknown container
        if status["state"] != rt.RUNNING:
            raise rt.FailedPrecondition(f"container {cid[:12]} is not running")
        return self.streaming.register(kind, cid, opts)

    @_grpc_errors
    def Exec(self, request, context):  # noqa: N802
        if not request.cmd:
            raise RpcAbort(grpc.StatusCode.INVALID_ARGUMENT, "Exec needs a command")
        opts = channels.StreamOptions(command=tuple(request.cmd), stdin=request.stdin,
                                      stdout=request.stdout, stderr=request.stderr,
                                      tty=request.tty)
        return self.pb.ExecResponse(url=self._stream_url("exec",
                                                         request.container_id, opts))

    @_grpc_errors
    def PortForward(self, request, context):  # noqa: N802
        if self.streaming is None:
            raise RpcAbort(grpc.StatusCode.UNIMPLEMENTED, "this runtime has no streaming server")
        rec = self.rt.sandbox(request.pod_sandbox_id)  # NotFound for an unknown sandbox
        if not self.rt.sandbox_ready(rec):
            raise rt.FailedPrecondition(f"sandbox {request.pod_sandbox_id[:12]} is not ready")
        return self.pb.PortForwardResponse(url=self.streaming.register(
            "portforward", request.pod_sandbox_id, channels.StreamOptions()))

    @_grpc_errors
    def Attach(self, request, context):  # noqa: N802
        opts = channels.StreamOptions(stdin=request.stdin, stdout=request.stdout,
                                      stderr=request.stderr, tty=request.tty)
        return self.pb.AttachResponse(url=self._stream_url("attach",
                                                           request.container_id, opts))


class ImageServicer:
    """Implements runtime.v1.ImageService over the catalogue."""

    def __init__(self, runtime: rt.Runtime):
        self.rt = runtime
        self.pb, _ = load()

    def _image(self, s: dict):
        return self.pb.Image(id=s["id"], repo_tags=s["repo_tags"], size=s["size"],
                             spec=self.pb.ImageSpec(image=s["id"]))

    @_grpc_errors
    def ListImages(self, request, context):  # noqa: N802
        want = request.filter.image.image
        found = [s for s in self.rt.list_images()
                 if not want or want in s["repo_tags"] or want == s["id"]]
        return self.pb.ListImagesResponse(images=[self._image(s) for s in found])

    @_grpc_errors
    def ImageStatus(self, request, context):  # noqa: N802
        s = self.rt.image_status(request.image.image)
        return self.pb.ImageStatusResponse(image=self._image(s)) if s else \
            self.pb.ImageStatusResponse()

    @_grpc_errors
    def PullImage(self, request, context):  # noqa: N802
        return self.pb.PullImageResponse(image_ref=self.rt.pull_image(request.image.image))

    @_grpc_errors
    def RemoveImage(self, request, context):  # noqa: N802
        self.rt.remove_image(request.image.image)
        return self.pb.RemoveImageResponse()


def add_to_server(server: grpc.Server, runtime: rt.Runtime,
                  streaming: Optional[StreamingServer] = None,
                  ) -> tuple[RuntimeServicer, ImageServicer]:
    """Register both services on `server`; the servicers, to answer in-process callers
    too (k8snet.cri.local)."""
    _, grpc_mod = load()
    servicers = RuntimeServicer(runtime, streaming), ImageServicer(runtime)
    grpc_mod.add_RuntimeServiceServicer_to_server(servicers[0], server)
    grpc_mod.add_ImageServiceServicer_to_server(servicers[1], server)
    return servicers
