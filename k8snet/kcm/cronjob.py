"""CronJob controller decisions (batch/v1), as Kubernetes 1.32's cronjob controller v2.

At each sync, for each CronJob: its finished Jobs leave status.active (a Complete one
moves status.lastSuccessfulTime); if it is not suspended, the most recent schedule
time not yet run (since lastScheduleTime, or its creation, and not before
now - startingDeadlineSeconds) gets a Job named `<cronjob>-<minutes since epoch>`,
unless it is too late (startingDeadlineSeconds), or a Job runs and concurrencyPolicy
is Forbid (Replace deletes the running ones first). Finished Jobs beyond
successfulJobsHistoryLimit / failedJobsHistoryLimit are deleted, oldest first. The
schedule is read in spec.timeZone (UTC when unset: the zone of our
controller-manager).
"""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass, field
from typing import Optional
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from k8snet.api import cron
from k8snet.kcm.objects import meta, name_of, owned_by, owner_reference, timestamp, uid_of
from k8snet.machinery.timefmt import format_time, parse_time

SCHEDULED_ANNOTATION = "batch.kubernetes.io/cronjob-scheduled-timestamp"
MAX_MISSED = 100


@dataclass
class CronJobPlan:
    """A Job to `create`, Jobs to `delete` (name, why: "replace" or "history"), the
    `status`, `events` (type, reason, message), and when to look again."""

    create: Optional[dict] = None
    delete: list[tuple[str, str]] = field(default_factory=list)
    status: dict = field(default_factory=dict)
    events: list[tuple[str, str, str]] = field(default_factory=list)
    requeue_after: Optional[float] = None


def _spec(cj: dict) -> dict:
    return cj.get("spec") or {}


def job_finished(job: dict) -> Optional[str]:
    """"Complete" or "Failed" when the Job has that condition true, else None."""
    for c in (job.get("status") or {}).get("conditions") or []:
        if c.get("type") in ("Complete", "Failed") and c.get("status") == "True":
            return c["type"]
    return None


def zone_of(cj: dict) -> dt.tzinfo:
    """spec.timeZone, UTC when unset (ValueError for an unknown zone)."""
    name = _spec(cj).get("timeZone")
    if not name:
        return dt.timezone.utc
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name}") from exc


def job_name(cj: dict, scheduled: dt.datetime) -> str:
    """`<cronjob>-<minutes since the epoch of the scheduled time>`."""
    return f"{name_of(cj)}-{int(scheduled.timestamp() // 60)}"


def unmet_times(schedule: cron.Schedule, earliest: dt.datetime, now: dt.datetime,
                limit: int = MAX_MISSED + 1) -> list[dt.datetime]:
    """Activations after `earliest` up to `now` (at most `limit`, the latest kept)."""
    out: list[dt.datetime] = []
    t = schedule.next_after(earliest)
    while t is not None and t <= now:
        out.append(t)
        if len(out) > limit:
            out.pop(0)
        t = schedule.next_after(t)
    return out


def job_for(cj: dict, scheduled: dt.datetime) -> dict:
    """The Job of the CronJob for `scheduled`."""
    template = copy.deepcopy(_spec(cj).get("jobTemplate") or {})
    tmeta = template.get("metadata") or {}
    annotations = dict(tmeta.get("annotations") or {})
    annotations[SCHEDULED_ANNOTATION] = scheduled.isoformat()
    job_meta = {"name": job_name(cj, scheduled),
                "namespace": meta(cj).get("namespace", "default"),
                "labels": dict(tmeta.get("labels") or {}), "annotations": annotations,
                "ownerReferences": [owner_reference(cj, "CronJob", "batch/v1")]}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": job_meta,
            "spec": template.get("spec") or {}}


def _ref(job: dict) -> dict:
    return {"kind": "Job", "namespace": meta(job).get("namespace"), "name": name_of(job),
            "uid": uid_of(job), "apiVersion": "batch/v1",
            "resourceVersion": meta(job).get("resourceVersion", "")}


