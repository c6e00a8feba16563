"""nftables rendering: one table, maps, numgen balancing, affinity sets, atomic script."""

from __future__ import annotations

import re

from k8snet.proxy.model import Endpoint, NodeFacts, ServicePort
from k8snet.proxy.render_nft import (
    TABLE,
    affinity_set,
    endpoint_chain,
    external_chain,
    render,
    ruleset,
    service_chain,
)

NODE = NodeFacts(name="w1", ips=("10.0.0.2",), cluster_cidr="10.244.0.0/16")
T = f"ip {TABLE}"


def sp(n=2, **kw) -> ServicePort:
    eps = tuple(Endpoint(f"10.244.{1 + i % 2}.{10 + i}", 8080, "w1" if i % 2 == 0 else "w2")
                for i in range(n))
    fields = dict(namespace="ns1", name="svc1", port_name="p80", protocol="TCP",
                  cluster_ip="10.96.0.10", port=80, endpoints=eps)
    fields.update(kw)
    return ServicePort(**fields)


def test_chain_names_are_valid_nft_identifiers_and_readable():
    port = sp(1)
    name = service_chain(port)
    assert re.fullmatch(r"service-[A-Z2-7]{8}-ns1/svc1/tcp/p80", name)
    ep = endpoint_chain(port, port.endpoints[0])
    assert ep.endswith("ns1/svc1/tcp/p80__10.244.1.10/8080")
    for n in (name, ep, affinity_set(port, port.endpoints[0])):
        assert re.fullmatch(r"[a-z][A-Za-z0-9/_.\-]*", n) and len(n) < 256


def test_numgen_spreads_over_every_ready_endpoint():
    port = sp(3)
    rules = ruleset([port], NODE)["chains"][service_chain(port)]
    numgen = [r for r in rules if r.startswith("numgen")]
    assert numgen == ["numgen random mod 3 vmap { " + ", ".join(
        f"{i} : goto {endpoint_chain(port, ep)}" for i, ep in enumerate(port.endpoints)) + " }"]


def test_single_endpoint_is_a_plain_goto():
    port = sp(1)
    assert ruleset([port], NODE)["chains"][service_chain(port)][-1] == \
        f"goto {endpoint_chain(port, port.endpoints[0])}"


def test_cluster_ip_map_and_masquerade_only_for_non_pod_sources():
    port = sp(2)
    want = ruleset([port], NODE)
    assert want["elements"]["service-ips"] == [
        f"10.96.0.10 . tcp . 80 : goto {service_chain(port)}"]
    rules = want["chains"][service_chain(port)]
    masq = [r for r in rules if "mark-for-masquerade" in r]
    assert masq == ["ip daddr 10.96.0.10 meta l4proto tcp th dport 80 "
                    "ip saddr != 10.244.0.0/16 jump mark-for-masquerade"]


def test_endpoint_chain_hairpin_then_dnat():
    port = sp(1, protocol="UDP", port=53)
    ep = port.endpoints[0]
    assert ruleset([port], NODE)["chains"][endpoint_chain(port, ep)] == [
        f"ip saddr {ep.ip} jump mark-for-masquerade", f"meta l4proto udp dnat to {ep.addr}"]


def test_affinity_sets_checked_first_and_updated_in_endpoint_chain():
    port = sp(2, affinity_timeout=300)
    want = ruleset([port], NODE)
    rules = want["chains"][service_chain(port)]
    for i, ep in enumerate(port.endpoints):
        assert rules[1 + i] == f"ip saddr @{affinity_set(port, ep)} goto " \
                               f"{endpoint_chain(port, ep)}"
        assert f"update @{affinity_set(port, ep)} {{ ip saddr }}" in \
            want["chains"][endpoint_chain(port, ep)]
        assert want["sets"][affinity_set(port, ep)] == 300
    assert rules[-1].startswith("numgen")
    # A different timeout is a different set, so a changed Service never reuses the old one.
    assert affinity_set(port, port.endpoints[0]) != \
        affinity_set(sp(2, affinity_timeout=60), port.endpoints[0])


