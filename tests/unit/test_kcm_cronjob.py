"""CronJob: schedules (descriptors, day-of-month/day-of-week, time zones and DST edges)
and the controller's decisions (missed times, deadlines, concurrency, history, suspend)."""

from __future__ import annotations

import datetime as dt
from typing import Optional
from zoneinfo import ZoneInfo

from kcm_fixtures import stamp

from k8snet.api import cron
from k8snet.kcm import cronjob as cjc

UTC = dt.timezone.utc
NY = ZoneInfo("America/New_York")
T0 = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def nxt(schedule: str, t: dt.datetime) -> Optional[dt.datetime]:
    return cron.parse(schedule).next_after(t)


def test_descriptors_and_steps():
    assert nxt("@hourly", T0) == T0 + dt.timedelta(hours=1)
    assert nxt("@daily", T0) == dt.datetime(2024, 5, 2, tzinfo=UTC)
    assert nxt("@weekly", T0) == dt.datetime(2024, 5, 5, tzinfo=UTC)  # a Sunday
    assert nxt("@monthly", T0) == dt.datetime(2024, 6, 1, tzinfo=UTC)
    assert nxt("@yearly", T0) == dt.datetime(2025, 1, 1, tzinfo=UTC)
    assert nxt("*/15 * * * *", T0 + dt.timedelta(minutes=1)) == T0 + dt.timedelta(minutes=15)
    assert nxt("* * * * *", T0 + dt.timedelta(seconds=30)) == T0 + dt.timedelta(minutes=1)
    assert nxt("@every 90s", T0) == T0 + dt.timedelta(seconds=90)


def test_day_of_month_or_day_of_week_when_both_are_restricted():
    # the 13th, or any Friday
    assert nxt("0 0 13 * 5", T0) == dt.datetime(2024, 5, 3, tzinfo=UTC)
    assert nxt("0 0 13 * *", T0) == dt.datetime(2024, 5, 13, tzinfo=UTC)
    assert nxt("0 0 29 2 *", T0) == dt.datetime(2028, 2, 29, tzinfo=UTC)
    assert nxt("0 0 30 2 *", T0) is None


def test_time_zone_is_the_wall_clock_of_the_zone():
    t = nxt("0 9 * * *", T0.astimezone(NY))
    assert t == dt.datetime(2024, 5, 1, 9, 0, tzinfo=NY)  # T0 is 08:00 in New York
    assert t.astimezone(UTC).hour == 13  # EDT


def test_dst_spring_forward_skips_the_missing_time():
    before = dt.datetime(2024, 3, 9, 12, 0, tzinfo=NY)
    assert nxt("30 2 * * *", before) == dt.datetime(2024, 3, 11, 2, 30, tzinfo=NY)
    # hourly keeps going across the gap: 01:00 EST, then 03:00 EDT, one hour later
    one = dt.datetime(2024, 3, 10, 1, 0, tzinfo=NY)
    after = nxt("0 * * * *", one)
    assert after.hour == 3 and after.astimezone(UTC) - one.astimezone(UTC) == \
        dt.timedelta(hours=1)


def test_dst_fall_back_fires_twice_in_the_repeated_hour():
    first = nxt("30 1 * * *", dt.datetime(2024, 11, 3, 0, 0, tzinfo=NY))
    second = nxt("30 1 * * *", first)
    assert (first.hour, second.hour) == (1, 1)
    assert second.astimezone(UTC) - first.astimezone(UTC) == dt.timedelta(hours=1)
    assert nxt("30 1 * * *", second) == dt.datetime(2024, 11, 4, 1, 30, tzinfo=NY)


def cronjob(schedule: str = "*/5 * * * *", status: Optional[dict] = None,
            created: dt.datetime = T0, **spec) -> dict:
    s = {"schedule": schedule, "concurrencyPolicy": "Allow", "suspend": False,
         "jobTemplate": {"metadata": {"labels": {"team": "a"}},
                         "spec": {"template": {"spec": {
                             "restartPolicy": "OnFailure",
                             "containers": [{"name": "hello", "image": "busybox"}]}}}}}
    s.update(spec)
    return {"apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": "hello", "namespace": "default", "uid": "cj-uid",
                         "creationTimestamp": stamp(created)},
            "spec": s, "status": status or {}}


def job(name: str, finished: Optional[str] = None, started: dt.datetime = T0) -> dict:
    st: dict = {"startTime": stamp(started)}
    if finished:
        st["conditions"] = [{"type": finished, "status": "True"}]
        if finished == "Complete":
            st["completionTime"] = stamp(started + dt.timedelta(seconds=5))
    return {"metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}",
                         "ownerReferences": [{"kind": "CronJob", "uid": "cj-uid",
                                              "controller": True}]},
            "status": st}


