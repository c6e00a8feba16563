"""k8snet node-agent's decisions: which components it hosts, in which order,
and whose log a record goes to (k8snet.nodeagent)."""

import pytest

from k8snet.errors import UsageError
from k8snet.nodeagent import (
    Hosted,
    component_of_logger,
    flag_value,
    parse_component,
    parse_components,
    waiting_for,
)


def test_a_component_is_its_own_command_line_with_its_ready_file():
    h = parse_component("runtime --socket '/run/x y/runtime.sock' --root-dir /r")
    assert h == Hosted("runtime", ("runtime", "--socket", "/run/x y/runtime.sock",
                                   "--root-dir", "/r"), "/run/x y/runtime.sock")
    assert parse_component("policy-agent --ready-file=/p.ready").ready_file == "/p.ready"
    assert parse_component("proxy --node-name w1").name == "kube-proxy"
    assert parse_component("kubelet --node-name w1").ready_file is None


@pytest.mark.parametrize("text,words", [
    ("apiserver --port 1", "starting with one of runtime, policy-agent, kubelet"),
    ("", "starting with one of"),
    ("kubelet --node-name 'w1", "No closing quotation"),
])
def test_what_cannot_be_hosted_is_a_clear_error(text, words):
    with pytest.raises(UsageError, match=words):
        parse_component(text)


def test_components_are_given_once_each_and_at_least_one():
    with pytest.raises(UsageError, match="at least one --component"):
        parse_components([])
    with pytest.raises(UsageError, match="kubelet given more than once"):
        parse_components(["kubelet --node-name a", "runtime", "kubelet --node-name b"])


def test_a_flag_value_in_either_spelling_the_last_one_winning():
    assert flag_value(["x", "--a", "1", "--a=2"], "--a") == "2"
    assert flag_value(["x", "--ab", "1"], "--a") is None
    assert flag_value(["x", "--a"], "--a") is None


def test_each_component_waits_for_the_ready_files_of_those_before_it():
    hosted = [Hosted("runtime", ("runtime",), "/s"), Hosted("policy-agent", ("p",), "/p"),
              Hosted("kubelet", ("kubelet",)), Hosted("kube-proxy", ("proxy",))]
    assert waiting_for(hosted, 0, lambda p: False) == []
    assert waiting_for(hosted, 1, lambda p: False) == ["/s"]
    assert waiting_for(hosted, 3, lambda p: p == "/s") == ["/p"]
    assert waiting_for(hosted, 4, lambda p: True) == []


def test_records_go_to_the_log_of_the_component_whose_logger_wrote_them():
    names = ("runtime", "kubelet", "kube-proxy", "policy-agent")
    assert component_of_logger("k8snet.kubelet", names) == "kubelet"
    assert component_of_logger("k8snet.kubelet.loop", names) == "kubelet"
    assert component_of_logger("k8snet.runtime", names) == "runtime"
    assert component_of_logger("k8snet.cri.oci", names) == "runtime"
    assert component_of_logger("k8snet.proxy", names) == "kube-proxy"
    assert component_of_logger("k8snet.events.kubelet", names) == "kubelet"
    # shared machinery, and components this agent does not host: the agent's own log
    assert component_of_logger("k8snet.informer", names) is None
    assert component_of_logger("k8snet.kubeletx", names) is None
    assert component_of_logger("k8snet.overlay", names) is None


# -- the agent, with components that only wait for their stop or fail -----------------

@pytest.fixture
def fake_components(monkeypatch):
    """k8snet.cli.main replaced by a component that waits for its stop (and
    counts its starts), or with --fail ends by itself with status 3."""
    import threading
    import time

    from k8snet import cli, components

    starts: dict = {}

    def main(argv, err=None):
        starts[argv[0]] = starts.get(argv[0], 0) + 1
        if "--fail" in argv:
            time.sleep(0.1)
            print(f"k8snet {argv[0]}: it broke", file=err)
            return 3
        components.stop_on_signals().wait()
        if "--slow-stop" in argv:
            time.sleep(1.0)
        return 0

    monkeypatch.setattr(cli, "main", main)
    yield starts, threading
    components._hosted_stop = None


def make_agent(hosted, held=set):
    import logging
    import threading

    from k8snet import components
    from k8snet.nodeagent import Agent

    agent = Agent(hosted, threading.Event(), logging.getLogger("test.nodeagent"), held=held,
                  period=0.02)
    components.host_components(agent.stop_for_this_thread)
    return agent


