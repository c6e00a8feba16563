"""Add-ons the testbed deploys at ``up`` after the apiserver answers, as
kubeadm does: cluster DNS (k8snet.dns.addon) and, on the external host, the
upstream resolver its ``forward`` plugin uses. Nothing here waits for the
add-on's Pods: they start while the nodes come up."""

from __future__ import annotations

import os
import shutil
from typing import Callable, Optional

from k8snet.dns import addon
from k8snet.machinery.client import ApiClient
from k8snet.testbed.components import Component, node_dir
from k8snet.testbed.state import NodeInfo


def dns_upstream(node: NodeInfo, cluster_dir: str) -> Component:
    """dnsmasq on the external host, answering example.test names with its address."""
    ndir = node_dir(cluster_dir, node.name)
    hosts = os.path.join(ndir, "dns-hosts")
    return Component(node.name, "dns-upstream",
                     addon.upstream_argv(node.ip, hosts, os.path.join(ndir, "dnsmasq.pid")),
                     log=os.path.join(ndir, "dns-upstream.log"))


def deploy_dns(client: ApiClient, external: Optional[NodeInfo], workers: int,
               cluster_dir: str, start: Callable[[Component], None]) -> str:
    """Start the upstream resolver (when there is an external host and dnsmasq)
    and create the DNS add-on's objects; a line for the progress output."""
    upstream = "/etc/resolv.conf"
    if external is not None and shutil.which("dnsmasq"):
        comp = dns_upstream(external, cluster_dir)
        os.makedirs(os.path.dirname(comp.log), exist_ok=True)
        with open(os.path.join(os.path.dirname(comp.log), "dns-hosts"), "w") as fh:
            fh.write(addon.upstream_hosts(external.ip))
        start(comp)
        upstream = external.ip
    addon.deploy(client, addon.manifests(addon.corefile(upstream), workers=workers))
    return (f"cluster DNS: Service kube-dns {addon.DNS_IP}, Deployment kube-system/coredns "
            f"(forward to {upstream})")
