"""Job controller decisions: completions, parallelism, back-off, deadlines, Indexed
mode, podFailurePolicy, finalizer tracking, conditions, TTL."""

from __future__ import annotations

import datetime as dt
from typing import Optional

from kcm_fixtures import T0, stamp

from k8snet.kcm import job as jobs

JOB_UID = "job-uid"


def job(completions: Optional[int] = 1, parallelism: int = 1, status: Optional[dict] = None,
        **spec_extra) -> dict:
    spec = {"parallelism": parallelism, "backoffLimit": 6,
            "template": {"metadata": {"labels": {"job-name": "pi"}},
                         "spec": {"restartPolicy": "Never",
                                  "containers": [{"name": "c", "image": "perl"}]}}}
    if completions is not None:
        spec["completions"] = completions
    spec.update(spec_extra)
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "pi", "namespace": "default", "uid": JOB_UID},
            "spec": spec, "status": status if status is not None else {}}


def pod(name: str, phase: str = "Running", ready: bool = True, finalizer: bool = True,
        exit_code: Optional[int] = None, finished: dt.datetime = T0, index: Optional[int] = None,
        deleting: bool = False, created: dt.datetime = T0, restarts: int = 0) -> dict:
    cs: dict = {"name": "c", "restartCount": restarts, "state": {"running": {}}}
    if phase in ("Succeeded", "Failed"):
        code = exit_code if exit_code is not None else (0 if phase == "Succeeded" else 1)
        cs["state"] = {"terminated": {"exitCode": code, "finishedAt": stamp(finished)}}
        ready = False
    md: dict = {"name": name, "namespace": "default", "uid": f"uid-{name}",
                "creationTimestamp": stamp(created),
                "ownerReferences": [{"kind": "Job", "uid": JOB_UID, "controller": True,
                                     "name": "pi"}]}
    if finalizer:
        md["finalizers"] = [jobs.TRACKING_FINALIZER]
    if index is not None:
        md["annotations"] = {jobs.INDEX_KEY: str(index)}
    if deleting:
        md["deletionTimestamp"] = stamp(T0)
    return {"metadata": md, "spec": {"nodeName": "n1"},
            "status": {"phase": phase, "containerStatuses": [cs],
                       "conditions": [{"type": "Ready", "status": str(ready)}]}}


