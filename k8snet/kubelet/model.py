"""Plain data the kubelet's decisions work on: what the runtime has, what it remembers.

`PodActual` is one Pod's sandboxes and containers as the runtime reports
them (built by the effects layer from CRI answers). `PodMemory` is what the
kubelet itself remembers about a Pod between syncs (back-off, probe states,
waiting reasons); one pod worker owns it at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from k8snet.kubelet.probes import ProbeState

# CRI container states, lower-cased
CREATED, RUNNING, EXITED, UNKNOWN = "created", "running", "exited", "unknown"


@dataclass(frozen=True)
class SandboxInfo:
    id: str
    attempt: int
    ready: bool
    created_at: float
    ip: str = ""
    ips: Tuple[str, ...] = ()


@dataclass(frozen=True)
class ContainerInfo:
    id: str
    name: str
    attempt: int
    state: str
    sandbox_id: str
    created_at: float = 0.0
    started_at: Optional[float] = None
    finished_at: Optional[float] = None
    exit_code: int = 0
    reason: str = ""
    message: str = ""
    image: str = ""
    image_ref: str = ""


@dataclass(frozen=True)
class PodActual:
    """One Pod as the runtime has it; sandboxes and containers newest first."""

    sandboxes: Tuple[SandboxInfo, ...] = ()
    containers: Tuple[ContainerInfo, ...] = ()

    @staticmethod
    def of(sandboxes: List[SandboxInfo], containers: List[ContainerInfo]) -> PodActual:
        sbs = sorted(sandboxes, key=lambda s: (s.attempt, s.created_at), reverse=True)
        cts = sorted(containers, key=lambda c: (c.attempt, c.created_at), reverse=True)
        return PodActual(tuple(sbs), tuple(cts))

    @property
    def sandbox(self) -> Optional[SandboxInfo]:
        return self.sandboxes[0] if self.sandboxes else None

    def instances(self, name: str, sandbox_id: Optional[str] = None) -> List[ContainerInfo]:
        """Instances of one container, newest first, optionally in one sandbox."""
        return [c for c in self.containers
                if c.name == name and (sandbox_id is None or c.sandbox_id == sandbox_id)]

    def is_empty(self) -> bool:
        return not self.sandboxes and not self.containers


@dataclass(frozen=True)
class Backoff:
    """Kubernetes-style back-off entry: current delay and when it was last advanced."""

    delay: float
    last_update: float


@dataclass(frozen=True)
class BackoffPolicy:
    base: float = 10.0
    cap: float = 300.0


def in_backoff(entry: Optional[Backoff], since: float, now: float, policy: BackoffPolicy) -> bool:
    """Is an action on this key still held back (delay not yet elapsed since `since`)?"""
    if entry is None or now - entry.last_update > 2 * policy.cap:
        return False
    return now - since < entry.delay


def next_backoff(entry: Optional[Backoff], now: float, policy: BackoffPolicy) -> Backoff:
    """Advance the delay: base first, then doubling, capped; reset after a long quiet time."""
    if entry is None or now - entry.last_update > 2 * policy.cap:
        return Backoff(policy.base, now)
    return Backoff(min(entry.delay * 2, policy.cap), now)


@dataclass
class PodMemory:
    """What the kubelet remembers about one Pod between syncs."""

    start_time: Optional[float] = None
    backoffs: Dict[str, Backoff] = field(default_factory=dict)          # container name
    pull_backoffs: Dict[str, Backoff] = field(default_factory=dict)     # container name
    pull_errors: Dict[str, str] = field(default_factory=dict)           # container name -> msg
    waiting: Dict[str, Tuple[str, str]] = field(default_factory=dict)   # name -> (reason, msg)
    probes: Dict[str, Dict[str, ProbeState]] = field(default_factory=dict)  # container id
    last_status: Optional[dict] = None
    last_sent_at: float = 0.0
    volumes_refreshed_at: float = 0.0
    settled: bool = False       # the last sync found nothing to do, wait for or probe
