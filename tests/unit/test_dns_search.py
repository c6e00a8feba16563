"""What a Pod's resolver asks with the resolv.conf the kubelet writes (search list,
ndots:5), and what the cluster zone answers to each of those questions."""

from k8snet.dns import records
from k8snet.dns.corefile import KubernetesConfig
from k8snet.kubelet import etcfiles

CFG = KubernetesConfig(zones=("cluster.local.",), pods="insecure", ttl=30)
INDEX = records.build_index(
    [{"metadata": {"name": "web", "namespace": "shop"},
      "spec": {"clusterIP": "10.96.0.20", "ports": [{"port": 80}]}}], [], CFG,
    namespaces=["shop", "default"])


def candidates(name, resolv_text):
    """The names a stub resolver tries, in order (glibc's rule): fewer dots than
    ndots -> each search domain first, then the name as given."""
    _servers, search, options = etcfiles.parse_resolv(resolv_text)
    ndots = int(next((o.split(":")[1] for o in options if o.startswith("ndots:")), 1))
    if name.endswith("."):
        return [name]
    expanded = [f"{name}.{domain}." for domain in search]
    return expanded + [name + "."] if name.count(".") < ndots else [name + "."] + expanded


def first_answer(name, pod_ns):
    pod = {"metadata": {"namespace": pod_ns}, "spec": {}}
    asked = []
    for candidate in candidates(name, etcfiles.resolv_conf(pod, "nameserver 10.1.0.53\n")):
        asked.append(candidate)
        got = records.resolve(INDEX, CFG, candidate, "A")
        if got is None:
            return asked, "forwarded"
        if got.answer:
            return asked, got.answer[0].data
    return asked, "NXDOMAIN"


def test_short_name_hits_the_pods_own_namespace_first():
    asked, got = first_answer("web", "shop")
    assert asked == ["web.shop.svc.cluster.local."] and got == "10.96.0.20"


def test_namespaced_name_from_another_namespace_takes_two_questions():
    asked, got = first_answer("web.shop", "default")
    assert asked == ["web.shop.default.svc.cluster.local.", "web.shop.svc.cluster.local."]
    assert got == "10.96.0.20"


def test_outside_names_go_through_every_search_domain_first_ndots_5():
    asked, got = first_answer("example.test", "default")
    assert len(asked) == 4 and asked[-1] == "example.test." and got == "forwarded"
    asked, got = first_answer("example.test.", "default")     # a trailing dot: one question
    assert asked == ["example.test."] and got == "forwarded"


def test_fully_qualified_service_name_resolves_without_the_search_list_answering():
    asked, got = first_answer("web.shop.svc.cluster.local", "default")
    assert got == "10.96.0.20" and asked[-1] == "web.shop.svc.cluster.local."
