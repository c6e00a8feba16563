"""Decoding recorded frames (tests/unit/data/probe_frames.json)."""

import json
import os

from k8snet.probe.packets import decode, decode_all, with_marker

DATA = os.path.join(os.path.dirname(__file__), "data", "probe_frames.json")


def frames(name):
    with open(DATA) as fh:
        return decode_all(json.load(fh)[name])


def test_marked_udp_captured_at_a_pod():
    (p,) = frames("udp_marked_at_pod_eth0")
    assert (p.src, p.dst, p.proto, p.sport, p.dport, p.ident) == (
        "10.244.0.1", "10.244.0.2", "udp", 41000, 8081, 4242)
    assert p.payload == b"K8SNETFIX"
    assert p.meta["iface"] == "eth0" and p.meta["outgoing"] is False
    assert with_marker([p], b"K8SNETFIX") == [p]
    assert with_marker([p], b"OTHER") == []


def test_full_size_echo_request_and_reply():
    request, reply = frames("icmp_1500_df_at_pod_eth0")
    assert request.icmp_type == 8 and reply.icmp_type == 0
    assert request.total_len == 1500 and request.df and not request.is_fragment
    assert request.icmp_id == 77 and reply.icmp_id == 77
    assert reply.meta["outgoing"] is True


def test_vxlan_inner_packet_is_decoded():
    (p,) = frames("vxlan_crafted")
    assert (p.src, p.dst, p.dport, p.vni) == ("10.0.0.2", "10.0.0.3", 4789, 1)
    inner = p.innermost()
    assert (inner.src, inner.dst, inner.ttl, inner.ident) == ("10.244.0.5", "10.244.1.7", 63, 999)
    assert inner.eth_src == "aa:bb:cc:00:00:01"
    assert "vxlan vni 1" in p.summary()
    assert with_marker([p], b"K8SNETFIX") == [p]


def test_fragment_flags():
    (p,) = frames("fragment_crafted")
    assert p.mf and p.is_fragment and p.sport is None


def test_truncated_and_non_ip_frames():
    assert decode(b"\x00" * 5).src is None
    arp = decode(bytes.fromhex("ffffffffffff024b0a000002" "0806") + b"\x00" * 28)
    assert arp.ethertype == 0x0806 and arp.src is None
    assert "ethertype 0x0806" in arp.summary()
