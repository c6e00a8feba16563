"""The NetworkPolicy oracle and the compiled per-Pod rules against the hand-written
corpus (k8snet/policy/cases.yaml) and against each other."""

import pytest

from k8snet.errors import UsageError
from k8snet.policy.cases import load_cases
from k8snet.policy.compile import compile_node, compiled_allows
from k8snet.policy.model import parse_pod, parse_policy
from k8snet.policy.oracle import Endpoint, verdict
from k8snet.policy.truthtable import differences, expected_table, format_table, pod_keys

CASES = load_cases()


def test_corpus_is_large_and_named_uniquely():
    assert len(CASES) >= 40
    assert len({c.name for c in CASES}) == len(CASES)
    assert sum(c.core for c in CASES) >= 10


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_oracle_matches_hand_written_table(case):
    pods = case.pods()
    policies = case.parsed(pods)
    for probe in case.probes:
        got = expected_table(policies, case.namespaces(), pods, probe.protocol, probe.port)
        want = probe.expected()
        assert not differences(want, got), format_table(want, got, title=case.name)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_compiled_rules_match_oracle(case):
    """What a renderer renders (per-Pod allow lists) means what the oracle says, for
    every pair, on both probed and unprobed ports."""
    pods = case.pods()
    policies = case.parsed(pods)
    namespaces = case.namespaces()
    compiled = {r.pod: r for r in compile_node(None, policies, pods, namespaces)}
    by_key = {p.key: p for p in pods}
    for protocol, port in {(p.protocol, p.port) for p in case.probes} | {
            ("TCP", 80), ("TCP", 81), ("UDP", 80), ("SCTP", 81), ("TCP", 90)}:
        for s in pod_keys():
            for d in pod_keys():
                if s == d:
                    continue
                src, dst = by_key[s], by_key[d]
                want = verdict(policies, namespaces, Endpoint.of(src), Endpoint.of(dst),
                               protocol, port).allowed
                got = compiled_allows(src.ip, dst.ip, protocol, port, compiled.get(s),
                                      compiled.get(d))
                assert got == want, f"{case.name}: {s}->{d} {protocol}/{port}"


def test_policy_types_default_as_upstream():
    only_ingress = parse_policy({"metadata": {"name": "p", "namespace": "x"},
                                 "spec": {"podSelector": {}}})
    assert only_ingress.types == {"Ingress"}
    both = parse_policy({"metadata": {"name": "p", "namespace": "x"},
                         "spec": {"podSelector": {}, "egress": [{}]}})
    assert both.types == {"Ingress", "Egress"}


def test_host_network_pods_are_never_selected():
    pol = parse_policy({"metadata": {"name": "p", "namespace": "x"},
                        "spec": {"podSelector": {}}})
    pod = parse_pod({"metadata": {"name": "h", "namespace": "x"},
                     "spec": {"hostNetwork": True, "nodeName": "w1", "containers": []},
                     "status": {"podIP": "10.0.0.2"}})
    client = parse_pod({"metadata": {"name": "c", "namespace": "y"}, "spec": {},
                        "status": {"podIP": "10.244.9.9"}})
    assert verdict([pol], {}, Endpoint.of(client), Endpoint.of(pod), "TCP", 80).allowed


def test_own_node_may_always_reach_its_pods():
    pol = parse_policy({"metadata": {"name": "p", "namespace": "x"},
                        "spec": {"podSelector": {}}})
    pod = parse_pod({"metadata": {"name": "a", "namespace": "x"}, "spec": {"nodeName": "w1"},
                     "status": {"podIP": "10.244.1.5"}})
    own = Endpoint("10.0.0.2", node="w1")
    other = Endpoint("10.0.0.3", node="w2")
    assert verdict([pol], {}, own, Endpoint.of(pod), "TCP", 80).allowed
    assert not verdict([pol], {}, other, Endpoint.of(pod), "TCP", 80).allowed


def test_named_port_resolves_per_pod():
    pol = parse_policy({"metadata": {"name": "p", "namespace": "x"}, "spec": {
        "podSelector": {}, "ingress": [{"ports": [{"port": "http"}]}]}})

    def pod(name, port):
        return parse_pod({"metadata": {"name": name, "namespace": "x"}, "spec": {
            "containers": [{"ports": [{"name": "http", "containerPort": port}]}]},
            "status": {"podIP": f"10.244.1.{port % 200}"}})

    one, two = pod("one", 8080), pod("two", 9090)
    src = Endpoint("10.1.0.1")
    assert verdict([pol], {}, src, Endpoint.of(one), "TCP", 8080).allowed
    assert not verdict([pol], {}, src, Endpoint.of(one), "TCP", 9090).allowed
    assert verdict([pol], {}, src, Endpoint.of(two), "TCP", 9090).allowed


def test_verdict_names_the_rule_that_allowed():
    case = next(c for c in CASES if c.name == "ports")
    pods = case.pods()
    v = verdict(case.parsed(pods), case.namespaces(), Endpoint.of(pods[3]),
                Endpoint.of(pods[0]), "TCP", 81)
    assert v.allowed and v.reason.endswith("x/port-81 ingress[0]")


@pytest.mark.parametrize("spec,what", [
    ({"podSelector": {}, "policyTypes": ["Sideways"]}, "policyTypes"),
    ({"podSelector": {}, "ingress": [{"ports": [{"protocol": "ICMP"}]}]}, "protocol"),
    ({"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/33"}}]}]},
     "ipBlock"),
    ({"podSelector": {}, "ingress": [{"ports": [{"port": "x", "endPort": 9}]}]}, "endPort"),
])
def test_bad_policy_is_one_clear_error(spec, what):
    with pytest.raises(UsageError, match=what):
        parse_policy({"metadata": {"name": "p"}, "spec": spec})


def test_format_table_marks_differing_cells():
    case = CASES[0]
    pods = case.pods()
    want = expected_table(case.parsed(pods), case.namespaces(), pods, "TCP", 80)
    seen = dict(want)
    seen[("y/a", "x/b")] = True
    text = format_table(want, seen)
    assert "1 of 81 cells differ: y/a->x/b expected deny, saw allow" in text
    assert text.count("!") == 1
