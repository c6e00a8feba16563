"""Which unscheduled Pods to try now: pure bookkeeping of attempts and back-off.

A Pod that fitted nowhere is tried again once its back-off has passed and the
cluster changed since (a Node or a bound Pod), or after `periodic` seconds anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional

from k8snet.scheduler.nodeinfo import is_terminal


@dataclass
class Attempt:
    """The last failed try for one Pod."""

    at: float
    backoff: float
    generation: int
    message: str = ""
    event_at: Optional[float] = None


def pod_key(pod: dict) -> str:
    meta = pod.get("metadata", {})
    return f"{meta.get('namespace', 'default')}/{meta.get('name')}"


def wants_scheduler(pod: dict, scheduler_name: str) -> bool:
    """Unbound, alive, and asking for this scheduler."""
    spec = pod.get("spec") or {}
    return (not spec.get("nodeName")
            and (spec.get("schedulerName") or "default-scheduler") == scheduler_name
            and not pod.get("metadata", {}).get("deletionTimestamp")
            and not is_terminal(pod))


def pending_pods(pods: Iterable[dict], scheduler_name: str) -> list[dict]:
    """Pods to schedule, highest priority first, then oldest first."""
    chosen = [p for p in pods if wants_scheduler(p, scheduler_name)]
    return sorted(chosen, key=lambda p: (-int((p.get("spec") or {}).get("priority") or 0),
                                         p.get("metadata", {}).get("creationTimestamp") or "",
                                         pod_key(p)))


def is_due(attempt: Optional[Attempt], now: float, generation: int, periodic: float) -> bool:
    """Whether a Pod should be tried at `now` given its last failed attempt."""
    if attempt is None:
        return True
    if now < attempt.at + attempt.backoff:
        return False
    return generation > attempt.generation or now >= attempt.at + periodic


def next_attempt(previous: Optional[Attempt], now: float, generation: int, message: str,
                 initial: float = 1.0, maximum: float = 10.0) -> Attempt:
    """Record a failure: back-off doubles from `initial` up to `maximum`."""
    backoff = initial if previous is None else min(maximum, previous.backoff * 2)
    event_at = previous.event_at if previous else None
    return Attempt(now, backoff, generation, message, event_at)


def should_emit_event(attempt: Attempt, now: float, previous_message: str,
                      repeat_after: float = 60.0) -> bool:
    """Emit FailedScheduling when the message changed, else at most every `repeat_after` s."""
    if attempt.event_at is None or attempt.message != previous_message:
        return True
    return now - attempt.event_at >= repeat_after


def bound_fingerprint(pods: Iterable[dict]) -> frozenset:
    """What about bound Pods matters to scheduling (a change means: retry the unschedulable)."""
    return frozenset((pod_key(p), (p.get("spec") or {}).get("nodeName"),
                      (p.get("status") or {}).get("phase"),
                      tuple(sorted(((p.get("metadata") or {}).get("labels") or {}).items())))
                     for p in pods if (p.get("spec") or {}).get("nodeName"))
