"""kube-proxy's model: Service and EndpointSlice dicts to ServicePorts; conntrack cleanup."""

from __future__ import annotations

from k8snet.proxy.model import (
    DEFAULT_AFFINITY_TIMEOUT,
    Endpoint,
    NodeFacts,
    ServicePort,
    conntrack_flushes,
    service_ports,
)


def svc(name="web", ns="default", ports=None, **spec) -> dict:
    spec.setdefault("clusterIP", "10.96.0.10")
    spec["ports"] = ports or [{"name": "http", "port": 80, "protocol": "TCP",
                               "targetPort": 8080}]
    return {"metadata": {"name": name, "namespace": ns}, "spec": spec}


def eps(name="web", ns="default", ready=("10.244.1.2",), not_ready=(), ports=None,
        terminating=(), slice_name="") -> dict:
    """An EndpointSlice of Service `name`: `terminating` ones still serve."""
    def endpoint(ip, ready, serving, ending):
        return {"addresses": [ip], "nodeName": "w1",
                "conditions": {"ready": ready, "serving": serving, "terminating": ending}}
    return {"metadata": {"name": slice_name or f"{name}-abcde", "namespace": ns,
                         "labels": {"kubernetes.io/service-name": name}},
            "addressType": "IPv4",
            "endpoints": [endpoint(ip, True, True, False) for ip in ready] +
            [endpoint(ip, False, False, False) for ip in not_ready] +
            [endpoint(ip, False, True, True) for ip in terminating],
            "ports": ports or [{"name": "http", "port": 8080, "protocol": "TCP"}]}


def test_ready_endpoints_only_sorted_by_address():
    [port] = service_ports([svc()], [eps(ready=("10.244.1.10", "10.244.1.9"),
                                         not_ready=("10.244.1.3",))])
    assert port.key == "default/web:http"
    assert port.endpoints == (Endpoint("10.244.1.9", 8080, "w1"),
                              Endpoint("10.244.1.10", 8080, "w1"))


def test_endpoints_come_from_every_slice_of_the_service_by_its_label():
    slices = [eps(ready=("10.244.1.2",)), eps(ready=("10.244.2.2",), slice_name="web-2"),
              eps(name="other", ready=("10.244.3.3",))]
    [port] = service_ports([svc()], slices)
    assert [e.ip for e in port.endpoints] == ["10.244.1.2", "10.244.2.2"]


def test_absent_conditions_mean_ready():
    slice_ = eps(ready=())
    slice_["endpoints"] = [{"addresses": ["10.244.1.7"]}]
    [port] = service_ports([svc()], [slice_])
    assert [e.ip for e in port.endpoints] == ["10.244.1.7"]


def test_terminating_serving_endpoints_only_when_none_is_ready():
    [port] = service_ports([svc()], [eps(ready=("10.244.1.2",), terminating=("10.244.1.3",))])
    assert [e.ip for e in port.endpoints] == ["10.244.1.2"]
    [port] = service_ports([svc()], [eps(ready=(), terminating=("10.244.1.3",),
                                         not_ready=("10.244.1.4",))])
    assert [e.ip for e in port.endpoints] == ["10.244.1.3"]


def test_ipv6_slices_are_skipped():
    v6 = eps(ready=("fd00::5",))
    v6["addressType"] = "IPv6"
    [port] = service_ports([svc()], [v6])
    assert port.endpoints == ()


def test_endpoint_ports_are_matched_by_name_and_protocol():
    ports = [{"name": "dns", "port": 53, "protocol": "UDP"},
             {"name": "dns-tcp", "port": 53, "protocol": "TCP"}]
    ep_ports = [{"name": "dns-tcp", "port": 5353, "protocol": "TCP"},
                {"name": "dns", "port": 5300, "protocol": "UDP"}]
    result = service_ports([svc(ports=ports)], [eps(ports=ep_ports)])
    by_key = {(p.key, p.protocol): p.endpoints[0].port for p in result}
    assert by_key == {("default/web:dns", "UDP"): 5300, ("default/web:dns-tcp", "TCP"): 5353}


