"""The shape every controller loop shares: level-triggered syncs on informer changes
and on a period, each sync reading whole snapshots and applying a pure plan."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass, field
from typing import Callable

from k8snet.machinery.client import ApiClient, ApiError, resource_info
from k8snet.machinery.informer import Informer

Clock = Callable[[], dt.datetime]


@dataclass
class Context:
    """What the loops share: the client, the informers by resource, the clock, a logger."""

    client: ApiClient
    informers: dict[str, Informer]
    clock: Clock
    log: logging.Logger
    options: object = None
    component: str = "controller-manager"
    kicks: dict[str, list[threading.Event]] = field(default_factory=dict)

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


class Loop:
    """One controller: `sync()` runs after any change to `watches`, or every `period` s."""

    name = "loop"
    watches: tuple[str, ...] = ()
    period = 30.0

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.kick = threading.Event()
        self.log = ctx.log.getChild(self.name)

    def run(self, stop: threading.Event) -> None:
        """Sync until `stop`; errors are logged and the next sync retries."""
        self.kick.set()
        while not stop.is_set():
            self.kick.wait(self.period)
            self.kick.clear()
            if stop.is_set():
                break
            if not all(self.ctx.informers[r].synced for r in self.watches):
                stop.wait(0.1)
                self.kick.set()
                continue
            try:
                self.sync()
            except ApiError as exc:
                self.log.warning("sync failed: %s", exc)
                stop.wait(0.5)
                self.kick.set()
            except Exception:
                self.log.exception("sync crashed; retrying")
                stop.wait(1.0)
                self.kick.set()

    def sync(self) -> None:
        raise NotImplementedError
