"""Pod status: phase, conditions, container states, restart counts, patches."""

from k8snet.api.defaults import apply_defaults
from k8snet.kubelet import status
from k8snet.kubelet.model import ContainerInfo, PodActual, PodMemory, SandboxInfo
from k8snet.kubelet.probes import Verdict

NOW = 1_700_000_000.0


def pod(restart="Always", inits=(), containers=("app",), old_status=None):
    return {"metadata": {"name": "web", "namespace": "default", "uid": "u1"},
            "spec": {"restartPolicy": restart,
                     "containers": [{"name": n, "image": "img-" + n} for n in containers],
                     "initContainers": [{"name": n, "image": "init"} for n in inits]},
            "status": old_status or {}}


SB = SandboxInfo("sb0", 0, True, 1.0, ip="10.244.1.7", ips=("10.244.1.7",))


def ctr(name, state, attempt=0, code=0, cid=None):
    return ContainerInfo(cid or f"{name}{attempt}", name, attempt, state, "sb0",
                         created_at=NOW - 10 + attempt, started_at=NOW - 9,
                         finished_at=NOW - 1 if state == "exited" else None, exit_code=code,
                         image_ref="sha256:abc")


def compute(p, actual, mem=None, verdicts=None):
    return status.pod_status(p, actual, mem or PodMemory(), verdicts or {}, "10.0.0.2", NOW)


def cond(st, ctype):
    return next(c for c in st["conditions"] if c["type"] == ctype)


def test_new_pod_is_pending_container_creating():
    st = compute(pod(), PodActual())
    assert st["phase"] == "Pending"
    assert st["containerStatuses"][0]["state"] == {"waiting": {"reason": "ContainerCreating"}}
    assert cond(st, "Ready")["status"] == "False"
    assert cond(st, "Ready")["message"] == "containers with unready status: [app]"
    assert "podIP" not in st and st["hostIP"] == "10.0.0.2"


def test_running_and_ready_pod():
    st = compute(pod(), PodActual.of([SB], [ctr("app", "running", cid="c1")]),
                 verdicts={"c1": Verdict(True, True)})
    cs = st["containerStatuses"][0]
    assert st["phase"] == "Running" and st["podIP"] == "10.244.1.7"
    assert st["podIPs"] == [{"ip": "10.244.1.7"}]
    assert cs["containerID"] == "k8snet://c1" and cs["ready"] and cs["started"]
    assert cs["imageID"] == "sha256:abc" and cs["image"] == "img-app"
    assert "running" in cs["state"] and cs["restartCount"] == 0
    assert all(c["status"] == "True" for c in st["conditions"])
    assert st["qosClass"] == "BestEffort"


def test_unready_by_readiness_probe():
    st = compute(pod(), PodActual.of([SB], [ctr("app", "running", cid="c1")]),
                 verdicts={"c1": Verdict(True, False)})
    assert st["phase"] == "Running" and cond(st, "ContainersReady")["status"] == "False"


def test_restarted_container_shows_count_and_last_state():
    actual = PodActual.of([SB], [ctr("app", "running", attempt=1),
                                 ctr("app", "exited", attempt=0, code=137)])
    cs = compute(pod(), actual)["containerStatuses"][0]
    assert cs["restartCount"] == 1
    assert cs["lastState"]["terminated"]["exitCode"] == 137
    assert cs["lastState"]["terminated"]["reason"] == "Error"


