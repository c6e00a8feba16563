"""Pure decisions about container state, from what its monitor (conmon) left on disk."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

CREATED, RUNNING, EXITED, UNKNOWN = "created", "running", "exited", "unknown"


@dataclass(frozen=True)
class ContainerPhase:
    state: str
    exit_code: int = 0
    reason: str = ""
    message: str = ""
    started_at: int = 0
    finished_at: int = 0


def container_phase(started: Optional[dict], exited: Optional[dict], alive: bool,
                    oom_killed: bool = False, start_requested: bool = False,
                    starting: bool = False) -> ContainerPhase:
    """The CRI state of a container.

    started/exited: started.json / the exit status conmon wrote (None if absent);
    alive: whether the container's first process still runs;
    start_requested: StartContainer was called (it may not have reported yet);
    starting: it was called so recently that the start may still be on its way: the
    container counts as running then, not as failed (a caller that cached a failure
    would never look again).
    """
    if started is None and start_requested and starting:
        return ContainerPhase(RUNNING)
    if started is None:
        if start_requested and not alive:
            return ContainerPhase(EXITED, 128, "StartError",
                                  "the container's monitor did not start")
        return ContainerPhase(CREATED)
    started_at = int(started.get("started_at", 0))
    if "error" in started:
        finished = int((exited or {}).get("finished_at", 0)) or started_at
        return ContainerPhase(EXITED, 128, "StartError", str(started["error"]), started_at,
                              finished)
    if exited is not None:
        code = int(exited.get("exit_code", 0))
        killed = int(exited.get("signal", 0)) == 9
        if killed and oom_killed:
            reason = "OOMKilled"
        else:
            reason = "Completed" if code == 0 else "Error"
        return ContainerPhase(EXITED, code, reason, "", started_at,
                              int(exited.get("finished_at", 0)))
    if alive:
        return ContainerPhase(RUNNING, started_at=started_at)
    return ContainerPhase(EXITED, 255, "Unknown",
                          "the container's process and monitor are gone without an exit status",
                          started_at, started_at)


def labels_match(labels: dict, selector: dict) -> bool:
    """CRI label selectors: every key/value of the selector must be present."""
    return all(labels.get(k) == v for k, v in selector.items())
