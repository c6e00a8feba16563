"""NetworkPolicy in macvlan mode, where the fabric enforces it: Pod packets leave their
node on the wire without crossing its kernel, so the leaf switch each node attaches to
holds the policy (the fabric controller's conjunctive flows, k8snet.fabric.policy).

The core corpus cases on a leaf-spine cluster: the observed truth table must equal the
oracle's for every pair of Pods on different nodes. Two Pods of one node talk through
the node's macvlan bridge and never reach a switch: those cells are reported, not
asserted (see the README, "Where NetworkPolicy is enforced").
"""

import subprocess
import time

import pytest

from k8snet.policy import probe
from k8snet.policy.cases import load_cases
from k8snet.policy.evaluate import PolicyLab
from k8snet.testbed import api
from tests.integration.conftest import k8snet

NAME = "pmv1"
CASES = ("default-deny-ingress", "allow-from-same-namespace-by-pod-selector",
         "allow-only-from-other-namespace-by-namespace-selector", "egress-cidr-except",
         "ports")


@pytest.fixture(scope="module")
def lab():
    made = None
    try:
        k8snet("up", "--detach", "--name", NAME, "--topology", "leaf-spine", "--spines", "1",
               "--leaves", "2", "--workers", "3", "--mode", "macvlan", timeout=600)
        made = PolicyLab(api.find(NAME, need_api=True))
        yield made
    finally:
        if made is not None:
            made.close()
        k8snet("down", "--name", NAME, check=False)


def test_core_cases_hold_across_nodes_in_macvlan_mode(lab):
    node = {p.key: p.node for p in lab.pods}
    by_name = {c.name: c for c in load_cases()}
    bad, same_node = [], []
    for name in CASES:
        result = lab.run_case(by_name[name])
        assert result.tables, result.text()
        print(f"{name}: enforced on every leaf in {result.enforce_seconds * 1000:.0f} ms")
        for table in result.tables:
            for cell in table.differ:
                (same_node if node[cell[0]] == node[cell[1]] else bad).append(
                    (name, table.protocol, table.port, cell))
        if any(c[0] == name for c in bad):
            print(result.text())
    print("same-node cells not enforced (macvlan bridge):", same_node)
    assert not bad, bad
    lab.clear()


def test_leaves_hold_the_policy_flows_and_a_denied_probe_hits_them(lab):
    """Default-deny ingress: each leaf holds the entry on its host ports and one drop
    per isolated Pod in the ingress table; denied probes are counted there."""
    import json
    import os

    result = lab.run_case({c.name: c for c in load_cases()}["default-deny-ingress"])
    node = {p.key: p.node for p in lab.pods}
    assert not [d for t in result.tables for d in t.differ if node[d[0]] != node[d[1]]]
    facts = json.load(open(os.path.join(lab.cluster.state.dir, "fabric.json")))
    leaves = {h["switch"] for h in facts["hosts"]}
    hits = 0
    for leaf in sorted(leaves):
        dump = subprocess.run(["ovs-ofctl", "-O", "OpenFlow13", "dump-flows", leaf],
                              capture_output=True, text=True, check=True).stdout
        assert "ct_state=-trk" in dump and "ct(table=11" in dump, dump
        drops = [ln for ln in dump.splitlines()
                 if "table=12" in ln and "priority=10," in ln and "actions=drop" in ln]
        assert len(drops) == len([p for p in lab.pods if p.namespace == "x"]), dump
        hits += sum(int(ln.split("n_packets=")[1].split(",")[0]) for ln in drops)
    assert hits > 0
    with open(os.path.join(lab.cluster.state.dir, "controller.log"), encoding="utf-8") as fh:
        log = fh.read()
    assert " error type=" not in log, [ln for ln in log.splitlines() if "error type=" in ln]
    assert "isolated Pods" in log   # the controller said what it installed
    lab.clear()


def test_a_new_pod_is_isolated_from_its_first_packet(lab):
    """Default-deny egress for starters in y: a starter's very first TCP connection to a
    Pod on another node dies at the leaf (unknown to the controller, then isolated);
    the control, a starter in z, connects once the controller knows it."""
    from tests.integration.test_network_policy import _finished_log, _first_attempt_pod

    client = lab.client
    target = next(p for p in lab.pods if p.key == "x/b")
    node = next(w for w in lab.workers if w != target.node)
    client.create("networkpolicies", {
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "deny-starters", "namespace": "y"},
        "spec": {"podSelector": {"matchLabels": {"role": "starter"}},
                 "policyTypes": ["Egress"]}}, "y")
    try:
        time.sleep(1)   # the leaves have the policy; the Pod does not exist yet
        client.create("pods", _first_attempt_pod("y", target.ip, node), "y")
        assert "FIRST blocked" in _finished_log(client, "y", "starter")
        client.create("pods", _first_attempt_pod("z", target.ip, node), "z")
        assert "FIRST connected" in _finished_log(client, "z", "starter")
    finally:
        client.delete("networkpolicies", "deny-starters", "y")
        for ns in ("y", "z"):
            client.delete("pods", "starter", ns, grace_period_seconds=0)


def test_deleting_a_policy_restores_connectivity(lab):
    deny_all = next(c for c in load_cases() if c.name == "default-deny-all")
    result = lab.run_case(deny_all)
    node = {p.key: p.node for p in lab.pods}
    denied = [k for k, v in result.tables[0].observed.items() if not v]
    assert [k for k in denied if node[k[0]] != node[k[1]]]
    seconds = lab.clear()
    observed, _ = probe.observe(lab.pods, lab.probers, "TCP", 80)
    assert all(observed.values()), [k for k, v in observed.items() if not v]
    assert seconds < 10
