"""RuntimeClient: the kubelet's (and `k8snet exec`'s) side of the CRI socket.

Plain Python in and out: methods take simple values and return dicts; gRPC
errors become CriError (NotFoundError for NOT_FOUND). `.runtime` and
`.images` are the raw runtime.v1 stubs for anything not wrapped here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import grpc

from k8snet.cri.proto import load
from k8snet.errors import K8snetError
from k8snet.machinery.podresources import linux_resources

SANDBOX_STATES = ("SANDBOX_READY", "SANDBOX_NOTREADY")
CONTAINER_STATES = ("CONTAINER_CREATED", "CONTAINER_RUNNING", "CONTAINER_EXITED",
                    "CONTAINER_UNKNOWN")


class CriError(K8snetError):
    """A CRI call failed: ``code`` is the gRPC status name, ``message`` the runtime's words."""

    def __init__(self, method: str, code: str, message: str):
        self.method, self.code, self.message = method, code, message
        super().__init__(f"CRI {method}: {code}: {message}")


class NotFoundError(CriError):
    pass


@dataclass(frozen=True)
class ExecResult:
    stdout: bytes
    stderr: bytes
    exit_code: int


class RuntimeClient:
    def __init__(self, socket_path: str, timeout: float = 60.0):
        self.socket_path, self.timeout = socket_path, timeout
        self.pb, grpc_mod = load()
        self.channel = grpc.insecure_channel(f"unix://{socket_path}")
        self.runtime = grpc_mod.RuntimeServiceStub(self.channel)
        self.images = grpc_mod.ImageServiceStub(self.channel)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> RuntimeClient:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def _call(self, stub, method: str, request, timeout: Optional[float] = None):
        try:
            return getattr(stub, method)(request, timeout=timeout or self.timeout)
        except grpc.RpcError as exc:
            code = exc.code().name if exc.code() else "UNKNOWN"
            cls = NotFoundError if code == "NOT_FOUND" else CriError
            raise cls(method, code, exc.details() or "") from None

    # ------------------------------------------------------------ runtime

    def version(self) -> dict:
        r = self._call(self.runtime, "Version", self.pb.VersionRequest(version="v1"))
        return {"version": r.version, "runtime_name": r.runtime_name,
                "runtime_version": r.runtime_version, "runtime_api_version": r.runtime_api_version}

    def status(self) -> dict:
        """{condition type: (status, reason, message)}: RuntimeReady, NetworkReady."""
        r = self._call(self.runtime, "Status", self.pb.StatusRequest())
        return {c.type: (c.status, c.reason, c.message) for c in r.status.conditions}

    def run_pod_sandbox(self, namespace: str, name: str, uid: str, attempt: int = 0,
                        hostname: str = "", log_directory: str = "",
                        labels: Optional[dict] = None, annotations: Optional[dict] = None,
                        timeout: Optional[float] = None) -> str:
        config = self.pb.PodSandboxConfig(
            metadata=self.pb.PodSandboxMetadata(name=name, uid=uid, namespace=namespace,
                                                attempt=attempt),
            hostname=hostname or name, log_directory=log_directory, labels=labels or {},
            annotations=annotations or {})
        r = self._call(self.runtime, "RunPodSandbox", self.pb.RunPodSandboxRequest(
            config=config), timeout)
        return r.pod_sandbox_id

    def stop_pod_sandbox(self, sandbox_id: str) -> None:
        self._call(self.runtime, "StopPodSandbox",
                   self.pb.StopPodSandboxRequest(pod_sandbox_id=sandbox_id))

    def remove_pod_sandbox(self, sandbox_id: str) -> None:
        self._call(self.runtime, "RemovePodSandbox",
                   self.pb.RemovePodSandboxRequest(pod_sandbox_id=sandbox_id))

    def pod_sandbox_status(self, sandbox_id: str) -> dict:
        r = self._call(self.runtime, "PodSandboxStatus", self.pb.PodSandboxStatusRequest(
            pod_sandbox_id=sandbox_id, verbose=True))
        s = r.status
        return {"id": s.id, "name": s.metadata.name, "namespace": s.metadata.namespace,
                "uid": s.metadata.uid, "attempt": s.metadata.attempt,
                "state": SANDBOX_STATES[s.state], "created_at": s.created_at,
                "ip": s.network.ip, "netns": r.info.get("netns", ""),
                "labels": dict(s.labels), "annotations": dict(s.annotations)}

    def list_pod_sandboxes(self, labels: Optional[dict] = None,
                           ready_only: bool = False) -> list[dict]:
        f = self.pb.PodSandboxFilter(label_selector=labels or {})
        if ready_only:
            f.state.CopyFrom(self.pb.PodSandboxStateValue(state=0))
        r = self._call(self.runtime, "ListPodSandbox", self.pb.ListPodSandboxRequest(filter=f))
        return [{"id": s.id, "name": s.metadata.name, "namespace": s.metadata.namespace,
                 "uid": s.metadata.uid, "attempt": s.metadata.attempt,
                 "state": SANDBOX_STATES[s.state], "created_at": s.created_at,
                 "labels": dict(s.labels), "annotations": dict(s.annotations)}
                for s in r.items]

    def create_container(self, sandbox_id: str, name: str, image: str,
                         command: Sequence[str] = (), args: Sequence[str] = (),
                         env: Optional[dict] = None, working_dir: str = "", attempt: int = 0,
                         log_path: str = "", resources: Optional[dict] = None,
                         labels: Optional[dict] = None, annotations: Optional[dict] = None,
                         sandbox: Optional[dict] = None) -> str:
        """resources: a Pod container's ``resources`` ({"requests": .., "limits": ..}).

        log_path is relative to the sandbox's log_directory (or absolute without one);
        sandbox: optional dict with namespace/name/uid (sent as sandbox_config).
        """
        lr = linux_resources(resources)
        config = self.pb.ContainerConfig(
            metadata=self.pb.ContainerMetadata(name=name, attempt=attempt),
            image=self.pb.ImageSpec(image=image), command=list(command), args=list(args),
            working_dir=working_dir,
            envs=[self.pb.KeyValue(key=k, value=str(v)) for k, v in (env or {}).items()],
            labels=labels or {}, annotations=annotations or {}, log_path=log_path,
            linux=self.pb.LinuxContainerConfig(resources=self.pb.LinuxContainerResources(**lr)))
        req = self.pb.CreateContainerRequest(pod_sandbox_id=sandbox_id, config=config)
        if sandbox:
            req.sandbox_config.metadata.CopyFrom(self.pb.PodSandboxMetadata(
                name=sandbox.get("name", ""), namespace=sandbox.get("namespace", ""),
                uid=sandbox.get("uid", "")))
        return self._call(self.runtime, "CreateContainer", req).container_id

    def start_container(self, container_id: str) -> None:
        self._call(self.runtime, "StartContainer",
                   self.pb.StartContainerRequest(container_id=container_id))

    def stop_container(self, container_id: str, timeout: int = 30) -> None:
        self._call(self.runtime, "StopContainer",
                   self.pb.StopContainerRequest(container_id=container_id, timeout=timeout),
                   timeout=self.timeout + timeout)

    def remove_container(self, container_id: str) -> None:
        self._call(self.runtime, "RemoveContainer",
                   self.pb.RemoveContainerRequest(container_id=container_id))

    def list_containers(self, sandbox_id: str = "", labels: Optional[dict] = None,
                        state: Optional[str] = None) -> list[dict]:
        """state: None or one of CONTAINER_STATES."""
        f = self.pb.ContainerFilter(pod_sandbox_id=sandbox_id, label_selector=labels or {})
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
                "image": s.image.image, "image_id": s.image_id, "log_path": s.log_path,
                "labels": dict(s.labels), "annotations": dict(s.annotations),
                "pid": int(r.info.get("pid", "0") or 0)}

    def exec_sync(self, container_id: str, cmd: Sequence[str], timeout: int = 10) -> ExecResult:
        """Run cmd in the container; CriError with code DEADLINE_EXCEEDED on timeout."""
        r = self._call(self.runtime, "ExecSync", self.pb.ExecSyncRequest(
            container_id=container_id, cmd=list(cmd), timeout=timeout),
            timeout=(timeout or 3600) + 10)
        return ExecResult(r.stdout, r.stderr, r.exit_code)

    # ------------------------------------------------------------- images

    def pull_image(self, image: str) -> str:
        """The image ref; CriError (NOT_FOUND) with the pull failure message otherwise."""
        return self._call(self.images, "PullImage", self.pb.PullImageRequest(
            image=self.pb.ImageSpec(image=image))).image_ref

    def image_status(self, image: str) -> Optional[dict]:
        r = self._call(self.images, "ImageStatus", self.pb.ImageStatusRequest(
            image=self.pb.ImageSpec(image=image)))
        if not r.HasField("image"):
            return None
        return {"id": r.image.id, "repo_tags": list(r.image.repo_tags), "size": r.image.size}

    def list_images(self) -> list[dict]:
        r = self._call(self.images, "ListImages", self.pb.ListImagesRequest())
        return [{"id": i.id, "repo_tags": list(i.repo_tags), "size": i.size} for i in r.images]

    def remove_image(self, image: str) -> None:
        self._call(self.images, "RemoveImage", self.pb.RemoveImageRequest(
            image=self.pb.ImageSpec(image=image)))
