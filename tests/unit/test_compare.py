"""k8snet compare: parsing what the tools print, choosing workers, the table."""

import argparse
import json

import pytest

from k8snet.errors import K8snetError, UsageError
from k8snet.testbed import api
from k8snet.testbed import cmd_compare as cc
from k8snet.testbed.spec import ClusterSpec
from k8snet.testbed.state import ClusterState, NodeInfo

VXLAN_CAPTURE = """\
19:29:57.385356 IP 10.0.0.2.57314 > 10.0.0.3.4789: VXLAN, flags [I] (0x08), vni 1
IP 10.244.0.2 > 10.244.1.2: ICMP echo request, id 8104, seq 1, length 64
19:29:57.386808 IP 10.0.0.3.57314 > 10.0.0.2.4789: VXLAN, flags [I] (0x08), vni 1
IP 10.244.1.2 > 10.244.0.2: ICMP echo reply, id 8104, seq 1, length 64
"""
ROUTED_CAPTURE = """\
19:30:01.000001 IP 10.244.0.2 > 10.244.1.2: ICMP echo request, id 7, seq 1, length 64
19:30:01.001001 IP 10.244.1.2 > 10.244.0.2: ICMP echo reply, id 7, seq 1, length 64
19:30:01.002001 IP 10.0.0.2 > 10.0.0.3: ICMP echo request, id 9, seq 1, length 64
"""
PING = """PING 10.244.1.2 (10.244.1.2) 56(84) bytes of data.
64 bytes from 10.244.1.2: icmp_seq=1 ttl=62 time=2.90 ms
64 bytes from 10.244.1.2: icmp_seq=2 ttl=62 time=0.275 ms

--- 10.244.1.2 ping statistics ---
rtt min/avg/max/mdev = 0.275/1.587/2.900/0.476 ms
"""


def iperf_json(bps):
    return json.dumps({"start": {}, "end": {"sum_sent": {"bits_per_second": bps * 2},
                                            "sum_received": {"bits_per_second": bps}}})


def test_parse_iperf_reads_received_rate():
    assert cc.parse_iperf(iperf_json(2.5e9)) == pytest.approx(2.5)


@pytest.mark.parametrize("text", ["", "not json", json.dumps({"error": "refused"}),
                                  json.dumps({"end": {}})])
def test_parse_iperf_without_a_result_is_an_error(text):
    with pytest.raises(ValueError):
        cc.parse_iperf(text)


def test_parse_ping_takes_every_reply_not_the_summary():
    assert cc.parse_ping(PING) == [2.90, 0.275]
    assert cc.parse_ping("100% packet loss") == []


def test_parse_mtu():
    line = "2: eth0@if5: <BROADCAST,UP> mtu 1450 qdisc noqueue state UP \\    link/ether"
    assert cc.parse_mtu(line) == 1450
    with pytest.raises(ValueError):
        cc.parse_mtu("Device \"eth0\" does not exist.")


def test_capture_in_overlay_mode_sees_vxlan_between_nodes_with_pods_inside():
    doc = cc.classify_capture(VXLAN_CAPTURE)
    assert (doc["packets"], doc["vxlan"], doc["plain_pod"]) == (2, 2, 0)
    assert doc["outer"] == ["10.0.0.2 > 10.0.0.3", "10.0.0.3 > 10.0.0.2"]
    assert doc["inner"] == ["10.244.0.2 > 10.244.1.2", "10.244.1.2 > 10.244.0.2"]
    assert "VXLAN UDP 4789" in cc.capture_text(doc)


def test_capture_in_routed_mode_sees_plain_pod_addresses():
    doc = cc.classify_capture(ROUTED_CAPTURE)
    assert (doc["packets"], doc["plain_pod"], doc["vxlan"], doc["other"]) == (3, 2, 0, 1)
    assert doc["inner"] == [] and doc["outer"] == []
    assert cc.capture_text(doc).startswith("plain Pod IPs")
    assert cc.capture_text(cc.classify_capture("")) == "nothing captured"