def test_nothing_before_the_first_time_then_a_job_named_by_minutes():
    plan = cjc.reconcile_cronjob(cronjob(), [], T0 + dt.timedelta(minutes=2))
    assert plan.create is None and abs(plan.requeue_after - 180.1) < 1e-6
    at = T0 + dt.timedelta(minutes=5, seconds=3)
    plan = cjc.reconcile_cronjob(cronjob(), [], at)
    j = plan.create
    assert j["metadata"]["name"] == f"hello-{int((T0.timestamp() + 300) // 60)}"
    assert j["metadata"]["labels"] == {"team": "a"}
    assert j["metadata"]["annotations"][cjc.SCHEDULED_ANNOTATION] == "2024-05-01T12:05:00+00:00"
    assert j["metadata"]["ownerReferences"][0]["kind"] == "CronJob"
    assert plan.status["lastScheduleTime"] == "2024-05-01T12:05:00Z"


def test_only_the_most_recent_missed_time_runs_and_never_twice():
    at = T0 + dt.timedelta(minutes=31)
    plan = cjc.reconcile_cronjob(cronjob(), [], at)
    assert plan.create["metadata"]["name"].endswith(str(int((T0.timestamp() + 1800) // 60)))
    existing = job(plan.create["metadata"]["name"])
    status = {"lastScheduleTime": stamp(T0 + dt.timedelta(minutes=30))}
    plan = cjc.reconcile_cronjob(cronjob(status=status), [existing], at)
    assert plan.create is None
    assert [r["name"] for r in plan.status["active"]] == [existing["metadata"]["name"]]


def test_starting_deadline_missed():
    cj = cronjob(startingDeadlineSeconds=10)
    plan = cjc.reconcile_cronjob(cj, [], T0 + dt.timedelta(minutes=5, seconds=30))
    assert plan.create is None
    plan = cjc.reconcile_cronjob(cj, [], T0 + dt.timedelta(minutes=5, seconds=5))
    assert plan.create is not None


def test_concurrency_policies():
    status = {"lastScheduleTime": stamp(T0)}
    running = [job("hello-1")]
    at = T0 + dt.timedelta(minutes=5)
    forbid = cjc.reconcile_cronjob(cronjob(status=status, concurrencyPolicy="Forbid"),
                                   running, at)
    assert forbid.create is None and forbid.events[0][1] == "JobAlreadyActive"
    replace = cjc.reconcile_cronjob(cronjob(status=status, concurrencyPolicy="Replace"),
                                    running, at)
    assert replace.create is not None and replace.delete == [("hello-1", "replace")]
    allow = cjc.reconcile_cronjob(cronjob(status=status), running, at)
    assert allow.create is not None and allow.delete == []


def test_suspend_creates_nothing():
    plan = cjc.reconcile_cronjob(cronjob(suspend=True), [], T0 + dt.timedelta(minutes=6))
    assert plan.create is None


def test_history_limits_and_last_successful_time():
    jobs = [job(f"ok{i}", "Complete", T0 + dt.timedelta(minutes=i)) for i in range(5)] + \
        [job(f"bad{i}", "Failed", T0 + dt.timedelta(minutes=i)) for i in range(3)]
    status = {"lastScheduleTime": stamp(T0 + dt.timedelta(minutes=5)),
              "active": [{"name": "ok4", "uid": "uid-ok4"}]}
    plan = cjc.reconcile_cronjob(cronjob(status=status), jobs, T0 + dt.timedelta(minutes=6))
    assert plan.delete == [("ok0", "history"), ("ok1", "history"), ("bad0", "history"),
                           ("bad1", "history")]
    assert plan.status["lastSuccessfulTime"] == stamp(T0 + dt.timedelta(minutes=4, seconds=5))
    assert "active" not in plan.status
    assert ("Normal", "SawCompletedJob", "Saw completed job: ok4, status: Complete") in \
        plan.events


def test_time_zone_schedule():
    cj = cronjob("0 9 * * *", timeZone="America/New_York")
    plan = cjc.reconcile_cronjob(cj, [], dt.datetime(2024, 5, 1, 13, 0, 30, tzinfo=UTC))
    assert plan.create is not None
    assert plan.status["lastScheduleTime"] == "2024-05-01T13:00:00Z"
    bad = cjc.reconcile_cronjob(cronjob(timeZone="Mars/Olympus"), [], T0)
    assert bad.create is None and bad.events[0][1] == "UnparseableSchedule"
