"""The shape every controller loop shares: level-triggered syncs on informer changes
and on a period, each sync reading whole snapshots and applying a pure plan.

Each loop runs on the machinery's Reconciler with one key (ALL): changes to any
watched resource coalesce into one pending sync, a failed sync is retried with
exponential back-off, and `period` is the resync. A sync reads everything, so
its cost grows with the cluster: after one that took d seconds the next waits
until SYNC_PACE x d have passed (`Pacer`). Changes meanwhile coalesce into that
next sync; a loop cannot spend more than half a core's time on syncs, which it
did during a 1,000-Pod rollout (the garbage collector and the ReplicaSet loop
re-reading 1,250 Pods for every Pod event)."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional

from k8snet.machinery.client import ApiClient, resource_info
from k8snet.machinery.events import EventRecorder
from k8snet.machinery.informer import Informer
from k8snet.machinery.reconciler import ALL, FIRST_LIST_DEADLINE, Backoff, Reconciler

Clock = Callable[[], dt.datetime]
RETRY = Backoff(base=0.5, cap=30.0)
SYNC_PACE = 1.0


class Pacer:
    """When the next full sync may start: `pace` x the last one's duration after it
    ended (pure but for the clock)."""

    def __init__(self, clock: Callable[[], float], pace: float = SYNC_PACE):
        self.clock, self.pace = clock, pace
        self._not_before = 0.0

    def wait(self) -> float:
        """Seconds until a sync may start (0: now, or within a millisecond)."""
        wait = self._not_before - self.clock()
        return wait if wait > 0.001 else 0.0

    def ran(self, started: float, ended: float) -> None:
        self._not_before = ended + self.pace * max(0.0, ended - started)

    def run(self, sync: Callable[[], None]) -> Optional[float]:
        """Run `sync` now if it may start, else the seconds to wait."""
        wait = self.wait()
        if wait > 0:
            return wait
        started = self.clock()
        try:
            sync()
        finally:
            self.ran(started, self.clock())
        return None


@dataclass
class Context:
    """What the loops share: the client, the informers by resource, the clocks (wall time
    for the plans, `monotonic` for retries and resyncs), a logger."""

    client: ApiClient
    informers: dict[str, Informer]
    clock: Clock
    log: logging.Logger
    options: object = None
    component: str = "controller-manager"
    monotonic: Callable[[], float] = time.monotonic

    def items(self, resource: str) -> list[dict]:
        return list(self.informers[resource].snapshot().values())

    def by_key(self, resource: str) -> dict[str, dict]:
        return self.informers[resource].snapshot()


def with_kind(resource: str, obj: dict) -> dict:
    """The object with kind and apiVersion set (list items may lack them)."""
    info = resource_info(resource)
    return dict(obj, kind=info.kind, apiVersion=info.api_version)


@dataclass
class Options:
    """controller-manager settings."""

    cluster_cidr: str = "10.244.0.0/16"
    node_cidr_mask_size: int = 24
    node_monitor_grace_period: float = 20.0
    pod_eviction_timeout: float = 30.0
    allocate_node_cidrs: bool = True
    volume_dir: str = ""  # where provisioned volumes go; `{node}` is the node's name
    root_ca: str = ""  # the apiserver's CA (PEM), published as kube-root-ca.crt


class Loop:
    """One controller: `sync()` runs after any change to `watches`, or every `period` s."""

    name = "loop"
    watches: tuple[str, ...] = ()
    period = 30.0
    event_component = ""  # the Events' source.component (upstream's controller name)

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.log = ctx.log.getChild(self.name)
        self.events = self.recorder(self.event_component or f"{self.name}-controller")
        self.reconciler = Reconciler(self.name, self._reconcile, clock=ctx.monotonic,
                                     backoff=RETRY, resync=self.period, log=self.log)
        self.pacer = Pacer(ctx.monotonic)

    def watch(self, informers: dict[str, Informer]) -> None:
        """Sync after every change of the watched resources' informers."""
        for resource in self.watches:
            self.reconciler.watch(informers[resource])

    def recorder(self, component: str) -> EventRecorder:
        """An EventRecorder for `component` on the loops' wall clock."""
        return EventRecorder(self.ctx.client, component,
                             clock=lambda: self.ctx.clock().timestamp(), log=self.log)

    def requeue(self) -> None:
        """Sync again soon (after the current sync, if one runs)."""
        self.reconciler.enqueue(ALL)

    def run(self, stop: threading.Event) -> None:
        """Sync until `stop`; a failed sync is retried with back-off. K8snetError when
        the informers have not listed within FIRST_LIST_DEADLINE."""
        self.reconciler.run(stop, sync_timeout=FIRST_LIST_DEADLINE)

    def _reconcile(self, _key: str) -> Optional[float]:
        return self.pacer.run(self.sync)

    def sync(self) -> None:
        raise NotImplementedError
