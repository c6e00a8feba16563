"""Leaf-spine, routed and overlay: `k8snet probe` passes every check, and
`k8snet trace` between Pods under different leaves shows the hops each mode
should have (and `--pcap` saves the marked packet at each of them); a trace
to a Service address shows the DNAT step."""

import json

import pytest

from tests.integration.conftest import k8snet


@pytest.fixture(scope="module", params=["routed", "overlay"])
def cluster(request):
    name = {"routed": "ttrr", "overlay": "ttro"}[request.param]
    try:
        k8snet("up", "--detach", "--name", name, "--topology", "leaf-spine", "--spines", "2",
               "--leaves", "2", "--workers", "2", "--mode", request.param, timeout=600)
        proc = k8snet("probe", "--name", name, "--json", "--keep", check=False, timeout=600)
        assert proc.stdout.strip(), proc.stderr
        yield name, request.param, json.loads(proc.stdout)
    finally:
        k8snet("probe", "--name", name, "--only", "unique-pod-ip", check=False, timeout=300)
        k8snet("down", "--name", name, check=False)


def trace(name, *args):
    proc = k8snet("trace", "--name", name, "--json", *args, check=False, timeout=300)
    assert proc.returncode in (0, 1) and proc.stdout.strip(), proc.stderr
    return json.loads(proc.stdout)


def test_probe_passes_every_check_on_leaf_spine(cluster):
    _name, mode, doc = cluster
    assert doc["mode"] == mode
    assert doc["ok"], json.dumps([c for c in doc["checks"] if c["verdict"] != "pass"], indent=1)


def udp_ports(packet):
    """Destination ports of every UDP header, outer first (VXLAN's, then the Pod's)."""
    from scapy.all import UDP

    ports, n = [], 1
    while packet.getlayer(UDP, nb=n) is not None:
        ports.append(packet.getlayer(UDP, nb=n).dport)
        n += 1
    return ports


def test_trace_between_leaves(cluster, tmp_path):
    from scapy.all import rdpcap

    name, mode, _doc = cluster
    pcap = tmp_path / "trace.pcapng"
    doc = trace(name, "k8snet-probe-a", "k8snet-probe-c", "--proto", "udp", "--port", "8081",
                "--pcap", str(pcap))
    # The pcapng holds the marked packet once per hop, on an interface named after it.
    frames = rdpcap(str(pcap))
    assert [f.sniffed_on for f in frames] == [
        f"{h['place']} {h['iface']} {h['direction']}" for h in doc["hops"]]
    assert all(8081 in udp_ports(f) for f in frames), [udp_ports(f) for f in frames]
    vxlan = [f.sniffed_on for f in frames if udp_ports(f)[0] == 4789]
    assert bool(vxlan) == (mode == "overlay"), vxlan
    assert doc["matches_intended"], doc["comparison"]
    assert doc["switch_hops"] == 3          # leaf, spine, leaf
    hops = doc["hops"]
    assert hops[0]["place"] == "pod default/k8snet-probe-a"
    assert hops[-1]["place"] == "pod default/k8snet-probe-c"
    assert "ECMP branch via" in doc["comparison"]
    switch = [h for h in hops if h["place"].startswith("switch ")]
    if mode == "routed":
        # every switch is a routed hop: TTL one lower on the way out, MACs rewritten
        for h_in, h_out in zip(switch[::2], switch[1::2]):
            assert h_out["ttl"] == h_in["ttl"] - 1, (h_in, h_out)
            assert any(c.startswith("MACs") for c in h_out["changes"])
        assert not any("vxlan" in h["packet"] for h in hops)
        assert not any("NAT" in c for h in hops for c in h["changes"])
    else:
        assert all("vxlan" in h["packet"] for h in switch)
        enc = [c for h in hops for c in h["changes"] if c.startswith("encapsulated")]
        assert enc and "10.0.0." in enc[0]
        assert any(c.startswith("decapsulated") for h in hops for c in h["changes"])


def test_trace_to_a_service_shows_dnat(cluster):
    name, _mode, doc = cluster
    svc = next(c for c in doc["checks"] if c["name"] == "service-clusterip")
    cluster_ip = svc["evidence"][0].split(" ")[1].split(":")[0]
    out = trace(name, "k8snet-probe-a", cluster_ip, "--proto", "tcp", "--port", "80")
    dnat = [c for h in out["hops"] for c in h["changes"] if c.startswith("DNAT")]
    assert dnat and dnat[0].startswith(f"DNAT {cluster_ip}:80 -> 10.244."), out
