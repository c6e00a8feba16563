"""NetworkPolicy in routed mode, proved with packets: the e2e model (x, y, z; a, b, c)
on three workers, the corpus's cases applied one after another and every pair
probed; the observed truth table must equal both the oracle's and the one
written by hand in k8snet/policy/cases.yaml.

Also: a new Pod under default-deny egress cannot send even its first packet;
deleting a policy restores connectivity; `k8snet probe --policy --from FILE`
and `kubectl describe networkpolicy` as a user runs them.
"""

import json
import subprocess
import sys
import time

import pytest

from k8snet.policy import probe
from k8snet.policy.cases import load_cases
from k8snet.policy.evaluate import PolicyLab
from k8snet.policy.model import parse_policy
from k8snet.policy.truthtable import expected_table
from k8snet.testbed import api
from tests.integration.conftest import k8snet

NAME = "polr"
# Every core case, then single-probe ones up to 21 cases (the whole corpus: sudo k8snet
# probe --policy --all-cases).
ROUTED_CASES = [c for c in load_cases() if c.core]
ROUTED_CASES += [c for c in load_cases() if not c.core and len(c.probes) == 1][
    :21 - len(ROUTED_CASES)]


@pytest.fixture(scope="module")
def lab():
    made = None
    try:
        k8snet("up", "--detach", "--name", NAME, "--workers", "3", timeout=600)
        made = PolicyLab(api.find(NAME, need_api=True))
        yield made
    finally:
        if made is not None:
            made.close()
        k8snet("down", "--name", NAME, check=False)


def test_truth_tables_match_for_the_corpus(lab):
    assert len(ROUTED_CASES) >= 20
    bad = []
    for case in ROUTED_CASES:
        result = lab.run_case(case)
        for table in result.tables:
            if table.differ or table.observed != table.written:
                bad.append(result.text())
                break
    lab.clear()
    assert not bad, "\n".join(bad)


def _first_attempt_pod(namespace, target_ip, node):
    """A Pod whose container's very first action is one TCP connection to target."""
    code = ("import socket\n"
            "s = socket.socket(); s.settimeout(3)\n"
            f"try:\n    s.connect(('{target_ip}', 80)); print('FIRST connected')\n"
            "except OSError as e:\n    print('FIRST blocked', e)\n")
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "starter", "namespace": namespace,
                         "labels": {"role": "starter"}},
            "spec": {"nodeName": node, "restartPolicy": "Never",
                     "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "c", "image": "python:3.12-alpine",
                                     "command": ["python3", "-c", code]}]}}


def _finished_log(client, namespace, name, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pod = client.get("pods", name, namespace)
        if pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
            return client.pod_log(namespace, name)
        time.sleep(0.5)
    raise AssertionError(f"{namespace}/{name} did not finish in {timeout}s")


def test_default_deny_blocks_a_new_pods_first_packet(lab):
    client = lab.client
    target = next(p for p in lab.pods if p.key == "x/b")
    deny = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "deny-starters", "namespace": "y"},
            "spec": {"podSelector": {"matchLabels": {"role": "starter"}},
                     "policyTypes": ["Egress"]}}
    client.create("networkpolicies", deny, "y")
    node = lab.workers[0]
    try:
        time.sleep(1)   # the agents have the policy; the Pod does not exist yet
        client.create("pods", _first_attempt_pod("y", target.ip, node), "y")
        assert "FIRST blocked" in _finished_log(client, "y", "starter")
        # The control, after: while an isolated Pod awaits its address, any new Pod's
        # packets wait too (see k8snet.policy.render_nft).
        client.create("pods", _first_attempt_pod("z", target.ip, node), "z")
        assert "FIRST connected" in _finished_log(client, "z", "starter")
        with open(f"{lab.cluster.state.dir}/{node}/policy-agent.log", encoding="utf-8") as fh:
            assert "isolation pending for y/starter" in fh.read()
    finally:
        client.delete("networkpolicies", "deny-starters", "y")
        for ns in ("y", "z"):
            client.delete("pods", "starter", ns, grace_period_seconds=0)


def test_deleting_a_policy_restores_connectivity(lab):
    deny_all = next(c for c in load_cases() if c.name == "default-deny-all")
    result = lab.run_case(deny_all)
    assert result.ok and not all(result.tables[0].observed.values())
    seconds = lab.clear()
    observed, _ = probe.observe(lab.pods, lab.probers, "TCP", 80)
    assert all(observed.values()), [k for k, v in observed.items() if not v]
    assert seconds < 10


