"""Macvlan mode, node side (pure): the Pods' CNI config, the address plan of a block, the
node's fabric interface, the shim and masquerade commands."""

import json

import pytest

from k8snet import cni, macvlan
from k8snet.errors import K8snetError, UsageError


def test_address_plan_of_a_block():
    assert macvlan.addresses("10.244.3.0/24") == {
        "gateway": "10.244.3.1", "shim": "10.244.3.254", "first": "10.244.3.2",
        "last": "10.244.3.253"}
    with pytest.raises(ValueError):
        macvlan.addresses("10.244.3.0/30")


def test_conflist_macvlan_bridge_on_the_fabric_interface():
    conf = cni.render_conflist("macvlan", "10.244.3.0/24", 1500, "w1", "/run/x/ipam",
                               master="eth0", node_ip="10.0.0.2")
    (plugin,) = conf["plugins"]
    assert (plugin["type"], plugin["master"], plugin["mode"], plugin["mtu"]) == (
        "macvlan", "eth0", "bridge", 1500)
    ipam = plugin["ipam"]
    assert ipam["type"] == "host-local" and ipam["dataDir"] == "/run/x/ipam"
    assert ipam["ranges"] == [[{"subnet": "10.244.3.0/24", "gateway": "10.244.3.1",
                                "rangeStart": "10.244.3.2", "rangeEnd": "10.244.3.253"}]]
    assert ipam["routes"] == [{"dst": "0.0.0.0/0"},
                              {"dst": "10.96.0.0/12", "gw": "10.244.3.254"},
                              {"dst": "10.0.0.2/32", "gw": "10.244.3.254"}]
    assert conf["k8snet"] == {"mode": "macvlan", "node": "w1"}
    assert json.loads(json.dumps(conf)) == conf
    with pytest.raises(ValueError):
        cni.render_conflist("macvlan", "10.244.3.0/24", 1500, "w1", "/d")
    assert cni.pod_mtu("macvlan", 1500) == 1500  # no encapsulation


def test_fabric_interface_is_the_one_holding_the_node_ip():
    text = json.dumps([
        {"ifname": "lo", "addr_info": [{"local": "127.0.0.1"}]},
        {"ifname": "w1-eth0", "addr_info": [{"local": "10.0.0.2", "prefixlen": 16}]}])
    assert macvlan.fabric_interface(text, "10.0.0.2") == "w1-eth0"
    with pytest.raises(K8snetError, match="10.0.0.9"):
        macvlan.fabric_interface(text, "10.0.0.9")


def test_node_commands_shim_route_and_service_masquerade():
    cmds = [" ".join(c) for c in macvlan.node_commands("10.244.3.0/24", "eth0", "10.0.0.2")]
    assert "ip addr replace 10.244.3.254/32 dev k8s-mvl0" in cmds
    assert "ethtool -K k8s-mvl0 tx off" in cmds
    assert "ip route replace 10.244.3.0/24 dev k8s-mvl0 src 10.0.0.2" in cmds
    flush = next(i for i, c in enumerate(cmds) if c.endswith("-F K8SNET-MACVLAN"))
    masq = next(i for i, c in enumerate(cmds) if c.endswith("-j MASQUERADE"))
    assert flush < masq  # idempotent: the chain is rewritten, never appended twice
    assert "-s 10.244.3.0/24 -m conntrack --ctstate DNAT" in cmds[masq]


def test_up_accepts_macvlan_and_names_the_three_modes_for_a_bogus_one():
    from k8snet.testbed.spec import ClusterSpec, check_spec

    assert check_spec(ClusterSpec(name="tmv", mode="macvlan")).mode == "macvlan"
    with pytest.raises(UsageError, match="routed, overlay, macvlan, not 'bogus'"):
        check_spec(ClusterSpec(name="tmv", mode="bogus"))
