"""The nftables rendering of compiled policy: read back by a small interpreter
(policy_nft_sim) and compared with the oracle for every case of the corpus."""

import json
import shutil
import subprocess

import pytest

from k8snet.policy.cases import load_cases
from k8snet.policy.compile import compile_node
from k8snet.policy.oracle import Endpoint, verdict
from k8snet.policy.render_nft import NodeView, chain_name, render, rule_count
from k8snet.policy.truthtable import model_pods, pod_keys
from tests.unit import policy_nft_sim as sim

CASES = load_cases()


def node_scripts(case, pods):
    """node -> (script, ruleset) for every node the model's Pods sit on."""
    policies = case.parsed(pods)
    out = {}
    for node in sorted({p.node for p in pods}):
        script = render(compile_node(node, policies, pods, case.namespaces()),
                        NodeView(known_ips=tuple(p.ip for p in pods)))
        out[node] = (script, sim.parse(script))
    return out


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_rendered_rules_enforce_what_the_oracle_says(case):
    """A packet crosses the source's node, then the destination's (the same one for
    local traffic): both forward hooks must pass it exactly when the oracle allows."""
    pods = case.pods()
    policies = case.parsed(pods)
    namespaces = case.namespaces()
    scripts = node_scripts(case, pods)
    by_key = {p.key: p for p in pods}
    for protocol, port in {(p.protocol, p.port) for p in case.probes} | {("UDP", 81)}:
        for s in pod_keys():
            for d in pod_keys():
                if s == d:
                    continue
                src, dst = by_key[s], by_key[d]
                want = verdict(policies, namespaces, Endpoint.of(src), Endpoint.of(dst),
                               protocol, port).allowed
                passed, trail = sim.forward(scripts[src.node][1], src.ip, dst.ip, protocol,
                                            port)
                if passed and dst.node != src.node:
                    passed, trail = sim.forward(scripts[dst.node][1], src.ip, dst.ip,
                                                protocol, port)
                assert passed == want, f"{case.name} {s}->{d} {protocol}/{port}: {trail}"


def test_denied_packet_names_the_chain_and_rule():
    case = next(c for c in CASES if c.name == "allow-from-same-namespace-by-pod-selector")
    pods = case.pods()
    _script, rs = node_scripts(case, pods)["w1"]
    passed, trail = sim.forward(rs, "10.244.2.10", "10.244.1.10", "TCP", 80)
    assert not passed
    assert trail == [f"{chain_name('Ingress', 'x/a')}: counter drop comment "
                     "\"x/a: default deny ingress by x/allow-b\""]
    passed, trail = sim.forward(rs, "10.244.1.11", "10.244.1.10", "TCP", 80)
    assert passed and trail[0].endswith('comment "x/allow-b ingress[0]"')


def test_pending_isolation_drops_unknown_pod_addresses_only():
    pods = model_pods()
    script = render([], NodeView(known_ips=tuple(p.ip for p in pods), pending=True))
    rs = sim.parse(script)
    assert not sim.forward(rs, "10.244.1.99", "10.244.2.10", "TCP", 80)[0]
    assert not sim.forward(rs, "10.244.2.10", "10.244.1.99", "TCP", 80)[0]
    assert sim.forward(rs, "10.244.2.10", "10.244.1.10", "TCP", 80)[0]
    assert sim.forward(rs, "10.0.0.5", "10.0.0.6", "TCP", 80)[0]
    assert sim.forward(sim.parse(render([], NodeView())), "10.244.1.99", "10.244.2.10",
                       "TCP", 80)[0]


def test_peer_addresses_are_one_shared_set():
    case = next(c for c in CASES if c.name == "deny-ingress-from-other-namespaces")
    pods = case.pods()
    script = render(compile_node(None, case.parsed(pods), pods, case.namespaces()), NodeView())
    assert script.count("set peers-") == 1
    assert rule_count(script) == 3 * 2 + 3 + 2   # 3 Pods x (allow, drop); forward; input


@pytest.mark.skipif(shutil.which("nft") is None or shutil.which("unshare") is None,
                    reason="needs nft and unshare")
def test_nft_accepts_every_rendered_script():
    """nft itself parses every case's script (check mode, in a throwaway namespace)."""
    probe = subprocess.run(["unshare", "-n", "nft", "list", "ruleset"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("cannot make a network namespace here (not root)")
    for case in CASES:
        pods = case.pods()
        for script, _rs in node_scripts(case, pods).values():
            res = subprocess.run(["unshare", "-n", "nft", "-c", "-f", "-"], input=script,
                                 text=True, capture_output=True)
            assert res.returncode == 0, f"{case.name}: {res.stderr}\n{script}"


def test_drop_counters_say_where_denied_packets_died():
    from k8snet.policy.agent import counter_deltas, drop_counters

    def listing(packets):
        return json.dumps({"nftables": [
            {"table": {"family": "ip", "name": "k8snet-policy"}},
            {"rule": {"chain": "filter-forward", "expr": [{"accept": None}]}},
            {"rule": {"chain": "in-x-a-1", "comment": "x/p ingress[0]",
                      "expr": [{"accept": None}]}},
            {"rule": {"chain": "in-x-a-1", "comment": "x/a: default deny ingress",
                      "expr": [{"counter": {"packets": packets, "bytes": 60}},
                               {"drop": None}]}}]})

    before, after = drop_counters(listing(3)), drop_counters(listing(7))
    assert before == {("in-x-a-1", "x/a: default deny ingress"): 3}
    assert counter_deltas(before, after) == {("in-x-a-1", "x/a: default deny ingress"): 4}
    assert counter_deltas(after, after) == {}
    assert drop_counters("") == {}
