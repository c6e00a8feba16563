"""Where `k8snet capture` listens, and the pcapng file `k8snet trace --pcap` writes."""

import pytest
from scapy.all import ICMP, IP, Ether, rdpcap

from k8snet.capture import pcapng, plan
from k8snet.errors import UsageError

SWITCHES = ["knt-l1", "knt-s1"]
NODES = ["m1", "w1", "w2"]
PODS = [{"metadata": {"namespace": "default", "name": "a", "uid": "u-a"},
         "spec": {"nodeName": "w1"}},
        {"metadata": {"namespace": "kube-system", "name": "a", "uid": "u-ks"},
         "spec": {"nodeName": "w2"}},
        {"metadata": {"namespace": "default", "name": "pending", "uid": "u-p"}, "spec": {}}]


def test_switch_port_node_and_pod_targets():
    assert plan.locate("knt-l1p3", SWITCHES, NODES, PODS) == plan.Where("port", "knt-l1p3",
                                                                         "knt-l1p3")
    assert plan.locate("w1", SWITCHES, NODES, PODS).iface == "eth0"
    assert plan.locate("w1", SWITCHES, NODES, PODS, iface="vxlan0").iface == "vxlan0"
    where = plan.locate("a", SWITCHES, NODES, PODS)
    assert (where.kind, where.name, where.node, where.uid) == ("pod", "default/a", "w1", "u-a")
    assert plan.locate("kube-system/a", SWITCHES, NODES, PODS).uid == "u-ks"
    assert plan.locate("a", SWITCHES, NODES, PODS, namespace="kube-system").node == "w2"


@pytest.mark.parametrize("target, says", [
    ("nosuch", "not a switch port, node or Pod"),
    ("knother-l1p1", "not a switch port, node or Pod"),   # another cluster's port
    ("pending", "not scheduled yet"),
])
def test_bad_targets_say_what_exists(target, says):
    with pytest.raises(UsageError, match=says):
        plan.locate(target, SWITCHES, NODES, PODS)


def test_tcpdump_writes_packet_buffered_pcap():
    argv = plan.tcpdump_argv("eth0", "-", "icmp", count=5)
    assert argv[:2] == ["tcpdump", "-i"] and "-U" in argv
    assert argv[argv.index("-w") + 1] == "-" and argv[argv.index("-c") + 1] == "5"
    assert argv[-1] == "icmp"


def frame(ttl, src_mac):
    return bytes(Ether(src=src_mac, dst="02:00:00:00:00:ff") /
                 IP(src="10.244.1.2", dst="10.244.2.2", ttl=ttl) / ICMP() / b"K8SNET-TRACE")


def test_pcapng_has_an_interface_per_hop_that_scapy_reads(tmp_path):
    hops = [pcapng.HopFrame("pod default/a eth0 out", 1700000000.000001,
                            frame(64, "02:00:00:00:00:01")),
            pcapng.HopFrame("switch knt-l1 knt-l1p4 in", 1700000000.25,
                            frame(63, "02:00:00:00:00:02"), "TTL 64 -> 63"),
            pcapng.HopFrame("pod default/b eth0 in", 1700000000.5,
                            frame(61, "02:00:00:00:00:03"))]
    path = tmp_path / "t.pcapng"
    path.write_bytes(pcapng.render(hops, "k8snet trace"))
    packets = rdpcap(str(path))
    assert [p.sniffed_on for p in packets] == [h.name for h in hops]
    assert [p[IP].ttl for p in packets] == [64, 63, 61]
    assert [float(p.time) for p in packets] == pytest.approx([h.ts for h in hops], abs=1e-6)
    assert all(bytes(p) == h.frame for p, h in zip(packets, hops))
