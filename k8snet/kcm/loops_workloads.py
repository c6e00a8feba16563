"""Workload loops: Deployment -> ReplicaSets, ReplicaSet -> Pods."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Optional

from k8snet.kcm import deployment as dep
from k8snet.kcm.base import Loop, with_kind
from k8snet.kcm.objects import meta, name_of
from k8snet.kcm.replicaset import pod_from_template, reconcile_replicaset, slow_start_batches
from k8snet.machinery.client import AlreadyExists, ApiError, Conflict, NotFound
from k8snet.machinery.events import NORMAL

EXPECTATION_TIMEOUT = 30.0
CREATE_WORKERS = 8


def _key(obj: dict) -> str:
    return f"{meta(obj).get('namespace')}/{name_of(obj)}"


def _status_differs(old: Optional[dict], new: dict) -> bool:
    """Whether any field the plan sets differs (fields the plan leaves out are ignored)."""
    old = old or {}
    return any(old.get(k) != v for k, v in new.items())


class DeploymentLoop(Loop):
    """Deployment -> ReplicaSets."""

    name = "deployment"
    watches = ("deployments", "replicasets", "pods")
    event_component = "deployment-controller"

    def sync(self) -> None:
        now = self.ctx.clock()
        rss, pods = self.ctx.items("replicasets"), self.ctx.items("pods")
        for d in self.ctx.items("deployments"):
            try:
                self._apply(d, dep.reconcile_deployment(d, rss, pods, now))
            except (Conflict, NotFound) as exc:
                self.log.debug("%s: %s (next sync retries)", _key(d), exc.reason)

    def _apply(self, d: dict, plan: dep.DeploymentPlan) -> None:
        client, ns = self.ctx.client, meta(d).get("namespace")
        if plan.create_rs is not None:
            try:
                client.create("replicasets", plan.create_rs, ns)
                self.log.info("%s: created ReplicaSet %s (%d)", _key(d),
                              name_of(plan.create_rs), plan.create_rs["spec"]["replicas"])
                self.events.event(with_kind("deployments", d), NORMAL, "ScalingReplicaSet",
                                  f"Scaled up replica set {name_of(plan.create_rs)} from 0 to "
                                  f"{plan.create_rs['spec']['replicas']}")
            except AlreadyExists:
                pass
        cached = {name_of(r): r for r in self.ctx.items("replicasets")
                  if meta(r).get("namespace") == ns}
        for rs_name in set(plan.scale) | set(plan.annotate):
            rs = cached.get(rs_name)
            if rs is None:
                continue
            new = with_kind("replicasets", rs)
            new["metadata"] = dict(meta(rs), annotations=dict(
                meta(rs).get("annotations") or {}, **plan.annotate.get(rs_name, {})))
            old_replicas = (rs.get("spec") or {}).get("replicas", 0)
            if rs_name in plan.scale:
                new["spec"] = dict(rs.get("spec") or {}, replicas=plan.scale[rs_name])
            client.update("replicasets", new, ns)
            if rs_name in plan.scale and plan.scale[rs_name] != old_replicas:
                verb = "up" if plan.scale[rs_name] > old_replicas else "down"
                self.log.info("%s: scaled %s %s from %s to %s", _key(d), rs_name, verb,
                              old_replicas, plan.scale[rs_name])
                self.events.event(with_kind("deployments", d), NORMAL, "ScalingReplicaSet",
                                  f"Scaled {verb} replica set {rs_name} from {old_replicas} "
                                  f"to {plan.scale[rs_name]}")
        for rs_name in plan.delete_rs:
            try:
                client.delete("replicasets", rs_name, ns, propagation_policy="Background")
            except NotFound:
                pass
        if plan.annotations:
            client.patch("deployments", name_of(d), {"metadata": {"annotations":
                                                                  plan.annotations}}, ns)
        if _status_differs_ignoring_times(d.get("status"), plan.status):
            client.update("deployments", dict(with_kind("deployments", d), status=plan.status),
                          ns, subresource="status")


def _strip_times(status: Optional[dict]) -> dict:
    status = dict(status or {})
    status["conditions"] = [{k: v for k, v in c.items()
                             if k not in ("lastUpdateTime", "lastTransitionTime")}
                            for c in status.get("conditions") or []]
    return status


def _status_differs_ignoring_times(old: Optional[dict], new: dict) -> bool:
    return _status_differs(_strip_times(old), _strip_times(new))


class ReplicaSetLoop(Loop):
    """ReplicaSet -> Pods, with expectations so a stale cache never doubles a scale step."""

    name = "replicaset"
    watches = ("replicasets", "pods")

    def __init__(self, ctx):
        super().__init__(ctx)
        self.expect: dict[str, tuple[float, set, set]] = {}

    def _satisfied(self, rs_key: str, pods: dict[str, dict], now: float) -> bool:
        entry = self.expect.get(rs_key)
        if entry is None:
            return True
        at, adds, dels = entry
        ns = rs_key.split("/", 1)[0]
        seen_adds = all(f"{ns}/{n}" in pods for n in adds)
        seen_dels = all(f"{ns}/{n}" not in pods or meta(pods[f"{ns}/{n}"]).get(
            "deletionTimestamp") for n in dels)
        if (seen_adds and seen_dels) or now - at > EXPECTATION_TIMEOUT:
            del self.expect[rs_key]
            return True
        return False

    def sync(self) -> None:
        now = self.ctx.clock()
        pods_by_key = self.ctx.by_key("pods")
        pods = list(pods_by_key.values())
        for rs in self.ctx.items("replicasets"):
            key = _key(rs)
            if not self._satisfied(key, pods_by_key, now.timestamp()):
                continue
            plan = reconcile_replicaset(rs, pods, now)
            try:
                self._apply(rs, plan)
            except (Conflict, NotFound) as exc:
                self.log.debug("%s: %s (next sync retries)", key, exc.reason)

    def _apply(self, rs: dict, plan) -> None:
        client, ns, key = self.ctx.client, meta(rs).get("namespace"), _key(rs)
        adds: set = set()
        dels: set = set()
        try:
            with ThreadPoolExecutor(CREATE_WORKERS, thread_name_prefix="rs-create") as pool:
                for size in slow_start_batches(plan.create):
                    futures = [pool.submit(client.create, "pods", pod_from_template(rs), ns)
                               for _ in range(size)]
                    errors = []
                    for future in futures:
                        try:
                            adds.add(name_of(future.result()))
                        except ApiError as exc:
                            errors.append(exc)
                    if errors:
                        raise errors[0]
                # deletions all at once, as the ReplicaSet controller does (a goroutine
                # per Pod); the first error other than NotFound is raised after them
                gone = [(name, pool.submit(client.delete, "pods", name, ns))
                        for name in plan.delete]
                errors = []
                for name, future in gone:
                    try:
                        future.result()
                    except NotFound:
                        pass
                    except ApiError as exc:
                        errors.append(exc)
                        continue
                    dels.add(name)
                if errors:
                    raise errors[0]
        finally:
            if adds or dels:
                # from when the calls ended: 1,000 Pods take longer than the timeout to
                # create on a busy machine, and an expectation timed out at once let the
                # next sync create 41 Pods too many
                self.expect[key] = (self.ctx.clock().timestamp(), adds, dels)
                self.log.info("%s: created %d, deleted %d Pods", key, len(adds), len(dels))
                self.requeue()
        if _status_differs(rs.get("status"), plan.status):
            client.update("replicasets", dict(with_kind("replicasets", rs), status=plan.status),
                          ns, subresource="status")
