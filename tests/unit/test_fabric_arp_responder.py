"""The switches answer ARP themselves (responder flows), by the rule the controller uses:
followed through the fake fabric, a request comes back out of its own port as the reply."""

import pytest

from k8snet.fabric.arp import ARP_REPLY, ARP_REQUEST, Arp, answer
from k8snet.fabric.facts import Gateway, facts_from_dict
from k8snet.fabric.fakenet import FakeNet
from k8snet.fabric.plan import build_plan
from k8snet.fabric.sample import leaf_spine_facts
from k8snet.fabric.specs import COOKIE_ARP_REPLY

POD_GW = Gateway("10.244.1.1", 24, "02:4b:ff:00:00:01")


@pytest.fixture
def facts():
    doc = leaf_spine_facts(2, 2, 2)
    doc["hosts"].append({"name": "ext", "ip": "10.1.0.1", "prefixlen": 24,
                         "mac": "02:4b:01:00:00:01", "switch": "kntst-l2", "port": 9})
    doc["gateways"].append({"ip": "10.1.0.254", "prefixlen": 24, "mac": "02:4b:ff:00:00:02"})
    return facts_from_dict(doc)


def arp_request(sender_mac, sender_ip, target_ip):
    return {"eth_src": sender_mac, "eth_dst": "ff:ff:ff:ff:ff:ff", "eth_type": 0x0806,
            "arp_op": ARP_REQUEST, "arp_sha": sender_mac, "arp_spa": sender_ip,
            "arp_tha": "00:00:00:00:00:00", "arp_tpa": target_ip}


CASES = [  # (requester host, sender ip, target)
    ("h1", None, "10.0.0.3"),          # a node under the other leaf
    ("h1", None, "10.0.255.254"),      # its gateway
    ("ext", None, "10.1.0.254"),       # the other subnet's gateway
    ("h1", None, "10.1.0.1"),          # off-link host: not answered
    ("h1", None, "10.0.0.99"),         # unknown
    ("h1", None, "10.0.0.1"),          # gratuitous
    ("h1", "0.0.0.0", "10.0.0.3"),     # duplicate address probe
    ("h1", "10.244.1.5", "10.0.0.3"),  # a Pod is never given a node's address
    ("h1", "10.244.1.5", "10.244.1.1"),  # ... but its Pod gateway's
    ("h3", "10.0.9.9", "10.0.255.254"),  # a stray address in the subnet: its gateway
]


@pytest.mark.parametrize("who, sender_ip, target", CASES)
def test_the_switch_answers_as_the_controller_would(facts, who, sender_ip, target):
    host = facts.host(who)
    net = FakeNet(facts, build_plan(facts, pod_gateways=[POD_GW]))
    sender_ip = sender_ip or host.ip
    traces = net.send_from(who, arp_request(host.mac, sender_ip, target))
    want = answer(facts, frozenset(), Arp(ARP_REQUEST, host.mac, sender_ip,
                                          "00:00:00:00:00:00", target), [POD_GW])
    if want is None:
        assert [(t.fate, t.at) for t in traces] == [("controller", host.switch)]
        return
    (trace,) = [t for t in traces if t.fate != "controller"]  # Pod gateways: a copy too
    assert (trace.fate, trace.at) == ("delivered", who)  # back out of its own port
    pkt = trace.packet
    assert (pkt["eth_src"], pkt["eth_dst"]) == (want.sender_mac, host.mac)
    assert (pkt["arp_op"], pkt["arp_sha"], pkt["arp_spa"]) == (ARP_REPLY, want.sender_mac,
                                                                target)
    assert (pkt["arp_tha"], pkt["arp_tpa"]) == (host.mac, sender_ip)


def test_pod_gateway_requests_are_also_copied_to_the_controller(facts):
    """Macvlan mode learns a Pod's MAC from its request for the gateway."""
    net = FakeNet(facts, build_plan(facts, pod_gateways=[POD_GW]))
    fates = sorted(t.fate for t in net.send_from(
        "h1", arp_request("0a:00:00:00:01:05", "10.244.1.5", "10.244.1.1")))
    assert fates == ["controller", "delivered"]


def test_a_detached_host_is_not_answered_and_spines_hold_no_responder(facts):
    down = frozenset({("kntst-l2", 1)})  # h3's port
    plans = build_plan(facts, down)
    (trace,) = FakeNet(facts, plans, down).send_from(
        "h1", arp_request(facts.host("h1").mac, "10.0.0.1", "10.0.0.3"))
    assert trace.fate == "controller"
    for spine in ("kntst-s1", "kntst-s2"):
        assert not [f for f in plans[spine].flows.values() if f.cookie == COOKIE_ARP_REPLY]
    leaf = [f for f in plans["kntst-l1"].flows.values() if f.cookie == COOKIE_ARP_REPLY]
    assert len(leaf) == len(facts.gateways) + len(facts.hosts) - 1
