"""Job controller decisions (batch/v1): which Pods to create and delete, what status.

As Kubernetes 1.32's job controller does it:

- Pods carry the finalizer batch.kubernetes.io/job-tracking until the controller has
  counted them: a finished Pod's uid first goes to status.uncountedTerminatedPods,
  then its finalizer is removed, then it moves to status.succeeded / failed. So a Pod
  is counted exactly once, even when it is deleted right after it finished.
- A Pod being deleted that had not succeeded counts as failed (unless the Job has a
  podFailurePolicy or podReplacementPolicy Failed, which wait for phase Failed).
- Failed Pods are replaced after a back-off of 10 s doubled for each consecutive
  failure (at most 6 min); more than backoffLimit failures (or, with restartPolicy
  OnFailure, that many container restarts) fail the Job, as does running longer than
  activeDeadlineSeconds or a podFailurePolicy FailJob rule. Ignore rules do not count.
- Ending is in two steps: FailureTarget (or SuccessCriteriaMet) first, while the
  remaining Pods are deleted; Failed (or Complete) once no Pod is left running.
- Indexed Jobs give each Pod an index (annotation and label
  batch.kubernetes.io/job-completion-index, env JOB_COMPLETION_INDEX, hostname
  `<job>-<index>`) and track status.completedIndexes ("1,3-5,7").
"""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass, field
from typing import Optional

from k8snet.kcm.objects import (
    is_terminating,
    meta,
    name_of,
    owned_by,
    owner_reference,
    timestamp,
    uid_of,
)
from k8snet.kcm.replicaset import pods_to_delete
from k8snet.machinery.conditions import condition, is_ready
from k8snet.machinery.timefmt import format_time

TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
INDEX_KEY = "batch.kubernetes.io/job-completion-index"
INDEX_ENV = "JOB_COMPLETION_INDEX"
BACKOFF_BASE = 10.0
BACKOFF_CAP = 360.0
BURST = 500

BACKOFF_EXCEEDED = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
DEADLINE_EXCEEDED = ("DeadlineExceeded", "Job was active longer than specified deadline")
COMPLETIONS_REACHED = ("CompletionsReached", "Reached expected number of succeeded pods")


@dataclass
class JobPlan:
    """What the Job needs: Pods to `create` and `delete`, Pods whose tracking finalizer
    goes (after `status` is written), `events` (type, reason, message) and when to look
    again (`requeue_after` seconds) if nothing changes meanwhile."""

    create: list[dict] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    remove_finalizer: list[str] = field(default_factory=list)
    status: dict = field(default_factory=dict)
    events: list[tuple[str, str, str]] = field(default_factory=list)
    requeue_after: Optional[float] = None


# -- small facts -------------------------------------------------------------------------

def _spec(job: dict) -> dict:
    return job.get("spec") or {}


def _phase(pod: dict) -> str:
    return (pod.get("status") or {}).get("phase") or ""


def is_finished(job: dict) -> bool:
    """Whether the Job has its Complete or Failed condition."""
    return any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
               for c in (job.get("status") or {}).get("conditions") or [])


def is_indexed(job: dict) -> bool:
    return _spec(job).get("completionMode") == "Indexed"


def _waits_for_failed_phase(job: dict) -> bool:
    spec = _spec(job)
    return bool(spec.get("podFailurePolicy")) or spec.get("podReplacementPolicy") == "Failed"


def pod_failed(pod: dict, job: dict) -> bool:
    """Counts as a failure: phase Failed, or deleted before it succeeded."""
    if _phase(pod) == "Failed":
        return True
    if _waits_for_failed_phase(job):
        return False
    return is_terminating(pod) and _phase(pod) != "Succeeded"


def pod_index(pod: dict) -> Optional[int]:
    """The completion index of an Indexed Job's Pod (None when absent or malformed)."""
    text = (meta(pod).get("annotations") or {}).get(INDEX_KEY)
    if text is None or not str(text).isdigit():
        return None
    return int(text)


def format_indexes(indexes) -> str:
    """Sorted indexes with runs of three or more as first-last: "1,3-5,7"."""
    out, items = [], sorted(set(indexes))
    i = 0
    while i < len(items):
        j = i
        while j + 1 < len(items) and items[j + 1] == items[j] + 1:
            j += 1
        if j - i >= 2:
            out.append(f"{items[i]}-{items[j]}")
        else:
            out.extend(str(x) for x in items[i:j + 1])
        i = j + 1
    return ",".join(out)