def test_crash_loop_is_waiting_with_last_state_and_running_phase():
    mem = PodMemory(waiting={"app": ("CrashLoopBackOff", "back-off 10s restarting ...")})
    st = compute(pod(), PodActual.of([SB], [ctr("app", "exited", attempt=2, code=1)]), mem)
    cs = st["containerStatuses"][0]
    assert cs["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert cs["lastState"]["terminated"]["exitCode"] == 1 and cs["restartCount"] == 2
    assert st["phase"] == "Running"


def test_image_pull_error_pending():
    mem = PodMemory(waiting={"app": ("ErrImagePull", "image nosuch not known")})
    st = compute(pod(), PodActual.of([SB], []), mem)
    assert st["phase"] == "Pending"
    assert st["containerStatuses"][0]["state"]["waiting"] == {
        "reason": "ErrImagePull", "message": "image nosuch not known"}


def test_completed_pods():
    done = PodActual.of([SB], [ctr("app", "exited", code=0)])
    failed = PodActual.of([SB], [ctr("app", "exited", code=3)])
    st = compute(pod("Never"), done)
    assert st["phase"] == "Succeeded"
    assert st["containerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"
    assert cond(st, "Ready")["reason"] == "PodCompleted"
    assert compute(pod("Never"), failed)["phase"] == "Failed"
    assert compute(pod("OnFailure"), done)["phase"] == "Succeeded"


def test_init_containers_pending_then_initialized():
    p = pod(inits=("i1",))
    st = compute(p, PodActual.of([SB], [ctr("i1", "running")]))
    assert st["phase"] == "Pending"
    assert cond(st, "Initialized")["status"] == "False"
    assert st["containerStatuses"][0]["state"]["waiting"]["reason"] == "PodInitializing"
    st = compute(p, PodActual.of([SB], [ctr("i1", "exited"), ctr("app", "running")]))
    assert st["phase"] == "Running" and cond(st, "Initialized")["status"] == "True"
    assert st["initContainerStatuses"][0]["ready"] is True
    assert compute(pod("Never", inits=("i1",)),
                   PodActual.of([SB], [ctr("i1", "exited", code=1)]))["phase"] == "Failed"


def test_transition_time_kept_when_unchanged():
    old = {"conditions": [{"type": "Ready", "status": "False",
                           "lastTransitionTime": "2020-01-01T00:00:00Z"}]}
    st = compute(pod(old_status=old), PodActual())
    assert cond(st, "Ready")["lastTransitionTime"] == "2020-01-01T00:00:00Z"
    assert cond(st, "Initialized")["lastTransitionTime"] != "2020-01-01T00:00:00Z"


def test_qos_class_agrees_with_the_apiserver_and_is_never_patched_back():
    # The live bug: requests cpu "1", limits cpu "1000m". The apiserver said Guaranteed,
    # the kubelet compared the strings, said Burstable and patched status.qosClass.
    created = apply_defaults("Pod", pod())
    created["spec"]["containers"][0]["resources"] = {
        "requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1000m", "memory": "1024Mi"}}
    created = apply_defaults("Pod", {"metadata": created["metadata"], "spec": created["spec"]})
    assert created["status"]["qosClass"] == "Guaranteed"
    actual = PodActual.of([SB], [ctr("app", "running", cid="c1")])
    st = compute(created, actual)
    assert st["qosClass"] == "Guaranteed"
    assert "qosClass" not in status.status_patch(created["status"], st)["status"]
    # computed the same way when the Pod carries no qosClass yet
    bare = dict(created, status={})
    assert compute(bare, actual)["qosClass"] == "Guaranteed"
    # and the class the apiserver recorded is the one reported, as upstream's GetPodQOS
    recorded = dict(created, status={"qosClass": "Burstable"})
    assert compute(recorded, actual)["qosClass"] == "Burstable"


def test_status_patch_only_when_changed_and_nulls_removed_keys():
    a = {"phase": "Running", "podIP": "1.2.3.4", "containerStatuses": [1]}
    assert status.status_patch(a, dict(a)) is None
    b = {"phase": "Running", "containerStatuses": [2]}
    assert status.status_patch(a, b) == {"status": {"containerStatuses": [2], "podIP": None}}


def test_running_sidecar_counts_as_initialized_and_pod_runs():
    p = pod(inits=("setup", "proxy"))
    p["spec"]["initContainers"][1]["restartPolicy"] = "Always"
    starting = compute(p, PodActual.of([SB], [ctr("setup", "exited"), ctr("proxy", "running")]))
    assert cond(starting, "Initialized")["status"] == "True"
    assert starting["phase"] == "Pending"   # app not started yet
    up = compute(p, PodActual.of([SB], [ctr("setup", "exited"), ctr("proxy", "running"),
                                        ctr("app", "running")]))
    assert up["phase"] == "Running" and cond(up, "Ready")["status"] == "True"
    proxy = next(s for s in up["initContainerStatuses"] if s["name"] == "proxy")
    assert "running" in proxy["state"] and proxy["ready"] is True


def test_host_network_pod_has_the_node_ip():
    p = pod()
    p["spec"]["hostNetwork"] = True
    st = compute(p, PodActual.of([SandboxInfo("sb0", 0, True, 1.0)], [ctr("app", "running")]))
    assert st["podIP"] == "10.0.0.2" and st["podIPs"] == [{"ip": "10.0.0.2"}]


def test_ephemeral_container_statuses_are_reported_and_never_ready():
    p = pod()
    p["spec"]["ephemeralContainers"] = [{"name": "dbg", "image": "busybox"},
                                        {"name": "later", "image": "busybox"}]
    st = compute(p, PodActual.of([SB], [ctr("app", "running"), ctr("dbg", "running")]))
    dbg, later = st["ephemeralContainerStatuses"]
    assert dbg["name"] == "dbg" and "running" in dbg["state"] and dbg["ready"] is False
    assert later["state"] == {"waiting": {"reason": "ContainerCreating"}}
    assert st["phase"] == "Running" and cond(st, "Ready")["status"] == "True"
    assert "ephemeralContainerStatuses" not in compute(pod(), PodActual.of(
        [SB], [ctr("app", "running")]))