def later(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def conds(plan) -> dict:
    return {c["type"]: (c["status"], c.get("reason")) for c in plan.status.get("conditions", [])}


def test_new_job_creates_parallelism_pods_with_the_tracking_finalizer():
    plan = jobs.reconcile_job(job(completions=5, parallelism=2), [], T0)
    assert len(plan.create) == 2
    p = plan.create[0]
    assert p["metadata"]["generateName"] == "pi-"
    assert p["metadata"]["finalizers"] == [jobs.TRACKING_FINALIZER]
    assert p["metadata"]["ownerReferences"][0]["kind"] == "Job"
    assert p["metadata"]["labels"] == {"job-name": "pi"}
    assert plan.status["startTime"] == stamp(T0) and plan.status["active"] == 0


def test_never_more_pods_than_completions_left():
    j = job(completions=3, parallelism=5, status={"succeeded": 2, "startTime": stamp(T0)})
    plan = jobs.reconcile_job(j, [], T0)
    assert len(plan.create) == 1


def test_finished_pod_is_counted_once_through_uncounted_then_counts():
    j = job(completions=2, status={"startTime": stamp(T0)})
    done = pod("a", "Succeeded")
    plan = jobs.reconcile_job(j, [done], T0)
    assert plan.status["uncountedTerminatedPods"] == {"succeeded": ["uid-a"], "failed": []}
    assert plan.status["succeeded"] == 0 and plan.remove_finalizer == ["a"]
    assert len(plan.create) == 1  # the one completion left
    # finalizer removed: the uid moves to the count
    j["status"] = plan.status
    plan = jobs.reconcile_job(j, [pod("a", "Succeeded", finalizer=False)], T0)
    assert plan.status["succeeded"] == 1
    assert plan.status["uncountedTerminatedPods"] == {"succeeded": [], "failed": []}
    assert plan.remove_finalizer == []
    # seen again without finalizer: not counted twice
    j["status"] = plan.status
    plan = jobs.reconcile_job(j, [pod("a", "Succeeded", finalizer=False)], T0)
    assert plan.status["succeeded"] == 1


def test_completion_goes_through_success_criteria_met_then_complete():
    j = job(completions=1, status={"startTime": stamp(T0), "succeeded": 1})
    plan = jobs.reconcile_job(j, [pod("a", "Succeeded", finalizer=False)], later(5))
    c = conds(plan)
    assert c["SuccessCriteriaMet"] == ("True", "CompletionsReached")
    assert c["Complete"] == ("True", "CompletionsReached")
    assert plan.status["completionTime"] == stamp(later(5))
    assert ("Normal", "Completed", "Job completed") in plan.events
    assert not plan.create


def test_complete_waits_for_uncounted_pods():
    j = job(completions=1, status={"startTime": stamp(T0)})
    plan = jobs.reconcile_job(j, [pod("a", "Succeeded")], T0)
    c = conds(plan)
    assert c["SuccessCriteriaMet"][0] == "True" and "Complete" not in c


def test_no_completions_ends_when_one_succeeded_and_none_run():
    j = job(completions=None, parallelism=2, status={"startTime": stamp(T0), "succeeded": 1})
    plan = jobs.reconcile_job(j, [pod("a", "Succeeded", finalizer=False), pod("b")], T0)
    assert not plan.create and not plan.delete and "Complete" not in conds(plan)
    plan = jobs.reconcile_job(j, [pod("a", "Succeeded", finalizer=False)], T0)
    assert conds(plan)["Complete"][0] == "True"


def test_failed_pod_replaced_after_exponential_backoff():
    j = job(completions=1, status={"startTime": stamp(T0), "failed": 1})
    failed = [pod("a", "Failed", finalizer=False, finished=T0)]
    plan = jobs.reconcile_job(j, failed, later(3))
    assert not plan.create and abs(plan.requeue_after - 7) < 1e-6
    assert len(jobs.reconcile_job(j, failed, later(10)).create) == 1
    j["status"]["failed"] = 3
    three = failed + [pod("b", "Failed", finalizer=False, finished=later(20)),
                      pod("c", "Failed", finalizer=False, finished=later(40))]
    plan = jobs.reconcile_job(j, three, later(60))
    assert not plan.create and abs(plan.requeue_after - 20) < 1e-6  # 40 s after the 3rd


def test_backoff_delay_doubles_from_ten_seconds_to_six_minutes():
    assert [jobs.backoff_delay(n) for n in (1, 2, 3, 4, 5, 6, 7, 20)] == \
        [10, 20, 40, 80, 160, 320, 360, 360]


def test_more_failures_than_backoff_limit_fails_the_job():
    j = job(completions=3, parallelism=2, backoffLimit=1,
            status={"startTime": stamp(T0), "failed": 1})
    pods = [pod("a", "Failed", finalizer=False), pod("b", "Failed"), pod("c")]
    plan = jobs.reconcile_job(j, pods, later(1))
    assert conds(plan)["FailureTarget"] == ("True", "BackoffLimitExceeded")
    assert plan.delete == ["c"] and not plan.create
    assert "Failed" not in conds(plan)
    j["status"] = dict(plan.status, uncountedTerminatedPods={}, failed=2)
    pods = [pod("a", "Failed", finalizer=False), pod("b", "Failed", finalizer=False)]
    plan = jobs.reconcile_job(j, pods, later(2))
    c = conds(plan)
    assert c["Failed"] == ("True", "BackoffLimitExceeded")
    msg = next(x for x in plan.status["conditions"] if x["type"] == "Failed")["message"]
    assert msg == "Job has reached the specified backoff limit"
    assert "completionTime" not in plan.status


def test_on_failure_restarts_count_toward_the_backoff_limit():
    j = job(backoffLimit=2, status={"startTime": stamp(T0)})
    j["spec"]["template"]["spec"]["restartPolicy"] = "OnFailure"
    plan = jobs.reconcile_job(j, [pod("a", ready=False, restarts=2)], T0)
    assert conds(plan)["FailureTarget"] == ("True", "BackoffLimitExceeded")


def test_active_deadline_fails_the_job_and_deletes_its_pods():
    j = job(completions=2, activeDeadlineSeconds=30, status={"startTime": stamp(T0)})
    plan = jobs.reconcile_job(j, [pod("a")], later(10))
    assert plan.requeue_after == 20 and not plan.delete
    plan = jobs.reconcile_job(j, [pod("a")], later(30))
    assert conds(plan)["FailureTarget"] == ("True", "DeadlineExceeded")
    assert plan.delete == ["a"] and plan.status["active"] == 0
    assert plan.status["terminating"] == 1


def test_deleted_running_pod_counts_as_failed():
    j = job(status={"startTime": stamp(T0)})
    plan = jobs.reconcile_job(j, [pod("a", deleting=True)], T0)
    assert plan.status["uncountedTerminatedPods"]["failed"] == ["uid-a"]


def test_pod_failure_policy_fail_job_and_ignore():
    policy = {"rules": [
        {"action": "FailJob", "onExitCodes": {"containerName": "c", "operator": "In",
                                              "values": [42]}},
        {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]}
    j = job(completions=2, podFailurePolicy=policy, status={"startTime": stamp(T0)})
    plan = jobs.reconcile_job(j, [pod("a", "Failed", exit_code=42)], T0)
    assert conds(plan)["FailureTarget"] == ("True", "PodFailurePolicy")
    msg = next(x for x in plan.status["conditions"] if x["type"] == "FailureTarget")["message"]
    assert msg == ("Container c for pod default/a failed with exit code 42 matching FailJob "
                   "rule at index 0")
    evicted = pod("b", "Failed", exit_code=137)
    evicted["status"]["conditions"].append({"type": "DisruptionTarget", "status": "True"})
    plan = jobs.reconcile_job(j, [evicted], T0)
    assert "FailureTarget" not in conds(plan)
    assert plan.status["uncountedTerminatedPods"]["failed"] == []
    assert plan.remove_finalizer == ["b"]
    assert len(plan.create) == 1  # replaced at once: an ignored failure has no back-off
    # with a podFailurePolicy a deleting Pod is not failed until its phase says so
    plan = jobs.reconcile_job(j, [pod("c", deleting=True)], T0)
    assert plan.status["uncountedTerminatedPods"]["failed"] == []
    assert plan.status["terminating"] == 1


def test_indexed_job_pods_get_index_annotation_label_env_and_hostname():
    j = job(completions=3, parallelism=2, completionMode="Indexed",
            status={"startTime": stamp(T0)})
    plan = jobs.reconcile_job(j, [], T0)
    assert [p["metadata"]["annotations"][jobs.INDEX_KEY] for p in plan.create] == ["0", "1"]
    p = plan.create[1]
    assert p["metadata"]["generateName"] == "pi-1-"
    assert p["metadata"]["labels"][jobs.INDEX_KEY] == "1"
    assert p["spec"]["hostname"] == "pi-1"
    assert p["spec"]["containers"][0]["env"] == [{"name": "JOB_COMPLETION_INDEX", "valueFrom": {
        "fieldRef": {"apiVersion": "v1",
                     "fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"
                     }}}]


def test_indexed_job_fills_missing_indexes_and_reports_completed_ones():
    j = job(completions=5, parallelism=3, completionMode="Indexed",
            status={"startTime": stamp(T0), "completedIndexes": "0", "succeeded": 1})
    pods = [pod("a", "Succeeded", finalizer=False, index=0), pod("b", "Succeeded", index=2),
            pod("c", index=1)]
    plan = jobs.reconcile_job(j, pods, T0)
    assert plan.status["completedIndexes"] == "0,2"
    assert [p["metadata"]["annotations"][jobs.INDEX_KEY] for p in plan.create] == ["3", "4"]


def test_indexed_job_deletes_a_second_pod_for_one_index():
    j = job(completions=2, parallelism=2, completionMode="Indexed",
            status={"startTime": stamp(T0)})
    pods = [pod("a", index=0), pod("b", index=0, created=later(1)), pod("c", index=1)]
    plan = jobs.reconcile_job(j, pods, later(2))
    assert plan.delete == ["b"] and not plan.create


def test_indexes_text_round_trips():
    assert jobs.format_indexes({1, 3, 4, 5, 7}) == "1,3-5,7"
    assert jobs.format_indexes({0, 1}) == "0,1"
    assert jobs.parse_indexes("1,3-5,7") == {1, 3, 4, 5, 7}


def test_suspend_deletes_active_pods_and_clears_start_time():
    j = job(completions=2, suspend=True, status={"startTime": stamp(T0)})
    plan = jobs.reconcile_job(j, [pod("a")], T0)
    assert plan.delete == ["a"] and not plan.create
    assert conds(plan)["Suspended"] == ("True", "JobSuspended")
    assert "startTime" not in plan.status
    j["spec"]["suspend"] = False
    j["status"] = plan.status
    plan = jobs.reconcile_job(j, [], later(5))
    assert conds(plan)["Suspended"] == ("False", "JobResumed")
    assert plan.status["startTime"] == stamp(later(5)) and len(plan.create) == 1


def test_parallelism_lowered_deletes_surplus_pods():
    j = job(completions=10, parallelism=1, status={"startTime": stamp(T0)})
    plan = jobs.reconcile_job(j, [pod("a"), pod("b", ready=False)], T0)
    assert plan.delete == ["b"]


def test_ttl_after_finished():
    j = job(ttlSecondsAfterFinished=100, status={
        "completionTime": stamp(T0),
        "conditions": [{"type": "Complete", "status": "True",
                        "lastTransitionTime": stamp(T0)}]})
    assert jobs.ttl_left(j, later(40)) == 60
    assert jobs.ttl_left(j, later(100)) == 0
    assert jobs.ttl_left(job(ttlSecondsAfterFinished=100), T0) is None


def test_orphaned_finished_pods_lose_the_finalizer():
    other = pod("x", "Succeeded")
    running = pod("y")
    assert jobs.orphaned_tracked_pods([], [other, running]) == [other]
    assert jobs.orphaned_tracked_pods([job()], [other]) == []
