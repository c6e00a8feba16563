"""iptables rendering: kube-proxy names, balancing, masquerade, affinity, rejects."""

from __future__ import annotations

import pytest
from proxy_iptables_sim import Packet, nat_chains, outcomes

from k8snet.proxy.model import Endpoint, NodeFacts, ServicePort
from k8snet.proxy.render_iptables import probability, render, sep_chain, svc_chain

NODE = NodeFacts(name="w1", ips=("10.0.0.2",), cluster_cidr="10.244.0.0/16")
EXTERNAL = "192.168.1.50"


def sp(n_endpoints: int = 2, **kw) -> ServicePort:
    eps = tuple(Endpoint(f"10.244.{1 + i % 2}.{10 + i}", 8080, "w1" if i % 2 == 0 else "w2")
                for i in range(n_endpoints))
    fields = dict(namespace="ns1", name="svc1", port_name="p80", protocol="TCP",
                  cluster_ip="10.96.0.10", port=80, endpoints=eps)
    fields.update(kw)
    return ServicePort(**fields)


def test_chain_names_are_kube_proxys_hashes():
    # Values from kube-proxy's own test fixtures for ns1/svc1:p80 and 10.180.0.1:80.
    port = sp(0)
    assert svc_chain(port) == "KUBE-SVC-XPGD46QRK7WJZT7O"
    assert sep_chain(port, Endpoint("10.180.0.1", 80)) == "KUBE-SEP-SXIVWICOYRO3J4NJ"


def test_probabilities_follow_one_over_remaining():
    assert probability(1) == "1.0000000000"
    assert probability(3) == "0.3333333333"
    text = render([sp(4)], NODE)
    probs = [line.split("--probability ")[1].split()[0]
             for line in text.splitlines() if "--probability" in line]
    assert probs == [probability(4), probability(3), probability(2)]


@pytest.mark.parametrize("n", [1, 2, 3, 5, 10])
def test_every_ready_endpoint_gets_an_equal_share(n):
    port = sp(n)
    result = outcomes(render([port], NODE),
                      Packet("10.244.3.7", "10.96.0.10", "tcp", 80))
    assert set(result) == {(ep.addr, False) for ep in port.endpoints}
    for share in result.values():
        assert share == pytest.approx(1 / n)


def test_pod_source_is_not_masqueraded_but_a_node_source_is():
    text = render([sp(2)], NODE)
    from_pod = outcomes(text, Packet("10.244.3.7", "10.96.0.10", "tcp", 80))
    assert all(masq is False for _, masq in from_pod)
    from_node = outcomes(text, Packet("10.0.0.2", "10.96.0.10", "tcp", 80,
                                      local_ips=("10.0.0.2",)))
    assert all(masq is True for _, masq in from_node)


def test_masquerade_all_marks_pod_sources_too():
    node = NodeFacts(name="w1", ips=("10.0.0.2",), cluster_cidr="10.244.0.0/16",
                     masquerade_all=True)
    result = outcomes(render([sp(2)], node), Packet("10.244.3.7", "10.96.0.10", "tcp", 80))
    assert result and all(masq for _, masq in result)


def test_hairpin_endpoint_calling_its_own_service_is_masqueraded():
    port = sp(1)
    result = outcomes(render([port], NODE), Packet(port.endpoints[0].ip, "10.96.0.10", "tcp", 80))
    assert result == {(port.endpoints[0].addr, True): pytest.approx(1.0)}


def test_other_port_protocol_or_address_is_untouched():
    text = render([sp(2)], NODE)
    for pkt in (Packet("10.244.3.7", "10.96.0.10", "tcp", 81),
                Packet("10.244.3.7", "10.96.0.10", "udp", 80),
                Packet("10.244.3.7", "10.96.0.11", "tcp", 80)):
        assert outcomes(text, pkt) == {(None, False): pytest.approx(1.0)}


def test_nodeport_from_outside_is_balanced_and_masqueraded():
    port = sp(2, node_port=30080)
    result = outcomes(render([port], NODE),
                      Packet(EXTERNAL, "10.0.0.2", "tcp", 30080, local_ips=("10.0.0.2",)))
    assert result == {(ep.addr, True): pytest.approx(0.5) for ep in port.endpoints}


def test_nodeport_only_on_local_addresses_and_given_nodeport_addresses():
    port = sp(2, node_port=30080)
    not_local = outcomes(render([port], NODE), Packet(EXTERNAL, "10.0.0.9", "tcp", 30080))
    assert not_local == {(None, False): pytest.approx(1.0)}
    node = NodeFacts(name="w1", ips=("10.0.0.2", "172.16.0.2"),
                     cluster_cidr="10.244.0.0/16", nodeport_addresses=("172.16.0.0/16",))
    text = render([port], node)
    locals_ = ("10.0.0.2", "172.16.0.2")
    assert outcomes(text, Packet(EXTERNAL, "10.0.0.2", "tcp", 30080, locals_)) == \
        {(None, False): pytest.approx(1.0)}
    assert {d for d, _ in outcomes(text, Packet(EXTERNAL, "172.16.0.2", "tcp", 30080,
                                                 locals_))} == {e.addr for e in port.endpoints}


