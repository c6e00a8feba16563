"""Leader election with a coordination.k8s.io Lease, as the real control plane does.

`decide_lease` is the pure decision (injected time); `LeaderElector` applies it
with optimistic concurrency, so two replicas racing for an expired Lease
cannot both win: the loser's update gets 409 Conflict.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass
from typing import Callable, Optional

from k8snet.machinery.client import AlreadyExists, ApiClient, ApiError, Conflict, NotFound
from k8snet.machinery.timefmt import format_micro_time, parse_time, utcnow

Clock = Callable[[], dt.datetime]


@dataclass(frozen=True)
class LeaseDecision:
    """What to do with the Lease: 'create', 'renew', 'acquire' (take over) or 'follow'."""

    action: str
    spec: Optional[dict] = None
    holder: Optional[str] = None


def decide_lease(lease: Optional[dict], identity: str, now: dt.datetime,
                 duration: int) -> LeaseDecision:
    """Decide whether `identity` holds, takes, or must leave the Lease at time `now`."""
    stamp = format_micro_time(now)
    if lease is None:
        return LeaseDecision("create", {
            "holderIdentity": identity, "leaseDurationSeconds": duration,
            "acquireTime": stamp, "renewTime": stamp, "leaseTransitions": 0}, identity)
    spec = dict(lease.get("spec") or {})
    holder = spec.get("holderIdentity")
    if holder == identity:
        spec.update(renewTime=stamp, leaseDurationSeconds=duration)
        return LeaseDecision("renew", spec, identity)
    renewed = parse_time(spec.get("renewTime")) or parse_time(spec.get("acquireTime"))
    held_for = spec.get("leaseDurationSeconds") or duration
    if holder and renewed and now < renewed + dt.timedelta(seconds=held_for):
        return LeaseDecision("follow", None, holder)
    spec.update(holderIdentity=identity, leaseDurationSeconds=duration, acquireTime=stamp,
                renewTime=stamp, leaseTransitions=int(spec.get("leaseTransitions") or 0) + 1)
    return LeaseDecision("acquire", spec, identity)


class LeaderElector:
    """Hold the Lease `namespace/name` while running `work`; give it up when renewal fails."""

    def __init__(self, client: ApiClient, namespace: str, name: str, identity: str,
                 lease_duration: int = 15, renew_period: float = 5.0, retry_period: float = 2.0,
                 clock: Clock = utcnow, log: Optional[logging.Logger] = None):
        self.client = client
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.lease_duration = lease_duration
        self.renew_period = renew_period
        self.retry_period = retry_period
        self.clock = clock
        self.log = log or logging.getLogger("k8snet.leader")

    def try_once(self) -> bool:
        """One acquire-or-renew attempt; True when this identity holds the Lease."""
        try:
            lease: Optional[dict] = self.client.get("leases", self.name, self.namespace)
        except NotFound:
            lease = None
        decision = decide_lease(lease, self.identity, self.clock(), self.lease_duration)
        try:
            if decision.action == "create":
                self.client.create("leases", {
                    "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": self.name, "namespace": self.namespace},
                    "spec": decision.spec}, self.namespace)
            elif decision.action in ("renew", "acquire"):
                assert lease is not None
                updated = dict(lease, spec=decision.spec)
                self.client.update("leases", updated, self.namespace)
        except (Conflict, AlreadyExists):
            return False
        if decision.action == "acquire":
            self.log.info("%s: became leader of %s/%s", self.identity, self.namespace, self.name)
        return decision.action != "follow"

    def run(self, stop: threading.Event, work: Callable[[threading.Event], None]) -> None:
        """Until `stop`: wait to lead, run `work(lead_stop)` in a thread, renew; stop it if lost."""
        while not stop.is_set():
            if not self._attempt():
                stop.wait(self.retry_period)
                continue
            lead_stop = threading.Event()
            worker = threading.Thread(target=work, args=(lead_stop,), daemon=True,
                                      name=f"leader-{self.name}")
            worker.start()
            last_renewed = self.clock()
            pause = self.renew_period
            while not stop.wait(pause):
                if self._attempt():
                    last_renewed = self.clock()
                    pause = self.renew_period
                elif (self.clock() - last_renewed).total_seconds() > self.lease_duration * 2 / 3:
                    self.log.warning("%s: lost the lease %s/%s", self.identity,
                                     self.namespace, self.name)
                    break
                else:   # a renewal failed (a slow apiserver): try again soon, not in 5 s
                    pause = self.retry_period
                if not worker.is_alive():
                    break
            lead_stop.set()
            worker.join(timeout=10)
            if stop.is_set():
                self._release()

    def _attempt(self) -> bool:
        try:
            return self.try_once()
        except ApiError as exc:
            self.log.warning("%s: lease %s/%s: %s", self.identity, self.namespace, self.name, exc)
            return False

    def _release(self) -> None:
        """Let a standby take over at once (renewTime far in the past)."""
        try:
            lease = self.client.get("leases", self.name, self.namespace)
            spec = lease.get("spec") or {}
            if spec.get("holderIdentity") != self.identity:
                return
            spec = dict(spec, holderIdentity="", leaseDurationSeconds=1)
            self.client.update("leases", dict(lease, spec=spec), self.namespace)
        except ApiError:
            pass
