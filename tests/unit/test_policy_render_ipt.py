"""The iptables rendering of compiled policy: applied to a simulated filter table
(policy_ipt_sim) and compared with the oracle for every case of the corpus, as
the nftables rendering is; iptables-restore itself takes every transaction."""

import json
import shutil
import subprocess
import sys

import pytest

from k8snet.policy import render_ipt
from k8snet.policy.cases import load_cases
from k8snet.policy.compile import compile_node
from k8snet.policy.model import IpBlock
from k8snet.policy.oracle import Endpoint, verdict
from k8snet.policy.render_nft import NodeView
from k8snet.policy.truthtable import model_pods, pod_keys
from tests.unit import policy_ipt_sim as sim

CASES = load_cases()
KUBE_PROXY_JUMP = ["-m", "comment", "--comment", "kubernetes forwarding rules", "-j",
                   "KUBE-FORWARD"]


def kube_proxy_table():
    """A filter table where kube-proxy got there first."""
    return sim.Table({"FORWARD": [KUBE_PROXY_JUMP], "INPUT": [], "OUTPUT": [],
                      "KUBE-FORWARD": []})


def body(case, pods, node, pending=False):
    return render_ipt.render(compile_node(node, case.parsed(pods), pods, case.namespaces()),
                             NodeView(known_ips=tuple(p.ip for p in pods), pending=pending))


def node_tables(case, pods):
    out = {}
    for node in sorted({p.node for p in pods}):
        table = kube_proxy_table()
        table.restore(render_ipt.restore_input(body(case, pods, node), table.save()))
        out[node] = table
    return out


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_rendered_rules_enforce_what_the_oracle_says(case):
    pods = case.pods()
    policies = case.parsed(pods)
    namespaces = case.namespaces()
    tables = node_tables(case, pods)
    by_key = {p.key: p for p in pods}
    for protocol, port in {(p.protocol, p.port) for p in case.probes} | {("UDP", 81)}:
        for s in pod_keys():
            for d in pod_keys():
                if s == d:
                    continue
                src, dst = by_key[s], by_key[d]
                want = verdict(policies, namespaces, Endpoint.of(src), Endpoint.of(dst),
                               protocol, port).allowed
                passed, trail = sim.forward(tables[src.node], src.ip, dst.ip, protocol, port)
                if passed and dst.node != src.node:
                    passed, trail = sim.forward(tables[dst.node], src.ip, dst.ip, protocol,
                                                port)
                assert passed == want, f"{case.name} {s}->{d} {protocol}/{port}: {trail}"


def test_denied_packet_names_the_chain_and_rule():
    case = next(c for c in CASES if c.name == "allow-from-same-namespace-by-pod-selector")
    table = node_tables(case, case.pods())["w1"]
    passed, trail = sim.forward(table, "10.244.2.10", "10.244.1.10", "TCP", 80)
    assert not passed
    assert trail == [f"{render_ipt.chain_name('Ingress', 'x/a')}: -m comment --comment "
                     "'x/a: default deny ingress by x/allow-b' -j DROP"]
    passed, trail = sim.forward(table, "10.244.1.11", "10.244.1.10", "TCP", 80)
    assert passed and "'x/allow-b ingress[0]'" in trail[0]


def test_pending_isolation_drops_unknown_pod_addresses_only():
    table = kube_proxy_table()
    text = render_ipt.render([], NodeView(known_ips=tuple(p.ip for p in model_pods()),
                                          pending=True))
    table.restore(render_ipt.restore_input(text, table.save()))
    assert not sim.forward(table, "10.244.1.99", "10.244.2.10", "TCP", 80)[0]
    assert not sim.forward(table, "10.244.2.10", "10.244.1.99", "TCP", 80)[0]
    assert sim.forward(table, "10.244.2.10", "10.244.1.10", "TCP", 80)[0]
    assert sim.forward(table, "10.0.0.5", "10.0.0.6", "TCP", 80)[0]


