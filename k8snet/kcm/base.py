"""The shape every controller loop shares: level-triggered syncs on informer changes
and on a period, each sync reading whole snapshots and applying a pure plan.

Each loop runs on the machinery's Reconciler with one key (ALL): changes to any
watched resource coalesce into one pending sync, a failed sync is retried with
exponential back-off, and `period` is the resync."""

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
        self.sync()
        return None

    def sync(self) -> None:
        raise NotImplementedError
