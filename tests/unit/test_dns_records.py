"""The Kubernetes DNS specification from Services and EndpointSlices (pure)."""

from k8snet.dns import records
from k8snet.dns.corefile import KubernetesConfig

CFG = KubernetesConfig(zones=("cluster.local.", "in-addr.arpa.", "ip6.arpa."), pods="insecure",
                       fallthrough=("in-addr.arpa.", "ip6.arpa."), ttl=30)
Z = "svc.cluster.local."


def svc(name, cluster_ip, ports=(), ns="default", **spec):
    return {"metadata": {"name": name, "namespace": ns},
            "spec": {"clusterIP": cluster_ip, "ports": list(ports), **spec}}


def endpoint(ip, ready=True, hostname=None):
    ep = {"addresses": [ip], "conditions": {"ready": ready}}
    if hostname:
        ep["hostname"] = hostname
    return ep


def slice_of(service, endpoints, ports=(("web", 80),), ns="default"):
    return {"metadata": {"name": f"{service}-x", "namespace": ns,
                         "labels": {records.SERVICE_LABEL: service}},
            "endpoints": list(endpoints),
            "ports": [{"name": n, "port": p, "protocol": "TCP"} for n, p in ports]}


SERVICES = [
    svc("web", "10.96.0.20", [{"name": "http", "port": 80, "protocol": "TCP"},
                              {"port": 9000, "protocol": "TCP"}]),
    svc("nginx", "None", [{"name": "web", "port": 80}]),
    svc("late", "None", [{"name": "web", "port": 80}], publishNotReadyAddresses=True),
    svc("ext", None, type="ExternalName", externalName="example.test"),
    svc("kube-dns", "10.96.0.10", ns="kube-system"),
]
SLICES = [
    slice_of("nginx", [endpoint("10.244.1.5", hostname="web-0"), endpoint("10.244.2.6"),
                       endpoint("10.244.2.7", ready=False)]),
    slice_of("late", [endpoint("10.244.3.3", ready=False)]),
    slice_of("web", [endpoint("10.244.9.9")], ports=(("http", 8080),)),
]
INDEX = records.build_index(SERVICES, SLICES, CFG, namespaces=["default", "empty"])


def ask(name, qtype="A"):
    return records.resolve(INDEX, CFG, name, qtype, dns_ip="10.96.0.10")


def data(answer):
    return sorted(rr.data for rr in answer.answer)


def test_cluster_ip_service_a_and_no_aaaa():
    got = ask(f"web.default.{Z}")
    assert got.rcode == "NOERROR" and data(got) == ["10.96.0.20"]
    assert got.answer[0].ttl == 30 and got.answer[0].name == f"web.default.{Z}"
    nodata = ask(f"web.default.{Z}", "AAAA")
    assert nodata.rcode == "NOERROR" and not nodata.answer
    assert nodata.authority[0].rtype == "SOA" and nodata.authority[0].name == "cluster.local."


def test_headless_lists_ready_endpoints_and_their_hostnames():
    assert data(ask(f"nginx.default.{Z}")) == ["10.244.1.5", "10.244.2.6"]
    assert data(ask(f"web-0.nginx.default.{Z}")) == ["10.244.1.5"]
    assert data(ask(f"10-244-2-6.nginx.default.{Z}")) == ["10.244.2.6"]
    assert ask(f"10-244-2-7.nginx.default.{Z}").rcode == "NXDOMAIN"   # not ready


def test_publish_not_ready_addresses():
    assert data(ask(f"late.default.{Z}")) == ["10.244.3.3"]


