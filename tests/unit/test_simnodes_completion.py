"""Simulated nodes: the rule by which a Job's containers run to completion."""

from k8snet.kubelet import status
from k8snet.kubelet.model import PodMemory
from k8snet.simnodes import run_to_completion, simulated_actual


def _pod(policy: str, command: list) -> dict:
    return {"metadata": {"name": "p", "namespace": "default", "uid": "u1"},
            "spec": {"restartPolicy": policy,
                     "containers": [{"name": "c", "image": "busybox", "command": command}]}}


def test_commands_read_as_shell_scripts():
    assert run_to_completion({"command": ["perl", "-Mbignum=bpi", "-wle", "print bpi(20)"]}) \
        == (0, 0)
    assert run_to_completion({"command": ["sh", "-c", "sleep 5; exit 3"]}) == (5, 3)
    assert run_to_completion({"command": ["sh", "-c"], "args": ["echo a && false"]}) == (0, 1)
    assert run_to_completion({"command": ["sleep", "2"]}) == (2, 0)
    assert run_to_completion({}) == (0, 0)
    assert run_to_completion({"command": ["/bin/sh", "-ec", "exit 4"]}) == (0, 4)
    assert run_to_completion({"command": ["bash", "-c", "exit 4"]}) == (0, 4)


def _phase(pod: dict, started: float, now: float) -> str:
    actual = simulated_actual(pod, "10.244.1.9", started, now)
    return status.pod_status(pod, actual, PodMemory(start_time=started), {}, "127.0.0.1",
                             now)["phase"]


def test_job_pods_succeed_or_fail_after_their_sleeps():
    ok = _pod("Never", ["sh", "-c", "sleep 5; echo done"])
    assert _phase(ok, 100.0, 104.0) == "Running"
    assert _phase(ok, 100.0, 105.0) == "Succeeded"
    bad = _pod("Never", ["sh", "-c", "exit 2"])
    st = status.pod_status(bad, simulated_actual(bad, "10.244.1.9", 100.0, 100.0),
                           PodMemory(start_time=100.0), {}, "127.0.0.1", 100.0)
    assert st["phase"] == "Failed"
    assert st["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 2
    assert st["containerStatuses"][0]["state"]["terminated"]["reason"] == "Error"


def test_restart_always_pods_run_for_ever():
    assert _phase(_pod("Always", ["sh", "-c", "exit 0"]), 100.0, 10_000.0) == "Running"
