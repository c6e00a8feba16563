"""The CRI client: runtime.v1 RuntimeService and ImageService over a unix socket.

The one client of the container runtime, used by the kubelet, `k8snet exec`, the
probes and the tests. Requests that carry a configuration take it as a dict in
runtime.v1 field names (PodSandboxConfig, ContainerConfig: what crictl reads from
its JSON files); `sandbox_config` and `container_config` build simple ones, the
kubelet's come from a Pod (k8snet.kubelet.crispec). Answers are plain dicts (CRI
timestamps in Unix nanoseconds, states by their runtime.v1 names). A failure raises
`CriError` with the runtime's own words. A runtime serving in the same process is
called directly (k8snet.cri.local); every call over gRPC has a deadline.

    with RuntimeClient("/run/k8snet/c1/w1/runtime.sock") as cri:
        sid = cri.run_pod_sandbox(sandbox_config("default", "web", "uid-1"))
        cid = cri.create_container(sid, container_config("app", "busybox", ["sleep", "1d"]))
        cri.start_container(cid)
        print(cri.exec_sync(cid, ["hostname"]).stdout)
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional, Sequence

from k8snet.errors import K8snetError
from k8snet.machinery.podresources import linux_resources

SANDBOX_STATES = ("SANDBOX_READY", "SANDBOX_NOTREADY")
CONTAINER_STATES = ("CONTAINER_CREATED", "CONTAINER_RUNNING", "CONTAINER_EXITED",
                    "CONTAINER_UNKNOWN")
LONG_CALL = 60.0  # sandbox setup and teardown (CNI) and image pulls may take this long


class CriError(K8snetError):
    """A CRI call failed: `code` is the gRPC status name, `message` the runtime's words."""

    def __init__(self, method: str, code: str, message: str):
        super().__init__(f"CRI {method}: {message} ({code})")
        self.method, self.code, self.message = method, code, message


@dataclass(frozen=True)
class ExecResult:
    """What ExecSync answered."""

    stdout: bytes
    stderr: bytes
    exit_code: int


def sandbox_config(namespace: str, name: str, uid: str, attempt: int = 0, hostname: str = "",
                   log_directory: str = "", labels: Optional[Mapping[str, str]] = None,
                   annotations: Optional[Mapping[str, str]] = None) -> dict:
    """A minimal PodSandboxConfig."""
    return {"metadata": {"name": name, "uid": uid, "namespace": namespace, "attempt": attempt},
            "hostname": hostname or name, "log_directory": log_directory,
            "labels": dict(labels or {}), "annotations": dict(annotations or {})}


def container_config(name: str, image: str, command: Sequence[str] = (),
                     args: Sequence[str] = (), env: Optional[Mapping[str, Any]] = None,
                     working_dir: str = "", attempt: int = 0, log_path: str = "",
                     resources: Optional[Mapping[str, Any]] = None,
                     labels: Optional[Mapping[str, str]] = None,
                     annotations: Optional[Mapping[str, str]] = None) -> dict:
    """A minimal ContainerConfig; `resources` is a Pod container's requests/limits."""
    return {"metadata": {"name": name, "attempt": attempt}, "image": {"image": image},
            "command": list(command), "args": list(args), "working_dir": working_dir,
            "envs": [{"key": k, "value": str(v)} for k, v in (env or {}).items()],
            "labels": dict(labels or {}), "annotations": dict(annotations or {}),
            "log_path": log_path, "linux": {"resources": linux_resources(resources)}}