def test_updates_delete_chains_of_pods_that_left_and_keep_one_jump_first():
    deny_all = next(c for c in CASES if c.name == "default-deny-all")
    pods = deny_all.pods()
    table = kube_proxy_table()
    table.restore(render_ipt.restore_input(body(deny_all, pods, "w1"), table.save()))
    ours = {c for c in table.chains if c.startswith("K8SNET-POL-")}
    assert len(ours) == 3 + 2              # FWD, IN, TO; ingress and egress of x/a
    table.restore(render_ipt.restore_input(render_ipt.render([], NodeView()), table.save()))
    assert {c for c in table.chains if c.startswith("K8SNET-POL-")} == {
        render_ipt.FORWARD, render_ipt.INPUT, render_ipt.TO}
    table.restore(render_ipt.restore_input(render_ipt.render([], NodeView()), table.save()))
    assert table.chains["FORWARD"] == [["-j", render_ipt.FORWARD], KUBE_PROXY_JUMP]
    assert table.chains["INPUT"] == [["-j", render_ipt.INPUT]]
    table.restore(render_ipt.cleanup_input(table.save()))
    assert table.chains == kube_proxy_table().chains
    assert render_ipt.cleanup_input(table.save()) == ""


def test_ip_block_except_becomes_the_ranges_left():
    block = IpBlock("10.0.0.0/24", ("10.0.0.16/28", "10.0.0.128/25"))
    assert render_ipt.block_ranges(block) == [("10.0.0.0", "10.0.0.15"),
                                              ("10.0.0.32", "10.0.0.127")]
    assert render_ipt.block_ranges(IpBlock("10.0.0.0/24", ("10.0.0.0/16",))) == []


def test_an_entry_shared_by_many_pods_is_one_chain():
    """Peers are expanded once per compiled entry, not once per Pod it protects."""
    case = next(c for c in CASES if c.name == "deny-ingress-from-other-namespaces")
    pods = case.pods()
    text = body(case, pods, None)
    shared = [line for line in text.splitlines() if line.startswith(":K8SNET-POL-A-")]
    assert len(shared) == 1 and text.count("-j " + shared[0][1:].split()[0]) == 3


def test_chain_names_fit_iptables():
    assert len(render_ipt.chain_name("Ingress", "a-very-long-namespace-name/" + "p" * 200)) <= 28


IN_NETNS = """
import json, subprocess, sys
from k8snet.policy import render_ipt

def run(argv, text=None):
    res = subprocess.run(argv, input=text, capture_output=True, text=True)
    if res.returncode:
        sys.exit(f"{argv[0]}: {res.stderr}")
    return res.stdout

for body in json.load(sys.stdin):
    run(["iptables-restore", "--noflush"],
        render_ipt.restore_input(body, run(["iptables-save", "-t", "filter"])))
last = run(["iptables-save", "-t", "filter"])
run(["iptables-restore", "--noflush"], render_ipt.cleanup_input(last))
print(json.dumps([last, run(["iptables-save", "-t", "filter"])]))
"""


@pytest.mark.skipif(shutil.which("iptables-restore") is None or shutil.which("unshare") is None,
                    reason="needs iptables-restore and unshare")
def test_iptables_restore_takes_every_transaction():
    """Every case applied for real in a throwaway namespace, one after another (each
    transaction also deletes the previous case's chains), then cleaned up."""
    if subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode != 0:
        pytest.skip("cannot make a network namespace here (not root)")
    bodies = [body(case, case.pods(), "w1", pending=n == 0) for n, case in enumerate(CASES)]
    proc = subprocess.run(["unshare", "-n", sys.executable, "-c", IN_NETNS],
                          input=json.dumps(bodies), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    last, cleaned = json.loads(proc.stdout)
    assert "K8SNET-POL-FWD" in last and last.count("-j K8SNET-POL-FWD") == 1
    assert "K8SNET" not in cleaned