def test_srv_for_named_ports_only():
    got = ask(f"_http._tcp.web.default.{Z}", "SRV")
    assert data(got) == [f"0 100 80 web.default.{Z}"]
    assert [r.data for r in got.additional] == ["10.96.0.20"]
    assert ask(f"_9000._tcp.web.default.{Z}", "SRV").rcode == "NXDOMAIN"
    headless = ask(f"_web._tcp.nginx.default.{Z}", "SRV")
    assert data(headless) == [f"0 50 80 10-244-2-6.nginx.default.{Z}",
                              f"0 50 80 web-0.nginx.default.{Z}"]
    assert ask(f"_web._udp.nginx.default.{Z}", "SRV").rcode == "NXDOMAIN"


def test_external_name_is_a_cname_for_any_type():
    for qtype in ("A", "AAAA", "CNAME"):
        got = ask(f"ext.default.{Z}", qtype)
        assert [(r.rtype, r.data) for r in got.answer] == [("CNAME", "example.test.")]


def test_ptr_for_cluster_ips_and_endpoints():
    assert data(ask("20.0.96.10.in-addr.arpa.", "PTR")) == [f"web.default.{Z}"]
    assert data(ask("5.1.244.10.in-addr.arpa", "PTR")) == [f"web-0.nginx.default.{Z}"]
    unknown = ask("1.2.3.4.in-addr.arpa.", "PTR")
    assert unknown.rcode == "NXDOMAIN" and unknown.fallthrough    # on to forward


def test_pod_records_by_mode():
    assert data(ask("10-244-1-77.default.pod.cluster.local.")) == ["10.244.1.77"]
    assert ask("not-an-ip.default.pod.cluster.local.").rcode == "NXDOMAIN"
    verified = KubernetesConfig(zones=("cluster.local.",), pods="verified")
    pod = {"metadata": {"namespace": "default"}, "status": {"podIPs": [{"ip": "10.244.1.5"}]}}
    index = records.build_index([], [], verified, pods=[pod])
    assert records.resolve(index, verified, "10-244-1-5.default.pod.cluster.local.", "A").answer
    assert records.resolve(index, verified, "10-244-1-6.default.pod.cluster.local.",
                           "A").rcode == "NXDOMAIN"
    disabled = KubernetesConfig(zones=("cluster.local.",))
    assert records.resolve(index, disabled, "10-244-1-5.default.pod.cluster.local.",
                           "A").rcode == "NXDOMAIN"


def test_nxdomain_versus_nodata():
    assert ask(f"nope.default.{Z}").rcode == "NXDOMAIN"
    assert ask(f"nope.default.{Z}").authority[0].rtype == "SOA"
    assert ask(f"nope.nowhere.{Z}").rcode == "NXDOMAIN"
    for existing in (f"default.{Z}", f"empty.{Z}", Z, "cluster.local.",
                     f"_tcp.web.default.{Z}"):
        got = ask(existing)
        assert got.rcode == "NOERROR" and not got.answer, existing


def test_zone_apex_soa_ns_and_version():
    assert ask("cluster.local.", "SOA").answer[0].rtype == "SOA"
    ns = ask("cluster.local.", "NS")
    assert data(ns) == ["ns.dns.cluster.local."] and ns.additional[0].data == "10.96.0.10"
    assert data(ask("ns.dns.cluster.local.")) == ["10.96.0.10"]
    assert data(ask("dns-version.cluster.local.", "TXT")) == ['"1.1.0"']


def test_names_outside_the_zones_are_not_answered_and_case_is_kept():
    assert ask("example.test.") is None
    got = ask("WEB.Default.SVC.cluster.local.")
    assert data(got) == ["10.96.0.20"] and got.answer[0].name == "WEB.Default.SVC.cluster.local."


def test_reverse_names_both_ways():
    assert records.reverse_ip("5.1.244.10.in-addr.arpa.") == "10.244.1.5"
    assert records.reverse_ip(records.reverse_name("fd00::5")) == "fd00::5"
    assert records.reverse_ip("1.244.10.in-addr.arpa.") is None
    assert records.undashed("10-244-1-5") == "10.244.1.5"
    assert records.undashed("fd00--5") == "fd00::5"
    assert records.dashed("10.244.1.5") == "10-244-1-5"