def test_external_traffic_policy_local_keeps_source_and_uses_local_endpoints():
    port = sp(4, node_port=30080, external_local=True)
    text = render([port], NODE)
    local = {ep.addr for ep in port.local_endpoints("w1")}
    outside = outcomes(text, Packet(EXTERNAL, "10.0.0.2", "tcp", 30080, ("10.0.0.2",)))
    assert {d for d, _ in outside} == local
    assert all(not masq for _, masq in outside)
    from_pod = outcomes(text, Packet("10.244.9.9", "10.0.0.2", "tcp", 30080, ("10.0.0.2",)))
    assert {d for d, _ in from_pod} == {ep.addr for ep in port.endpoints}


def test_local_policy_without_local_endpoint_drops_external_nodeport_traffic():
    port = ServicePort("ns1", "svc1", "", "TCP", "10.96.0.10", 80, node_port=30080,
                       external_local=True, endpoints=(Endpoint("10.244.2.5", 80, "w2"),))
    text = render([port], NODE)
    assert "has no local endpoints" in text and "--dport 30080 -j DROP" in text


def test_session_affinity_checks_recent_lists_before_random():
    port = sp(3, affinity_timeout=600)
    text = render([port], NODE)
    chain = nat_chains(text)[svc_chain(port)]
    kinds = ["recent" if "--rcheck" in r else "statistic" if "statistic" in r else "jump"
             for r in chain if "KUBE-MARK-MASQ" not in r]
    assert kinds == ["recent"] * 3 + ["statistic"] * 2 + ["jump"]
    assert "--seconds 600 --reap" in text
    for ep in port.endpoints:
        sep = sep_chain(port, ep)
        assert f"-A {sep} " in text and f"--name {sep} --mask 255.255.255.255 --rsource --set" \
            in text
    # A client remembered by the second endpoint's list always goes there.
    second = port.endpoints[1]
    stuck = outcomes(text, Packet("10.244.3.7", "10.96.0.10", "tcp", 80,
                                  recent=frozenset({sep_chain(port, second)})))
    assert stuck == {(second.addr, False): pytest.approx(1.0)}


def test_service_without_endpoints_is_rejected_in_filter_table():
    port = sp(0, protocol="UDP", port=53, node_port=30053)
    text = render([port], NODE)
    filter_part = text.split("*nat")[0]
    assert '-d 10.96.0.10/32 -p udp -m udp --dport 53 -j REJECT' in filter_part
    assert "--dst-type LOCAL -p udp -m udp --dport 30053 -j REJECT" in filter_part
    assert "KUBE-SVC-" not in text


def test_comments_name_the_service_port():
    text = render([sp(1, node_port=30080)], NODE)
    assert '--comment "ns1/svc1:p80 cluster IP"' in text
    assert '-A KUBE-NODEPORTS -m comment --comment "ns1/svc1:p80" -p tcp' in text


def test_nodeports_jump_is_the_last_rule_of_kube_services():
    text = render([sp(2, node_port=30080), sp(1, name="b", node_port=30081)], NODE)
    rules = [r for r in text.split("*nat")[1].splitlines() if r.startswith("-A KUBE-SERVICES")]
    assert rules[-1].endswith("-j KUBE-NODEPORTS")
    assert all("KUBE-NODEPORTS" not in r for r in rules[:-1])


def test_stale_service_chains_are_flushed_and_deleted_and_foreign_chains_kept():
    port = sp(1)
    existing = {"nat": {"KUBE-SVC-OLDOLDOLDOLDOLDO", "KUBE-SEP-OLDOLDOLDOLDOLDO",
                        svc_chain(port), "MY-OWN-CHAIN", "PREROUTING"}}
    text = render([port], NODE, existing)
    assert "-X KUBE-SVC-OLDOLDOLDOLDOLDO" in text and "-X KUBE-SEP-OLDOLDOLDOLDOLDO" in text
    assert f"-X {svc_chain(port)}" not in text
    assert "MY-OWN-CHAIN" not in text and ":PREROUTING" not in text
    # A stale chain must be declared (flushed) before it is deleted.
    assert text.index(":KUBE-SVC-OLDOLDOLDOLDOLDO") < text.index("-X KUBE-SVC-OLDOLDOLDOLDOLDO")


def test_render_is_deterministic_and_both_tables_commit():
    ports = [sp(3, node_port=30080), sp(2, name="other", cluster_ip="10.96.0.20")]
    text = render(ports, NODE)
    assert text == render(list(ports), NODE)
    assert text.count("COMMIT") == 2 and text.startswith("*filter")


def test_masquerade_postrouting_only_for_marked_packets():
    text = render([], NODE)
    assert "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN" in text
    assert "-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000" in text
    assert "MASQUERADE --random-fully" in text


def test_local_policy_falls_back_to_a_terminating_local_endpoint():
    port = ServicePort("ns1", "svc1", "", "TCP", "10.96.0.10", 80, node_port=30080,
                       external_local=True, endpoints=(Endpoint("10.244.2.5", 80, "w2"),),
                       terminating=(Endpoint("10.244.1.7", 80, "w1"),))
    text = render([port], NODE)
    outside = outcomes(text, Packet(EXTERNAL, "10.0.0.2", "tcp", 30080, ("10.0.0.2",)))
    assert {d for d, _ in outside} == {"10.244.1.7:80"}
    from_pod = outcomes(text, Packet("10.244.9.9", "10.0.0.2", "tcp", 30080, ("10.0.0.2",)))
    assert {d for d, _ in from_pod} == {"10.244.2.5:80"}
