"""The cluster DNS add-on, deployed at ``up`` the way kubeadm deploys CoreDNS.

`manifests` is pure: the ServiceAccount ``coredns``, the ClusterRole and
binding ``system:coredns``, the ConfigMap ``coredns`` (the Corefile), the
Service ``kube-dns`` at 10.96.0.10 (UDP/TCP 53, metrics 9153) and the
Deployment ``coredns`` (2 replicas, spread over workers by a preferred Pod
anti-affinity, as kubeadm's). `upstream_argv` is the resolver the testbed
runs on the external host for the ``forward`` plugin: dnsmasq answering
``example.test`` names from a hosts file. `deploy` creates the objects; it
does not wait for the Pods, so ``up`` stays fast.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Sequence

from k8snet.machinery.client import AlreadyExists, ApiClient

DNS_IP = "10.96.0.10"
NAMESPACE = "kube-system"
IMAGE = "registry.k8s.io/coredns/coredns:v1.11.3"
LABELS = {"k8s-app": "kube-dns"}
EXTERNAL_DOMAIN = "example.test"     # what the external host's resolver answers

COREFILE = """\
.:53 {
    errors
    health {
       lameduck 5s
    }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    prometheus :9153
    forward . %(upstream)s {
       max_concurrent 1000
    }
    cache 30
    loop
    reload 2s
    loadbalance
}
"""


def corefile(upstream: str = "/etc/resolv.conf") -> str:
    """kubeadm's Corefile, forwarding to ``upstream`` (reload every 2 s, not 30 s:
    a testbed's users edit and look at once)."""
    return COREFILE % {"upstream": upstream}


def _meta(name: str, namespaced: bool = True, **extra: Any) -> Dict[str, Any]:
    meta: Dict[str, Any] = {"name": name, **extra}
    if namespaced:
        meta["namespace"] = NAMESPACE
    return meta


def manifests(corefile_text: str, dns_ip: str = DNS_IP, replicas: int = 2,
              image: str = IMAGE, workers: int = 1) -> List[Dict[str, Any]]:
    """The add-on's objects, in creation order. With as many workers as replicas,
    the anti-affinity is required, not kubeadm's preferred: the replicas are
    created while workers turn Ready one by one, and "preferred" would put
    both on the first Ready one."""
    rbac = "rbac.authorization.k8s.io/v1"
    read = ["list", "watch"]
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta("coredns")},
        {"apiVersion": rbac, "kind": "ClusterRole",
         "metadata": _meta("system:coredns", False),
         "rules": [{"apiGroups": [""], "resources": ["endpoints", "services", "pods",
                                                      "namespaces"], "verbs": read},
                   {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"],
                    "verbs": read}]},
        {"apiVersion": rbac, "kind": "ClusterRoleBinding",
         "metadata": _meta("system:coredns", False),
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                     "name": "system:coredns"},
         "subjects": [{"kind": "ServiceAccount", "name": "coredns",
                       "namespace": NAMESPACE}]},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta("coredns"),
         "data": {"Corefile": corefile_text}},
        {"apiVersion": "v1", "kind": "Service",
         "metadata": _meta("kube-dns", labels={**LABELS, "kubernetes.io/name": "CoreDNS"},
                           annotations={"prometheus.io/port": "9153",
                                        "prometheus.io/scrape": "true"}),
         "spec": {"clusterIP": dns_ip, "selector": dict(LABELS), "ports": [
             {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
             {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
             {"name": "metrics", "port": 9153, "protocol": "TCP", "targetPort": 9153}]}},
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": _meta("coredns", labels=dict(LABELS)),
         "spec": {"replicas": replicas, "selector": {"matchLabels": dict(LABELS)},
                  "strategy": {"type": "RollingUpdate",
                               "rollingUpdate": {"maxUnavailable": 1}},
                  "template": {"metadata": {"labels": dict(LABELS)},
                               "spec": _pod_spec(image, workers >= replicas)}}},
    ]


def _pod_spec(image: str, spread_required: bool) -> Dict[str, Any]:
    term = {"labelSelector": {"matchExpressions": [
        {"key": "k8s-app", "operator": "In", "values": ["kube-dns"]}]},
        "topologyKey": "kubernetes.io/hostname"}
    anti = ({"requiredDuringSchedulingIgnoredDuringExecution": [term]} if spread_required
            else {"preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 100, "podAffinityTerm": term}]})
    return {
        "serviceAccountName": "coredns",
        "dnsPolicy": "Default",
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "affinity": {"podAntiAffinity": anti},
        "tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"},
                        {"key": "node-role.kubernetes.io/control-plane",
                         "effect": "NoSchedule"}],
        "containers": [{
            "name": "coredns", "image": image, "imagePullPolicy": "IfNotPresent",
            "args": ["-conf", "/etc/coredns/Corefile"],
            "resources": {"requests": {"cpu": "100m", "memory": "70Mi"},
                          "limits": {"memory": "170Mi"}},
            "volumeMounts": [{"name": "config-volume", "mountPath": "/etc/coredns",
                              "readOnly": True}],
            "ports": [{"name": "dns", "containerPort": 53, "protocol": "UDP"},
                      {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"},
                      {"name": "metrics", "containerPort": 9153, "protocol": "TCP"}],
            "livenessProbe": {"httpGet": {"path": "/health", "port": 8080},
                              "initialDelaySeconds": 60, "timeoutSeconds": 5,
                              "failureThreshold": 5},
            "readinessProbe": {"httpGet": {"path": "/ready", "port": 8181},
                               "periodSeconds": 2, "timeoutSeconds": 1}}],
        "volumes": [{"name": "config-volume", "configMap": {
            "name": "coredns", "items": [{"key": "Corefile", "path": "Corefile"}]}}],
    }


def deploy(client: ApiClient, objects: Sequence[Dict[str, Any]],
           log: Optional[logging.Logger] = None) -> List[str]:
    """Create each object (one that exists already is left as it is); their names."""
    log = log or logging.getLogger("k8snet.dns")
    created = []
    for obj in objects:
        ns = obj["metadata"].get("namespace")
        try:
            client.create(obj["kind"], obj, namespace=ns)
            created.append(f"{obj['kind']}/{obj['metadata']['name']}")
        except AlreadyExists:
            log.info("%s/%s exists already", obj["kind"], obj["metadata"]["name"])
    return created


def upstream_hosts(external_ip: str) -> str:
    """The external resolver's hosts file: names outside the cluster."""
    return (f"{external_ip}\t{EXTERNAL_DOMAIN} www.{EXTERNAL_DOMAIN}\n"
            f"{external_ip}\text1.{EXTERNAL_DOMAIN}\n")


def upstream_argv(listen_ip: str, hosts_file: str, pid_file: str) -> List[str]:
    """dnsmasq on the external host: authoritative-ish for example.test from
    ``hosts_file``, NXDOMAIN for every other name (nothing is forwarded anywhere)."""
    return ["dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts",
            f"--addn-hosts={hosts_file}", f"--listen-address={listen_ip}",
            "--bind-interfaces", "--user=root", "--group=root", f"--pid-file={pid_file}",
            "--log-facility=-", "--local=/#/", "--cache-size=0", "--port=53"]
