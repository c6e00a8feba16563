"""The page's fault buttons map one for one onto `k8snet fault`'s functions."""

import types

import pytest

from k8snet.errors import UsageError
from k8snet.testbed import cmd_fault
from k8snet.ui import actions


def test_each_action_names_the_cli_function_and_its_arguments():
    assert actions.fault_call({"action": "link-down", "a": "l1", "b": "s1"}) == \
        ("link", {"a": "l1", "b": "s1", "up": False})
    assert actions.fault_call({"action": "link-up", "a": "w1", "b": "l1"}) == \
        ("link", {"a": "w1", "b": "l1", "up": True})
    assert actions.fault_call({"action": "crash", "node": "w2"}) == ("crash", {"node": "w2"})
    assert actions.fault_call({"action": "restore", "node": "w2"}) == \
        ("restore", {"node": "w2"})
    assert actions.fault_call({"action": "kill", "component": "kubelet", "node": ""}) == \
        ("kill", {"component": "kubelet", "node": None})
    assert actions.fault_call({"action": "kill", "component": "kubelet", "node": "w1"}) == \
        ("kill", {"component": "kubelet", "node": "w1"})
    assert actions.fault_call({"action": "clear"}) == ("clear", {})
    for action in actions.ACTIONS:  # every name is a function of the CLI's module
        body = {"action": action, "a": "x", "b": "y", "node": "n", "component": "c"}
        assert callable(getattr(cmd_fault, actions.fault_call(body)[0]))


@pytest.mark.parametrize("body, says", [
    (None, "JSON object"),
    ({"action": "partition"}, "unknown fault action 'partition'"),
    ({"action": "link-down", "a": "l1"}, "'b'"),
    ({"action": "crash", "node": 3}, "'node'"),
    ({"action": "kill"}, "'component'"),
    ({"action": "crash", "node": "x" * 65}, "'node'"),
])
def test_bad_requests_say_what_is_missing(body, says):
    with pytest.raises(UsageError, match=says):
        actions.fault_call(body)


def test_components_lists_each_once_with_its_nodes():
    rec = lambda name, node="", hosts=(): types.SimpleNamespace(  # noqa: E731
        name=name, node=node, hosts=hosts)
    state = types.SimpleNamespace(records=lambda: iter([
        rec("kubelet@w1", "w1"), rec("kubelet@w2", "w2"), rec("apiserver@m1", "m1"),
        rec("controller"), rec("supervisor")]))
    assert actions.components(state) == [
        {"name": "apiserver", "nodes": ["m1"]}, {"name": "controller", "nodes": []},
        {"name": "kubelet", "nodes": ["w1", "w2"]}]
    # a node agent's components are offered too (killing one kills its agent)
    state = types.SimpleNamespace(records=lambda: iter([
        rec("node-agent@w1", "w1", ("runtime", "kubelet")), rec("apiserver@m1", "m1")]))
    assert actions.components(state) == [
        {"name": "apiserver", "nodes": ["m1"]}, {"name": "kubelet", "nodes": ["w1"]},
        {"name": "node-agent", "nodes": ["w1"]}, {"name": "runtime", "nodes": ["w1"]}]
