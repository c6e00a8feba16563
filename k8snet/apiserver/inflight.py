"""How many requests the apiserver works on at once (its --max-requests-inflight).

Every request is a thread, and the threads share one interpreter lock: with 300 of them
runnable (50 nodes' kubelets, runtimes and agents, the scheduler's binds, Events), each
gets a 5 ms turn every 1.5 s, and a Lease renewal that needs a few turns takes seconds.
The scheduler and controller-manager then lose their Leases, stop, and list everything
again when they win them back: measured at 1,000 Pods on 50 workers, the scheduler lost
its Lease every minute. Upstream's API Priority and Fairness keeps leader election and
long-running requests out of the queue the rest waits in; this is the same idea at its
simplest: at most ``limit`` ordinary requests run, the others wait their turn (429
TooManyRequests after ``wait`` seconds), and watches, streams, Leases and the health and
metrics paths are never held up.
"""

from __future__ import annotations

import threading
from typing import Optional

from k8snet.apiserver.requestinfo import RequestInfo
from k8snet.apiserver.status import ApiStatusError

DEFAULT_LIMIT = 16
DEFAULT_WAIT = 60.0
LONG_RUNNING_SUBRESOURCES = frozenset({"exec", "attach", "portforward", "proxy"})


def exempt(ri: RequestInfo, params: dict) -> bool:
    """Whether a request runs outside the limit: long-running ones (watches, followed
    logs, exec, attach, port-forward, proxy), Leases (leader election, node heartbeats),
    and paths that are not resources (health, metrics, version, discovery)."""
    if not ri.resource_request:
        return True
    if ri.verb == "watch" or ri.subresource in LONG_RUNNING_SUBRESOURCES:
        return True
    if ri.subresource == "log" and params.get("follow") in ("true", "1"):
        return True
    return ri.api_group == "coordination.k8s.io" and ri.resource == "leases"


class InflightLimit:
    """A counting gate: `enter` waits for a free place (ApiStatusError 429 after `wait`
    seconds), `leave` frees it. ``limit`` 0 lets everything through."""

    def __init__(self, limit: int = DEFAULT_LIMIT, wait: float = DEFAULT_WAIT) -> None:
        self.limit, self.wait = limit, wait
        self._places: Optional[threading.BoundedSemaphore] = (
            threading.BoundedSemaphore(limit) if limit > 0 else None)

    def enter(self) -> bool:
        """True when a place was taken (then call `leave`)."""
        if self._places is None:
            return False
        if not self._places.acquire(timeout=self.wait):
            raise ApiStatusError(429, "Too many requests, please try again later.",
                                 "TooManyRequests", {"retryAfterSeconds": 1})
        return True

    def leave(self) -> None:
        if self._places is not None:
            self._places.release()