def parse_indexes(text: Optional[str]) -> set[int]:
    """The inverse of format_indexes (malformed parts are skipped)."""
    out: set[int] = set()
    for part in (text or "").split(","):
        first, _, last = part.strip().partition("-")
        if first.isdigit() and (not last or last.isdigit()):
            out.update(range(int(first), int(last or first) + 1))
    return out


def finish_time(pod: dict) -> float:
    """When the Pod finished: its containers' latest finishedAt, else its Ready
    condition's last transition, else its creation."""
    times = [timestamp((c.get("state") or {}).get("terminated", {}).get("finishedAt"))
             for c in (pod.get("status") or {}).get("containerStatuses") or []]
    best = max(times, default=0.0)
    if best:
        return best
    ready = condition(pod, "Ready") or {}
    return timestamp(ready.get("lastTransitionTime")) or \
        timestamp(meta(pod).get("creationTimestamp"))


def backoff_delay(failures: int) -> float:
    """Seconds before a replacement after `failures` consecutive failures."""
    if failures <= 0:
        return 0.0
    return min(BACKOFF_CAP, BACKOFF_BASE * 2 ** min(failures - 1, 10))


# -- podFailurePolicy ----------------------------------------------------------------------

def _exit_code_rule_matches(req: dict, pod: dict) -> Optional[tuple[str, int]]:
    """(container, exit code) of the first non-zero exit the requirement matches."""
    values = set(req.get("values") or [])
    status = pod.get("status") or {}
    for c in (status.get("initContainerStatuses") or []) + \
            (status.get("containerStatuses") or []):
        if req.get("containerName") and c.get("name") != req["containerName"]:
            continue
        term = (c.get("state") or {}).get("terminated")
        if not term or int(term.get("exitCode") or 0) == 0:
            continue
        code = int(term["exitCode"])
        if (code in values) == (req.get("operator") == "In"):
            return c.get("name", ""), code
    return None


def failure_policy_action(job: dict, pod: dict) -> tuple[Optional[str], str]:
    """The action (FailJob, Ignore, Count, FailIndex, or None when no rule matches) of
    the first podFailurePolicy rule matching a failed Pod, and the message for FailJob."""
    key = f"{meta(pod).get('namespace')}/{name_of(pod)}"
    for i, rule in enumerate((_spec(job).get("podFailurePolicy") or {}).get("rules") or []):
        action = rule.get("action")
        if rule.get("onExitCodes"):
            hit = _exit_code_rule_matches(rule["onExitCodes"], pod)
            if hit:
                return action, (f"Container {hit[0]} for pod {key} failed with exit code "
                                f"{hit[1]} matching {action} rule at index {i}")
        for pattern in rule.get("onPodConditions") or []:
            cond = condition(pod, pattern.get("type", ""))
            if cond and cond.get("status") == pattern.get("status", "True"):
                return action, (f"Pod {key} has condition {pattern.get('type')} matching "
                                f"{action} rule at index {i}")
    return None, ""


# -- conditions ------------------------------------------------------------------------------

def _set_condition(conditions: list[dict], ctype: str, status: str, reason: str, message: str,
                   now: dt.datetime) -> list[dict]:
    """The conditions with `ctype` set (its transition time kept when status is equal)."""
    stamp = format_time(now)
    out = [dict(c) for c in conditions]
    for c in out:
        if c.get("type") == ctype:
            if c.get("status") != status:
                c["lastTransitionTime"] = stamp
            c.update(status=status, reason=reason, message=message, lastProbeTime=stamp)
            return out
    out.append({"type": ctype, "status": status, "lastProbeTime": stamp,
                "lastTransitionTime": stamp, "reason": reason, "message": message})
    return out


def _true(conditions: list[dict], ctype: str) -> Optional[dict]:
    return next((c for c in conditions if c.get("type") == ctype and c.get("status") == "True"),
                None)


# -- Pods --------------------------------------------------------------------------------------

