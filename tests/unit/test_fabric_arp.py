"""The controller answers ARP itself: decisions and frame bytes."""

import pytest

from k8snet.fabric.arp import ARP_REPLY, ARP_REQUEST, Arp, answer, build_arp, parse_arp
from k8snet.fabric.facts import facts_from_dict
from k8snet.fabric.planner import Planner
from k8snet.fabric.sample import leaf_spine_facts

H1_MAC = "02:4b:00:00:00:01"


@pytest.fixture
def facts():
    doc = leaf_spine_facts(2, 2, 2)
    doc["hosts"].append({"name": "ext", "ip": "10.1.0.1", "prefixlen": 24,
                         "mac": "02:4b:01:00:00:01", "switch": "kntst-l2", "port": 9})
    doc["gateways"].append({"ip": "10.1.0.254", "prefixlen": 24, "mac": "02:4b:ff:00:00:02"})
    return facts_from_dict(doc)


def request(sender_ip, target_ip, sender_mac=H1_MAC):
    return Arp(ARP_REQUEST, sender_mac, sender_ip, "00:00:00:00:00:00", target_ip,
               sender_mac, "ff:ff:ff:ff:ff:ff")


def test_frame_round_trip_is_42_bytes():
    arp = request("10.0.0.1", "10.0.0.3")
    frame = build_arp(arp)
    assert len(frame) == 42 and frame[12:14] == b"\x08\x06"
    assert parse_arp(frame) == arp
    assert parse_arp(frame[:30]) is None
    assert parse_arp(frame[:12] + b"\x08\x00" + frame[14:]) is None


@pytest.mark.parametrize("sender, target, mac", [
    ("10.0.0.1", "10.0.0.3", "02:4b:00:00:00:03"),       # host on another leaf, same subnet
    ("10.0.0.1", "10.0.255.254", "02:4b:ff:00:00:01"),   # own gateway
    ("10.1.0.1", "10.1.0.254", "02:4b:ff:00:00:02"),     # the other subnet's gateway
    ("10.0.0.1", "10.1.0.1", None),                      # off-link host: ask the gateway
    ("10.0.0.1", "10.0.0.99", None),                     # unknown
    ("10.0.0.1", "10.0.0.1", None),                      # gratuitous
    ("0.0.0.0", "10.0.0.3", None),                       # duplicate address probe
    ("10.244.1.5", "10.0.0.3", None),                    # unknown sender: hosts not given out
    ("10.0.9.9", "10.0.255.254", "02:4b:ff:00:00:01"),   # ... but its subnet's gateway is
])
def test_who_gets_an_answer(facts, sender, target, mac):
    reply = answer(facts, frozenset(), request(sender, target))
    if mac is None:
        assert reply is None
    else:
        assert reply == Arp(ARP_REPLY, mac, target, H1_MAC, sender)


def test_replies_are_not_answered_and_detached_hosts_are_not_given_out(facts):
    rep = Arp(ARP_REPLY, H1_MAC, "10.0.0.1", "02:4b:00:00:00:03", "10.0.0.3")
    assert answer(facts, frozenset(), rep) is None
    assert answer(facts, {("kntst-l2", 1)}, request("10.0.0.1", "10.0.0.3")) is None


def test_planner_builds_the_reply_frame(facts):
    planner = Planner(facts)
    out = parse_arp(planner.arp_reply(build_arp(request("10.0.0.1", "10.0.0.4"))))
    assert out.op == ARP_REPLY and out.sender_mac == "02:4b:00:00:00:04"
    assert (out.eth_src, out.eth_dst) == ("02:4b:00:00:00:04", H1_MAC)
    assert planner.arp_reply(b"\x00" * 60) is None