def node(name, role="worker", zone=None):
    labels = {cc.ZONE_LABEL: zone} if zone else {}
    return NodeInfo(name=name, role=role, ip="10.0.0.9", mac="02:00:00:00:00:09",
                    netns=f"k8snet-c-{name}", pid=1, labels=labels)


def test_pick_workers_takes_two_workers_under_different_leaves():
    nodes = [node("m1", "master", "zone-1"), node("w1", zone="zone-1"),
             node("w2", zone="zone-1"), node("w3", zone="zone-2")]
    a, b = cc.pick_workers(nodes)
    assert (a.name, b.name) == ("w1", "w3")


def test_pick_workers_refuses_a_single_leaf():
    with pytest.raises(UsageError, match="different leaves"):
        cc.pick_workers([node("w1"), node("w2")])


def test_pod_netns_finds_the_newest_attempt_and_shortened_names():
    prefix = "k8snet-cmpr-w1"
    existing = ["k8snet-cmpr-w1", "k8snet-cmpr-w1-default-cmp-a",
                "k8snet-cmpr-w1-default-cmp-a-1", "k8snet-cmpr-w1-default-cmp-ab"]
    assert cc.pod_netns(existing, prefix, "default", "cmp-a") == "k8snet-cmpr-w1-default-cmp-a-1"
    from k8snet.cri.names import sandbox_netns_name

    long_pod = "x" * 80
    short = sandbox_netns_name(prefix, "default", long_pod)
    assert cc.pod_netns([short], prefix, "default", long_pod) == short
    with pytest.raises(K8snetError, match="cmp-b"):
        cc.pod_netns(existing, prefix, "default", "cmp-b")


def sample_result():
    def path(gbps, rtt):
        return {"gbps": gbps, "rtt_ms": rtt}

    return {
        "topology": "leaf-spine 2 spines x 2 leaves, 2 workers", "seconds": 3, "pings": 3,
        "veth": path([10.0, 12.0, 20.0], [0.05, 0.04, 0.06]),
        "modes": {
            "routed": {"cluster": "cmpr", "pod_mtu": 1500, "node_mtu": 1500,
                       "capture": cc.classify_capture(ROUTED_CAPTURE),
                       "paths": {"pod_same_node": path([6.0], [0.1]),
                                 "pod_across_leaves": path([0.6, 0.9], [1.0, 3.0, 2.0]),
                                 "node_across_leaves": path([0.8], [1.5])}},
            "overlay": {"cluster": "cmpo", "pod_mtu": 1450, "node_mtu": 1500,
                        "capture": cc.classify_capture(VXLAN_CAPTURE),
                        "paths": {"pod_same_node": path([5.0], [0.1]),
                                  "pod_across_leaves": path([0.3], [2.5])}},
        },
    }


def test_table_uses_medians_and_ratios_to_the_veth_median():
    rows = {r["kind"]: r for r in cc.table(sample_result())}
    base = rows["baseline"]["modes"]["veth"]
    assert (base["gbps"], base["rtt_ms"]) == (12.0, 0.05)
    routed = rows["pod_across_leaves"]["modes"]["routed"]
    assert routed["gbps"] == pytest.approx(0.75)
    assert routed["gbps_ratio"] == pytest.approx(0.75 / 12.0)
    assert routed["rtt_ms"] == 2.0 and routed["rtt_ratio"] == pytest.approx(40.0)
    assert rows["pod_same_node"]["modes"]["overlay"]["gbps_ratio"] == pytest.approx(5 / 12)
    # a path not measured in a mode stays empty instead of inventing a figure
    missing = rows["node_across_leaves"]["modes"]["overlay"]
    assert missing["gbps"] is None and missing["gbps_ratio"] is None


def test_table_without_a_baseline_gives_no_ratio():
    result = sample_result()
    result["veth"] = {"gbps": [], "rtt_ms": []}
    row = cc.table(result)[2]["modes"]["routed"]
    assert row["gbps"] == pytest.approx(0.75) and row["gbps_ratio"] is None


