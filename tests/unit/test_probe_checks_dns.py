"""Cluster DNS verdicts over observed lookups and captured query packets."""

from k8snet.probe import checks_dns as cd
from k8snet.probe.model import FAIL, PASS, SKIP
from k8snet.probe.packets import Packet

CLIENT, DNS_IP, REMOTE, LOCAL = "10.244.1.8", "10.96.0.10", "10.244.0.3", "10.244.1.3"
NEEDLES = (b"k8snet-dnspath-1-0", b"k8snet-dnspath-1-1")


def query(src, dst, needle, outgoing=False, vxlan=False):
    pkt = Packet(src=src, dst=dst, proto="udp", sport=40000, dport=53,
                 payload=b"\x12\x34" + needle, meta={"outgoing": outgoing})
    if vxlan:
        return Packet(src="10.0.0.2", dst="10.0.0.3", proto="udp", dport=4789, vni=1,
                      inner=pkt, meta={"outgoing": outgoing})
    return pkt


def path(arriving, uplink, leaving=None, dns_pods=None):
    leaving = leaving if leaving is not None else tuple(
        query(CLIENT, DNS_IP, n, outgoing=True) for n in NEEDLES)
    return cd.DnsPath("pod default/a", CLIENT, "w1", DNS_IP,
                      {REMOTE: "w2", LOCAL: "w1"} if dns_pods is None else dns_pods,
                      NEEDLES, leaving,
                      arriving, {"w2": uplink})


def test_path_passes_when_a_query_crosses_to_the_remote_dns_pod_unNATed():
    arriving = {REMOTE: (query(CLIENT, REMOTE, NEEDLES[0]),),
                LOCAL: (query(CLIENT, LOCAL, NEEDLES[1]),)}
    v = cd.dns_path(path(arriving, (query(CLIENT, REMOTE, NEEDLES[0]),)))
    assert v.verdict == PASS and "1 of 2" in v.reason


def test_path_sees_through_vxlan_and_ignores_the_dns_pods_own_forwards():
    forwarded = query(REMOTE, "10.1.0.1", NEEDLES[0], outgoing=True)
    arriving = {REMOTE: (query(CLIENT, REMOTE, NEEDLES[0]), forwarded,
                         query(CLIENT, REMOTE, NEEDLES[1]))}
    uplink = (query(CLIENT, REMOTE, NEEDLES[0], vxlan=True),
              query(CLIENT, REMOTE, NEEDLES[1], vxlan=True))
    assert cd.dns_path(path(arriving, uplink)).verdict == PASS


def test_path_fails_on_snat_missing_fabric_capture_or_no_remote_hit():
    snat = {REMOTE: (query("10.0.0.2", REMOTE, NEEDLES[0]),)}
    v = cd.dns_path(path(snat, (query(CLIENT, REMOTE, NEEDLES[0]),)))
    assert v.verdict == FAIL and "NAT on the way" in v.reason
    unseen = {REMOTE: (query(CLIENT, REMOTE, NEEDLES[0]),)}
    v = cd.dns_path(path(unseen, ()))
    assert v.verdict == FAIL and "not seen on w2's fabric link" in v.reason
    local_only = {LOCAL: tuple(query(CLIENT, LOCAL, n) for n in NEEDLES)}
    v = cd.dns_path(path(local_only, ()))
    assert v.verdict == FAIL and "none of 2 queries" in v.reason
    v = cd.dns_path(path({}, (), leaving=()))
    assert v.verdict == FAIL and "no query to 10.96.0.10:53 left" in v.reason


def test_path_skips_without_a_dns_pod_elsewhere():
    v = cd.dns_path(path({}, (), dns_pods={LOCAL: "w1"}))
    assert v.verdict == SKIP and "w1" in v.reason
    assert cd.dns_path(path({}, (), dns_pods={})).verdict == SKIP


def test_service_names_must_all_give_the_cluster_ip_and_answer():
    good = [cd.Lookup("pod a", n, ("10.96.0.20",)) for n in ("web", "web.default")]
    fetch = [cd.Fetch("pod a", "http://web/hostname", True, "web-1")]
    assert cd.dns_service("default/web", "10.96.0.20", good, fetch).verdict == PASS
    bad = good + [cd.Lookup("pod b", "web", (), "[Errno -2] Name or service not known")]
    v = cd.dns_service("default/web", "10.96.0.20", bad, fetch)
    assert v.verdict == FAIL and "Name or service not known" in v.reason
    v = cd.dns_service("default/web", "10.96.0.20", good,
                       [cd.Fetch("pod a", "http://web/hostname", False, "timed out")])
    assert v.verdict == FAIL and "timed out" in v.reason
    assert cd.dns_service("default/web", "10.96.0.20", [], []).verdict == SKIP


def test_headless_wants_exactly_the_ready_endpoints():
    lookup = cd.Lookup("pod a", "h", ("10.244.0.6", "10.244.1.9"))
    assert cd.dns_headless("default/h", lookup, ["10.244.1.9", "10.244.0.6"]).verdict == PASS
    assert cd.dns_headless("default/h", lookup, ["10.244.1.9"]).verdict == FAIL
    assert cd.dns_headless("default/h", lookup, []).verdict == SKIP


def test_external_needs_the_answer_and_the_upstream_to_see_a_dns_pod():
    lookup = cd.Lookup("pod a", "example.test", ("10.1.0.1",))
    seen = [query(REMOTE, "10.1.0.1", b"k8snet-ext-1")]
    assert cd.dns_external(lookup, "10.1.0.1", "ext1", seen, [REMOTE]).verdict == PASS
    v = cd.dns_external(lookup, "10.1.0.1", "ext1", [], [REMOTE])
    assert v.verdict == FAIL and "saw no query" in v.reason
    wrong = cd.Lookup("pod a", "example.test", (), "no address")
    assert cd.dns_external(wrong, "10.1.0.1", "ext1", seen, [REMOTE]).verdict == FAIL


def test_the_dns_path_client_is_a_probe_pod_with_a_dns_pod_on_another_node():
    pods = [("k8snet-probe-a", "w1"), ("k8snet-probe-b", "w1"), ("k8snet-probe-c", "w2")]
    assert cd.path_client(pods, ["w2", "w3"]) == "k8snet-probe-a"
    assert cd.path_client(pods, ["w1", "w3"]) == "k8snet-probe-a"
    # both DNS Pods scheduled on the first worker: look up from the second
    assert cd.path_client(pods, ["w1", "w1"]) == "k8snet-probe-c"
    # one worker only: the check has nothing to watch and says so (the first Pod)
    assert cd.path_client(pods[:2], ["w1"]) == "k8snet-probe-a"
