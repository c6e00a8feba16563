"""ClusterIP / NodePort allocation decisions."""

import pytest

from k8snet.apiserver import alloc

CIDR = "10.96.0.0/12"


def test_dynamic_ip_skips_used_network_and_first_host():
    used = {"10.96.0.2", "10.96.0.3"}
    ip = alloc.pick_cluster_ip("10.96.0.0/29", used | {"10.96.0.1"})
    assert ip == "10.96.0.4"
    assert alloc.pick_cluster_ip("10.96.0.0/29", used, start=10) not in used | {
        "10.96.0.0", "10.96.0.1", "10.96.0.7"}


def test_requested_ip_honoured_refused_when_taken_or_outside():
    assert alloc.pick_cluster_ip(CIDR, [], "10.96.0.10") == "10.96.0.10"
    with pytest.raises(alloc.AllocationError, match="already allocated"):
        alloc.pick_cluster_ip(CIDR, ["10.96.0.10"], "10.96.0.10")
    with pytest.raises(alloc.AllocationError, match="not in the valid range"):
        alloc.pick_cluster_ip(CIDR, [], "192.168.0.1")
    with pytest.raises(alloc.AllocationError, match="valid IP"):
        alloc.pick_cluster_ip(CIDR, [], "not-an-ip")


def test_full_range_is_an_error():
    with pytest.raises(alloc.AllocationError, match="full"):
        alloc.pick_cluster_ip("10.96.0.0/30", ["10.96.0.2"])


def test_every_dynamic_ip_unique_until_full():
    used: set = set()
    for i in range(13):
        used.add(alloc.pick_cluster_ip("10.96.0.0/28", used, start=i * 7))
    assert len(used) == 13 and "10.96.0.1" not in used


def test_node_ports():
    assert alloc.pick_node_port((30000, 30002), {30000}) == 30001
    assert alloc.pick_node_port((30000, 32767), [], 31000) == 31000
    with pytest.raises(alloc.AllocationError, match="already allocated"):
        alloc.pick_node_port((30000, 32767), [31000], 31000)
    with pytest.raises(alloc.AllocationError, match="30000-32767"):
        alloc.pick_node_port((30000, 32767), [], 80)
    with pytest.raises(alloc.AllocationError, match="no NodePort left"):
        alloc.pick_node_port((30000, 30001), [30000, 30001])


def test_port_range_parsing():
    assert alloc.parse_port_range("30000-32767") == (30000, 32767)
    for bad in ("x", "5-1", "0-10", "1-70000"):
        with pytest.raises(ValueError):
            alloc.parse_port_range(bad)


def test_allocations_derived_from_services():
    svcs = [
        {"metadata": {"namespace": "a", "name": "s"},
         "spec": {"type": "NodePort", "clusterIP": "10.96.0.5", "clusterIPs": ["10.96.0.5"],
                  "ports": [{"port": 80, "nodePort": 30080}, {"port": 81}]}},
        {"metadata": {"namespace": "b", "name": "h"}, "spec": {"clusterIP": "None"}},
    ]
    ips, ports = alloc.allocations_from_services(svcs)
    assert ips == {"10.96.0.5": "a/s"} and ports == {30080: "a/s"}
    assert alloc.needs_node_ports(svcs[0]) and not alloc.needs_cluster_ip(svcs[1])
    assert alloc.reserved_cluster_ip(CIDR) == "10.96.0.1"
