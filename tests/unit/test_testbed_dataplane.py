"""The pure parts of the fault measurements and of starting a cluster's controller."""

import pytest

from k8snet.testbed import dataplane, fabric_controller
from k8snet.testbed.spec import ClusterSpec


def test_ping_counts_from_the_summary():
    text = ("--- 10.0.0.5 ping statistics ---\n"
            "2500 packets transmitted, 2497 received, 0.12% packet loss, time 10012ms\n")
    assert dataplane.ping_counts(text) == (2500, 2497)
    with pytest.raises(ValueError, match="no ping summary"):
        dataplane.ping_counts("connect: Network is unreachable\n")


def test_changed_flows_sums_every_warm_start_line():
    lines = ["... warm start knfab2-l1: held 52 flows, 12 groups; 0 flows to add or fix, "
             "0 to delete, 0 groups to add or fix, 0 to delete",
             "... warm start knfab2-s1: held 30 flows, 12 groups; 2 flows to add or fix, "
             "1 to delete, 3 groups to add or fix, 0 to delete"]
    assert dataplane.changed_flows(lines[:1]) == 0  # what it held does not count
    assert dataplane.changed_flows(lines) == 6


def test_controller_command_follows_the_cluster_spec():
    spec = ClusterSpec(name="fab9", mode="macvlan")
    cmd = fabric_controller.controller_command(spec, "/run/k8snet/fab9", 6653)
    assert cmd[1:3] == ["-m", "controllers.launcher"]
    assert cmd[cmd.index("--facts") + 1] == "/run/k8snet/fab9/fabric.json"
    assert cmd[cmd.index("--mode") + 1] == "macvlan"
    assert cmd[cmd.index("--kubeconfig") + 1] == "/run/k8snet/fab9/kubeconfig"
    bare = ClusterSpec(name="fab9", network_only=True)
    assert "--kubeconfig" not in fabric_controller.controller_command(bare, "/d", 6653)
