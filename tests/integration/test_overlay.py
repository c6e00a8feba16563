"""Issue #5's acceptance for overlay mode (VXLAN, Flannel's model) on leaf-spine.

One cluster (2 spines, 2 leaves, w1 under leaf 1, w2 and ext1 under leaf 2)
serves every test here. Commands that must run inside a Pod's network
namespace use the node's own tools (ping, curl, python3) there.
"""

import ipaddress
import json
import os
import re
import subprocess
import time

import pytest

from k8snet.testbed.state import load_state
from tests.integration.conftest import k8snet, nothing_left
from tests.integration.kube import Kubectl, ready, wait_for

CLUSTER = "tov"
AGNHOST = "registry.k8s.io/e2e-test-images/agnhost:2.45"
POD_MTU = 1450


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    k8snet("up", "--detach", "--name", CLUSTER, "--mode", "overlay", "--topology",
           "leaf-spine", "--spines", "2", "--leaves", "2", "--workers", "2", timeout=600)
    try:
        status = json.loads(k8snet("status", "--json", "--name", CLUSTER).stdout)["clusters"][0]
        kubectl = Kubectl(status["kubeconfig"], str(tmp_path_factory.mktemp("home")))
        yield status, kubectl
    finally:
        k8snet("down", "--name", CLUSTER, check=False)
    assert nothing_left(CLUSTER) == {}


def server_pod(name, node):
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": "ovnet"}},
            "spec": {"nodeName": node, "containers": [{
                "name": "agnhost", "image": AGNHOST,
                "args": ["netexec", "--http-port=8080", "--udp-port=8081"],
                "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080},
                                   "periodSeconds": 2}}]}}


@pytest.fixture(scope="module")
def pods(cluster):
    """One agnhost Pod pinned to each worker (different leaves): name -> Pod."""
    _status, kubectl = cluster
    kubectl.apply(server_pod("ov-a", "w1"), server_pod("ov-b", "w2"))
    found = wait_for("2 Ready agnhost Pods", lambda: (
        lambda items: items if len(items) == 2 and all(map(ready, items)) else None)(
        kubectl.pods("app=ovnet")), timeout=180)
    return {p["metadata"]["name"]: p for p in found}


def node_sh(node, *cmd, timeout=30):
    return subprocess.run(["ip", "netns", "exec", f"k8snet-{CLUSTER}-{node}", *cmd],
                          capture_output=True, text=True, timeout=timeout)


def pod_netns_argv(pod):
    """argv prefix running a command in the Pod's network namespace. The
    runtime names it for ``ip netns``; where that bind mount lives in the
    runtime's own mount namespace, enter that first."""
    node = pod["spec"]["nodeName"]
    prefix = f"k8snet-{CLUSTER}-{node}-{pod['metadata']['namespace']}-{pod['metadata']['name']}"
    names = [n for n in os.listdir("/run/netns") if n == prefix or n.startswith(prefix + "-")]
    assert names, f"no netns for Pod {pod['metadata']['name']} ({prefix}*)"
    argv = ["ip", "netns", "exec", sorted(names)[0]]
    if subprocess.run([*argv, "true"], capture_output=True).returncode == 0:
        return argv
    rt = load_state(CLUSTER).process(f"runtime@{node}").pid
    return ["nsenter", f"--mount=/proc/{rt}/ns/mnt", *argv]


def in_pod(pod, *cmd, timeout=30):
    return subprocess.run([*pod_netns_argv(pod), *cmd], capture_output=True, text=True,
                          timeout=timeout)


def ip_of(pod):
    return pod["status"]["podIP"]


UDP_CLIENT = ("import socket,sys; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); "
              "s.settimeout(2); s.sendto(sys.argv[2].encode(),(sys.argv[1],8081)); "
              "print(s.recvfrom(2048)[0].decode())")


def curl(pod, url):
    out = in_pod(pod, "curl", "-s", "-m", "5", url)
    return out.stdout.strip() if out.returncode == 0 else None