def pod_for_job(job: dict, index: Optional[int] = None) -> dict:
    """A new Pod from the Job's template: controller ownerReference, tracking finalizer,
    and for an Indexed Job its index (annotation, label, env, hostname)."""
    template = copy.deepcopy(_spec(job).get("template") or {})
    tmeta = template.get("metadata") or {}
    spec = template.get("spec") or {}
    prefix = name_of(job) + "-"
    labels = dict(tmeta.get("labels") or {})
    annotations = dict(tmeta.get("annotations") or {})
    if index is not None:
        prefix = f"{name_of(job)}-{index}-"
        annotations[INDEX_KEY] = str(index)
        labels[INDEX_KEY] = str(index)
        spec.setdefault("hostname", f"{name_of(job)}-{index}")
        ref = {"fieldRef": {"apiVersion": "v1",
                            "fieldPath": f"metadata.annotations['{INDEX_KEY}']"}}
        for key in ("initContainers", "containers"):
            for c in spec.get(key) or []:
                env = c.setdefault("env", [])
                if not any(e.get("name") == INDEX_ENV for e in env):
                    env.append({"name": INDEX_ENV, "valueFrom": ref})
    pod_meta = {"generateName": prefix, "namespace": meta(job).get("namespace", "default"),
                "labels": labels, "finalizers": [TRACKING_FINALIZER],
                "ownerReferences": [owner_reference(job, "Job", "batch/v1")]}
    if annotations:
        pod_meta["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": spec}


def _has_finalizer(pod: dict) -> bool:
    return TRACKING_FINALIZER in (meta(pod).get("finalizers") or [])


# -- the decision ------------------------------------------------------------------------------

@dataclass
class _Tally:
    """The Job's Pods sorted out."""

    active: list[dict]
    terminating: int
    succeeded: list[dict]
    failed: list[dict]          # counted failures (Ignore'd ones excluded)
    ignored: list[dict]
    fail_job: str = ""          # the message of a matching FailJob rule


def _tally(job: dict, owned: list[dict]) -> _Tally:
    t = _Tally([], 0, [], [], [])
    for pod in owned:
        if _phase(pod) == "Succeeded":
            t.succeeded.append(pod)
        elif pod_failed(pod, job):
            action, message = failure_policy_action(job, pod)
            if action == "Ignore":
                t.ignored.append(pod)
                continue
            t.failed.append(pod)
            if action == "FailJob" and not t.fail_job and _has_finalizer(pod):
                t.fail_job = message
        elif is_terminating(pod):
            t.terminating += 1
        else:
            t.active.append(pod)
    return t


def _track(job: dict, tally: _Tally, plan: JobPlan) -> tuple[dict, int, int]:
    """Move finished Pods through uncountedTerminatedPods; returns (uncounted, counted
    succeeded, counted failed) and fills plan.remove_finalizer."""
    status = job.get("status") or {}
    old = status.get("uncountedTerminatedPods") or {}
    old_s, old_f = list(old.get("succeeded") or []), list(old.get("failed") or [])
    succeeded, failed = int(status.get("succeeded") or 0), int(status.get("failed") or 0)
    pods_by_uid = {uid_of(p): p for p in tally.succeeded + tally.failed + tally.ignored}
    new_s, new_f = [], []
    for uids, new, which in ((old_s, new_s, "s"), (old_f, new_f, "f")):
        for uid in uids:
            pod = pods_by_uid.get(uid)
            if pod is None or not _has_finalizer(pod):
                if which == "s":
                    succeeded += 1
                else:
                    failed += 1
            else:
                new.append(uid)
    known = set(old_s) | set(old_f)
    for pods, new in ((tally.succeeded, new_s), (tally.failed, new_f)):
        for pod in pods:
            if _has_finalizer(pod) and uid_of(pod) not in known:
                new.append(uid_of(pod))
    for uid in new_s + new_f:
        plan.remove_finalizer.append(name_of(pods_by_uid[uid]))
    plan.remove_finalizer += [name_of(p) for p in tally.ignored if _has_finalizer(p)]
    return {"succeeded": new_s, "failed": new_f}, succeeded, failed


def _consecutive_failures(tally: _Tally) -> tuple[int, float]:
    """Failures since the last success, and when the latest of them happened."""
    last_success = max((finish_time(p) for p in tally.succeeded), default=0.0)
    times = [t for t in (finish_time(p) for p in tally.failed) if t >= last_success]
    return len(times), max(times, default=0.0)


def _want_active(job: dict, succeeded: int, active: int, completed: set[int]) -> int:
    spec = _spec(job)
    parallelism = int(spec.get("parallelism", 1) or 0)
    completions = spec.get("completions")
    if is_indexed(job):
        return max(0, min(parallelism, int(completions or 0) - len(completed)))
    if completions is None:
        return active if succeeded > 0 else parallelism
    return max(0, min(parallelism, int(completions) - succeeded))


def _indexes_to_create(job: dict, active: list[dict], completed: set[int], count: int
                       ) -> list[int]:
    taken = completed | {i for i in map(pod_index, active) if i is not None}
    total = int(_spec(job).get("completions") or 0)
    return [i for i in range(total) if i not in taken][:count]