class RuntimeClient:
    """runtime.v1 calls on one runtime socket; `.runtime` and `.images` are the raw stubs."""

    def __init__(self, socket_path: str, timeout: float = 60.0):
        import grpc  # here, not at import: only code that talks to a runtime needs gRPC

        from k8snet.cri import proto

        self._grpc = grpc
        self.socket_path, self.timeout = socket_path, timeout
        self.pb, grpc_mod = proto.load()
        self.channel = grpc.insecure_channel(f"unix://{socket_path}")
        self.runtime = grpc_mod.RuntimeServiceStub(self.channel)
        self.images = grpc_mod.ImageServiceStub(self.channel)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> RuntimeClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _call(self, stub: Any, method: str, request: Any, timeout: Optional[float] = None) -> Any:
        from k8snet.cri import local

        try:
            served = local.servicers(self.socket_path)
            if served is not None:   # the runtime runs in this process (a node agent)
                return local.call(served[stub is self.images], method, request)
            return getattr(stub, method)(request, timeout=timeout or self.timeout)
        except self._grpc.RpcError as exc:
            code = exc.code().name if hasattr(exc, "code") and exc.code() else "UNKNOWN"
            detail = exc.details() if hasattr(exc, "details") else ""
            raise CriError(method, code, detail or str(exc)) from None

    def _msg(self, cls_name: str, body: Mapping[str, Any]) -> Any:
        from google.protobuf import json_format

        return json_format.ParseDict(dict(body), getattr(self.pb, cls_name)(),
                                     ignore_unknown_fields=True)

    def _long(self) -> float:
        return max(self.timeout, LONG_CALL)

    # -- runtime ------------------------------------------------------------

    def version(self) -> dict:
        r = self._call(self.runtime, "Version", self.pb.VersionRequest(version="v1"))
        return {"version": r.version, "runtime_name": r.runtime_name,
                "runtime_version": r.runtime_version, "runtime_api_version": r.runtime_api_version}

    def wait_ready(self, deadline_s: float, sleep: Callable[[float], None] = time.sleep,
                   clock: Callable[[], float] = time.monotonic) -> dict:
        """version() once the runtime answers; CriError naming the socket after `deadline_s`."""
        end = clock() + deadline_s
        while True:
            try:
                return self.version()
            except CriError as exc:
                if clock() > end:
                    raise CriError("Version", exc.code,
                                   f"runtime on {self.socket_path} did not answer within "
                                   f"{deadline_s:.0f}s: {exc.message}") from None
                sleep(0.5)

    def status(self) -> dict:
        """{condition type: (status, reason, message)}: RuntimeReady, NetworkReady."""
        r = self._call(self.runtime, "Status", self.pb.StatusRequest())
        return {c.type: (c.status, c.reason, c.message) for c in r.status.conditions}

    def run_pod_sandbox(self, config: Mapping[str, Any]) -> str:
        req = self.pb.RunPodSandboxRequest(config=self._msg("PodSandboxConfig", config))
        return self._call(self.runtime, "RunPodSandbox", req, self._long()).pod_sandbox_id

    def stop_pod_sandbox(self, sandbox_id: str) -> None:
        self._call(self.runtime, "StopPodSandbox",
                   self.pb.StopPodSandboxRequest(pod_sandbox_id=sandbox_id), self._long())

    def remove_pod_sandbox(self, sandbox_id: str) -> None:
        self._call(self.runtime, "RemovePodSandbox",
                   self.pb.RemovePodSandboxRequest(pod_sandbox_id=sandbox_id), self._long())

    def pod_sandbox_status(self, sandbox_id: str) -> dict:
        """The sandbox, with its IPs ("ip", "ips") and network namespace ("netns")."""
        r = self._call(self.runtime, "PodSandboxStatus", self.pb.PodSandboxStatusRequest(
            pod_sandbox_id=sandbox_id, verbose=True))
        s, net = r.status, r.status.network
        ips = [net.ip] + [a.ip for a in net.additional_ips] if net.ip else []
        return {"id": s.id, "name": s.metadata.name, "namespace": s.metadata.namespace,
                "uid": s.metadata.uid, "attempt": s.metadata.attempt,
                "state": SANDBOX_STATES[s.state], "created_at": s.created_at,
                "ip": net.ip, "ips": ips, "netns": r.info.get("netns", ""),
                "labels": dict(s.labels), "annotations": dict(s.annotations)}

    def list_pod_sandboxes(self, labels: Optional[Mapping[str, str]] = None,
                           ready_only: bool = False) -> list[dict]:
        f = self.pb.PodSandboxFilter(label_selector=dict(labels or {}))
        if ready_only:
            f.state.CopyFrom(self.pb.PodSandboxStateValue(state=0))
        r = self._call(self.runtime, "ListPodSandbox", self.pb.ListPodSandboxRequest(filter=f))
        return [{"id": s.id, "name": s.metadata.name, "namespace": s.metadata.namespace,
                 "uid": s.metadata.uid, "attempt": s.metadata.attempt,
                 "state": SANDBOX_STATES[s.state], "created_at": s.created_at,
                 "labels": dict(s.labels), "annotations": dict(s.annotations)}
                for s in r.items]

    def create_container(self, sandbox_id: str, config: Mapping[str, Any],
                         sandbox: Optional[Mapping[str, Any]] = None) -> str:
        """CreateContainer; `sandbox` is the PodSandboxConfig the sandbox was made with."""
        req = self.pb.CreateContainerRequest(pod_sandbox_id=sandbox_id,
                                             config=self._msg("ContainerConfig", config))
        if sandbox:
            req.sandbox_config.CopyFrom(self._msg("PodSandboxConfig", sandbox))
        return self._call(self.runtime, "CreateContainer", req).container_id

    def start_container(self, container_id: str) -> None:
        self._call(self.runtime, "StartContainer",
                   self.pb.StartContainerRequest(container_id=container_id))

    def stop_container(self, container_id: str, timeout: int = 30) -> None:
        """SIGTERM, then SIGKILL after `timeout` seconds (the runtime does both)."""
        self._call(self.runtime, "StopContainer",
                   self.pb.StopContainerRequest(container_id=container_id, timeout=int(timeout)),
                   timeout=self.timeout + timeout)

    def remove_container(self, container_id: str) -> None:
        self._call(self.runtime, "RemoveContainer",
                   self.pb.RemoveContainerRequest(container_id=container_id))

    def list_containers(self, sandbox_id: str = "", labels: Optional[Mapping[str, str]] = None,
                        state: Optional[str] = None) -> list[dict]:
        """Containers, optionally of one sandbox, with these labels, in one CONTAINER_STATES."""
        f = self.pb.ContainerFilter(pod_sandbox_id=sandbox_id, label_selector=dict(labels or {}))
        if state is not None:
            f.state.CopyFrom(self.pb.ContainerStateValue(state=CONTAINER_STATES.index(state)))
        r = self._call(self.runtime, "ListContainers", self.pb.ListContainersRequest(filter=f))
        return [{"id": c.id, "sandbox_id": c.pod_sandbox_id, "name": c.metadata.name,
                 "attempt": c.metadata.attempt, "image": c.image.image, "image_id": c.image_id,
                 "state": CONTAINER_STATES[c.state], "created_at": c.created_at,
                 "labels": dict(c.labels), "annotations": dict(c.annotations)}
                for c in r.containers]

    def container_status(self, container_id: str) -> dict:
        r = self._call(self.runtime, "ContainerStatus", self.pb.ContainerStatusRequest(
            container_id=container_id, verbose=True))
        s = r.status
        return {"id": s.id, "name": s.metadata.name, "attempt": s.metadata.attempt,
                "state": CONTAINER_STATES[s.state], "created_at": s.created_at,
                "started_at": s.started_at, "finished_at": s.finished_at,
                "exit_code": s.exit_code, "reason": s.reason, "message": s.message,
                "image": s.image.image, "image_id": s.image_id,
                "image_ref": s.image_ref or s.image_id, "log_path": s.log_path,
                "labels": dict(s.labels), "annotations": dict(s.annotations),
                "pid": int(r.info.get("pid", "0") or 0)}

    def exec_sync(self, container_id: str, cmd: Sequence[str],
                  timeout: float = 10) -> ExecResult:
        """Run cmd in the container (0: no timeout); CriError DEADLINE_EXCEEDED past it."""
        seconds = max(1, math.ceil(timeout)) if timeout > 0 else 0
        r = self._call(self.runtime, "ExecSync", self.pb.ExecSyncRequest(
            container_id=container_id, cmd=[str(c) for c in cmd], timeout=seconds),
            timeout=(seconds or 3600) + 10)
        return ExecResult(r.stdout, r.stderr, r.exit_code)

    def exec_url(self, container_id: str, cmd: Sequence[str], tty: bool = False,
                 stdin: bool = False, stdout: bool = True, stderr: bool = True) -> str:
        """CRI Exec: the runtime's streaming URL where the session's upgrade goes."""
        return self._call(self.runtime, "Exec", self.pb.ExecRequest(
            container_id=container_id, cmd=[str(c) for c in cmd], tty=tty, stdin=stdin,
            stdout=stdout, stderr=stderr)).url

    def attach_url(self, container_id: str, tty: bool = False, stdin: bool = False,
                   stdout: bool = True, stderr: bool = True) -> str:
        """CRI Attach: the streaming URL for the container's own output."""
        return self._call(self.runtime, "Attach", self.pb.AttachRequest(
            container_id=container_id, tty=tty, stdin=stdin, stdout=stdout,
            stderr=stderr)).url

    def port_forward_url(self, sandbox_id: str, ports: Sequence[int] = ()) -> str:
        """CRI PortForward: the streaming URL for the sandbox's port-forward session."""
        return self._call(self.runtime, "PortForward", self.pb.PortForwardRequest(
            pod_sandbox_id=sandbox_id, port=[int(p) for p in ports])).url

    # -- images ---------------------------------------------------------------

    def pull_image(self, image: str, sandbox: Optional[Mapping[str, Any]] = None) -> str:
        """The image ref; CriError with the pull failure message otherwise."""
        req = self.pb.PullImageRequest(image=self.pb.ImageSpec(image=image))
        if sandbox:
            req.sandbox_config.CopyFrom(self._msg("PodSandboxConfig", sandbox))
        return self._call(self.images, "PullImage", req, self._long()).image_ref

    def image_status(self, image: str) -> Optional[dict]:
        """The image if the runtime has it, else None."""
        r = self._call(self.images, "ImageStatus", self.pb.ImageStatusRequest(
            image=self.pb.ImageSpec(image=image)))
        if not r.HasField("image") or not r.image.id:
            return None
        return {"id": r.image.id, "repo_tags": list(r.image.repo_tags), "size": r.image.size}

    def list_images(self) -> list[dict]:
        r = self._call(self.images, "ListImages", self.pb.ListImagesRequest())
        return [{"id": i.id, "repo_tags": list(i.repo_tags), "size": i.size} for i in r.images]

    def remove_image(self, image: str) -> None:
        self._call(self.images, "RemoveImage", self.pb.RemoveImageRequest(
            image=self.pb.ImageSpec(image=image)))
