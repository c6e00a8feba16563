"""The kube-proxy control loop: watch Services and EndpointSlices, render, apply.

Level-triggered, on the machinery's Reconciler with one key: every change
queues a sync ``min_interval`` later (a burst becomes one sync), which renders
everything from the caches and applies it if it differs from what was applied
last; every ``sync_period`` a full resync applies it regardless. A failed apply
is retried with exponential back-off. It logs how long each EndpointSlice change took to
reach the kernel: from the moment the watch delivered it, and from the
``endpoints.kubernetes.io/last-change-trigger-time`` annotation when the
controller set one.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

from k8snet.errors import K8snetError
from k8snet.machinery.reconciler import ALL, FIRST_LIST_DEADLINE, Backoff, Reconciler
from k8snet.machinery.timefmt import parse_epoch
from k8snet.proxy.model import NodeFacts, ServicePort, conntrack_flushes, service_ports

TRIGGER_ANNOTATION = "endpoints.kubernetes.io/last-change-trigger-time"
RETRY = Backoff(base=1.0, cap=30.0)


@dataclass
class SyncStats:
    """Figures of the syncs done so far (read by tests and benchmarks)."""

    syncs: int = 0
    failures: int = 0
    last_apply_seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)  # change seen -> applied


def trigger_times(endpoints: dict[str, dict]) -> dict[str, str]:
    """key -> last-change-trigger-time annotation, for EndpointSlices that carry one."""
    out = {}
    for key, obj in endpoints.items():
        value = ((obj.get("metadata") or {}).get("annotations") or {}).get(TRIGGER_ANNOTATION)
        if value:
            out[key] = value
    return out


def parse_rfc3339(text: str) -> Optional[float]:
    """Seconds since the epoch from an RFC 3339 time, or None if unparsable."""
    try:
        return parse_epoch(text)
    except ValueError:
        return None


class ProxyLoop:
    """Keeps one node's Service rules in step with the apiserver."""

    def __init__(self, applier, node: NodeFacts, conntrack=None, sync_period: float = 30.0,
                 min_interval: float = 0.1, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time, log: Optional[logging.Logger] = None):
        self.applier = applier
        self.node = node
        self.conntrack = conntrack
        self.sync_period = sync_period
        self.min_interval = min_interval
        self.clock = clock
        self.wall = wall
        self.log = log or logging.getLogger("k8snet.proxy")
        self.stats = SyncStats()
        self._lock = threading.Lock()
        self._resyncs = 1       # full syncs asked for (the first sync is one) ...
        self._full_synced = 0   # ... and how many of them a full sync has answered
        self._services: Optional[dict[str, dict]] = None
        self._endpoints: Optional[dict[str, dict]] = None
        self._pending_since: Optional[float] = None
        self._applied: Optional[list[ServicePort]] = None
        self._seen_triggers: dict[str, str] = {}
        self.reconciler = Reconciler("proxy", self._reconcile, clock=clock, backoff=RETRY,
                                     resync=sync_period, resync_keys=self._resync, log=self.log)

    # -- inputs (Informer callbacks) -------------------------------------------

    def on_services(self, items: dict[str, dict]) -> None:
        """New full set of Services."""
        with self._lock:
            self._services = items
        self.reconciler.enqueue_after(ALL, self.min_interval)

    def on_endpoint_slices(self, items: dict[str, dict]) -> None:
        """New full set of EndpointSlices; starts the latency clock."""
        with self._lock:
            self._endpoints = items
            if self._pending_since is None:
                self._pending_since = self.clock()
        self.reconciler.enqueue_after(ALL, self.min_interval)

    # -- the loop ------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Sync until ``stop`` is set: on changes, and every ``sync_period`` seconds."""
        self.reconciler.run(stop, sync_timeout=FIRST_LIST_DEADLINE)

    def _resync(self) -> list[str]:
        with self._lock:
            self._resyncs += 1
        return [ALL]

    def _reconcile(self, _key: str) -> None:
        with self._lock:
            asked = self._resyncs
            full = self._full_synced < asked
        if self.sync_once(full=full):
            if full:
                with self._lock:
                    self._full_synced = asked
        elif self.ready():
            raise K8snetError("rules not applied")  # retried with back-off

    def ready(self) -> bool:
        """Whether both caches have been listed at least once."""
        with self._lock:
            return self._services is not None and self._endpoints is not None

    def sync_once(self, full: bool = False) -> bool:
        """Render and apply if anything changed (always when ``full``). True on success."""
        with self._lock:
            if self._services is None or self._endpoints is None:
                return False
            services, endpoints = self._services, self._endpoints
            pending, self._pending_since = self._pending_since, None
        ports = service_ports(services.values(), endpoints.values())
        if not full and ports == self._applied:
            self._log_latency(pending, endpoints, applied=False)
            return True
        started = self.clock()
        try:
            self.applier.sync(ports, self.node, full=full)
        except K8snetError as exc:
            self.stats.failures += 1
            self.log.error("sync failed (%s mode): %s; will retry", self.applier.mode, exc)
            with self._lock:
                if pending is not None and (self._pending_since is None
                                            or pending < self._pending_since):
                    self._pending_since = pending
            return False
        elapsed = self.clock() - started
        stale = conntrack_flushes(self._applied or (), ports)
        self._applied = ports
        self.stats.syncs += 1
        self.stats.last_apply_seconds = elapsed
        self.log.info("synced %d service ports, %d endpoints in %.1f ms (%s%s)",
                      len(ports), sum(len(p.endpoints) for p in ports), elapsed * 1000,
                      self.applier.mode, ", full" if full else "")
        if self.conntrack is not None and stale:
            try:
                self.conntrack.flush(stale)
            except K8snetError as exc:
                self.log.warning("conntrack cleanup failed: %s", exc)
        self._log_latency(pending, endpoints, applied=True)
        return True

    def _log_latency(self, pending: Optional[float], endpoints: dict[str, dict],
                     applied: bool) -> None:
        if pending is None:
            return
        latency = self.clock() - pending
        self.stats.latencies.append(latency)
        triggers = trigger_times(endpoints)
        fresh = {k: v for k, v in triggers.items() if self._seen_triggers.get(k) != v}
        self._seen_triggers = triggers
        extra = ""
        if fresh:
            times = [t for t in (parse_rfc3339(v) for v in fresh.values()) if t is not None]
            if times:
                extra = f"; {max(0.0, self.wall() - max(times)) * 1000:.0f} ms since trigger"
        self.log.info("endpoints change to rules %s: %.1f ms%s",
                      "applied" if applied else "checked (no rule change)", latency * 1000, extra)