def test_render_shows_both_modes_side_by_side():
    text = cc.render(sample_result())
    header = next(line for line in text.splitlines() if line.startswith("path"))
    assert header.index("routed Gbit/s") < header.index("overlay Gbit/s")
    across = next(line for line in text.splitlines() if line.startswith("Pod-to-Pod, across"))
    assert "0.750 (0.062x)" in across and "0.300 (0.025x)" in across
    assert "Pod MTU 1450" in text and "VXLAN UDP 4789 10.0.0.2 > 10.0.0.3" in text
    assert "plain Pod IPs" in text


def parse(*argv):
    parser = argparse.ArgumentParser()
    cc.add_arguments(parser)
    return cc.options_from_args(parser.parse_args(list(argv)))


def test_options_are_checked():
    assert cc.modes_arg("overlay,routed") == ["overlay", "routed"]
    assert cc.modes_arg("routed,overlay,macvlan") == ["routed", "overlay", "macvlan"]
    with pytest.raises(argparse.ArgumentTypeError):
        cc.modes_arg("bogus")
    options = parse()
    assert options == cc.CompareOptions()  # the flags' defaults are the options' defaults
    assert (options.topology, options.spines, options.leaves, options.workers,
            options.modes, options.proxy_mode) == (
        "leaf-spine", 2, 2, 2, ("routed", "overlay"), "iptables")
    cc.check_options(options)
    for bad in (["--name", "toolong"], ["--name", "9x"], ["--seconds", "0"],
                ["--topology", "single"], ["--leaves", "1"], ["--workers", "1"],
                ["--proxy-mode", "ipvs"]):
        with pytest.raises(UsageError):
            cc.check_options(parse(*bad))


def fake_cluster(spec):
    return api.Cluster(ClusterState(name=spec.name, spec=spec, dir=f"/run/k8snet/{spec.name}"))


def test_compare_builds_each_cluster_through_the_api(monkeypatch):
    built, downs = [], []

    def up(spec, progress=None):
        assert isinstance(spec, ClusterSpec)
        built.append(spec)
        raise K8snetError("stop after the spec")  # measuring is not what is tested here

    monkeypatch.setattr(cc.api, "up", up)
    monkeypatch.setattr(cc.api, "down", lambda name, **_kw: downs.append(name))
    options = parse("--proxy-mode", "nftables", "--leaves", "3", "--workers", "3",
                    "--name", "tb", "--timeout", "99")
    for mode in ("routed", "overlay"):
        with pytest.raises(K8snetError, match="stop after the spec"):
            cc.measure_mode(options, mode)
    assert built == [
        ClusterSpec(name="tbr", topology="leaf-spine", workers=3, masters=1, spines=2,
                    leaves=3, mode="routed", store="sqlite", proxy_mode="nftables",
                    timeout=99.0),
        ClusterSpec(name="tbo", topology="leaf-spine", workers=3, masters=1, spines=2,
                    leaves=3, mode="overlay", store="sqlite", proxy_mode="nftables",
                    timeout=99.0)]
    assert downs == []  # up failed: it left nothing, so nothing is taken down


def test_a_cluster_already_running_under_the_name_is_left_alone(monkeypatch):
    downs = []

    def taken(_spec, progress=None):
        raise UsageError("a cluster named 'cmpr' is already running")

    monkeypatch.setattr(cc.api, "up", taken)
    monkeypatch.setattr(cc.api, "down", lambda name, **_kw: downs.append(name))
    with pytest.raises(UsageError, match="already running"):
        cc.measure_mode(cc.CompareOptions(), "routed")
    assert downs == []


def test_a_cluster_it_started_is_taken_down_when_measuring_fails(monkeypatch):
    downs = []
    monkeypatch.setattr(cc.api, "up", lambda spec, progress=None: fake_cluster(spec))

    def broken(_nodes):
        raise K8snetError("no two workers")

    monkeypatch.setattr(cc, "pick_workers", broken)
    monkeypatch.setattr(api.Cluster, "client", lambda self, timeout=10: object())
    monkeypatch.setattr(cc.api, "down", lambda name, **_kw: downs.append(name))
    with pytest.raises(K8snetError, match="no two workers"):
        cc.measure_mode(cc.CompareOptions(), "overlay")
    assert downs == ["cmpo"]

