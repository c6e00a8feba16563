"""Names fit Linux's limits and k8snet can tell its own things from others'."""

import pytest

from k8snet import naming
from k8snet.errors import UsageError
from k8snet.testbed import addressing
from topologies import TOPOS


@pytest.mark.parametrize("name", ["a", "k8s", "lab123", "z9"])
def test_good_cluster_names(name):
    assert naming.check_cluster_name(name) == name


@pytest.mark.parametrize("name", ["", "Lab", "1ab", "toolong7", "a-b", "a_b"])
def test_bad_cluster_names_say_what_to_use(name):
    with pytest.raises(UsageError, match="1-6 characters"):
        naming.check_cluster_name(name)


def test_longest_names_fit_in_15_characters():
    bridge = naming.bridge_name("abcdef", "leaf", 99)
    assert len(naming.switch_port_name(bridge, naming.MAX_SWITCH_PORT)) <= naming.IFNAMSIZ


def test_port_number_beyond_the_limit_is_refused():
    bridge = naming.bridge_name("abcdef", "leaf", 99)
    with pytest.raises(UsageError, match="too many ports"):
        naming.switch_port_name(bridge, 100)


def test_bridge_names_parse_back_and_foreign_ones_do_not():
    assert naming.parse_bridge_name(naming.bridge_name("k8s", "spine", 2)) == ("k8s", "s", 2)
    for foreign in ("s1", "br0", "ovs-system", "knk8s-q1", "kn-s1", "knk8sx-s1x"):
        assert naming.parse_bridge_name(foreign) is None


def test_netns_names_identify_their_cluster():
    assert naming.cluster_of_netns(naming.node_netns("lab1", "w3")) == "lab1"
    assert naming.cluster_of_netns("k8snet-lab1-w3-default-web-1") == "lab1"
    assert naming.cluster_of_netns("cni-1234") is None
    assert naming.cluster_of_netns("k8snetfoo") is None


@pytest.mark.parametrize("topo_name", sorted(TOPOS))
def test_every_interface_name_of_a_big_topology_fits(topo_name):
    topo = TOPOS[topo_name](cluster="abcdef", workers=50)
    for switch in topo.switches():
        ports = sum(1 for link in topo.links() if switch in link)
        assert len(naming.switch_port_name(switch, ports)) <= naming.IFNAMSIZ


def test_addresses_follow_the_plan():
    assert addressing.node_ip(1) == "10.0.0.1"
    assert addressing.node_ip(256) == "10.0.1.0"
    assert addressing.external_ip(1) == "10.1.0.1"
    assert addressing.NODE_GATEWAY.ip == "10.0.255.254"
    assert addressing.EXTERNAL_GATEWAY.ip == "10.1.0.254"
    assert addressing.mac_for("10.0.0.1") == "02:4b:0a:00:00:01"
