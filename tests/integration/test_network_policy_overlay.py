"""NetworkPolicy in overlay mode: the core corpus cases hold there too, including
between Pods of one node, which talk across the cni0 bridge (the policy agent
turns on bridge netfilter so the forward hook sees them)."""

import pytest

from k8snet.policy.cases import load_cases
from k8snet.policy.evaluate import PolicyLab
from k8snet.testbed import api
from tests.integration.conftest import k8snet

NAME = "polov"
CASES = ("default-deny-all", "pod-selector-and-namespace-selector", "ports",
         "egress-cidr-except", "deny-egress-by-pod-selector")


@pytest.fixture(scope="module")
def lab():
    made = None
    try:
        k8snet("up", "--detach", "--name", NAME, "--mode", "overlay", "--workers", "3",
               timeout=600)
        made = PolicyLab(api.find(NAME, need_api=True))
        yield made
    finally:
        if made is not None:
            made.close()
        k8snet("down", "--name", NAME, check=False)


def test_core_cases_hold_in_overlay_mode(lab):
    same_node = {(a.key, b.key) for a in lab.pods for b in lab.pods
                 if a.node == b.node and a.key != b.key}
    assert same_node   # Pods a of x, y and z share a node
    by_name = {c.name: c for c in load_cases()}
    bad, denied_same_node = [], []
    for name in CASES:
        result = lab.run_case(by_name[name])
        if not result.ok or any(t.observed != t.written for t in result.tables):
            bad.append(result.text())
        if name == "default-deny-all":
            denied_same_node = [k for k in same_node if not result.tables[0].observed[k]]
    assert not bad, "\n".join(bad)
    assert denied_same_node   # policy bit between Pods of one node, across the bridge
