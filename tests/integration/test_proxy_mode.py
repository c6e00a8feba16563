"""`k8snet up --proxy-mode nftables`: every worker's kube-proxy programs the
Services as nftables rules (no iptables rules), and a ClusterIP answers from
each worker and from a Pod."""

import json

from k8snet.proxy.render_nft import FAMILY, TABLE
from tests.integration.conftest import k8snet, nothing_left
from tests.integration.kube import (
    Kubectl,
    PodShell,
    agnhost_deployment,
    ready,
    service,
    wait_for,
)

CLUSTER = "tbnft"


def node_exec(node, *cmd):
    return k8snet("exec", "--name", CLUSTER, node, "--", *cmd, check=False, timeout=60)


def test_nftables_kube_proxy_on_every_worker_and_a_clusterip_works(cluster_factory, tmp_path):
    status = cluster_factory(CLUSTER, "--topology", "single", "--workers", "2",
                             "--proxy-mode", "nftables")
    assert status["proxy_mode"] == "nftables"
    assert "kube-proxy nftables" in k8snet("status", "--name", CLUSTER).stdout
    kubectl = Kubectl(status["kubeconfig"], str(tmp_path))
    kubectl.apply(agnhost_deployment("web", 2), service("web", {"app": "web"}))
    pods = wait_for("2 Ready web Pods", lambda: (
        lambda items: items if len(items) == 2 and all(map(ready, items)) else None)(
        kubectl.pods("app=web")), timeout=180)
    names = {p["metadata"]["name"] for p in pods}
    cluster_ip = kubectl.json("service", "web")["spec"]["clusterIP"]

    for worker in ("w1", "w2"):
        # the Service is in the worker's nftables table, with its endpoints ...
        table = wait_for(f"{cluster_ip} in {worker}'s nftables", lambda w=worker: (
            lambda out: out if cluster_ip in out and all(
                p["status"]["podIP"] in out for p in pods) else None)(
            node_exec(w, "nft", "list", "table", FAMILY, TABLE).stdout), timeout=60)
        assert f"dnat to {pods[0]['status']['podIP']}:8080" in table
        # ... and iptables carries no Service rules at all
        rules = node_exec(worker, "iptables-save", "-t", "nat").stdout
        assert "KUBE-SERVICES" not in rules and cluster_ip not in rules, rules
        # the ClusterIP answers from the node, from the Service's Pods
        answers = {node_exec(worker, "curl", "-s", "-m", "3",
                             f"http://{cluster_ip}/hostname").stdout.strip()
                   for _ in range(8)}
        assert answers and answers <= names, answers

    # and from a Pod, through its own node's nftables rules
    answer = PodShell(CLUSTER).dial(pods[0]["metadata"]["name"], cluster_ip, 80, "http",
                                    "hostname")
    assert answer in names

    k8snet("down", "--name", CLUSTER)
    assert nothing_left(CLUSTER) == {}
    assert json.loads(k8snet("status", "--json", "--name", CLUSTER).stdout)["clusters"] == []
