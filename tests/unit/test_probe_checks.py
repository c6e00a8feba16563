"""Probe verdicts on recorded packets and observed answers."""

import json
import os

from k8snet.probe import checks
from k8snet.probe.model import FAIL, PASS, SKIP, Exchange
from k8snet.probe.packets import decode, decode_all

DATA = os.path.join(os.path.dirname(__file__), "data", "probe_frames.json")


def frames(name):
    with open(DATA) as fh:
        return decode_all(json.load(fh)[name])


def pod(name, ip, **kw):
    base = dict(pod=f"default/{name}", node="w1", pod_ip=ip, node_cidr="10.244.0.0/24",
                eth0=[ip], echo_sent=2, echo_answered=2, replies_in_pod=2)
    return checks.PodAddress(**{**base, **kw})


# ---------------------------------------------------------------- unique-pod-ip

def test_unique_pod_ip_passes_for_distinct_answering_pods():
    v = checks.unique_pod_ip([pod("a", "10.244.0.2"), pod("b", "10.244.0.3")])
    assert v.verdict == PASS and len(v.evidence) == 2


def test_unique_pod_ip_catches_duplicates_outside_cidr_and_silence():
    v = checks.unique_pod_ip([pod("a", "10.244.0.2"), pod("b", "10.244.0.2")])
    assert v.verdict == FAIL and "used by 2 Pods" in v.reason
    v = checks.unique_pod_ip([pod("a", "10.244.9.2", eth0=["10.244.9.2"])])
    assert v.verdict == FAIL and "outside" in v.reason
    v = checks.unique_pod_ip([pod("a", "10.244.0.2", echo_answered=0, replies_in_pod=0)])
    assert v.verdict == FAIL and "none answered" in v.reason
    v = checks.unique_pod_ip([pod("a", "10.244.0.2", replies_in_pod=0)])
    assert v.verdict == FAIL and "outside the Pod" in v.reason
    v = checks.unique_pod_ip([pod("a", "10.244.0.2", eth0=["10.244.0.2", "10.244.0.9"])])
    assert v.verdict == FAIL and "eth0 has" in v.reason
    assert checks.unique_pod_ip([]).verdict == SKIP


# ---------------------------------------------------------- intra-pod-localhost

def lo_packet(sport, dport, src="127.0.0.1"):
    ip = bytes([0x45, 0, 0, 28, 0, 1, 0, 0, 64, 17, 0, 0]) + bytes(map(int, src.split("."))) \
        + bytes([127, 0, 0, 1])
    udp = sport.to_bytes(2, "big") + dport.to_bytes(2, "big") + b"\x00\x08\x00\x00"
    return decode(b"\x00" * 12 + b"\x08\x00" + ip + udp)


def test_localhost_passes_with_lo_traffic_and_clean_eth0():
    lo = [lo_packet(50000, 8080), lo_packet(50001, 8081)]
    eth0 = frames("udp_marked_at_pod_eth0")   # ordinary traffic: allowed on eth0
    v = checks.intra_pod_localhost("default/a", "127.0.0.1:50000", "127.0.0.1:50001", lo, eth0,
                                   [8080, 8081])
    assert v.verdict == PASS, v.reason


def test_localhost_fails_when_loopback_shows_on_eth0_or_no_answer():
    lo = [lo_packet(50000, 8080), lo_packet(50001, 8081)]
    v = checks.intra_pod_localhost("default/a", "127.0.0.1:1", "127.0.0.1:2", lo,
                                   [lo_packet(50000, 8080)], [8080, 8081])
    assert v.verdict == FAIL and "on eth0" in v.reason
    v = checks.intra_pod_localhost("default/a", None, "127.0.0.1:2", lo, [], [8080, 8081])
    assert v.verdict == FAIL and "tcp: no answer" in v.reason
    v = checks.intra_pod_localhost("default/a", "10.244.0.2:5", "127.0.0.1:2", lo, [],
                                   [8080, 8081])
    assert v.verdict == FAIL and "not 127.0.0.1" in v.reason
    v = checks.intra_pod_localhost("default/a", "127.0.0.1:1", "127.0.0.1:2", lo[:1], [],
                                   [8080, 8081])
    assert v.verdict == FAIL and "port 8081" in v.reason


# -------------------------------------------------------------------- exchanges

def both_ways(ok_last=True):
    out = []
    for src, dst, sip, dip in (("a", "b", "10.244.0.2", "10.244.1.2"),
                               ("b", "a", "10.244.1.2", "10.244.0.2")):
        for proto in ("icmp", "tcp", "udp"):
            out.append(Exchange(src, dst, sip, dip, proto, True, "answered"))
    out[-1] = Exchange("b", "a", "10.244.1.2", "10.244.0.2", "udp", ok_last, "timed out")
    return out