def _surplus_indexed(job: dict, active: list[dict], completed: set[int]) -> list[dict]:
    """Active Pods of an Indexed Job that must go: no index, out of range, an index
    already completed, or a second Pod for the same index."""
    total, seen, out = int(_spec(job).get("completions") or 0), set(), []
    for pod in sorted(active, key=lambda p: timestamp(meta(p).get("creationTimestamp"))):
        i = pod_index(pod)
        if i is None or i >= total or i in completed or i in seen:
            out.append(pod)
        else:
            seen.add(i)
    return out


def reconcile_job(job: dict, pods: list[dict], now: dt.datetime) -> JobPlan:
    """Compare the Job with its Pods (those it controls)."""
    plan = JobPlan()
    spec, old_status = _spec(job), job.get("status") or {}
    owned = owned_by(pods, job)
    tally = _tally(job, owned)
    uncounted, counted_s, counted_f = _track(job, tally, plan)
    conditions = list(old_status.get("conditions") or [])
    status: dict = {k: v for k, v in old_status.items()}
    completed = parse_indexes(old_status.get("completedIndexes")) if is_indexed(job) else set()
    if is_indexed(job):
        total = int(spec.get("completions") or 0)
        completed |= {i for i in map(pod_index, tally.succeeded)
                      if i is not None and i < total}
    succeeded = counted_s + len(uncounted["succeeded"])
    failed = counted_f + len(uncounted["failed"])
    active = tally.active
    finished = is_finished(job)

    start = old_status.get("startTime")
    suspended = bool(spec.get("suspend"))
    if not finished:
        conditions, start = _suspension(conditions, suspended, start, now, plan)

    end_reason: Optional[tuple[str, str]] = None
    if not finished and not suspended:
        target = _true(conditions, "FailureTarget")
        if target:
            end_reason = (target.get("reason", ""), target.get("message", ""))
        elif _true(conditions, "SuccessCriteriaMet") is None:
            end_reason = _failure(job, tally, failed, start, now)
            if end_reason:
                conditions = _set_condition(conditions, "FailureTarget", "True", *end_reason,
                                            now)
        if end_reason is None and _succeeded(job, succeeded, active, completed):
            if _true(conditions, "SuccessCriteriaMet") is None:
                conditions = _set_condition(conditions, "SuccessCriteriaMet", "True",
                                            *COMPLETIONS_REACHED, now)
    ending = end_reason is not None or _true(conditions, "SuccessCriteriaMet") is not None

    if finished or ending or suspended:
        plan.delete = [name_of(p) for p in active]
    else:
        _scale(job, plan, tally, succeeded, completed, now)
    if ending and not finished and not plan.delete and not tally.terminating \
            and not uncounted["succeeded"] and not uncounted["failed"]:
        if end_reason is not None:
            conditions = _set_condition(conditions, "Failed", "True", *end_reason, now)
            plan.events.append(("Warning", end_reason[0], end_reason[1]))
        else:
            conditions = _set_condition(conditions, "Complete", "True", *COMPLETIONS_REACHED,
                                        now)
            status["completionTime"] = format_time(now)
            plan.events.append(("Normal", "Completed", "Job completed"))

    deleting = set(plan.delete)
    status.update({
        "active": len(active) - len(deleting),
        "ready": sum(1 for p in active if is_ready(p) and name_of(p) not in deleting),
        "terminating": tally.terminating + len(deleting),
        "succeeded": counted_s, "failed": counted_f,
        "uncountedTerminatedPods": uncounted, "conditions": conditions,
    })
    if start and not finished:
        status["startTime"] = start
    elif not start:
        status.pop("startTime", None)
    if is_indexed(job):
        status["completedIndexes"] = format_indexes(completed)
    if not status["conditions"]:
        del status["conditions"]
    plan.status = status
    deadline = spec.get("activeDeadlineSeconds")
    if deadline is not None and start and not ending and not finished:
        left = timestamp(start) + int(deadline) - now.timestamp()
        plan.requeue_after = _sooner(plan.requeue_after, max(left, 0.0))
    return plan


def _sooner(a: Optional[float], b: Optional[float]) -> Optional[float]:
    return b if a is None else a if b is None else min(a, b)


