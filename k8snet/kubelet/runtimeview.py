"""What the kubelet reads from the runtime, as its model (SandboxInfo, ContainerInfo).

The calls go through the one CRI client (k8snet.machinery.cri.RuntimeClient);
this module only turns its answers into the kubelet's plain data and pulls images
by imagePullPolicy.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from k8snet.kubelet.model import CREATED, EXITED, RUNNING, UNKNOWN, ContainerInfo, SandboxInfo
from k8snet.machinery.cri import CriError, RuntimeClient
from k8snet.machinery.timefmt import from_nanos

STATES = {"CONTAINER_CREATED": CREATED, "CONTAINER_RUNNING": RUNNING,
          "CONTAINER_EXITED": EXITED, "CONTAINER_UNKNOWN": UNKNOWN}


def sandbox_info(sandbox: Mapping[str, Any]) -> Tuple[str, SandboxInfo]:
    """(pod uid, SandboxInfo) from a listed sandbox (network not filled in)."""
    return sandbox["uid"], SandboxInfo(
        id=sandbox["id"], attempt=sandbox["attempt"], ready=sandbox["state"] == "SANDBOX_READY",
        created_at=from_nanos(sandbox["created_at"]) or 0.0)


def container_info(status: Mapping[str, Any], sandbox_id: str = "") -> ContainerInfo:
    """ContainerInfo from a container_status answer."""
    return ContainerInfo(
        id=status["id"], name=status["name"], attempt=status["attempt"],
        state=STATES.get(status["state"], UNKNOWN), sandbox_id=sandbox_id,
        created_at=from_nanos(status["created_at"]) or 0.0,
        started_at=from_nanos(status["started_at"]), finished_at=from_nanos(status["finished_at"]),
        exit_code=status["exit_code"], reason=status["reason"], message=status["message"],
        image=status["image"], image_ref=status["image_ref"])


def container_snapshot(runtime: RuntimeClient, listed: List[Mapping[str, Any]],
                       cache: Dict[str, ContainerInfo]) -> Dict[str, ContainerInfo]:
    """ContainerInfo for each listed container, asking ContainerStatus only when needed.

    Exited containers never change, and a running one only changes by
    exiting, so `cache` (container id -> last info) avoids most calls.
    """
    out = {}
    for c in listed:
        state = STATES.get(c["state"], UNKNOWN)
        known = cache.get(c["id"])
        if known is None or known.state != state or state == UNKNOWN:
            try:
                known = container_info(runtime.container_status(c["id"]), c["sandbox_id"])
            except CriError:
                continue  # removed meanwhile
        out[c["id"]] = known
    return out


def ensure_image(runtime: RuntimeClient, image: str, pull_policy: str,
                 sandbox_config: Mapping[str, Any],
                 pulling: Optional[Callable[[], None]] = None) -> Tuple[Optional[str], bool]:
    """(image ref, pulled?) honouring imagePullPolicy; CriError if the pull fails.
    `pulling` is called just before a pull (the kubelet's Pulling event)."""
    if pull_policy != "Always":
        present = runtime.image_status(image)
        if present:
            return present["id"], False
        if pull_policy == "Never":
            raise CriError("PullImage", "NOT_FOUND",
                           f'image "{image}" is not present with pull policy of Never')
    if pulling is not None:
        pulling()
    return runtime.pull_image(image, sandbox_config), True