def _history(cj: dict, finished: list[tuple[dict, str]]) -> list[str]:
    """Finished Jobs past the history limits, oldest first."""
    spec = _spec(cj)
    out = []
    for kind, key, default in (("Complete", "successfulJobsHistoryLimit", 3),
                               ("Failed", "failedJobsHistoryLimit", 1)):
        limit = spec.get(key)
        limit = default if limit is None else int(limit)
        jobs = sorted((j for j, k in finished if k == kind),
                      key=lambda j: (timestamp((j.get("status") or {}).get("startTime"))
                                     or timestamp(meta(j).get("creationTimestamp")),
                                     name_of(j)))
        out += [name_of(j) for j in jobs[:max(0, len(jobs) - limit)]]
    return out


def reconcile_cronjob(cj: dict, jobs: list[dict], now: dt.datetime) -> CronJobPlan:
    """Compare the CronJob with its Jobs at `now`."""
    plan = CronJobPlan()
    spec, old = _spec(cj), cj.get("status") or {}
    status = dict(old)
    mine = owned_by(jobs, cj)
    active, finished = [], []
    for job in mine:
        kind = job_finished(job)
        if kind is None:
            if not meta(job).get("deletionTimestamp"):
                active.append(job)
        else:
            finished.append((job, kind))
    last_ok = parse_time(old.get("lastSuccessfulTime"))
    seen = {r.get("uid") for r in old.get("active") or []}
    for job, kind in finished:
        if uid_of(job) in seen:
            plan.events.append(("Normal", "SawCompletedJob",
                                f"Saw completed job: {name_of(job)}, status: {kind}"))
        done = parse_time((job.get("status") or {}).get("completionTime"))
        if kind == "Complete" and done is not None and (last_ok is None or done > last_ok):
            last_ok = done
    if last_ok is not None:
        status["lastSuccessfulTime"] = format_time(last_ok)
    plan.delete = [(n, "history") for n in _history(cj, finished)]
    status["active"] = [_ref(j) for j in sorted(active, key=name_of)]
    if meta(cj).get("deletionTimestamp"):
        plan.status = _tidy(status)
        return plan
    try:
        schedule = cron.parse(spec.get("schedule") or "")
        zone = zone_of(cj)
    except ValueError as exc:
        plan.events.append(("Warning", "UnparseableSchedule",
                            f"unparseable schedule: {spec.get('schedule')!r} : {exc}"))
        plan.status = _tidy(status)
        return plan
    local_now = now.astimezone(zone)
    earliest = parse_time(old.get("lastScheduleTime")) or \
        parse_time(meta(cj).get("creationTimestamp")) or now
    deadline = spec.get("startingDeadlineSeconds")
    if deadline is not None:
        earliest = max(earliest, now - dt.timedelta(seconds=int(deadline)))
    times = unmet_times(schedule, earliest.astimezone(zone), local_now)
    nxt = schedule.next_after(local_now)
    plan.requeue_after = None if nxt is None else max(
        0.0, (nxt - local_now).total_seconds()) + 0.1
    if len(times) > MAX_MISSED:
        plan.events.append(("Warning", "TooManyMissedTimes",
                            "too many missed start times. Set or decrease "
                            ".spec.startingDeadlineSeconds or check clock skew"))
    if spec.get("suspend") or not times:
        plan.status = _tidy(status)
        return plan
    scheduled = times[-1]
    name = job_name(cj, scheduled)
    if any(name_of(j) == name for j in mine):
        plan.status = _tidy(status)
        return plan
    if deadline is not None and scheduled + dt.timedelta(seconds=int(deadline)) < local_now:
        plan.events.append(("Warning", "MissSchedule",
                            f"Missed scheduled time to start a job: "
                            f"{format_time(scheduled)}"))
        plan.status = _tidy(status)
        return plan
    policy = spec.get("concurrencyPolicy") or "Allow"
    if active and policy == "Forbid":
        plan.events.append(("Normal", "JobAlreadyActive", "Not starting job because prior "
                            "execution is running and concurrency policy is Forbid"))
        plan.status = _tidy(status)
        return plan
    if active and policy == "Replace":
        plan.delete += [(name_of(j), "replace") for j in active]
        status["active"] = []
    plan.create = job_for(cj, scheduled)
    status["lastScheduleTime"] = format_time(scheduled)
    plan.status = _tidy(status)
    return plan


def _tidy(status: dict) -> dict:
    """status.active is left out when empty (as the API omits it)."""
    if not status.get("active"):
        status.pop("active", None)
    return status
