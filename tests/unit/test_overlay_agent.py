"""The overlay agent's round against a fake kernel and a fake apiserver."""

from k8snet.machinery.client import Conflict
from k8snet.machinery.reconciler import ALL
from k8snet.overlay.agent import OverlayAgent, overlay_facts
from k8snet.overlay.diff import Op
from k8snet.overlay.model import IP_ANNOTATION, MAC_ANNOTATION, Observed
from k8snet.overlay.plan import vtep_mac
from k8snet.testbed.components import plan_components
from k8snet.testbed.spec import ClusterSpec
from k8snet.testbed.state import NodeInfo


class FakeApi:
    def __init__(self, fail=False):
        self.patches = []
        self.fail = fail

    def patch(self, resource, name, body, **_kw):
        if self.fail:
            raise Conflict(409, "Conflict", "try again")
        self.patches.append((resource, name, body))
        return {}


def node(name, index, published=True):
    ip = f"10.0.0.{index + 1}"
    notes = {MAC_ANNOTATION: vtep_mac(ip), IP_ANNOTATION: ip} if published else {}
    return {"metadata": {"name": name, "annotations": notes},
            "spec": {"podCIDR": f"10.244.{index}.0/24"}}


def agent(api, done, fail=()):
    def act(op: Op):
        done.append(op)
        return "boom" if op.argv[:2] in fail else None
    return OverlayAgent(api, "w1", "10.0.0.2", 1500, read=lambda _dev: Observed(), act=act)


def test_round_programs_peers_and_publishes_own_vtep():
    api, done = FakeApi(), []
    result = agent(api, done).round([node("w1", 1, published=False), node("w2", 2)])
    assert result.errors == []
    assert any(op.argv[:3] == ("ip", "route", "replace") and "10.244.2.0/24" in op.argv
               for op in done)
    assert api.patches == [("nodes", "w1", {"metadata": {"annotations": {
        MAC_ANNOTATION: vtep_mac("10.0.0.2"), IP_ANNOTATION: "10.0.0.2"}}})]


def test_failed_operations_are_reported_and_the_rest_still_runs():
    api, done = FakeApi(fail=True), []
    result = agent(api, done, fail={("ethtool", "-K")}).round([node("w1", 1), node("w2", 2)])
    assert len(result.errors) == 1 and "boom" in result.errors[0]
    assert done[-1].argv[:3] == ("ip", "route", "replace")
    assert result.published == {}


class StubNodes:
    def __init__(self, items):
        self.items = items

    def snapshot(self):
        return dict(self.items)


def test_failed_rounds_are_retried_with_back_off_and_synced_is_said_once():
    now = [0.0]
    done, failing = [], [True]
    synced = []

    def act(op: Op):
        done.append(op)
        return "boom" if failing[0] and op.argv[:2] == ("ethtool", "-K") else None

    a = OverlayAgent(FakeApi(), "w1", "10.0.0.2", 1500, read=lambda _dev: Observed(), act=act,
                     clock=lambda: now[0], resync=60.0)
    a.nodes = StubNodes({"w1": node("w1", 1), "w2": node("w2", 2)})  # type: ignore[assignment]
    a.on_synced = lambda: synced.append(now[0])
    rec = a.reconciler
    assert rec.process_ready() == 1 and synced == []          # resync at start; ethtool failed
    now[0] = 0.9
    assert rec.process_ready() == 0                           # backing off (1 s)
    failing[0] = False
    now[0] = 1.0
    assert rec.process_ready() == 1 and synced == [1.0]
    now[0] = 61.0
    assert rec.process_ready() == 1 and synced == [1.0]       # resync round; said once


def test_only_overlay_facts_wake_the_loop():
    a = agent(FakeApi(), [])
    items = {"w2": node("w2", 2)}
    assert a.on_nodes(items) == [ALL]
    status_only = {"w2": {**node("w2", 2), "status": {"conditions": [{"type": "Ready"}]}}}
    assert a.on_nodes(status_only) == []
    assert a.on_nodes({}) == [ALL]
    assert overlay_facts([node("w2", 2)]) != overlay_facts([node("w2", 2, published=False)])


NODES = [NodeInfo(name="m1", role="master", ip="10.0.0.1", mac="", netns="", pid=1),
         NodeInfo(name="w1", role="worker", ip="10.0.0.2", mac="", netns="", pid=1)]


def test_overlay_agent_runs_on_every_node_only_in_overlay_mode():
    plan = plan_components(NODES, ClusterSpec(name="c", mode="overlay", node_agent=False),
                           "/run/k8snet/c", ["k8snet"])
    names = [(c.node, c.name) for c in plan]
    assert ("m1", "overlay-agent") in names and ("w1", "overlay-agent") in names
    assert names.index(("w1", "overlay-agent")) == names.index(("w1", "kubelet")) + 1
    agent_w1 = next(c for c in plan if c.node == "w1" and c.name == "overlay-agent")
    assert agent_w1.argv[1:] == ["overlay-agent", "--kubeconfig",
                                 "/run/k8snet/c/kubeconfig.incluster", "--node-name", "w1",
                                 "--node-ip", "10.0.0.2", "--cluster-cidr", "10.244.0.0/16",
                                 "--no-masquerade-to", "10.0.0.0/16", "--ready-file",
                                 "/run/k8snet/c/w1/overlay.ready"]
    routed = plan_components(NODES, ClusterSpec(name="c", mode="routed"), "/run/k8snet/c",
                             ["k"])
    assert not [c for c in routed if c.name == "overlay-agent"]