def _suspension(conditions: list[dict], suspended: bool, start: Optional[str],
                now: dt.datetime, plan: JobPlan) -> tuple[list[dict], Optional[str]]:
    """The Suspended condition and startTime (cleared while suspended)."""
    was = _true(conditions, "Suspended") is not None
    if suspended:
        if not was:
            conditions = _set_condition(conditions, "Suspended", "True", "JobSuspended",
                                        "Job suspended", now)
            plan.events.append(("Normal", "Suspended", "Job suspended"))
        return conditions, None
    if was:
        conditions = _set_condition(conditions, "Suspended", "False", "JobResumed",
                                    "Job resumed", now)
        plan.events.append(("Normal", "Resumed", "Job resumed"))
    return conditions, start or format_time(now)


def _failure(job: dict, tally: _Tally, failed: int, start: Optional[str],
             now: dt.datetime) -> Optional[tuple[str, str]]:
    """Why the Job fails now (reason, message), or None."""
    spec = _spec(job)
    if tally.fail_job:
        return "PodFailurePolicy", tally.fail_job
    limit = int(spec.get("backoffLimit", 6) if spec.get("backoffLimit") is not None else 6)
    if failed > limit:
        return BACKOFF_EXCEEDED
    template_spec = (spec.get("template") or {}).get("spec") or {}
    if template_spec.get("restartPolicy") == "OnFailure" and limit >= 0:
        restarts = sum(int(c.get("restartCount") or 0) for p in tally.active
                       for c in (p.get("status") or {}).get("containerStatuses") or [])
        if restarts > 0 and restarts >= limit:
            return BACKOFF_EXCEEDED
    deadline = spec.get("activeDeadlineSeconds")
    if deadline is not None and start and \
            timestamp(start) + int(deadline) <= now.timestamp():
        return DEADLINE_EXCEEDED
    return None


def _succeeded(job: dict, succeeded: int, active: list[dict], completed: set[int]) -> bool:
    completions = _spec(job).get("completions")
    if is_indexed(job):
        return len(completed) >= int(completions or 0)
    if completions is None:
        return succeeded > 0 and not active
    return succeeded >= int(completions)


def _scale(job: dict, plan: JobPlan, tally: _Tally, succeeded: int, completed: set[int],
           now: dt.datetime) -> None:
    """Create or delete Pods toward the wanted number of active ones."""
    active = tally.active
    if is_indexed(job):
        surplus = _surplus_indexed(job, active, completed)
        plan.delete = [name_of(p) for p in surplus]
        active = [p for p in active if p not in surplus]
    want = _want_active(job, succeeded, len(active), completed)
    if len(active) > want:
        plan.delete += pods_to_delete(active, len(active) - want)
        return
    missing = min(BURST, want - len(active))
    if missing <= 0:
        return
    failures, last = _consecutive_failures(tally)
    wait = last + backoff_delay(failures) - now.timestamp() if failures else 0.0
    if wait > 0:
        plan.requeue_after = wait
        return
    if is_indexed(job):
        plan.create = [pod_for_job(job, i)
                       for i in _indexes_to_create(job, active, completed, missing)]
    else:
        plan.create = [pod_for_job(job) for _ in range(missing)]


# -- after the end -----------------------------------------------------------------------------

def ttl_left(job: dict, now: dt.datetime) -> Optional[float]:
    """Seconds until a finished Job with ttlSecondsAfterFinished is deleted (<= 0: now);
    None when it never is (not finished, or no TTL)."""
    ttl = _spec(job).get("ttlSecondsAfterFinished")
    if ttl is None or not is_finished(job):
        return None
    conds = (job.get("status") or {}).get("conditions") or []
    end = next((c for c in conds if c.get("type") in ("Complete", "Failed")
                and c.get("status") == "True"), {})
    finished_at = timestamp((job.get("status") or {}).get("completionTime")) or \
        timestamp(end.get("lastTransitionTime"))
    return finished_at + int(ttl) - now.timestamp()


def orphaned_tracked_pods(jobs: list[dict], pods: list[dict]) -> list[dict]:
    """Finished or deleted Pods still holding the tracking finalizer whose Job (by its
    ownerReference uid) is not among `jobs`: nobody will count them, so it goes."""
    uids = {uid_of(j) for j in jobs}
    out = []
    for pod in pods:
        if not _has_finalizer(pod):
            continue
        ref = next((r for r in meta(pod).get("ownerReferences") or []
                    if r.get("controller") and r.get("kind") == "Job"), None)
        done = _phase(pod) in ("Succeeded", "Failed") or is_terminating(pod)
        if done and (ref is None or ref.get("uid") not in uids):
            out.append(pod)
    return out
