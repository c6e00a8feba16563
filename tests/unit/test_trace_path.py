"""Trace decisions: intended ECMP paths, hop ordering, what changed, comparison."""

import json
import os

from k8snet.fabric.facts import facts_from_dict
from k8snet.fabric.sample import leaf_spine_facts
from k8snet.probe.packets import decode, decode_all
from k8snet.trace import path as tp

DATA = os.path.join(os.path.dirname(__file__), "data", "probe_frames.json")


def frames(name):
    with open(DATA) as fh:
        return decode_all(json.load(fh)[name])


def facts():
    return facts_from_dict(leaf_spine_facts(prefix="kntst"))


def test_intended_paths_cross_every_spine_between_leaves():
    paths = tp.intended_paths(facts(), "h1", "h3")
    assert sorted(p[1][0] for p in paths) == ["kntst-s1", "kntst-s2"]
    assert all(len(p) == 3 and p[0][:2] == ("kntst-l1", 1) and p[-1][0] == "kntst-l2"
               and p[-1][2] == 1 for p in paths)
    assert tp.intended_paths(facts(), "h1", "h2") == [[("kntst-l1", 1, 2)]]
    assert tp.intended_paths(facts(), "h1", "nobody") == []


def ip_frame(ttl, src="10.244.0.2", dst="10.244.1.2", dport=8081, mac=b"\x02" * 6):
    ip = bytes([0x45, 0, 0, 28, 0, 1, 0, 0, ttl, 17, 0, 0]) + bytes(
        map(int, src.split("."))) + bytes(map(int, dst.split(".")))
    udp = (41414).to_bytes(2, "big") + dport.to_bytes(2, "big") + b"\x00\x08\x00\x00"
    return ip, udp, mac


def observation(iface, ts, outgoing, ttl, dst="10.244.1.2", dport=8081, mac=b"\x02" * 6):
    ip, udp, mac = ip_frame(ttl, dst=dst, dport=dport, mac=mac)
    return decode(mac + b"\x04" * 6 + b"\x08\x00" + ip + udp,
                  {"iface": iface, "ts": ts, "outgoing": outgoing})


def test_hops_show_ttl_per_switch_and_the_ecmp_branch():
    observed = [
        ("pod default/a", observation("eth0", 1.0, True, 64)),
        ("node w1", observation("eth0", 1.1, True, 63, mac=b"\x0a" * 6)),
        ("root", observation("kntst-l1p1", 1.2, False, 63, mac=b"\x0a" * 6)),
        ("root", observation("kntst-l1p4", 1.3, True, 62, mac=b"\x0b" * 6)),
        ("root", observation("kntst-s2p1", 1.4, False, 62, mac=b"\x0b" * 6)),
        ("root", observation("kntst-s2p2", 1.5, True, 61, mac=b"\x0c" * 6)),
        ("root", observation("kntst-l2p4", 1.6, False, 61, mac=b"\x0c" * 6)),
        ("root", observation("kntst-l2p1", 1.7, True, 60, mac=b"\x0d" * 6)),
    ]
    hops = tp.build_hops(list(reversed(observed)))
    assert [h.place for h in hops][:3] == ["pod default/a", "node w1", "switch kntst-l1"]
    assert "TTL 64 -> 63" in hops[1].changes
    assert [h.direction for h in hops[2:4]] == ["in", "out"]
    assert any(c.startswith("MACs") for c in hops[3].changes)
    seen = tp.observed_switch_path(hops)
    assert seen == [("kntst-l1", 1, 4), ("kntst-s2", 1, 2), ("kntst-l2", 4, 1)]
    ok, text = tp.compare(seen, tp.intended_paths(facts(), "h1", "h3"))
    assert ok and "ECMP branch via kntst-s2" in text
    ok, text = tp.compare(seen[:2], tp.intended_paths(facts(), "h1", "h3"))
    assert not ok and text.startswith("differs")


def test_dnat_and_vxlan_changes():
    before = observation("eth0", 1.0, True, 64, dst="10.96.0.10", dport=80)
    after = observation("eth0", 1.1, True, 63, dst="10.244.1.2", dport=8080)
    text = tp.changes(before, after)
    assert "DNAT 10.96.0.10:80 -> 10.244.1.2:8080" in text and "TTL 64 -> 63" in text
    (vx,) = frames("vxlan_crafted")
    inner_seen = observation("k8snet.1", 1.2, True, 63, dst="10.244.1.7")
    assert any(c.startswith("encapsulated: VXLAN vni 1 10.0.0.2 -> 10.0.0.3")
               for c in tp.changes(inner_seen, vx))
    assert any(c.startswith("decapsulated") for c in tp.changes(vx, inner_seen))


def test_port_names():
    assert tp.port_of("knk8s-l2p3") == ("knk8s-l2", 3)
    assert tp.port_of("eth0") is None and tp.port_of("vethabc") is None