def test_mode_shows_and_every_node_has_its_vtep(cluster, pods):
    status, kubectl = cluster
    assert status["mode"] == "overlay"
    shown = kubectl("get", "nodes", "-L", "k8snet.io/network-mode").stdout
    assert shown.count("overlay") == 2
    ips = {n["name"]: n["ip"] for n in status["nodes"]}
    for node in kubectl.json("nodes")["items"]:
        notes = node["metadata"]["annotations"]
        name = node["metadata"]["name"]
        assert notes["k8snet.io/public-ip"] == ips[name]
        link = json.loads(node_sh(name, "ip", "-j", "-d", "link", "show", "k8snet.1").stdout)[0]
        assert link["address"] == notes["k8snet.io/vtep-mac"]
        data = link["linkinfo"]["info_data"]
        assert (data["id"], data["port"], data["local"], data["learning"]) == (
            1, 4789, ips[name], False)
        assert link["mtu"] == POD_MTU
        # br_netfilter on for bridged Pod traffic (kube-proxy's Service NAT).
        assert node_sh(name, "cat", "/proc/sys/net/bridge/bridge-nf-call-iptables"
                       ).stdout.strip() == "1"
    # The master runs no kubelet, yet reaches both workers' Pods through its agent.
    for pod in pods.values():
        out = wait_for(f"m1 reaching {ip_of(pod)}", lambda p=pod: node_sh(
            "m1", "curl", "-s", "-m", "3", f"http://{ip_of(p)}:8080/hostname").stdout, 60)
        assert out == pod["metadata"]["name"]


def test_pod_to_pod_across_leaves_icmp_tcp_udp_without_nat(pods):
    a, b = pods["ov-a"], pods["ov-b"]
    for src, dst in ((a, b), (b, a)):
        assert in_pod(src, "ping", "-c", "2", "-W", "3", ip_of(dst)).returncode == 0
        seen = wait_for(f"/clientip of {dst['metadata']['name']}", lambda s=src, d=dst: curl(
            s, f"http://{ip_of(d)}:8080/clientip"), timeout=30)
        assert seen.rsplit(":", 1)[0] == ip_of(src)
        out = in_pod(src, "python3", "-c", UDP_CLIENT, ip_of(dst), "echo ovudp")
        assert out.returncode == 0 and out.stdout.strip() == "ovudp", out.stderr
        out = in_pod(src, "python3", "-c", UDP_CLIENT, ip_of(dst), "clientip")
        assert out.stdout.strip().rsplit(":", 1)[0] == ip_of(src)


def test_full_size_pod_packet_crosses_one_byte_more_does_not(pods):
    a, b = pods["ov-a"], pods["ov-b"]
    link = in_pod(a, "cat", "/sys/class/net/eth0/mtu").stdout.strip()
    assert int(link) == POD_MTU
    full = in_pod(a, "ping", "-c", "2", "-W", "3", "-M", "do", "-s", str(POD_MTU - 28), ip_of(b))
    assert full.returncode == 0 and " 0% packet loss" in full.stdout, full.stdout + full.stderr
    over = in_pod(a, "ping", "-c", "1", "-W", "3", "-M", "do", "-s", str(POD_MTU - 27), ip_of(b))
    assert over.returncode != 0
    # A full-size TCP transfer (MSS = MTU - 40) crosses too.
    out = in_pod(a, "curl", "-s", "-m", "10", "-o", "/dev/null", "-w", "%{size_download}",
                 f"http://{ip_of(b)}:8080/echo?msg={'x' * 4000}")
    assert out.stdout.strip() == "4000"


def spine_ports():
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    return sorted(set(re.findall(rf"\b(kn{CLUSTER}-s\d+p\d+)[@:]", links)))


