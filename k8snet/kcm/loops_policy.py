"""PodDisruptionBudget status: the disruption controller."""

from __future__ import annotations

from typing import Optional

from k8snet.kcm import disruption
from k8snet.kcm.base import Loop, with_kind
from k8snet.kcm.objects import meta, name_of
from k8snet.machinery.client import Conflict, NotFound
from k8snet.machinery.events import WARNING


def _sooner(a: Optional[float], b: Optional[float]) -> Optional[float]:
    return b if a is None else a if b is None else min(a, b)


def _without_times(status: Optional[dict]) -> dict:
    status = dict(status or {})
    status["conditions"] = [{k: v for k, v in c.items() if k != "lastTransitionTime"}
                            for c in status.get("conditions") or []]
    return status


class DisruptionLoop(Loop):
    """PodDisruptionBudgets -> their status (what the eviction subresource reads)."""

    name = "disruption"
    watches = ("poddisruptionbudgets", "pods", "replicasets", "deployments", "statefulsets")
    event_component = "controllermanager"

    def __init__(self, ctx):
        super().__init__(ctx)
        self.warned: set[tuple[str, str]] = set()

    def _reconcile(self, _key: str) -> Optional[float]:
        return self.sync()

    def sync(self) -> Optional[float]:
        now = self.ctx.clock()
        pods = self.ctx.items("pods")
        scales = disruption.Scales.of(self.ctx.items("replicasets"),
                                      self.ctx.items("deployments"),
                                      self.ctx.items("statefulsets"))
        soonest: Optional[float] = None
        for pdb in self.ctx.items("poddisruptionbudgets"):
            ns = meta(pdb).get("namespace")
            plan = disruption.budget_status(pdb, pods, scales, now)
            for reason, message in plan.events:
                if (meta(pdb).get("uid", ""), reason) not in self.warned:
                    self.warned.add((meta(pdb).get("uid", ""), reason))
                    self.events.event(with_kind("poddisruptionbudgets", pdb), WARNING,
                                      reason, message)
            try:
                if _without_times(plan.status) != _without_times(pdb.get("status")):
                    self.ctx.client.update(
                        "poddisruptionbudgets",
                        dict(with_kind("poddisruptionbudgets", pdb), status=plan.status), ns,
                        subresource="status")
            except (Conflict, NotFound) as exc:
                self.log.debug("%s/%s: %s (next sync retries)", ns, name_of(pdb), exc.reason)
            soonest = _sooner(soonest, disruption.next_expiry(
                dict(pdb, status=plan.status), now))
        return soonest
