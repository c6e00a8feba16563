"""The files each container sees at /etc/hosts, /etc/hostname and /etc/resolv.conf (pure).

Contents follow the kubelet (hosts file with the Pod's own name and
hostAliases; resolv.conf from dnsPolicy and dnsConfig) and the runtime
(hostname file). The effects layer writes them per Pod and the runtime
bind-mounts them in each container's mount namespace.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Sequence, Tuple

CLUSTER_DNS = ("10.96.0.10",)
CLUSTER_DOMAIN = "cluster.local"
MAX_NAMESERVERS = 3
MAX_SEARCHES = 32

_HOSTS_HEADER = ("# Kubernetes-managed hosts file.\n"
                 "127.0.0.1\tlocalhost\n"
                 "::1\tlocalhost ip6-localhost ip6-loopback\n"
                 "fe00::0\tip6-localnet\n"
                 "fe00::0\tip6-mcastprefix\n"
                 "fe00::1\tip6-allnodes\n"
                 "fe00::2\tip6-allrouters\n")


def pod_hostname(pod: Mapping[str, Any], cluster_domain: str = CLUSTER_DOMAIN
                 ) -> Tuple[str, str]:
    """(hostname, FQDN or '') as the kubelet computes them (hostname truncated to 63)."""
    meta, spec = pod.get("metadata", {}), pod.get("spec", {})
    hostname = (spec.get("hostname") or meta.get("name", ""))[:63].rstrip("-.")
    sub = spec.get("subdomain") or ""
    fqdn = f"{hostname}.{sub}.{meta.get('namespace', '')}.svc.{cluster_domain}" if sub else ""
    return hostname, fqdn


def hostname_file(pod: Mapping[str, Any], cluster_domain: str = CLUSTER_DOMAIN) -> str:
    hostname, fqdn = pod_hostname(pod, cluster_domain)
    if fqdn and pod.get("spec", {}).get("setHostnameAsFQDN"):
        return fqdn + "\n"
    return hostname + "\n"


def hosts_file(pod: Mapping[str, Any], pod_ips: Sequence[str], node_hosts: str = "",
               cluster_domain: str = CLUSTER_DOMAIN) -> str:
    """The Pod's /etc/hosts (for hostNetwork Pods: the node's, plus hostAliases)."""
    spec = pod.get("spec", {})
    if spec.get("hostNetwork"):
        text = node_hosts if node_hosts.endswith("\n") or not node_hosts else node_hosts + "\n"
    else:
        hostname, fqdn = pod_hostname(pod, cluster_domain)
        text = _HOSTS_HEADER
        for ip in pod_ips:
            text += f"{ip}\t{fqdn}\t{hostname}\n" if fqdn else f"{ip}\t{hostname}\n"
    aliases = spec.get("hostAliases") or []
    if aliases:
        text += "\n# Entries added by HostAliases.\n"
        for alias in aliases:
            text += f"{alias.get('ip', '')}\t" + "\t".join(alias.get("hostnames") or []) + "\n"
    return text


def parse_resolv(text: str) -> Tuple[List[str], List[str], List[str]]:
    """(nameservers, search domains, options) of a resolv.conf."""
    servers: List[str] = []
    search: List[str] = []
    options: List[str] = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split(";", 1)[0].split()
        if not words:
            continue
        if words[0] == "nameserver" and len(words) > 1:
            servers.append(words[1])
        elif words[0] in ("search", "domain"):
            search = words[1:]
        elif words[0] == "options":
            options += words[1:]
    return servers, search, options


def _merge_options(base: List[str], extra: List[Mapping[str, Any]]) -> List[str]:
    """Options by name; dnsConfig's replace the same name's (ndots:5 + ndots 2 -> ndots:2)."""
    merged: Dict[str, str] = {}
    for opt in base:
        name, _, value = opt.partition(":")
        merged[name] = opt
    for opt in extra:
        name = opt.get("name", "")
        merged[name] = f"{name}:{opt['value']}" if opt.get("value") not in (None, "") else name
    return list(merged.values())


def _dedup(items: List[str]) -> List[str]:
    return list(dict.fromkeys(items))


def resolv_conf(pod: Mapping[str, Any], node_resolv: str,
                cluster_dns: Sequence[str] = CLUSTER_DNS,
                cluster_domain: str = CLUSTER_DOMAIN) -> str:
    """The Pod's /etc/resolv.conf from dnsPolicy and dnsConfig, as the kubelet writes it."""
    spec = pod.get("spec", {})
    ns = pod.get("metadata", {}).get("namespace", "")
    policy = spec.get("dnsPolicy") or "ClusterFirst"
    host_net = bool(spec.get("hostNetwork"))
    node_servers, node_search, node_options = parse_resolv(node_resolv)
    if policy == "None":
        servers, search, options = [], [], []
    elif policy == "ClusterFirstWithHostNet" or (policy == "ClusterFirst" and not host_net):
        servers = list(cluster_dns)
        search = [f"{ns}.svc.{cluster_domain}", f"svc.{cluster_domain}", cluster_domain,
                  *node_search]
        options = ["ndots:5"]
    else:  # Default, or ClusterFirst for a hostNetwork Pod
        servers, search, options = node_servers, node_search, node_options
    cfg = spec.get("dnsConfig") or {}
    servers = _dedup(servers + list(cfg.get("nameservers") or []))[:MAX_NAMESERVERS]
    search = _dedup(search + list(cfg.get("searches") or []))[:MAX_SEARCHES]
    options = _merge_options(options, cfg.get("options") or [])
    lines = []
    if search:
        lines.append("search " + " ".join(search))
    lines += [f"nameserver {s}" for s in servers]
    if options:
        lines.append("options " + " ".join(options))
    return "\n".join(lines) + "\n"


def etc_mounts(files: Mapping[str, str]) -> List[Dict[str, Any]]:
    """CRI Mounts for the written files: {'hosts': path, 'hostname': ..., 'resolv.conf': ...}."""
    return [{"container_path": f"/etc/{name}", "host_path": path, "readonly": False}
            for name, path in sorted(files.items())]