def test_spine_capture_shows_vxlan_between_node_addresses(cluster, pods):
    status, _ = cluster
    a, b = pods["ov-a"], pods["ov-b"]
    ips = {n["name"]: n["ip"] for n in status["nodes"]}
    ports = spine_ports()
    assert len(ports) == 4
    caps = [subprocess.Popen(["tcpdump", "-nn", "-l", "-i", port, "-c", "40", "udp port "
                              "4789 or net 10.244.0.0/16"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True) for port in ports]
    try:
        time.sleep(1.5)
        for _ in range(6):   # several flows: ECMP may put each on another spine
            curl(a, f"http://{ip_of(b)}:8080/clientip")
            in_pod(a, "ping", "-c", "1", "-W", "2", ip_of(b))
        time.sleep(1)
    finally:
        for cap in caps:
            cap.terminate()
    text = "".join(cap.communicate(timeout=10)[0] for cap in caps)
    outer = re.findall(r"IP (\d+\.\d+\.\d+\.\d+)\.\d+ > (\d+\.\d+\.\d+\.\d+)\.4789: VXLAN",
                       text)
    assert outer, f"no VXLAN on the spines:\n{text[:2000]}"
    assert {tuple(sorted(p)) for p in outer} == {tuple(sorted((ips["w1"], ips["w2"])))}
    # The Pod packet is inside, addresses untouched.
    assert f"{ip_of(a)}." in text and f"> {ip_of(b)}." in text
    # Never a Pod-to-Pod packet unencapsulated on the fabric. (A Pod's traffic to a
    # node address, e.g. CoreDNS reconnecting to the apiserver during the capture,
    # is routed as it is: the overlay agent does not masquerade to the node network.)
    for line in text.splitlines():
        pair = re.search(r" IP (\d+\.\d+\.\d+\.\d+)\.\d+ > (\d+\.\d+\.\d+\.\d+)\.", line)
        if pair and "VXLAN" not in line and all(
                ipaddress.ip_address(x) in ipaddress.ip_network("10.244.0.0/16")
                for x in pair.groups()):
            pytest.fail(f"unencapsulated Pod-to-Pod packet on a spine: {line}")


def service(svc_type):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "ovsvc"},
            "spec": {"type": svc_type, "selector": {"app": "ovnet"},
                     "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}


def test_clusterip_and_nodeport_reach_endpoints_on_other_nodes(cluster, pods):
    status, kubectl = cluster
    kubectl.apply(service("NodePort"))
    svc = kubectl.json("service", "ovsvc")
    cip, nodeport = svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["nodePort"]
    a = pods["ov-a"]
    seen = set()
    wait_for("both endpoints through the ClusterIP from w1's Pod", lambda: seen.add(
        curl(a, f"http://{cip}/hostname")) or {"ov-a", "ov-b"} <= seen, timeout=60, interval=0.2)
    ips = {n["name"]: n["ip"] for n in status["nodes"]}
    # From outside the cluster, through w1 (leaf 1), an endpoint on w2 answers.
    seen_ext = set()

    def from_ext1():
        out = node_sh("ext1", "curl", "-s", "-m", "3", f"http://{ips['w1']}:{nodeport}/hostname")
        seen_ext.add(out.stdout.strip())
        return "ov-b" in seen_ext
    wait_for("ov-b through w1's NodePort from ext1", from_ext1, timeout=60, interval=0.2)


def test_spine_link_down_keeps_pod_traffic_flowing(cluster, pods):
    a, b = pods["ov-a"], pods["ov-b"]
    # Take spine 1 off leaf 1 (w1's leaf): every w1 flow must leave over spine 2.
    port = f"kn{CLUSTER}-s1p1"
    subprocess.run(["ip", "link", "set", port, "down"], check=True)
    try:
        started = time.monotonic()
        wait_for("Pod-to-Pod TCP after a spine link went down", lambda: all(
            curl(a, f"http://{ip_of(b)}:8080/hostname?n={i}") == "ov-b" for i in range(5)),
            timeout=60, interval=0.2)
        print(f"recovered in {time.monotonic() - started:.2f}s")
        assert in_pod(a, "ping", "-c", "3", "-i", "0.2", "-W", "2", ip_of(b)).returncode == 0
    finally:
        subprocess.run(["ip", "link", "set", port, "up"], check=False)


def routes_on(node):
    out = node_sh(node, "ip", "-j", "route", "show", "dev", "k8snet.1")
    return {r["dst"] for r in json.loads(out.stdout or "[]")}


def test_nodes_coming_and_going_and_entries_repaired(cluster, pods):
    _status, kubectl = cluster
    mac, ip = "0e:11:22:33:44:55", "10.0.0.99"
    kubectl.apply({"apiVersion": "v1", "kind": "Node", "metadata": {
        "name": "ovghost", "annotations": {"k8snet.io/vtep-mac": mac,
                                           "k8snet.io/public-ip": ip}}})
    try:
        cidr = wait_for("a podCIDR for the new Node", lambda: kubectl.json(
            "node", "ovghost").get("spec", {}).get("podCIDR"), timeout=60)
        for node in ("w1", "w2", "m1"):
            wait_for(f"{node} routing {cidr}", lambda n=node: cidr in routes_on(n), timeout=30)
        fdb = node_sh("w1", "bridge", "fdb", "show", "dev", "k8snet.1").stdout
        assert f"{mac} dst {ip}" in fdb
    finally:
        kubectl("delete", "node", "ovghost", "--wait=false", check=False)
    for node in ("w1", "w2", "m1"):
        wait_for(f"{node} forgetting {cidr}", lambda n=node: cidr not in routes_on(n), timeout=30)
    assert mac not in node_sh("w1", "bridge", "fdb", "show", "dev", "k8snet.1").stdout
    # A route removed by hand comes back at the next periodic resync.
    w2_cidr = pods["ov-b"]["status"]["podIP"].rsplit(".", 1)[0] + ".0/24"
    node_sh("w1", "ip", "route", "del", w2_cidr, "dev", "k8snet.1")
    wait_for("w1's route to w2's Pods restored", lambda: w2_cidr in routes_on("w1"), timeout=40)
