"""Macvlan mode's NetworkPolicy in the fabric: the app turns the apiserver's objects into
flows on the leaves only (sent as a diff, read back by warm start as planned), and
removes them all when the last policy goes."""

import json
import shutil
import subprocess
import types

import pytest
from os_ken.ofproto import ofproto_v1_3, ofproto_v1_3_parser
from test_fabric_app import FakeDatapath, connect

from k8snet.fabric.facts import Route, facts_from_dict
from k8snet.fabric.policy import PRIO_POLICY_ENTRY, plan_policy, switch_policy_flows
from k8snet.fabric.sample import leaf_spine_facts
from k8snet.policy.render_of import COOKIE_POLICY, Conjunction, Ct, Resubmit

DENY_X = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
          "metadata": {"name": "deny", "namespace": "x"},
          "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}
ALLOW_B = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
           "metadata": {"name": "allow-b", "namespace": "x"},
           "spec": {"podSelector": {"matchLabels": {"pod": "a"}},
                    "ingress": [{"from": [{"podSelector": {"matchLabels": {"pod": "b"}}}],
                                 "ports": [{"port": 80}]}]}}


def pod(name, ip, node="h1"):
    return {"metadata": {"name": name, "namespace": "x", "labels": {"pod": name}},
            "spec": {"nodeName": node}, "status": {"phase": "Running", "podIP": ip}}


PODS = [pod("a", "10.244.1.5"), pod("b", "10.244.3.6", "h3")]
NAMESPACES = [{"metadata": {"name": "x", "labels": {"kubernetes.io/metadata.name": "x"}}}]
BLOCKS = ["10.244.1.0/24", "10.244.3.0/24"]


def test_no_policy_no_flow():
    plan = plan_policy([], PODS, NAMESPACES, BLOCKS)
    assert not plan.active
    facts = facts_from_dict(leaf_spine_facts(2, 2, 2))
    assert switch_policy_flows(facts, "kntst-l1", plan) == []


def test_leaves_get_an_entry_per_host_port_spines_nothing():
    facts = facts_from_dict(leaf_spine_facts(2, 2, 2))
    plan = plan_policy([DENY_X, ALLOW_B], PODS, NAMESPACES, BLOCKS)
    assert plan.policies == 2 and plan.pods == 2   # deny isolates a and b
    assert switch_policy_flows(facts, "kntst-s1", plan) == []
    leaf = switch_policy_flows(facts, "kntst-l1", plan)
    entries = [f for f in leaf if f.table == 0]
    assert {dict(f.match)["in_port"] for f in entries} == {h.port for h in facts.hosts
                                                           if h.switch == "kntst-l1"}
    assert all(f.priority == PRIO_POLICY_ENTRY and f.goto == 10 for f in entries)
    assert any(isinstance(a, Conjunction) for f in leaf for a in f.actions)


def test_policy_actions_read_back_as_planned():
    """Warm start compares what a switch reports with the plan: ct, conjunction and
    resubmit survive the trip through os-ken (conjunction clauses count from 0 on the wire)."""
    from controllers.messages import _action_spec, _actions

    for spec in (Ct(), Ct(commit=True, table=0), Ct(table=11), Conjunction(7, 2, 3),
                 Resubmit(0)):
        (action,) = _actions(ofproto_v1_3_parser, ofproto_v1_3, (spec,))
        buf = bytearray()
        action.serialize(buf, 0)
        back = ofproto_v1_3_parser.OFPAction.parser(bytes(buf), 0)
        assert _action_spec(ofproto_v1_3, back) == spec
    (conj,) = _actions(ofproto_v1_3_parser, ofproto_v1_3, (Conjunction(7, 1, 3),))
    assert conj.clause == 0


@pytest.fixture
def app(tmp_path, monkeypatch):
    from controllers.fabric_app import ENV_FACTS, ENV_MODE, FabricApp

    path = tmp_path / "facts.json"
    path.write_text(json.dumps(leaf_spine_facts(2, 2, 2)))
    monkeypatch.setenv(ENV_FACTS, str(path))
    monkeypatch.setenv(ENV_MODE, "macvlan")
    app = FabricApp()
    app.dps = {d: FakeDatapath(d) for d in (0x101, 0x102, 0x201, 0x202)}
    for dp in app.dps.values():
        connect(app, dp)
        dp.sent.clear()
    return app