def test_nodeport_external_chain_masquerades_then_balances():
    port = sp(2, node_port=30080)
    want = ruleset([port], NODE)
    assert want["elements"]["service-nodeports"] == [f"tcp . 30080 : goto {external_chain(port)}"]
    assert want["chains"][external_chain(port)] == ["jump mark-for-masquerade",
                                                    f"goto {service_chain(port)}"]
    assert "fib daddr type local ip daddr != 127.0.0.0/8 jump nodeports" in \
        want["chains"]["services"]


def test_nodeport_addresses_restrict_the_nodeport_jump():
    node = NodeFacts("w1", ("10.0.0.2", "172.16.0.2"), "10.244.0.0/16",
                     nodeport_addresses=("172.16.0.0/16",))
    assert ruleset([sp(1, node_port=30080)], node)["chains"]["services"][1] == \
        "ip daddr { 172.16.0.2 } jump nodeports"


def test_local_policy_without_local_endpoints_drops_external_traffic():
    port = ServicePort("ns1", "svc1", "", "TCP", "10.96.0.10", 80, node_port=30080,
                       external_local=True, endpoints=(Endpoint("10.244.2.5", 80, "w2"),))
    rules = ruleset([port], NODE)["chains"][external_chain(port)]
    assert rules[0] == f"ip saddr 10.244.0.0/16 goto {service_chain(port)}"
    assert rules[-1] == "drop"
    with_local = sp(2, node_port=30080, external_local=True)
    assert ruleset([with_local], NODE)["chains"][external_chain(with_local)][-1].startswith(
        "goto local-")


def test_services_without_endpoints_are_rejected():
    port = sp(0, node_port=30080)
    want = ruleset([port], NODE)
    assert want["elements"]["no-endpoint-services"] == ["10.96.0.10 . tcp . 80 : goto reject-chain"]
    assert want["elements"]["no-endpoint-nodeports"] == ["tcp . 30080 : goto reject-chain"]
    assert service_chain(port) not in want["chains"]
    assert want["chains"]["reject-chain"] == ["reject"]


def test_script_flushes_then_redefines_and_deletes_only_stale_objects():
    port = sp(1, affinity_timeout=10)
    stale_chain = "service-AAAAAAAA-ns1/gone/tcp/80"
    stale_set = "affinity-AAAAAAAA-ns1/gone/tcp/80__10.244.1.2/80"
    script = render([port], NODE, existing_chains=[stale_chain, "services", "my-chain"],
                    existing_sets=[stale_set, affinity_set(port, port.endpoints[0])])
    lines = script.splitlines()
    assert lines[:2] == [f"add table {T}", f"flush table {T}"]
    assert f"delete chain {T} {stale_chain}" in lines
    assert f"delete set {T} {stale_set}" in lines
    assert not any(line.startswith("delete") and ("my-chain" in line or " services" in line)
                   for line in lines)
    assert f"flush map {T} service-ips" in lines
    # Affinity sets are never flushed: a resync keeps clients where they were.
    assert not any(line.startswith(f"flush set {T} affinity") for line in lines)
    assert lines.index(f"delete chain {T} {stale_chain}") > lines.index(f"flush table {T}")


def test_base_chains_hook_nat_and_filter():
    script = render([sp(1)], NODE)
    assert f"add chain {T} nat-prerouting {{ type nat hook prerouting priority dstnat ; }}" \
        in script
    assert "add chain ip k8snet-proxy nat-postrouting { type nat hook postrouting " \
           "priority srcnat ; }" in script
    assert f"add rule {T} masquerading meta mark & 0x4000 == 0 return" in script


def test_local_policy_chains_a_terminating_local_endpoint():
    term = Endpoint("10.244.1.7", 80, "w1")
    port = ServicePort("ns1", "svc1", "", "TCP", "10.96.0.10", 80, node_port=30080,
                       external_local=True, endpoints=(Endpoint("10.244.2.5", 80, "w2"),),
                       terminating=(term,))
    chains = ruleset([port], NODE)["chains"]
    assert chains[external_chain(port)][-1].startswith("goto local-")
    assert endpoint_chain(port, term) in chains
    assert any(endpoint_chain(port, term) in r for r in
               next(v for k, v in chains.items() if k.startswith("local-")))
