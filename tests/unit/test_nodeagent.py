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