def policy_mods(dp, command):
    return [m for m in dp.sent if type(m).__name__ == "OFPFlowMod"
            and m.cookie & ~0xFF00 == COOKIE_POLICY and m.command == command]


def test_app_installs_on_leaves_as_a_diff_and_removes(app, tmp_path):
    from controllers.fabric_app import SOURCE_NODES, EventPolicy, EventRoutes

    app.on_routes(EventRoutes((Route(BLOCKS[0], "h1"), Route(BLOCKS[1], "h3")), "nodes",
                              SOURCE_NODES))
    def objs(*policies):
        return {"networkpolicies": {f"x/{p['metadata']['name']}": p for p in policies},
                "pods": {f"x/{p['metadata']['name']}": p for p in PODS},
                "namespaces": {"x": NAMESPACES[0]}}

    app.on_policy(EventPolicy(objs(DENY_X), {}, "policy", 0.0))
    add = ofproto_v1_3.OFPFC_ADD
    first = {d: len(policy_mods(dp, add)) for d, dp in app.dps.items()}
    assert first[0x101] == first[0x102] == 0 and first[0x201] > 0 and first[0x202] > 0
    for dp in app.dps.values():
        dp.sent.clear()
    app.on_policy(EventPolicy(objs(DENY_X, ALLOW_B), {}, "policy", 0.0))
    again = {d: len(policy_mods(dp, add)) for d, dp in app.dps.items()}
    assert 0 < again[0x201] < first[0x201] + 20       # what changed, not everything
    for dp in app.dps.values():
        dp.sent.clear()
    app.on_policy(EventPolicy(objs(), {}, "policy", 0.0))
    gone = policy_mods(app.dps[0x201], ofproto_v1_3.OFPFC_DELETE_STRICT)
    assert gone and not [k for k in app.planner.plans["kntst-l1"].flows
                         if app.planner.plans["kntst-l1"].flows[k].cookie & ~0xFF00
                         == COOKIE_POLICY]
    # every switch answered the barrier: the status says what the leaves enforce
    for dp in app.dps.values():
        for m in dp.sent:
            if type(m).__name__ == "OFPBarrierRequest":
                app.on_barrier(types.SimpleNamespace(msg=types.SimpleNamespace(
                    datapath=dp, xid=m.xid)))
    status = json.loads((tmp_path / "fabric-policy.status").read_text())
    assert status["policies"] == {} and status["flows"] == 0


@pytest.mark.skipif(not shutil.which("ovs-ofctl"), reason="needs ovs-ofctl (Open vSwitch)")
def test_ovs_decodes_every_policy_flow_mod(tmp_path):
    """OVS refuses what os-ken happily encodes (ct() needs an IP match on its own flow,
    the conj_id flow included): every planned policy flow mod must decode cleanly."""
    from controllers.messages import _flow_mod

    facts = facts_from_dict(leaf_spine_facts(2, 2, 2))
    plan = plan_policy([DENY_X, ALLOW_B], PODS, NAMESPACES, BLOCKS)
    dp = FakeDatapath(1)
    raw = b""
    flows = switch_policy_flows(facts, "kntst-l1", plan)
    for f in flows:
        msg = _flow_mod(dp, f, ofproto_v1_3.OFPFC_ADD)
        dp.send_msg(msg)
        raw += bytes(msg.buf)
    (tmp_path / "mods").write_bytes(raw)
    out = subprocess.run(["ovs-ofctl", "ofp-parse", str(tmp_path / "mods")],
                         capture_output=True, text=True, check=True).stdout
    assert "error" not in out.lower(), out
    assert out.count("OFPT_FLOW_MOD") == len(flows)
    assert "conj_id=" in out and "conjunction(" in out and "ct(commit,table=0" in out


def test_drops_are_sent_before_what_passes():
    from k8snet.fabric.planner import Planner

    planner = Planner(facts_from_dict(leaf_spine_facts(2, 2, 2)))
    changes = planner.set_policy(plan_policy([DENY_X], PODS, NAMESPACES, BLOCKS))
    for c in changes:
        kinds = [bool(f.actions) or f.goto is not None for f in c.add_flows]
        assert kinds == sorted(kinds) and not kinds[0] and kinds[-1]
