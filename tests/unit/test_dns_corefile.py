"""Corefile parsing: server blocks, directives, sub-blocks, errors with line numbers."""

import pytest

from k8snet.dns import addon, corefile
from k8snet.dns.corefile import CorefileError

KUBEADM = addon.corefile("10.1.0.1")


def test_kubeadm_corefile_gives_every_plugin_setting():
    (cfg,) = corefile.configs(KUBEADM)
    assert cfg.zones == (".",) and cfg.port == 53
    k = cfg.kubernetes
    assert k.zones == ("cluster.local.", "in-addr.arpa.", "ip6.arpa.")
    assert k.pods == "insecure" and k.ttl == 30
    assert k.fallthrough == ("in-addr.arpa.", "ip6.arpa.")
    assert cfg.forward_from == "." and cfg.forward_to == ("10.1.0.1",)
    assert cfg.cache_ttl == 30 and cfg.reload == 2.0
    assert cfg.health == "0.0.0.0:8080" and cfg.ready == "0.0.0.0:8181"
    assert cfg.prometheus == "0.0.0.0:9153"
    assert cfg.errors and cfg.loop and cfg.loadbalance and not cfg.log
    assert cfg.ignored == ()


def test_unknown_plugins_are_listed_not_refused():
    (cfg,) = corefile.configs(".:1053 {\n  whoami\n  rewrite name a b\n  log\n}\n")
    assert cfg.port == 1053 and cfg.ignored == ("whoami", "rewrite") and cfg.log


def test_comments_quotes_and_several_blocks():
    text = """# top comment
cluster.local:5300 example.org:5300 {   # trailing comment
    kubernetes {
        fallthrough
    }
    hosts {
        10.0.0.9 "db.example.org"
    }
}
.:53 {
    forward . 8.8.8.8:5353 /etc/resolv.conf
}
"""
    blocks = corefile.parse(text)
    assert [b.zones for b in blocks] == [("cluster.local.", "example.org."), (".",)]
    first, second = corefile.server_config(blocks[0]), corefile.server_config(blocks[1])
    assert first.port == 5300 and first.kubernetes.zones == ("cluster.local.", "example.org.")
    assert first.kubernetes.fallthrough == () and first.kubernetes.falls_through("x.y.")
    assert first.hosts == (("db.example.org.", "10.0.0.9"),)
    assert second.forward_to == ("8.8.8.8:5353", "/etc/resolv.conf")


@pytest.mark.parametrize("text, words", [
    (".:53 {\n  errors\n", "missing '}'"),
    ("errors\n}\n", "line 2: '}' without a block"),
    (".:53\n", "has no '{ ... }' block"),
    ("{\n}\n", "needs a server key"),
    (".:99999 {\n}\n", "line 1: bad port"),
    (".:53 {\n  kubernetes {\n    pods maybe\n  }\n}\n", "line 3: pods takes"),
    (".:53 {\n  kubernetes {\n    ttl -1\n  }\n}\n", "line 3: ttl takes"),
    (".:53 {\n  forward .\n}\n", "line 2: forward needs"),
    (".:53 {\n  reload soon\n}\n", "line 2: bad duration"),
    ("", "no server block"),
])
def test_errors_name_the_line(text, words):
    with pytest.raises(CorefileError, match=words):
        corefile.configs(text)


def test_reload_never_faster_than_two_seconds_and_zone_helpers():
    (cfg,) = corefile.configs(".:53 {\n  reload 500ms\n}\n")
    assert cfg.reload == 2.0
    assert corefile.in_zone("a.b.cluster.local.", "cluster.local.")
    assert not corefile.in_zone("xcluster.local.", "cluster.local.")
    assert corefile.in_zone("anything.", ".")
    assert corefile.normalise_zone("dns://Cluster.Local") == "cluster.local."