def test_probe_command_evaluates_a_users_file_and_describe_shows_it(lab, tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
        "metadata: {name: mine, namespace: x}\n"
        "spec:\n  podSelector: {matchLabels: {pod: c}}\n"
        "  ingress:\n  - from: [{namespaceSelector: {matchLabels: {ns: z}}}]\n"
        "    ports: [{port: 81}]\n")
    proc = k8snet("probe", "--name", NAME, "--policy", "--from", str(path), "--json", "--keep",
                  timeout=600)
    doc = json.loads(proc.stdout)
    assert doc["ok"] and doc["cases"][0]["tables"][1]["port"] == 81
    cells = {(c["from"], c["to"]): c for c in doc["cases"][0]["tables"][1]["cells"]}
    assert cells[("z/a", "x/c")]["observed"] is True
    assert cells[("y/a", "x/c")]["observed"] is False
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")
    proc = k8snet("probe", "--name", NAME, "--policy", "--from", str(bad), check=False)
    assert proc.returncode == 2 and "is not a NetworkPolicy" in proc.stderr
    assert "Traceback" not in proc.stderr

    lab.client.create("networkpolicies", {
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "shown", "namespace": "x"},
        "spec": {"podSelector": {"matchLabels": {"pod": "a"}},
                 "ingress": [{"ports": [{"port": 80, "endPort": 90}]}]}}, "x")
    out = subprocess.run(["kubectl", "--kubeconfig", lab.cluster.kubeconfig, "describe",
                          "networkpolicy", "-n", "x", "shown"], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    assert "PodSelector:     pod=a" in out and "To Port Range: 80-90/TCP" in out
    lab.client.delete("networkpolicies", "shown", "x")


def test_trace_shows_where_a_denied_packet_died(lab):
    """`k8snet trace` names the node, chain, rule and policy that dropped a packet (and
    the packet's last hop is that node's eth0: the drop is the policy's)."""
    only_b = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
              "metadata": {"name": "only-b", "namespace": "x"},
              "spec": {"podSelector": {"matchLabels": {"pod": "a"}},
                       "ingress": [{"from": [{"podSelector": {"matchLabels": {"pod": "b"}}}],
                                    "ports": [{"port": 80}]}]}}
    versions = probe.set_labels(lab.client, {}, {})
    written = probe.replace_policies(lab.client, [only_b])
    probe.wait_enforced(lab.cluster.state.dir, lab.workers, probe.Applied(
        {**probe.other_policies(lab.client), **written}, versions))
    node = next(p.node for p in lab.pods if p.key == "x/a")
    try:
        denied = json.loads(k8snet("trace", "y/b", "x/a", "--proto", "tcp", "--port", "80",
                                   "--name", NAME, "--json", check=False).stdout)
        (drop,) = denied["policy_drops"]
        assert drop["node"] == node and drop["table"] == "table ip k8snet-policy"
        assert drop["chain"].startswith("in-x-a-") and drop["packets"] == 1
        assert drop["comment"] == "x/a: default deny ingress by x/only-b"
        assert drop["not_admitted_by"] == ["x/only-b ingress[0]"]
        assert denied["hops"][-1]["place"] == f"node {node}"   # captured no further
    finally:
        lab.clear()


def test_iptables_backend_enforces_the_same_table(lab, tmp_path):
    """A second agent with --backend iptables on the node of x/a, y/a and z/a; once both
    have enforced a case, the nftables table there is removed, so iptables alone
    polices that node: the observed table must still be the oracle's, and trace must
    find the drop in the iptables chains."""
    node = next(p.node for p in lab.pods if p.key == "x/a")
    netns = lab.cluster.state.node(node).netns
    ndir = tmp_path / node
    ndir.mkdir()
    argv = ["ip", "netns", "exec", netns, sys.executable, "-m", "k8snet.cli", "policy-agent",
            "--backend", "iptables", "--kubeconfig", f"{lab.cluster.state.dir}/kubeconfig"
            ".incluster", "--node-name", node, "--status-file", str(ndir / "policy.status")]
    agent = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    case = next(c for c in load_cases() if c.name == "ingress-and-egress-together")
    try:
        pods = case.pods(ips={p.key: p.ip for p in lab.pods},
                         nodes={p.key: p.node for p in lab.pods})
        versions = probe.set_labels(lab.client, case.namespace_labels, case.pod_labels)
        written = probe.replace_policies(lab.client, case.objects(pods))
        applied = probe.Applied({**probe.other_policies(lab.client), **written}, versions)
        probe.wait_enforced(lab.cluster.state.dir, lab.workers, applied)
        probe.wait_enforced(str(tmp_path), [node], applied, timeout=90)
        subprocess.run(["ip", "netns", "exec", netns, "nft", "delete", "table", "ip",
                        "k8snet-policy"], check=True)
        expected = expected_table([parse_policy(o) for o in case.objects(pods)],
                                  case.namespaces(), pods, "TCP", 80)
        observed, _ = probe.observe(lab.pods, lab.probers, "TCP", 80, expected=expected)
        assert observed == expected, [k for k in expected if observed[k] != expected[k]]
        denied = json.loads(k8snet("trace", "y/b", "x/a", "--proto", "tcp", "--port", "80",
                                   "--name", NAME, "--json", check=False).stdout)
        (drop,) = denied["policy_drops"]
        assert drop["table"] == "iptables filter" and drop["chain"].startswith("K8SNET-POL-I-")
        assert drop["comment"] == "x/a: default deny ingress by x/both"
    finally:
        agent.terminate()
        assert agent.wait(timeout=30) is not None
        subprocess.run([*argv[:8], "--backend", "iptables", "--cleanup"], check=True)
        lab.clear()   # the nftables agent writes its table again
    saved = subprocess.run(["ip", "netns", "exec", netns, "iptables-save", "-t", "filter"],
                           capture_output=True, text=True, check=True).stdout
    assert "K8SNET-POL" not in saved
