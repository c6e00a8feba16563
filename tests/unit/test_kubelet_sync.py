"""Pod sync decisions: sandbox, init order, restart policy, back-off, deletion."""

from k8snet.kubelet import sync
from k8snet.kubelet.model import (
    Backoff,
    BackoffPolicy,
    ContainerInfo,
    PodActual,
    PodMemory,
)
from k8snet.kubelet.probes import Verdict

POLICY = BackoffPolicy(base=10, cap=40)


def pod(restart="Always", inits=(), containers=("app",), deleting=False, grace=None):
    p = {"metadata": {"name": "web", "namespace": "default", "uid": "u1"},
         "spec": {"restartPolicy": restart, "terminationGracePeriodSeconds": 30,
                  "containers": [{"name": n, "image": "busybox"} for n in containers],
                  "initContainers": [{"name": n, "image": "busybox"} for n in inits]}}
    if deleting:
        p["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
        p["metadata"]["deletionGracePeriodSeconds"] = grace
    return p


def sandbox(ready=True, attempt=0, sid="sb0"):
    from k8snet.kubelet.model import SandboxInfo
    return SandboxInfo(sid, attempt, ready, created_at=attempt, ip="10.244.1.2")


def ctr(name, state, attempt=0, code=0, sid="sb0", cid=None, finished=None):
    return ContainerInfo(cid or f"{name}-{attempt}", name, attempt, state, sid,
                         created_at=attempt, started_at=1.0, finished_at=finished,
                         exit_code=code)


def decide(p, actual, mem=None, verdicts=None, now=100.0):
    return sync.decide(p, actual, mem or PodMemory(), verdicts or {}, now, POLICY)


def test_new_pod_gets_sandbox_then_all_app_containers():
    plan = decide(pod(containers=("a", "b")), PodActual())
    assert plan.actions == [sync.RunSandbox(0), sync.StartContainer("a", 0),
                            sync.StartContainer("b", 0)]


def test_init_containers_run_first_one_at_a_time():
    p = pod(inits=("i1", "i2"))
    assert decide(p, PodActual()).actions == [sync.RunSandbox(0),
                                               sync.StartContainer("i1", 0, True)]
    running = PodActual.of([sandbox()], [ctr("i1", "running")])
    assert decide(p, running).actions == []
    done1 = PodActual.of([sandbox()], [ctr("i1", "exited", code=0)])
    assert decide(p, done1).actions == [sync.StartContainer("i2", 0, True)]
    done2 = PodActual.of([sandbox()], [ctr("i1", "exited"), ctr("i2", "exited")])
    assert decide(p, done2).actions == [sync.StartContainer("app", 0)]


def test_failed_init_with_never_fails_pod_and_stops_sandbox():
    p = pod(restart="Never", inits=("i1",))
    actual = PodActual.of([sandbox()], [ctr("i1", "exited", code=1)])
    assert sync.pod_finished(p, actual)
    assert decide(p, actual).actions == [sync.StopSandbox("sb0")]


def test_running_container_needs_nothing():
    actual = PodActual.of([sandbox()], [ctr("app", "running")])
    assert decide(pod(), actual).actions == []


def test_first_restart_is_immediate_and_starts_backoff():
    actual = PodActual.of([sandbox()], [ctr("app", "exited", code=137, finished=99)])
    plan = decide(pod(), actual, now=100)
    assert plan.actions == [sync.StartContainer("app", 1)]
    assert plan.backoffs["app"] == Backoff(10, 100)


def test_crash_loop_backoff_holds_then_doubles():
    mem = PodMemory(backoffs={"app": Backoff(10, 100)})
    actual = PodActual.of([sandbox()], [ctr("app", "exited", attempt=1, code=1, finished=103),
                                        ctr("app", "exited", attempt=0, code=137)])
    plan = decide(pod(), actual, mem, now=105)
    assert plan.actions == []
    reason, msg = plan.waiting["app"]
    assert reason == "CrashLoopBackOff" and "back-off 10s" in msg and "container=app" in msg
    plan = decide(pod(), actual, mem, now=113)
    assert plan.actions == [sync.StartContainer("app", 2)]
    assert plan.backoffs["app"].delay == 20


def test_backoff_is_capped():
    from k8snet.kubelet.model import next_backoff
    b = None
    delays = []
    for t in range(6):
        b = next_backoff(b, t, POLICY)
        delays.append(b.delay)
    assert delays == [10, 20, 40, 40, 40, 40]
    assert next_backoff(b, 5 + 2 * POLICY.cap + 1, POLICY).delay == 10  # reset after quiet


def test_restart_policy_never_and_onfailure():
    ok = PodActual.of([sandbox()], [ctr("app", "exited", code=0)])
    bad = PodActual.of([sandbox()], [ctr("app", "exited", code=2)])
    assert sync.pod_finished(pod("Never"), bad)
    assert sync.pod_finished(pod("OnFailure"), ok)
    assert not sync.pod_finished(pod("OnFailure"), bad)
    assert decide(pod("OnFailure"), bad).actions == [sync.StartContainer("app", 1)]
    assert not sync.pod_finished(pod("Always"), ok)


def test_liveness_failure_kills_running_container():
    actual = PodActual.of([sandbox()], [ctr("app", "running", cid="c1")])
    plan = decide(pod(), actual, verdicts={"c1": Verdict(False, False, kill="liveness")})
    assert plan.actions == [sync.KillContainer(
        "c1", "app", 30, "Container app failed liveness probe, will be restarted")]


def test_deletion_kills_with_grace_then_removes_and_confirms():
    actual = PodActual.of([sandbox()], [ctr("app", "running", cid="c1")])
    plan = decide(pod(deleting=True, grace=5), actual)
    assert plan.actions == [sync.KillContainer("c1", "app", 5, "Stopping container"),
                            sync.StopSandbox("sb0"), sync.RemoveContainer("c1"),
                            sync.RemoveSandbox("sb0"), sync.ConfirmDeletion()]
    assert decide(pod(deleting=True, grace=5), PodActual()).actions == [sync.ConfirmDeletion()]


def test_dead_sandbox_is_recreated_and_containers_restarted():
    actual = PodActual.of([sandbox(ready=False)], [ctr("app", "running", cid="c1")])
    plan = decide(pod(), actual)
    assert plan.actions == [
        sync.KillContainer("c1", "app", 30,
                           "Pod sandbox changed, it will be killed and re-created"),
        sync.RunSandbox(1), sync.StartContainer("app", 1)]


def test_old_sandbox_and_old_instances_are_collected():
    actual = PodActual.of(
        [sandbox(attempt=1, sid="sb1"), sandbox(ready=False, attempt=0, sid="sb0")],
        [ctr("app", "running", attempt=3, sid="sb1"), ctr("app", "exited", attempt=2, sid="sb1"),
         ctr("app", "exited", attempt=1, sid="sb1"), ctr("app", "exited", attempt=0, sid="sb0")])
    acts = decide(pod(), actual).actions
    assert sync.RemoveSandbox("sb0") in acts and sync.RemoveContainer("app-0") in acts
    assert sync.RemoveContainer("app-1") in acts and sync.RemoveContainer("app-2") not in acts


def test_image_pull_backoff_holds_start():
    mem = PodMemory(pull_backoffs={"app": Backoff(10, 100)},
                    pull_errors={"app": "image nosuch:1 not found"})
    plan = decide(pod(), PodActual.of([sandbox()], []), mem, now=101)
    assert plan.actions == []
    reason, msg = plan.waiting["app"]
    assert reason == "ImagePullBackOff"
    assert msg == 'Back-off pulling image "busybox": ErrImagePull: image nosuch:1 not found'
    assert decide(pod(), PodActual.of([sandbox()], []), mem, now=111).actions == [
        sync.StartContainer("app", 0)]


def test_grace_defaults():
    assert sync.grace_seconds({"spec": {}}) == 30
    assert sync.grace_seconds(pod(deleting=True, grace=0)) == 0


def sidecar_pod(restart="Always"):
    p = pod(restart=restart, inits=("setup", "proxy", "migrate"))
    p["spec"]["initContainers"][1]["restartPolicy"] = "Always"
    return p


def test_sidecar_starts_in_order_and_does_not_block_once_running():
    p = sidecar_pod()
    done_setup = PodActual.of([sandbox()], [ctr("setup", "exited")])
    assert decide(p, done_setup).actions == [sync.StartContainer("proxy", 0, True)]
    proxy_up = PodActual.of([sandbox()], [ctr("setup", "exited"), ctr("proxy", "running")])
    assert decide(p, proxy_up).actions == [sync.StartContainer("migrate", 0, True)]
    all_init = PodActual.of([sandbox()], [ctr("setup", "exited"), ctr("proxy", "running"),
                                          ctr("migrate", "exited")])
    assert decide(p, all_init).actions == [sync.StartContainer("app", 0)]
    running = PodActual.of([sandbox()], [ctr("setup", "exited"), ctr("proxy", "running"),
                                         ctr("migrate", "exited"), ctr("app", "running")])
    assert decide(p, running).actions == []


def test_exited_sidecar_is_restarted_even_in_a_never_pod_and_pod_completes_without_it():
    p = sidecar_pod(restart="Never")
    crashed = PodActual.of([sandbox()], [ctr("setup", "exited"), ctr("proxy", "exited", code=1,
                                                                      finished=99.0),
                                         ctr("migrate", "exited"), ctr("app", "running")])
    plan = decide(p, crashed)
    assert plan.actions == [sync.StartContainer("proxy", 1, True)]   # app keeps running
    finished = PodActual.of([sandbox()], [ctr("setup", "exited"), ctr("proxy", "running"),
                                          ctr("migrate", "exited"), ctr("app", "exited")])
    assert sync.pod_finished(p, finished)
    assert decide(p, finished).actions == [sync.StopSandbox("sb0")]


def test_ephemeral_container_starts_once_and_is_never_restarted():
    p = pod(restart="Always")
    p["spec"]["ephemeralContainers"] = [{"name": "dbg", "image": "busybox",
                                         "targetContainerName": "app"}]
    running = PodActual.of([sandbox()], [ctr("app", "running")])
    assert decide(p, running).actions == [sync.StartContainer("dbg", 0, ephemeral=True)]
    exited = PodActual.of([sandbox()], [ctr("app", "running"), ctr("dbg", "exited", code=1)])
    assert decide(p, exited).actions == []
    # not before the sandbox is there: the Pod's own containers come first
    assert sync.StartContainer("dbg", 0, ephemeral=True) not in decide(p, PodActual()).actions
