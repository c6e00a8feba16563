"""The control-plane command's plan of child processes."""

from __future__ import annotations

import argparse

from k8snet.controlplane import add_arguments, plan_children, simulated_nodes


def parse(*argv):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


def test_children_share_one_kubeconfig_on_loopback(tmp_path):
    kids = plan_children(parse("--data-dir", str(tmp_path), "--port", "0"))
    assert [k.name for k in kids] == ["apiserver", "scheduler", "controller-manager"]
    api = list(kids[0].argv)
    kubeconfig = api[api.index("--kubeconfig-out") + 1]
    assert kubeconfig == str(tmp_path / "kubeconfig")
    assert api[api.index("--bind-address") + 1] == "127.0.0.1"
    assert api[api.index("--port") + 1] == "0"
    assert "--store" not in api
    for kid in kids[1:]:
        assert kid.argv[kid.argv.index("--kubeconfig") + 1] == kubeconfig


def test_store_and_timeouts_pass_through(tmp_path):
    kids = plan_children(parse("--data-dir", str(tmp_path), "--store", "etcd://127.0.0.1:2379",
                               "--pod-eviction-timeout", "7"))
    assert "etcd://127.0.0.1:2379" in kids[0].argv
    kcm = kids[2].argv
    assert kcm[kcm.index("--pod-eviction-timeout") + 1] == "7.0"


def test_simulated_nodes():
    nodes = simulated_nodes(3)
    assert list(nodes) == ["sim-1", "sim-2", "sim-3"]
    assert nodes["sim-1"]["disk"] == "ssd" and "disk" not in nodes["sim-2"]
    assert {n["topology.kubernetes.io/zone"] for n in nodes.values()} == {"a", "b"}
    assert simulated_nodes(0) == {}
