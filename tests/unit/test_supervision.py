"""The supervisor's restart decisions: back-off, exit text, held processes."""

import signal
import subprocess

from k8snet.testbed.state import ProcessRecord
from k8snet.testbed.status import ClusterStatus, render_one, restarts_text
from k8snet.testbed.supervisor import Backoff, Launch, Supervision, describe_exit, next_delay

POLICY = Backoff(base=1.0, cap=8.0, stable=60.0)


def test_first_crash_waits_the_base_delay():
    assert next_delay(None, ran_for=0.1, policy=POLICY) == 1.0


def test_quick_crashes_double_the_delay_up_to_the_cap():
    delays, delay = [], None
    for _ in range(6):
        delay = next_delay(delay, ran_for=0.5, policy=POLICY)
        delays.append(delay)
    assert delays == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_a_process_that_ran_long_enough_starts_over_from_the_base():
    assert next_delay(8.0, ran_for=61.0, policy=POLICY) == 1.0


def test_exit_text():
    assert describe_exit(-signal.SIGKILL) == "killed by SIGKILL"
    assert describe_exit(3) == "exit 3"
    assert describe_exit(0) == "exit 0"


class FakePopen:
    """A process whose exit the test decides."""

    next_pid = 1000

    def __init__(self):
        FakePopen.next_pid += 1
        self.pid = FakePopen.next_pid
        self.returncode = None

    def poll(self):
        return self.returncode


class FakeLaunch(Launch):
    def spawn(self) -> subprocess.Popen:
        self.popen = FakePopen()
        self.due = None
        return self.popen

    def record(self) -> ProcessRecord:
        return ProcessRecord(pid=self.popen.pid, name=self.name, start_time=1, node=self.node,
                             restarts=self.restarts, last_exit=self.last_exit)


def supervised(held=lambda launch: False):
    launch = FakeLaunch("kubelet@w1", ["kubelet"], "/dev/null", node="w1")
    launch.spawn()
    launch.started = 0.0
    saved = []
    sup = Supervision({launch.name: launch}, lambda name, rec: saved.append(rec),
                      held=held, policy=POLICY, log=lambda _text: None)
    return launch, sup, saved


def test_an_exited_process_restarts_after_the_delay_and_is_recorded_again():
    launch, sup, saved = supervised()
    first = launch.popen.pid
    launch.popen.returncode = -signal.SIGKILL
    sup.tick(now=10.0)
    assert saved == [] and launch.due == 11.0          # waits the base delay
    sup.tick(now=10.5)
    assert saved == []
    sup.tick(now=11.0)
    assert [r.pid for r in saved] == [launch.popen.pid] and launch.popen.pid != first
    assert saved[0].restarts == 1 and saved[0].last_exit == "killed by SIGKILL"


def test_crashing_again_at_once_doubles_the_wait():
    launch, sup, saved = supervised()
    launch.popen.returncode = 1
    sup.tick(now=10.0)
    sup.tick(now=11.0)
    launch.started = 11.0
    launch.popen.returncode = 1
    sup.tick(now=12.0)
    assert launch.due == 14.0
    sup.tick(now=14.0)
    assert [r.restarts for r in saved] == [1, 2] and saved[-1].last_exit == "exit 1"


def test_a_held_process_stays_down_until_released():
    hold = {"on": True}
    launch, sup, saved = supervised(held=lambda _launch: hold["on"])
    launch.popen.returncode = -signal.SIGKILL
    for now in (10.0, 20.0, 100.0):
        sup.tick(now=now)
    assert saved == []
    hold["on"] = False
    sup.tick(now=101.0)
    assert len(saved) == 1


def test_a_running_process_is_left_alone():
    launch, sup, saved = supervised()
    sup.tick(now=500.0)
    assert saved == [] and launch.restarts == 0


def test_status_shows_restarts_and_last_exit():
    record = ProcessRecord(pid=42, name="apiserver@m1", start_time=1, node="m1",
                           restarts=2, last_exit="killed by SIGKILL")
    assert restarts_text(record) == "2 (last: killed by SIGKILL)"
    assert restarts_text(ProcessRecord(pid=1, name="x", start_time=1)) == "0"


def test_status_lists_processes_and_faults():
    from k8snet.testbed.faults import Fault
    from k8snet.testbed.spec import ClusterSpec
    from k8snet.testbed.state import ClusterState

    state = ClusterState(name="lab", spec=ClusterSpec(name="lab"), dir="/run/k8snet/lab")
    state.processes = [ProcessRecord(pid=42, name="kubelet@w1", start_time=1, node="w1",
                                     restarts=1, last_exit="exit 1")]
    status = ClusterStatus("lab", "ready", state, faults=[Fault("crash", ("w2",))],
                           running={"kubelet@w1": True})
    text = "\n".join(render_one(status))
    assert "kubelet@w1" in text and "1 (last: exit 1)" in text and "running" in text
    assert "fault: node w2 crashed" in text
    doc = status.to_dict()
    assert doc["processes"][0]["restarts"] == 1 and doc["faults"][0]["kind"] == "crash"
