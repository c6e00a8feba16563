"""`k8snet up --masters 3 --store etcd`: three etcd members, three apiservers that
share one CA and one set of credentials, schedulers and controller-managers led
through Leases, and a control plane that outlives its leader master: kubectl
keeps working, Pods keep scheduling and no acknowledged write is lost when every
process of that master is killed."""

import json
import subprocess

import pytest
from cryptography import x509

from k8snet.machinery.client import ApiClient
from k8snet.testbed import masterloss
from k8snet.testbed import state as st
from tests.integration.conftest import k8snet, nothing_left

CLUSTER = "ha1"
MASTERS = ("m1", "m2", "m3")


@pytest.fixture(scope="module")
def cluster():
    k8snet("down", "--name", CLUSTER, check=False)
    k8snet("up", "--detach", "--name", CLUSTER, "--topology", "single", "--workers", "2",
           "--masters", "3", "--store", "etcd", timeout=600)
    try:
        yield st.load_state(CLUSTER)
    finally:
        k8snet("down", "--name", CLUSTER, check=False)
    assert nothing_left(CLUSTER) == {}


def in_node(state, node, *cmd):
    netns = next(n.netns for n in state.nodes if n.name == node)
    return subprocess.run(["ip", "netns", "exec", netns, *cmd], capture_output=True,
                          text=True, timeout=30)


def test_three_members_one_ca_one_token_every_master_named(cluster):
    pki = f"{cluster.dir}/pki"
    with open(f"{pki}/token") as fh:
        token = fh.read().strip()
    members = in_node(cluster, "w1", "curl", "-s", "-X", "POST",
                      "http://10.0.0.1:2379/v3/cluster/member/list", "-d", "{}")
    assert sorted(m["name"] for m in json.loads(members.stdout)["members"]) == list(MASTERS)
    for master in cluster.masters:
        # the cluster's token is good on every apiserver, whose certificate the one CA
        # signed; each certificate names every master (a client failing over from one
        # to another checks the same names)
        out = in_node(cluster, "w1", "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                      "--cacert", f"{pki}/ca.crt", "-H", f"Authorization: Bearer {token}",
                      f"https://{master.ip}:6443/api/v1/namespaces/default")
        assert out.stdout == "200", (master.name, out.stdout, out.stderr)
        with open(f"{cluster.dir}/{master.name}/apiserver/apiserver.crt", "rb") as fh:
            cert = x509.load_pem_x509_certificate(fh.read())
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert {m.ip for m in cluster.masters} | {"10.96.0.1"} <= {
            str(ip) for ip in sans.get_values_for_type(x509.IPAddress)}

def test_bootstrap_objects_once_and_one_leader_each(cluster):
    client = ApiClient.from_kubeconfig(cluster.kubeconfig)
    # a ServiceAccount token one apiserver issued is good on every one (one signing key)
    token = client.create_subresource("serviceaccounts", "default", "token", {
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
        "spec": {}}, "default")["status"]["token"]
    for master in cluster.masters:
        out = in_node(cluster, "w1", "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                      "--cacert", f"{cluster.dir}/pki/ca.crt", "-H",
                      f"Authorization: Bearer {token}", f"https://{master.ip}:6443/apis")
        assert out.stdout == "200", (master.name, out.stdout)
    services = client.list("services", "default")["items"]
    assert [s["spec"]["clusterIP"] for s in services if s["metadata"]["name"] ==
            "kubernetes"] == ["10.96.0.1"]
    # three schedulers and three controller-managers run; one of each leads
    names = [r.name for r in cluster.processes if st.is_alive(r)]
    for component in ("scheduler", "controller-manager", "apiserver", "etcd"):
        assert sorted(n for n in names if n.startswith(component + "@")) == [
            f"{component}@{m}" for m in MASTERS]
    holders = masterloss.lease_holders(client, cluster.processes)
    assert set(holders.values()) <= set(MASTERS) and None not in holders.values(), holders


def test_losing_the_leader_master_keeps_the_cluster_working(cluster):
    out = masterloss.lose_leader_master(cluster, prefix="ha1w")
    print("\n".join(out.lines()))
    assert out.killed and all(name.endswith("@" + out.victim) for name in out.killed)
    assert out.lost == [] and out.acked > 20
    assert out.kubectl_s is not None and out.kubectl_s < 15
    assert out.writes_s is not None and out.write_gap_s < 15
    # the Lease was held for 15 s by the dead leader; a follower takes over after it
    assert out.pod_running_s is not None and out.pod_running_s < 90
    assert out.holders_after["kube-controller-manager"] not in (None, out.victim)
