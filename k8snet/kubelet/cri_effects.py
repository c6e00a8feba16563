"""The kubelet's side of CRI: runtime.v1 gRPC calls in, plain data out.

`CriRuntime` wraps the generated stubs (k8snet.cri.proto) on the runtime's
unix socket. Every call has a deadline; a gRPC failure becomes `CriError`
with the runtime's own message (what the Pod's events and status show).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Dict, List, Mapping, Optional, Tuple

from k8snet.errors import K8snetError
from k8snet.kubelet.model import CREATED, EXITED, RUNNING, UNKNOWN, ContainerInfo, SandboxInfo
from k8snet.kubelet.timefmt import from_nanos

STATES = {0: CREATED, 1: RUNNING, 2: EXITED, 3: UNKNOWN}


class CriError(K8snetError):
    """A runtime call failed; `message` is the runtime's own text."""

    def __init__(self, call: str, code: str, message: str):
        super().__init__(f"CRI {call}: {message} ({code})")
        self.call, self.code, self.message = call, code, message


class CriRuntime:
    """runtime.v1 RuntimeService and ImageService on a unix socket."""

    def __init__(self, socket_path: str, timeout: float = 30.0):
        import grpc  # imported here: only the effects layer needs gRPC

        from k8snet.cri import proto

        self._grpc = grpc
        self.pb, grpc_mod = proto.load()
        self.socket_path = socket_path
        self.timeout = timeout
        self._channel = grpc.insecure_channel(f"unix://{socket_path}")
        self._rt = grpc_mod.RuntimeServiceStub(self._channel)
        self._img = grpc_mod.ImageServiceStub(self._channel)

    def close(self) -> None:
        self._channel.close()

    def _call(self, stub: Any, name: str, request: Any, timeout: Optional[float] = None) -> Any:
        try:
            return getattr(stub, name)(request, timeout=timeout or self.timeout)
        except self._grpc.RpcError as exc:
            code = exc.code().name if hasattr(exc, "code") and exc.code() else "UNKNOWN"
            detail = exc.details() if hasattr(exc, "details") else str(exc)
            raise CriError(name, code, detail or str(exc)) from None

    def _msg(self, cls_name: str, body: Mapping[str, Any]) -> Any:
        from google.protobuf import json_format

        return json_format.ParseDict(dict(body), getattr(self.pb, cls_name)(),
                                     ignore_unknown_fields=True)

    # -- runtime ------------------------------------------------------------

    def version(self) -> Tuple[str, str]:
        """(runtime_name, runtime_version)."""
        resp = self._call(self._rt, "Version", self.pb.VersionRequest(version="v1"))
        return resp.runtime_name, resp.runtime_version

    def wait_ready(self, deadline_s: float, sleep: Any) -> Tuple[str, str]:
        """Version() until it answers; CriError naming the socket after `deadline_s`."""
        import time

        end = time.monotonic() + deadline_s
        while True:
            try:
                return self.version()
            except CriError as exc:
                if time.monotonic() > end:
                    raise CriError("Version", exc.code,
                                   f"runtime on {self.socket_path} did not answer within "
                                   f"{deadline_s:.0f}s: {exc.message}") from None
                sleep(0.5)

    def list_sandboxes(self) -> List[Tuple[str, SandboxInfo]]:
        """(pod uid, sandbox) for every sandbox (network status filled for ready ones)."""
        resp = self._call(self._rt, "ListPodSandbox", self.pb.ListPodSandboxRequest())
        out = []
        for item in resp.items:
            out.append((item.metadata.uid, SandboxInfo(
                id=item.id, attempt=item.metadata.attempt, ready=item.state == 0,
                created_at=from_nanos(item.created_at) or 0.0)))
        return out

    def sandbox_network(self, sandbox_id: str) -> Tuple[str, Tuple[str, ...]]:
        """(ip, all ips) of a sandbox."""
        resp = self._call(self._rt, "PodSandboxStatus",
                          self.pb.PodSandboxStatusRequest(pod_sandbox_id=sandbox_id))
        net = resp.status.network
        ips = tuple([net.ip] + [p.ip for p in net.additional_ips]) if net.ip else ()
        return net.ip, ips

    def list_containers(self) -> List[Any]:
        """The raw Container messages (id, pod_sandbox_id, metadata, state)."""
        resp = self._call(self._rt, "ListContainers", self.pb.ListContainersRequest())
        return list(resp.containers)

    def container_info(self, container_id: str) -> ContainerInfo:
        resp = self._call(self._rt, "ContainerStatus",
                          self.pb.ContainerStatusRequest(container_id=container_id))
        st = resp.status
        return ContainerInfo(
            id=st.id, name=st.metadata.name, attempt=st.metadata.attempt,
            state=STATES.get(st.state, UNKNOWN), sandbox_id="",
            created_at=from_nanos(st.created_at) or 0.0, started_at=from_nanos(st.started_at),
            finished_at=from_nanos(st.finished_at), exit_code=st.exit_code, reason=st.reason,
            message=st.message, image=st.image.image, image_ref=st.image_ref or st.image_id)

    def run_sandbox(self, config: Mapping[str, Any]) -> str:
        req = self.pb.RunPodSandboxRequest(config=self._msg("PodSandboxConfig", config))
        return self._call(self._rt, "RunPodSandbox", req, timeout=max(self.timeout, 60)) \
            .pod_sandbox_id

    def stop_sandbox(self, sandbox_id: str) -> None:
        self._call(self._rt, "StopPodSandbox",
                   self.pb.StopPodSandboxRequest(pod_sandbox_id=sandbox_id),
                   timeout=max(self.timeout, 60))

    def remove_sandbox(self, sandbox_id: str) -> None:
        self._call(self._rt, "RemovePodSandbox",
                   self.pb.RemovePodSandboxRequest(pod_sandbox_id=sandbox_id),
                   timeout=max(self.timeout, 60))

    def create_container(self, sandbox_id: str, config: Mapping[str, Any],
                         sandbox_config: Mapping[str, Any]) -> str:
        req = self.pb.CreateContainerRequest(
            pod_sandbox_id=sandbox_id, config=self._msg("ContainerConfig", config),
            sandbox_config=self._msg("PodSandboxConfig", sandbox_config))
        return self._call(self._rt, "CreateContainer", req).container_id

    def start_container(self, container_id: str) -> None:
        self._call(self._rt, "StartContainer",
                   self.pb.StartContainerRequest(container_id=container_id))

    def stop_container(self, container_id: str, grace: int) -> None:
        """SIGTERM, then SIGKILL after `grace` seconds (the runtime does both)."""
        self._call(self._rt, "StopContainer",
                   self.pb.StopContainerRequest(container_id=container_id, timeout=int(grace)),
                   timeout=grace + self.timeout)

    def remove_container(self, container_id: str) -> None:
        self._call(self._rt, "RemoveContainer",
                   self.pb.RemoveContainerRequest(container_id=container_id))

    def exec_sync(self, container_id: str, cmd: List[str],
                  timeout: float) -> Tuple[int, bytes, bytes]:
        req = self.pb.ExecSyncRequest(container_id=container_id, cmd=cmd,
                                      timeout=max(1, int(round(timeout))))
        resp = self._call(self._rt, "ExecSync", req, timeout=timeout + 5)
        return resp.exit_code, resp.stdout, resp.stderr

    # -- images -------------------------------------------------------------

    def image_ref(self, image: str) -> Optional[str]:
        """The image's id if the runtime has it, else None."""
        resp = self._call(self._img, "ImageStatus",
                          self.pb.ImageStatusRequest(image=self.pb.ImageSpec(image=image)))
        if not resp.HasField("image") or not resp.image.id:
            return None
        return resp.image.id

    def pull_image(self, image: str, sandbox_config: Mapping[str, Any]) -> str:
        req = self.pb.PullImageRequest(image=self.pb.ImageSpec(image=image),
                                       sandbox_config=self._msg("PodSandboxConfig",
                                                                sandbox_config))
        return self._call(self._img, "PullImage", req, timeout=max(self.timeout, 60)).image_ref


