"""Desired vs observed overlay state -> operations (pure), and parsing ``ip -j``."""

import json

import pytest

from k8snet.errors import K8snetError
from k8snet.overlay.diff import diff
from k8snet.overlay.model import Device, Fdb, Neighbour, Observed, Plan, Route
from k8snet.overlay.observe import (
    parse_addresses,
    parse_fdb,
    parse_link,
    parse_neighbours,
    parse_routes,
    parse_tx_csum,
    parse_uplink,
)

DEV = Device("k8snet.1", 1, "10.0.0.2", 4789, 1450, "0e:00:00:00:00:02")
R3, N3, F3 = (Route("10.244.3.0/24", "10.244.3.0"), Neighbour("10.244.3.0", "0e:00:00:00:00:03"),
              Fdb("0e:00:00:00:00:03", "10.0.0.3"))
R4, N4, F4 = (Route("10.244.4.0/24", "10.244.4.0"), Neighbour("10.244.4.0", "0e:00:00:00:00:04"),
              Fdb("0e:00:00:00:00:04", "10.0.0.4"))
PLAN = Plan(DEV, "10.244.2.0/32", (R3,), (N3,), (F3,))
IN_SYNC = Observed(DEV, True, False, ("10.244.2.0/32",), (R3,), (N3,), (F3,))


def verbs(ops):
    return [" ".join(op.argv[:3]) for op in ops]


def test_in_sync_means_nothing_to_do():
    assert diff(PLAN, IN_SYNC) == []


def test_fresh_node_creates_device_then_entries_in_order():
    ops = diff(PLAN, Observed())
    assert verbs(ops) == ["ip link add", "ethtool -K k8snet.1", "ip link set",
                          "ip addr replace", "bridge fdb replace", "ip neigh replace",
                          "ip route replace"]
    add = ops[0].argv
    for word in ("nolearning", "dstport", "4789", "id", "1", "local", "10.0.0.2", "1450",
                 DEV.mac):
        assert word in add
    assert ops[-1].argv == ("ip", "route", "replace", "10.244.3.0/24", "via", "10.244.3.0",
                            "dev", "k8snet.1", "onlink")
    assert "permanent" in ops[4].argv and "permanent" in ops[5].argv


def test_gone_node_entries_are_removed_new_ones_added():
    want = Plan(DEV, "10.244.2.0/32", (R4,), (N4,), (F4,))
    ops = diff(want, IN_SYNC)
    assert verbs(ops) == ["ip route del", "ip neigh del", "bridge fdb del",
                          "bridge fdb replace", "ip neigh replace", "ip route replace"]
    assert "10.244.3.0/24" in ops[0].argv and "10.0.0.3" in ops[2].argv
    assert "10.244.4.0/24" in ops[-1].argv


def test_peer_moving_to_a_new_address_rewrites_its_fdb_only():
    moved = Fdb(F3.mac, "10.0.0.9")
    ops = diff(Plan(DEV, "10.244.2.0/32", (R3,), (N3,), (moved,)), IN_SYNC)
    assert verbs(ops) == ["bridge fdb del", "bridge fdb replace"]
    assert "10.0.0.9" in ops[1].argv


def test_changed_mac_neighbour_and_route_are_replaced_not_deleted():
    n = Neighbour(N3.ip, "0e:00:00:00:00:33")
    ops = diff(Plan(DEV, "10.244.2.0/32", (R3,), (n,), (F3,)), IN_SYNC)
    assert verbs(ops) == ["ip neigh replace"]


def test_wrong_vni_recreates_the_device_and_everything_on_it():
    have = Observed(Device("k8snet.1", 7, "10.0.0.2", 4789, 1450, DEV.mac), True, False,
                    ("10.244.2.0/32",), (R3,), (N3,), (F3,))
    ops = diff(PLAN, have)
    assert verbs(ops)[:2] == ["ip link del", "ip link add"]
    assert "ip route replace" in verbs(ops)


def test_mtu_mac_address_and_offload_fixed_in_place():
    have = Observed(Device("k8snet.1", 1, "10.0.0.2", 4789, 1500, "aa:aa:aa:aa:aa:aa"), False,
                    True, ("10.244.9.0/32",), (R3,), (N3,), (F3,))
    ops = diff(PLAN, have)
    assert verbs(ops) == ["ip link set", "ip link set", "ethtool -K k8snet.1", "ip link set",
                          "ip addr del", "ip addr replace"]


def test_podcidr_lost_removes_the_address():
    ops = diff(Plan(DEV, None, (R3,), (N3,), (F3,)), IN_SYNC)
    assert verbs(ops) == ["ip addr del"]


LINK = [{"ifname": "k8snet.1", "flags": ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"],
         "mtu": 1450, "address": "0E:00:00:00:00:02",
         "linkinfo": {"info_kind": "vxlan", "info_data": {
             "id": 1, "local": "10.0.0.2", "port": 4789, "learning": False}}}]


def test_parse_link_and_entries_from_ip_json():
    dev, up = parse_link(json.dumps(LINK))
    assert dev == DEV and up
    dev, up = parse_link(json.dumps([{**LINK[0], "flags": ["BROADCAST"],
                                      "linkinfo": {"info_kind": "bridge"}}]))
    assert dev.vni == -1 and not up
    assert parse_link("") == (None, False)
    assert parse_routes(json.dumps([
        {"dst": "10.244.4.0/24", "gateway": "10.244.4.0", "flags": ["onlink"]},
        {"dst": "10.244.3.0/24", "gateway": "10.244.3.0", "flags": ["onlink"]},
        {"dst": "10.244.9.0/24", "protocol": "kernel", "scope": "link"}])) == (R3, R4)
    assert parse_fdb(json.dumps([{"mac": F4.mac, "dst": F4.dst}, {"mac": F3.mac, "dst": F3.dst}]
                                )) == (F3, F4)
    assert parse_neighbours(json.dumps([
        {"dst": "10.244.4.0", "lladdr": "0e:00:00:00:00:04", "state": ["PERMANENT"]},
        {"dst": "10.244.3.0", "lladdr": "0e:00:00:00:00:03", "state": ["PERMANENT"]},
        {"dst": "10.244.5.0", "state": ["FAILED"]},
        {"dst": "10.244.6.0", "lladdr": "0e:00:00:00:00:06", "state": ["STALE"]}])) == (N3, N4)
    assert parse_fdb(json.dumps([{"mac": "0e:00:00:00:00:03", "dst": "10.0.0.3",
                                  "flags": ["self"], "state": "permanent"}])) == (F3,)
    assert parse_addresses(json.dumps([{"addr_info": [
        {"family": "inet", "local": "10.244.2.0", "prefixlen": 32},
        {"family": "inet6", "local": "fe80::1", "prefixlen": 64}]}])) == ("10.244.2.0/32",)


def test_parse_ethtool_and_uplink():
    assert parse_tx_csum("Features for x:\nrx-checksumming: on\ntx-checksumming: on\n")
    assert not parse_tx_csum("tx-checksumming: off\n\ttx-checksum-ipv4: off [fixed]\n")
    links = [{"ifname": "lo", "mtu": 65536, "addr_info": [{"local": "127.0.0.1"}]},
             {"ifname": "eth0", "mtu": 1500, "addr_info": [{"local": "10.0.0.2"}]}]
    assert parse_uplink(links, "10.0.0.2") == ("eth0", 1500)
    with pytest.raises(K8snetError, match="--node-ip"):
        parse_uplink(links, "10.0.0.9")
