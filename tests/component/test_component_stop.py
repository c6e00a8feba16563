"""Each control-plane component exits by itself, status 0, soon after SIGTERM, also when
two come back to back (issue 15: the controller-manager missed its stop deadline and was
killed; a second SIGTERM during the apiserver's handler could hang it). Timings are in
benchmarks/bench_stop.py; here only the behaviour is checked."""

from __future__ import annotations

import time

import pytest

from tests.component.apiserver_proc import ApiServerProc
from tests.component.stopping import Component, controller_manager, scheduler

STOP_DEADLINE = 15.0  # generous: the machine is shared; the figure is in the benchmark


def wait_for_lease(srv: ApiServerProc, name: str, deadline: float = 60.0) -> dict:
    end = time.monotonic() + deadline
    path = f"/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/{name}"
    while time.monotonic() < end:
        code, lease = srv.get(path)
        if code == 200 and (lease.get("spec") or {}).get("holderIdentity"):
            return lease
        time.sleep(0.2)
    raise AssertionError(f"nobody holds kube-system/{name} after {deadline}s")


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    proc = ApiServerProc(str(tmp_path_factory.mktemp("stop")))
    try:
        yield proc.start(deadline=120)
    finally:
        proc.stop()


@pytest.mark.parametrize("make,lease", [(scheduler, "kube-scheduler"),
                                        (controller_manager, "kube-controller-manager")])
def test_leader_exits_by_itself_and_hands_its_lease_back(srv, tmp_path, make, lease):
    comp: Component = make(srv.kubeconfig, str(tmp_path))
    try:
        wait_for_lease(srv, lease)
        if comp.name == "controller-manager":
            comp.wait_for_log("controllers running", 60)
        stopped = comp.stop(STOP_DEADLINE, signals=2)
    finally:
        if comp.proc.poll() is None:
            comp.proc.kill()
    assert not stopped.killed and stopped.returncode == 0, comp.log()[-2000:]
    assert "Traceback" not in comp.log(), comp.log()[-2000:]
    code, got = srv.get(f"/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/{lease}")
    assert code == 200 and not got["spec"].get("holderIdentity"), got


def test_apiserver_exits_by_itself_after_two_sigterms(tmp_path):
    api = ApiServerProc(str(tmp_path)).start(deadline=120)
    comp = Component("apiserver", [], api.log_path)
    comp.proc = api.proc
    code, _ = api.get("/api/v1/namespaces/default")   # a request served, threads about
    assert code == 200
    stopped = comp.stop(STOP_DEADLINE, signals=2)
    assert not stopped.killed and stopped.returncode == 0, api.log()
    assert "k8snet apiserver: stopped" in api.log()
