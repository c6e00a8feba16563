"""`k8snet trace` to a Service by name, and the DNS query it sends to port 53."""

import dns.message

from k8snet.trace import main as trace


def svc(name, ns):
    return {"metadata": {"name": name, "namespace": ns}}


def test_service_names_a_user_may_type():
    names = trace.service_names(svc("kube-dns", "kube-system"))
    assert {"kube-dns", "kube-system/kube-dns", "kube-dns.kube-system",
            "kube-dns.kube-system.svc.cluster.local"} <= set(names)
    assert "web" in trace.service_names(svc("web", "default"))
    assert "web" not in trace.service_names(svc("web", "shop"))   # ambiguous outside default


def test_dns_query_carries_the_marker_in_its_question():
    wire = trace.dns_query(b"K8SNET-TRACE-42")
    assert b"K8SNET-TRACE-42" in wire
    msg = dns.message.from_wire(wire)
    assert msg.question[0].name.to_text() == "K8SNET-TRACE-42.cluster.local."
