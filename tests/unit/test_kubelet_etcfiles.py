"""/etc/hosts, /etc/hostname and /etc/resolv.conf contents as the kubelet writes them."""

from k8snet.kubelet import etcfiles

NODE_RESOLV = "# node\nnameserver 10.255.255.53\nsearch corp.example\noptions edns0\n"


def pod(**spec):
    return {"metadata": {"name": "web-0", "namespace": "shop"}, "spec": spec}


def test_hosts_with_own_name_subdomain_and_aliases():
    text = etcfiles.hosts_file(pod(hostname="web-0", subdomain="nginx", hostAliases=[
        {"ip": "127.0.0.1", "hostnames": ["foo.local", "bar.local"]},
        {"ip": "10.1.2.3", "hostnames": ["foo.remote"]}]), ["10.244.1.5"])
    lines = text.splitlines()
    assert lines[0] == "# Kubernetes-managed hosts file."
    assert "127.0.0.1\tlocalhost" in lines and "::1\tlocalhost ip6-localhost ip6-loopback" in lines
    assert "10.244.1.5\tweb-0.nginx.shop.svc.cluster.local\tweb-0" in lines
    assert lines[-4:] == ["", "# Entries added by HostAliases.",
                          "127.0.0.1\tfoo.local\tbar.local", "10.1.2.3\tfoo.remote"]
    plain = etcfiles.hosts_file(pod(), ["10.244.1.6"])
    assert plain.endswith("fe00::2\tip6-allrouters\n10.244.1.6\tweb-0\n")
    node = etcfiles.hosts_file(pod(hostNetwork=True), ["10.0.0.2"], "127.0.0.1 localhost\n")
    assert node == "127.0.0.1 localhost\n"


def test_hostname_file():
    assert etcfiles.hostname_file(pod()) == "web-0\n"
    assert etcfiles.hostname_file(pod(hostname="h", subdomain="s")) == "h\n"
    assert etcfiles.hostname_file(pod(hostname="h", subdomain="s", setHostnameAsFQDN=True)) == \
        "h.s.shop.svc.cluster.local\n"
    long = {"metadata": {"name": "a" * 62 + "-b", "namespace": "n"}, "spec": {}}
    assert etcfiles.hostname_file(long) == "a" * 62 + "\n"


def test_resolv_cluster_first_default_none_and_dns_config():
    assert etcfiles.resolv_conf(pod(), NODE_RESOLV) == (
        "search shop.svc.cluster.local svc.cluster.local cluster.local corp.example\n"
        "nameserver 10.96.0.10\noptions ndots:5\n")
    assert etcfiles.resolv_conf(pod(dnsPolicy="Default"), NODE_RESOLV) == (
        "search corp.example\nnameserver 10.255.255.53\noptions edns0\n")
    assert etcfiles.resolv_conf(pod(hostNetwork=True), NODE_RESOLV).startswith(
        "search corp.example\nnameserver 10.255.255.53")
    assert "nameserver 10.96.0.10" in etcfiles.resolv_conf(
        pod(hostNetwork=True, dnsPolicy="ClusterFirstWithHostNet"), NODE_RESOLV)
    none = etcfiles.resolv_conf(pod(dnsPolicy="None", dnsConfig={
        "nameservers": ["192.0.2.1"], "searches": ["ns1.svc.cluster-domain.example",
                                                   "my.dns.search.suffix"],
        "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]}), NODE_RESOLV)
    assert none == ("search ns1.svc.cluster-domain.example my.dns.search.suffix\n"
                    "nameserver 192.0.2.1\noptions ndots:2 edns0\n")
    merged = etcfiles.resolv_conf(pod(dnsConfig={"options": [{"name": "ndots", "value": "1"}],
                                                 "nameservers": ["10.96.0.10", "1.1.1.1"]}),
                                  "")
    assert merged == ("search shop.svc.cluster.local svc.cluster.local cluster.local\n"
                      "nameserver 10.96.0.10\nnameserver 1.1.1.1\noptions ndots:1\n")


def test_cluster_dns_and_domain_are_settings():
    text = etcfiles.resolv_conf(pod(), "", ["10.0.0.10", "10.0.0.11"], "k8s.example")
    assert text == ("search shop.svc.k8s.example svc.k8s.example k8s.example\n"
                    "nameserver 10.0.0.10\nnameserver 10.0.0.11\noptions ndots:5\n")
    hosts = etcfiles.hosts_file(pod(hostname="h", subdomain="s"), ["10.244.1.5"],
                                cluster_domain="k8s.example")
    assert "10.244.1.5\th.s.shop.svc.k8s.example\th\n" in hosts