def test_a_component_that_fails_stops_the_others_and_is_not_started_again(fake_components):
    starts, _ = fake_components
    agent = make_agent([Hosted("runtime", ("runtime",)), Hosted("kubelet", ("kubelet",
                                                                             "--fail"))])
    assert agent.run() == 3
    assert starts == {"runtime": 1, "kubelet": 1}
    assert agent.stops["runtime"].is_set() and not agent.threads["runtime"].is_alive()
    assert agent.ended["kubelet"] == (3, "k8snet kubelet: it broke")


def test_a_held_component_stops_alone_and_starts_again_when_released(fake_components):
    import time

    starts, threading = fake_components
    held = {"now": set()}
    agent = make_agent([Hosted("runtime", ("runtime",)), Hosted("kube-proxy", ("proxy",))],
                       held=lambda: held["now"])
    runner = threading.Thread(target=lambda: held.setdefault("code", agent.run()))
    runner.start()

    def until(what, probe):
        deadline = time.monotonic() + 10
        while not probe():
            assert time.monotonic() < deadline, what
            time.sleep(0.01)

    until("both run", lambda: starts == {"runtime": 1, "proxy": 1})
    held["now"] = {"kube-proxy"}
    until("kube-proxy stopped", lambda: not agent.threads["kube-proxy"].is_alive())
    assert agent.threads["runtime"].is_alive() and runner.is_alive()
    held["now"] = set()
    until("kube-proxy again", lambda: starts == {"runtime": 1, "proxy": 2}
          and agent.threads["kube-proxy"].is_alive())
    agent.stop.set()
    runner.join(10)
    assert held["code"] == 0 and starts == {"runtime": 1, "proxy": 2}


def test_the_components_share_one_stop_deadline(fake_components, monkeypatch):
    """The first one joined may take most of the grace period when the others stop
    at once (the runtime's gRPC server waits up to 5 s of 15)."""
    from k8snet import nodeagent

    starts, threading = fake_components
    monkeypatch.setattr(nodeagent, "STOP_GRACE", 2.0)
    agent = make_agent([Hosted("runtime", ("runtime", "--slow-stop")),
                        Hosted("policy-agent", ("policy-agent",)),
                        Hosted("kubelet", ("kubelet",)), Hosted("kube-proxy", ("proxy",))])
    threading.Timer(0.3, agent.stop.set).start()
    assert agent.run() == 0
    # the runtime, joined first, stops 1 s after the others: within the shared 2 s
    assert not any(t.is_alive() for t in agent.threads.values())


def test_an_error_in_the_agent_still_stops_every_component(fake_components):
    starts, _ = fake_components
    calls = []

    def held():
        calls.append(1)
        if len(calls) > 3:
            raise RuntimeError("faults unreadable")
        return set()

    agent = make_agent([Hosted("runtime", ("runtime",)), Hosted("kubelet", ("kubelet",))],
                       held=held)
    with pytest.raises(RuntimeError, match="faults unreadable"):
        agent.run()
    assert starts == {"runtime": 1, "kubelet": 1}
    assert all(e.is_set() for e in agent.stops.values())
    assert not any(t.is_alive() for t in agent.threads.values())


def test_a_components_log_level_applies_to_its_own_loggers(tmp_path):
    """Each component's --log-level is set on its loggers, and a record goes to
    the file of the component whose logger made it. (Records are handed to the
    agent's handler directly: in the full suite other tests' libraries change
    the logging module's global state.)"""
    import logging

    from k8snet.nodeagent import setup_logging

    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        setup_logging(parse_components(["runtime --log-level debug", "kubelet"]),
                      str(tmp_path), "w1")
        assert logging.getLogger("k8snet.cri").level == logging.DEBUG
        assert logging.getLogger("k8snet.runtime").level == logging.DEBUG
        assert logging.getLogger("k8snet.kubelet").level == logging.INFO
        assert root.level == logging.DEBUG   # lets the runtime's debug lines through
        route = root.handlers[0]
        for name, level, text in (("k8snet.cri.monitor", logging.DEBUG, "runtime detail"),
                                  ("k8snet.kubelet.loop", logging.INFO, "kubelet news"),
                                  ("k8snet.informer", logging.INFO, "shared news")):
            route.handle(logging.makeLogRecord({"name": name, "levelno": level,
                                                "levelname": logging.getLevelName(level),
                                                "msg": text}))
        route.flush()
        assert "runtime detail" in (tmp_path / "runtime.log").read_text()
        kubelet = (tmp_path / "kubelet.log").read_text()
        assert "kubelet news" in kubelet and "detail" not in kubelet
        assert "shared news" not in kubelet + (tmp_path / "runtime.log").read_text()
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        for name in ("k8snet.runtime", "k8snet.cri", "k8snet.kubelet"):
            logging.getLogger(name).setLevel(logging.NOTSET)
