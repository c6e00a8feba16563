"""The DNS add-on's objects, as kubeadm deploys CoreDNS."""

from k8snet.dns import addon, corefile
from k8snet.images import catalogue


def by_kind(objects):
    return {o["kind"]: o for o in objects}


def test_addon_objects_match_kubeadms_shape():
    objs = addon.manifests(addon.corefile("10.1.0.1"))
    assert [o["kind"] for o in objs] == ["ServiceAccount", "ClusterRole", "ClusterRoleBinding",
                                        "ConfigMap", "Service", "Deployment"]
    kinds = by_kind(objs)
    svc = kinds["Service"]
    assert svc["metadata"]["name"] == "kube-dns" and svc["spec"]["clusterIP"] == "10.96.0.10"
    assert {(p["port"], p["protocol"]) for p in svc["spec"]["ports"]} == {
        (53, "UDP"), (53, "TCP"), (9153, "TCP")}
    dep = kinds["Deployment"]
    assert dep["spec"]["replicas"] == 2
    pod = dep["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "coredns" and pod["dnsPolicy"] == "Default"
    anti = pod["affinity"]["podAntiAffinity"]
    assert list(anti) == ["preferredDuringSchedulingIgnoredDuringExecution"]   # one worker
    spread = by_kind(addon.manifests("", workers=2))["Deployment"]["spec"]["template"]["spec"]
    assert list(spread["affinity"]["podAntiAffinity"]) == [
        "requiredDuringSchedulingIgnoredDuringExecution"]
    container = pod["containers"][0]
    assert container["args"] == ["-conf", "/etc/coredns/Corefile"]
    assert container["readinessProbe"]["httpGet"]["port"] == 8181
    rules = kinds["ClusterRole"]["rules"]
    assert {r for rule in rules for r in rule["resources"]} >= {
        "services", "endpointslices", "pods", "namespaces"}
    (cfg,) = corefile.configs(kinds["ConfigMap"]["data"]["Corefile"])
    assert cfg.forward_to == ("10.1.0.1",) and cfg.kubernetes is not None


def test_the_coredns_image_runs_k8snets_dns_server():
    image = catalogue.lookup(addon.IMAGE)
    assert image is not None and image.name == "coredns"
    argv = catalogue.container_argv(image, [], ["-conf", "/etc/coredns/Corefile"])
    ctx = catalogue.HostContext(python="/usr/bin/python3")
    assert catalogue.host_argv(image, argv, ctx) == [
        "/usr/bin/python3", "-m", "k8snet.dns.main", "-conf", "/etc/coredns/Corefile"]


def test_upstream_resolver_answers_example_test_with_the_external_host():
    assert "10.1.0.1\texample.test" in addon.upstream_hosts("10.1.0.1")
    argv = addon.upstream_argv("10.1.0.1", "/run/h", "/run/p")
    assert argv[0] == "dnsmasq" and "--listen-address=10.1.0.1" in argv
    assert "--no-resolv" in argv and "--addn-hosts=/run/h" in argv