def test_exchanges_need_every_protocol_both_ways():
    assert checks.exchanges(both_ways(), "pod-to-pod").verdict == PASS
    v = checks.exchanges(both_ways(ok_last=False), "pod-to-pod")
    assert v.verdict == FAIL and "1 of 6" in v.reason and "FAILED" in v.evidence[-1]
    v = checks.exchanges(both_ways()[:5], "pod-to-pod")
    assert v.verdict == FAIL and "udp not tested" in v.reason
    assert checks.exchanges([], "x", none_reason="one worker").verdict == SKIP


# ----------------------------------------------------------------------- no-nat

def marked(**kw):
    base = dict(sender="default/n", receiver="default/t1", src="10.244.0.1", dst="10.244.0.2",
                sport=41000, dport=8081, ident=4242, marker=b"K8SNETFIX")
    return checks.Marked(**{**base, **kw})


def test_no_nat_passes_on_the_recorded_capture():
    v = checks.no_nat([marked()], {"default/t1": frames("udp_marked_at_pod_eth0")})
    assert v.verdict == PASS, v.reason
    assert "captured at default/t1 eth0" in v.evidence[0]


def test_no_nat_sees_a_rewritten_source_and_a_lost_packet():
    v = checks.no_nat([marked(src="10.244.5.5")], {"default/t1": frames("udp_marked_at_pod_eth0")})
    assert v.verdict == FAIL and "source 10.244.5.5 -> 10.244.0.1" in v.reason
    v = checks.no_nat([marked(sport=1)], {"default/t1": frames("udp_marked_at_pod_eth0")})
    assert v.verdict == FAIL and "source port 1 -> 41000" in v.reason
    v = checks.no_nat([marked()], {"default/t1": []})
    assert v.verdict == FAIL and "never reached" in v.reason
    assert checks.no_nat([], {}).verdict == SKIP


def test_no_nat_looks_inside_vxlan():
    sent = marked(src="10.244.0.5", dst="10.244.1.7", ident=999)
    v = checks.no_nat([sent], {"default/t1": frames("vxlan_crafted")})
    assert v.verdict == PASS, v.reason


# ------------------------------------------------------------------- services

def svc(**kw):
    base = dict(service="k8snet-probe/probe", cluster_ip="10.96.0.10", port=80,
                endpoints={"b": "10.244.0.3", "c": "10.244.1.2"}, hits={"b": 4, "c": 6},
                tries=10, udp_answers=2, removed="c", removed_after=1.5, deadline=30)
    return checks.ServiceProbe(**{**base, **kw})


def test_service_clusterip_verdicts():
    assert checks.service_clusterip(svc()).verdict == PASS
    v = checks.service_clusterip(svc(hits={"b": 10}))
    assert v.verdict == FAIL and "never answered" in v.reason and "c" in v.reason
    v = checks.service_clusterip(svc(removed_after=None))
    assert v.verdict == FAIL and "still received" in v.reason
    v = checks.service_clusterip(svc(udp_answers=0))
    assert v.verdict == FAIL and "UDP" in v.reason
    assert checks.service_clusterip(svc(endpoints={})).verdict == FAIL
    v = checks.service_clusterip(svc(removed=None, removed_after=None))
    assert v.verdict == PASS


def test_service_nodeport_verdicts():
    good = [checks.NodePortTry("w1", "10.0.0.2", 30080, 4, {"b": 2, "c": 2}),
            checks.NodePortTry("w2", "10.0.0.3", 30080, 4, {"c": 4})]
    assert checks.service_nodeport("ext1", good, ["b", "c"]).verdict == PASS
    bad = good[:1] + [checks.NodePortTry("w2", "10.0.0.3", 30080, 4, {}, ["timed out"])]
    v = checks.service_nodeport("ext1", bad, ["b", "c"])
    assert v.verdict == FAIL and "w2" in v.reason and "timed out" in v.evidence[1]
    assert checks.service_nodeport("ext1", [], []).verdict == SKIP


# ---------------------------------------------------------------------- pod-mtu

def test_pod_mtu_on_the_recorded_full_size_echo():
    captured = frames("icmp_1500_df_at_pod_eth0")
    m = checks.MtuProbe("w1", "default/t1", 1500, 1501, "Message too long", captured)
    assert checks.pod_mtu(1500, [m]).verdict == PASS
    v = checks.pod_mtu(1450, [m])
    assert v.verdict == FAIL and "largest unfragmented packet 1500, configured 1450" in v.reason


def test_pod_mtu_fails_on_a_lowered_mtu_or_fragments():
    lowered = checks.MtuProbe("a", "b", 1400, 1401, "Message too long", [])
    v = checks.pod_mtu(1500, [lowered])
    assert v.verdict == FAIL and "1400" in v.reason
    fragments = checks.MtuProbe("a", "b", 1500, 1501, "x", frames("fragment_crafted"))
    v = checks.pod_mtu(1500, [fragments])
    assert v.verdict == FAIL and "captured None at most" in v.reason
    none = checks.MtuProbe("a", "b", None, 576, "timeout", [])
    assert "no size" in checks.pod_mtu(1500, [none]).reason
    assert checks.pod_mtu(1500, []).verdict == SKIP