def ensure_image(runtime: CriRuntime, image: str, pull_policy: str,
                 sandbox_config: Mapping[str, Any]) -> Tuple[str, bool]:
    """(image ref, pulled?) honouring imagePullPolicy; CriError if the pull fails."""
    if pull_policy != "Always":
        ref = runtime.image_ref(image)
        if ref:
            return ref, False
        if pull_policy == "Never":
            raise CriError("PullImage", "NOT_FOUND",
                           f'image "{image}" is not present with pull policy of Never')
    return runtime.pull_image(image, sandbox_config), True


def default_pull_policy(image: str) -> str:
    """Kubernetes' default: Always for ':latest' or no tag, IfNotPresent otherwise."""
    last = image.rsplit("/", 1)[-1]
    if "@" in last:
        return "IfNotPresent"
    return "Always" if ":" not in last or last.endswith(":latest") else "IfNotPresent"


def container_snapshot(runtime: CriRuntime, raw: List[Any],
                       cache: Dict[str, ContainerInfo]) -> Dict[str, ContainerInfo]:
    """ContainerInfo for each listed container, asking ContainerStatus only when needed.

    Exited containers never change, and a running one only changes by
    exiting, so `cache` (container id -> last info) avoids most calls.
    """
    out = {}
    for c in raw:
        state = STATES.get(c.state, UNKNOWN)
        known = cache.get(c.id)
        if known is None or known.state != state or state == UNKNOWN:
            try:
                info = runtime.container_info(c.id)
            except CriError:
                continue  # removed meanwhile
            known = replace(info, sandbox_id=c.pod_sandbox_id)
        out[c.id] = known
    return out
