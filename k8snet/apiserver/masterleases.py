"""The `kubernetes` Service's Endpoints list every live apiserver.

As upstream's lease endpoint reconciler (kube-apiserver's default): each
apiserver renews a key ``/registry/masterleases/<ip>`` every ``period``
seconds and sets ``default/kubernetes`` Endpoints to the addresses whose key
was renewed within ``ttl``. Several apiservers writing it agree on the
answer, so they do not fight; a dead master drops out after ``ttl``; one that
stops cleanly removes itself at once. Pods reaching 10.96.0.1 then reach any
live master through kube-proxy.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Iterable, List, Optional, Tuple

from k8snet.apiserver.bootstrap import kubernetes_endpoints
from k8snet.apiserver.context import Ctx
from k8snet.apiserver.registry import Registry
from k8snet.machinery import resources as kinds
from k8snet.store.base import KeyExists, KeyNotFound, RevisionMismatch, StoreError

PREFIX = "/registry/masterleases/"
PERIOD = 10.0
TTL = 3 * PERIOD


def live_addresses(items: Iterable[Tuple[str, bytes]], now: float, ttl: float) -> List[str]:
    """The apiserver addresses whose lease was renewed within ``ttl`` of ``now``, sorted
    (pure)."""
    out = []
    for key, value in items:
        try:
            renewed = float(json.loads(value)["renewTime"])
        except (ValueError, KeyError, TypeError):
            continue
        if now - renewed <= ttl:
            out.append(key[len(PREFIX):])
    return sorted(out)


def endpoints_for(addresses: List[str], port: int) -> dict:
    """The wanted `kubernetes` Endpoints (pure)."""
    want = kubernetes_endpoints(addresses[0] if addresses else "", port)
    want["subsets"] = [{"addresses": [{"ip": ip} for ip in addresses],
                        "ports": want["subsets"][0]["ports"]}] if addresses else []
    return want


class MasterLeases:
    """Renew this apiserver's lease and keep the Endpoints to the live set."""

    def __init__(self, reg: Registry, ip: str, port: int, period: float = PERIOD,
                 ttl: float = TTL, clock=time.time):
        self.reg = reg
        self.ip = ip
        self.port = port
        self.period = period
        self.ttl = ttl
        self.clock = clock

    def renew(self) -> None:
        key = PREFIX + self.ip
        value = json.dumps({"renewTime": self.clock(), "port": self.port}).encode()
        for _ in range(5):
            got = self.reg.store.get(key)
            try:
                if got is None:
                    self.reg.store.create(key, value)
                else:
                    self.reg.store.update(key, value, got[1])
                return
            except (KeyExists, KeyNotFound, RevisionMismatch):
                continue

    def reconcile(self, without_self: bool = False) -> None:
        items, _ = self.reg.store.list(PREFIX)
        live = live_addresses(((k, v) for k, v, _ in items), self.clock(), self.ttl)
        if without_self and self.ip in live:
            live.remove(self.ip)
        want = endpoints_for(live, self.port)
        info = kinds.RESOURCES["endpoints"]

        def mutate(cur: Optional[dict]) -> Optional[dict]:
            if cur is not None and cur.get("subsets") == want["subsets"]:
                return None
            return dict(cur or want, subsets=want["subsets"])
        self.reg.guaranteed_update(info, "default", "kubernetes", mutate, Ctx(),
                                   create_ok=True)

    def once(self) -> None:
        self.renew()
        self.reconcile()

    def run(self, stop: threading.Event) -> None:
        """Every period until `stop`."""
        while not stop.wait(self.period):
            try:
                self.once()
            except Exception as exc:  # noqa: BLE001 - say it, try again next period
                print(f"k8snet apiserver: master lease: {exc}", file=sys.stderr, flush=True)

    def release(self) -> None:
        """On a clean stop: leave the Endpoints at once rather than after the TTL."""
        try:
            self.reg.store.delete(PREFIX + self.ip)
        except StoreError:
            pass
        try:
            self.reconcile(without_self=True)
        except Exception:  # noqa: BLE001 - best effort on the way out
            pass