def test_unnamed_port_key_and_missing_endpoints():
    [port] = service_ports([svc(ports=[{"port": 80}])], [])
    assert port.key == "default/web" and port.protocol == "TCP" and port.endpoints == ()


def test_headless_externalname_and_ipv6_services_are_skipped():
    services = [svc("a", clusterIP="None"), svc("b", type="ExternalName", clusterIP=""),
                svc("c", clusterIP="fd00::10"), svc("d")]
    assert [p.name for p in service_ports(services, [])] == ["d"]


def test_nodeport_affinity_local_policy_and_external_ips():
    spec_ports = [{"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30080}]
    [port] = service_ports([svc(ports=spec_ports, type="NodePort", sessionAffinity="ClientIP",
                                externalTrafficPolicy="Local",
                                externalIPs=["192.168.9.9"])], [])
    assert port.node_port == 30080 and port.external_local
    assert port.affinity_timeout == DEFAULT_AFFINITY_TIMEOUT
    assert port.external_ips == ("192.168.9.9",)
    [plain] = service_ports([svc(ports=spec_ports, sessionAffinity="ClientIP",
                                 sessionAffinityConfig={"clientIP": {"timeoutSeconds": 60}})],
                            [])
    assert plain.node_port is None and not plain.external_local  # ClusterIP type
    assert plain.affinity_timeout == 60


def test_nodeport_ips_filtered_by_nodeport_addresses():
    node = NodeFacts("w1", ("10.0.0.2", "172.16.0.2"), nodeport_addresses=("172.16.0.0/12",))
    assert node.nodeport_ips() == ("172.16.0.2",)
    assert NodeFacts("w1", ("10.0.0.2",)).nodeport_ips() is None


def _udp(eps_ips, node_port=None):
    return ServicePort("default", "dns", "", "UDP", "10.96.0.53", 53, node_port=node_port,
                       endpoints=tuple(Endpoint(ip, 53) for ip in eps_ips))


def test_conntrack_flush_for_removed_udp_endpoint_and_nodeport():
    flushes = conntrack_flushes([_udp(["10.244.1.2", "10.244.1.3"], 30053)],
                                [_udp(["10.244.1.3"], 30053)])
    assert flushes == [
        ["-D", "-p", "udp", "--orig-dst", "10.96.0.53", "--dst-nat", "10.244.1.2"],
        ["-D", "-p", "udp", "--dport", "30053", "--dst-nat", "10.244.1.2"]]


def test_conntrack_flush_when_udp_service_gets_first_endpoint_or_is_deleted():
    assert conntrack_flushes([_udp([])], [_udp(["10.244.1.3"])]) == [
        ["-D", "-p", "udp", "--orig-dst", "10.96.0.53"]]
    assert conntrack_flushes([_udp(["10.244.1.3"])], []) == [
        ["-D", "-p", "udp", "--orig-dst", "10.96.0.53", "--dst-nat", "10.244.1.3"]]


def test_no_conntrack_flush_for_tcp_or_unchanged_udp():
    tcp = ServicePort("default", "web", "", "TCP", "10.96.0.10", 80,
                      endpoints=(Endpoint("10.244.1.2", 80),))
    assert conntrack_flushes([tcp], []) == []
    assert conntrack_flushes([_udp(["10.244.1.2"])], [_udp(["10.244.1.2"])]) == []


def test_local_endpoints_fall_back_to_terminating_ones_on_the_node():
    slice_ = eps(ready=("10.244.2.2",), terminating=("10.244.1.3",))
    slice_["endpoints"][0]["nodeName"] = "w2"
    [port] = service_ports([svc()], [slice_])
    assert [e.ip for e in port.endpoints] == ["10.244.2.2"]
    assert [e.ip for e in port.local_endpoints("w1")] == ["10.244.1.3"]
    assert [e.ip for e in port.local_endpoints("w2")] == ["10.244.2.2"]
