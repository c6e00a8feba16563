"""Batch loops: Job -> Pods (and a finished Job's TTL); CronJob -> Jobs."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Optional

from k8snet.kcm import cronjob as cronjobs
from k8snet.kcm import job as jobs
from k8snet.kcm.base import Loop, with_kind
from k8snet.kcm.expectations import Expectations
from k8snet.kcm.objects import meta, name_of
from k8snet.kcm.replicaset import slow_start_batches
from k8snet.machinery.client import AlreadyExists, ApiError, Conflict, NotFound
from k8snet.machinery.events import NORMAL

CREATE_WORKERS = 8


def _key(obj: dict) -> str:
    return f"{meta(obj).get('namespace')}/{name_of(obj)}"


def _pruned(value):
    """The value without empty lists, maps and nulls (as the server may store it), so
    a status that only differs by those is not written again and again."""
    if isinstance(value, dict):
        out = {k: _pruned(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, [], {})}
    if isinstance(value, list):
        return [_pruned(v) for v in value]
    return value


def _sooner(a: Optional[float], b: Optional[float]) -> Optional[float]:
    return b if a is None else a if b is None else min(a, b)


class JobLoop(Loop):
    """Job -> Pods; also deletes finished Jobs after ttlSecondsAfterFinished (upstream's
    ttl-after-finished controller) and frees orphaned Pods of the tracking finalizer."""

    name = "job"
    watches = ("jobs", "pods")
    event_component = "job-controller"

    def __init__(self, ctx):
        super().__init__(ctx)
        self.expect = Expectations()

    def _reconcile(self, _key: str) -> Optional[float]:
        return self.sync()

    def sync(self) -> Optional[float]:
        now = self.ctx.clock()
        pods_by_key = self.ctx.by_key("pods")
        pods = list(pods_by_key.values())
        all_jobs = self.ctx.items("jobs")
        soonest: Optional[float] = None
        for job in all_jobs:
            key = _key(job)
            try:
                left = jobs.ttl_left(job, now)
                if left is not None and left <= 0:
                    self._expire(job)
                    continue
                soonest = _sooner(soonest, left)
                if not self.expect.satisfied(key, pods_by_key, now.timestamp()):
                    continue
                plan = jobs.reconcile_job(job, pods, now)
                self._apply(job, plan)
                soonest = _sooner(soonest, plan.requeue_after)
            except (Conflict, NotFound) as exc:
                self.log.debug("%s: %s (next sync retries)", key, exc.reason)
        for pod in jobs.orphaned_tracked_pods(all_jobs, pods):
            self._free_orphan(pod)
        return soonest

    def _expire(self, job: dict) -> None:
        """Delete a finished Job whose TTL is over (its Pods go with it)."""
        self.log.info("%s: ttlSecondsAfterFinished is over: deleting the Job", _key(job))
        try:
            self.ctx.client.delete("jobs", name_of(job), meta(job).get("namespace"),
                                   propagation_policy="Foreground")
        except NotFound:
            pass

    def _apply(self, job: dict, plan: jobs.JobPlan) -> None:
        client, ns, key = self.ctx.client, meta(job).get("namespace"), _key(job)
        created: list[str] = []
        deleted: list[str] = []
        try:
            self._create(job, plan.create, created)
            for name in plan.delete:
                try:
                    client.delete("pods", name, ns)
                    self.events.event(with_kind("jobs", job), NORMAL, "SuccessfulDelete",
                                      f"Deleted pod: {name}")
                except NotFound:
                    pass
                deleted.append(f"{ns}/{name}")
        finally:
            if created or deleted:
                # from when the calls ended (see ReplicaSetLoop._apply)
                self.expect.expect(key, self.ctx.clock().timestamp(), created, deleted)
                self.requeue()
        if _pruned(plan.status) != _pruned(job.get("status") or {}):
            client.update("jobs", dict(with_kind("jobs", job), status=plan.status), ns,
                          subresource="status")
        for name in plan.remove_finalizer:  # counted in the status just written
            self._remove_finalizer(ns, name)
        for event_type, reason, message in plan.events:
            self.events.event(with_kind("jobs", job), event_type, reason, message)

    def _create(self, job: dict, pods: list[dict], created: list[str]) -> None:
        client, ns = self.ctx.client, meta(job).get("namespace")
        pending = list(pods)
        with ThreadPoolExecutor(CREATE_WORKERS, thread_name_prefix="job-create") as pool:
            for size in slow_start_batches(len(pending)):
                batch, pending = pending[:size], pending[size:]
                futures = [pool.submit(client.create, "pods", p, ns) for p in batch]
                errors = []
                for future in futures:
                    try:
                        name = name_of(future.result())
                        created.append(f"{ns}/{name}")
                        self.events.event(with_kind("jobs", job), NORMAL, "SuccessfulCreate",
                                          f"Created pod: {name}")
                    except ApiError as exc:
                        errors.append(exc)
                if errors:
                    raise errors[0]

    def _remove_finalizer(self, ns: str, name: str) -> None:
        """Take the tracking finalizer off a Pod (a JSON patch that tests it is there)."""
        try:
            pod = self.ctx.client.get("pods", name, ns)
        except NotFound:
            return
        finalizers = meta(pod).get("finalizers") or []
        if jobs.TRACKING_FINALIZER not in finalizers:
            return
        i = finalizers.index(jobs.TRACKING_FINALIZER)
        try:
            self.ctx.client.patch("pods", name, [
                {"op": "test", "path": f"/metadata/finalizers/{i}",
                 "value": jobs.TRACKING_FINALIZER},
                {"op": "remove", "path": f"/metadata/finalizers/{i}"}], ns, patch_type="json")
        except NotFound:
            pass
        except ApiError as exc:  # the list changed meanwhile: the next sync retries
            self.log.debug("%s/%s: finalizer not removed: %s", ns, name, exc)
            self.requeue()

    def _free_orphan(self, pod: dict) -> None:
        """Remove the finalizer of a finished Pod whose Job is really gone (checked with
        a GET, not only the cache)."""
        ns = meta(pod).get("namespace")
        ref = next((r for r in meta(pod).get("ownerReferences") or []
                    if r.get("controller") and r.get("kind") == "Job"), None)
        if ref is not None:
            try:
                live = self.ctx.client.get("jobs", ref.get("name", ""), ns)
                if meta(live).get("uid") == ref.get("uid"):
                    return
            except NotFound:
                pass
            except ApiError:
                return
        self._remove_finalizer(ns, name_of(pod))


class CronJobLoop(Loop):
    """CronJob -> Jobs on its schedule; wakes up at the next schedule time."""

    name = "cronjob"
    watches = ("cronjobs", "jobs")
    event_component = "cronjob-controller"
    period = 10.0

    def _reconcile(self, _key: str) -> Optional[float]:
        return self.sync()

    def sync(self) -> Optional[float]:
        now = self.ctx.clock()
        all_jobs = self.ctx.items("jobs")
        soonest: Optional[float] = None
        for cj in self.ctx.items("cronjobs"):
            try:
                plan = cronjobs.reconcile_cronjob(cj, all_jobs, now)
                self._apply(cj, plan)
                soonest = _sooner(soonest, plan.requeue_after)
            except (Conflict, NotFound) as exc:
                self.log.debug("%s: %s (next sync retries)", _key(cj), exc.reason)
        return soonest

    def _apply(self, cj: dict, plan: cronjobs.CronJobPlan) -> None:
        client, ns = self.ctx.client, meta(cj).get("namespace")
        ref = with_kind("cronjobs", cj)
        for name, why in plan.delete:
            try:
                client.delete("jobs", name, ns, propagation_policy="Background")
                self.log.info("%s: deleted Job %s (%s)", _key(cj), name, why)
                self.events.event(ref, NORMAL, "SuccessfulDelete", f"Deleted job {name}")
            except NotFound:
                pass
        status = plan.status
        if plan.create is not None:
            try:
                job = client.create("jobs", plan.create, ns)
                self.events.event(ref, NORMAL, "SuccessfulCreate",
                                  f"Created job {name_of(job)}")
                status = dict(status, active=list(status.get("active") or []) + [{
                    "kind": "Job", "namespace": ns, "name": name_of(job),
                    "uid": meta(job).get("uid"), "apiVersion": "batch/v1",
                    "resourceVersion": meta(job).get("resourceVersion", "")}])
            except AlreadyExists:
                pass
        for event_type, reason, message in plan.events:
            self.events.event(ref, event_type, reason, message)
        if _pruned(status) != _pruned(cj.get("status") or {}):
            client.update("cronjobs", dict(ref, status=status), ns, subresource="status")
