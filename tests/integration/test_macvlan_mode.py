"""Macvlan mode end to end (issue #5, the third mode): a real cluster on leaf-spine (2 spines,
2 leaves), agnhost Pods on w1 (leaf 1) and w2 (leaf 2), driven with the real kubectl and
`k8snet exec`.

What a user would see: every Pod is a macvlan child of its node's fabric interface; Pods
reach each other over ICMP, TCP and UDP with their own Pod IPs as sources; the kubelet's
readiness probes reach them (node -> local Pod through the node's macvlan shim); a
spine link carries plain Pod packets, no encapsulation; each switch holds one /32 entry
per Pod, and an entry goes with its Pod; a ClusterIP Service reaches endpoints on the
other node and on the same node, a NodePort from the host outside the cluster too; a spine
link going down keeps Pod-to-Pod traffic flowing (the loss is printed with -s).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import pytest

from k8snet import naming
from k8snet.fabric.specs import COOKIE_POD_ROUTE
from tests.integration.conftest import k8snet
from tests.integration.kube import Kubectl, PodShell, ready, wait_for

pytestmark = pytest.mark.root

CLUSTER = "tmvl"
IN_POD = PodShell(CLUSTER)
pexec, http_get, dial, ping = IN_POD.run, IN_POD.http_get, IN_POD.dial, IN_POD.ping
IMAGE = "registry.k8s.io/e2e-test-images/agnhost:2.45"
PODS = {"a1": "w1", "a2": "w2", "a3": "w1"}


def pod(name: str, node: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": "mv", "side": node}},
            "spec": {"nodeSelector": {"kubernetes.io/hostname": node},
                     "containers": [{"name": "agnhost", "image": IMAGE,
                                     "args": ["netexec", "--http-port=8080",
                                              "--udp-port=8081"],
                                     "readinessProbe": {"httpGet": {"path": "/healthz",
                                                                    "port": 8080},
                                                        "periodSeconds": 2}}]}}


def service(name: str, side: str, svc_type: str) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"type": svc_type, "selector": {"side": side},
                     "ports": [{"name": "http", "port": 80, "targetPort": 8080,
                                "protocol": "TCP"}]}}


def pod_flows(switch: str) -> list[str]:
    out = subprocess.run(["ovs-ofctl", "-O", "OpenFlow13", "dump-flows", switch],
                         capture_output=True, text=True, check=True, timeout=30).stdout
    return [ln for ln in out.splitlines() if f"cookie={COOKIE_POD_ROUTE:#x}" in ln]


def flow_ips(switch: str) -> list[str]:
    return sorted(re.search(r"nw_dst=([0-9.]+)", ln).group(1) for ln in pod_flows(switch))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """The leaf-spine macvlan cluster with agnhost Pods a1, a3 on w1 and a2 on w2."""
    home = tmp_path_factory.mktemp("kubectl")
    try:
        k8snet("up", "--detach", "--name", CLUSTER, "--topology", "leaf-spine", "--spines",
               "2", "--leaves", "2", "--workers", "2", "--mode", "macvlan", timeout=600)
        state = json.loads(k8snet("status", "--json", "--name", CLUSTER).stdout)["clusters"][0]
        kube = Kubectl(f"{naming.state_dir(CLUSTER)}/kubeconfig", str(home))
        kube.apply(*(pod(n, w) for n, w in PODS.items()))
        pods = {n: wait_for(f"pod {n} Ready (its readiness probe passes)", lambda n=n: (
            lambda p: p if ready(p) and p["status"].get("podIP") else None)(
            kube.json("pod", n)), timeout=180) for n in PODS}
        with open(state["controller"]["facts"]) as fh:
            facts = json.load(fh)
        yield {"state": state, "kube": kube, "facts": facts,
               "ip": {n: p["status"]["podIP"] for n, p in pods.items()},
               "node": {n: p["spec"]["nodeName"] for n, p in pods.items()}}
    finally:
        k8snet("down", "--name", CLUSTER, check=False)


def test_kubectl_and_status_show_the_mode(cluster):
    labels = cluster["kube"]("get", "nodes", "--show-labels").stdout
    assert labels.count("k8snet.io/network-mode=macvlan") == 2, labels
    assert "mode macvlan" in k8snet("status", "--name", CLUSTER).stdout
    assert cluster["state"]["mode"] == "macvlan"


def test_pods_are_macvlan_children_on_workers_under_different_leaves(cluster):
    where = {h["name"]: h["switch"] for h in cluster["facts"]["hosts"]}
    assert cluster["node"] == PODS and where["w1"] != where["w2"]
    # the Pod's eth0, seen with iproute2 from its sandbox namespace (busybox ip has no -d)
    node_ns = naming.node_netns(CLUSTER, "w1")
    links = {}
    for ns in os.listdir("/run/netns"):
        if ns.startswith(node_ns + "-"):
            out = subprocess.run(["ip", "-n", ns, "-d", "-j", "addr", "show", "eth0"],
                                 capture_output=True, text=True, timeout=30)
            for link in json.loads(out.stdout or "[]"):
                if any(a.get("local") == cluster["ip"]["a1"] for a in link["addr_info"]):
                    links[ns] = link
    assert len(links) == 1, links
    (link,) = links.values()
    assert link["linkinfo"]["info_kind"] == "macvlan", link
    assert link["linkinfo"]["info_data"]["mode"] == "bridge", link
    # default route to the Pod gateway (answered by the fabric), Services via the node shim
    routes = pexec("a1", "ip", "route").stdout
    assert re.search(r"default via 10\.244\.\d+\.1 dev eth0", routes), routes
    assert re.search(r"10\.96\.0\.0/12 via 10\.244\.\d+\.254 dev eth0", routes), routes


@pytest.mark.parametrize("src,dst", [(s, d) for s in PODS for d in PODS if s != d])
def test_every_pod_reaches_every_other_pod_with_its_own_ip(cluster, src, dst):
    ips = cluster["ip"]
    sent, received, _ = wait_for(f"{src} pings {dst}", lambda: (
        lambda r: r if r[1] == r[0] else None)(ping(src, ips[dst])), timeout=60)
    assert received == sent
    seen = http_get(src, f"http://{ips[dst]}:8080/clientip")
    assert seen.rsplit(":", 1)[0] == ips[src]
    assert dial(src, ips[dst], 8081, "udp", "clientip").rsplit(":", 1)[0] == ips[src]


def leaf1_uplinks(cluster) -> list[str]:
    facts = cluster["facts"]
    leaf = next(h["switch"] for h in facts["hosts"] if h["name"] == "w1")
    return [naming.switch_port_name(leaf, ln["a_port"] if ln["a"] == leaf else ln["b_port"])
            for ln in facts["links"] if leaf in (ln["a"], ln["b"])]


def test_spine_link_carries_plain_pod_packets(cluster):
    a1, a2 = cluster["ip"]["a1"], cluster["ip"]["a2"]
    procs = {i: subprocess.Popen(["timeout", "15", "tcpdump", "-l", "-nn", "-v", "-e", "-c",
                                  "2", "-i", i, f"icmp and host {a1} and host {a2}"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in leaf1_uplinks(cluster)}
    try:
        time.sleep(1.5)  # let tcpdump open its sockets
        ping("a1", a2)
        texts = {i: p.communicate(timeout=30)[0] for i, p in procs.items()}
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
    used = [t for t in texts.values() if f"{a1} > {a2}: ICMP echo request" in t]
    assert used, f"no echo request seen on leaf 1's spine links: {texts}"
    text = used[0]
    assert "ethertype IPv4" in text and "4789" not in text and "VXLAN" not in text
    assert re.search(r"02:4b:fe:[0-9a-f:]{8} > 02:4b:fe:[0-9a-f:]{8}, ethertype IPv4", text)
    # no node routes a macvlan Pod's packet: only leaf 1 took a TTL off so far
    ttls = re.findall(rf"ttl (\d+),[^\n]*\n\s+{re.escape(a1)} > {re.escape(a2)}: ICMP echo "
                      "request", text)
    assert ttls and set(ttls) == {"63"}, text


def pod_network_ips(kube) -> list[str]:
    """Every Pod address on the Pod network, in every namespace (the test's Pods and
    the add-ons', e.g. CoreDNS): the ones the fabric routes by /32."""
    return sorted(p["status"]["podIP"] for p in kube.json("pods", "-A")["items"]
                  if p["status"].get("podIP") and not p["spec"].get("hostNetwork"))


def test_one_flow_entry_per_pod_on_every_switch_and_it_goes_with_the_pod(cluster):
    kube, switches = cluster["kube"], [s["name"] for s in cluster["state"]["switches"]]
    assert set(cluster["ip"].values()) <= set(pod_network_ips(kube))
    for sw in switches:
        assert wait_for(f"{sw} holds one /32 per Pod",
                        lambda sw=sw: flow_ips(sw) == pod_network_ips(kube), timeout=30)
    kube.apply(pod("a4", "w2"))
    a4 = wait_for("pod a4 Ready", lambda: (lambda p: p if ready(p) else None)(
        kube.json("pod", "a4")), timeout=120)["status"]["podIP"]
    for sw in switches:
        wait_for(f"{sw} routes a4", lambda sw=sw: a4 in flow_ips(sw)
                 and flow_ips(sw) == pod_network_ips(kube), timeout=30)
    assert http_get("a1", f"http://{a4}:8080/hostname") == "a4"
    kube("delete", "pod", "a4", "--wait=true", timeout=120)
    for sw in switches:
        wait_for(f"{sw} forgets a4", lambda sw=sw: a4 not in flow_ips(sw)
                 and flow_ips(sw) == pod_network_ips(kube), timeout=30)


def test_services_reach_endpoints_on_the_other_node_and_the_same_node(cluster):
    kube = cluster["kube"]
    kube.apply(service("mv-w2", "w2", "ClusterIP"), service("mv-np", "w2", "NodePort"),
               service("mv-w1", "w1", "ClusterIP"))
    for name in ("mv-w2", "mv-np", "mv-w1"):
        wait_for(f"endpoints of {name}", lambda n=name: kube.json("endpoints", n).get("subsets"))
    remote = kube.json("service", "mv-w2")["spec"]["clusterIP"]
    local = kube.json("service", "mv-w1")["spec"]["clusterIP"]
    assert wait_for("ClusterIP, endpoint on the other node", lambda: http_get(
        "a1", f"http://{remote}/hostname") == "a2", timeout=60)
    # endpoints a1 and a3 share a1's node: DNAT on the node, back through its shim
    seen = {http_get("a1", f"http://{local}/hostname") for _ in range(12)}
    assert seen <= {"a1", "a3"} and seen, seen
    port = next(p["nodePort"] for p in kube.json("service", "mv-np")["spec"]["ports"])
    w1 = next(n["ip"] for n in cluster["state"]["nodes"] if n["name"] == "w1")

    def from_ext1() -> str:
        out = k8snet("exec", "--name", CLUSTER, "ext1", "--", "curl", "-sS", "-m", "5",
                     f"http://{w1}:{port}/hostname", check=False)
        return out.stdout.strip()

    assert wait_for("NodePort on w1 from ext1", lambda: from_ext1() == "a2", timeout=60)


def test_spine_link_down_keeps_pod_to_pod_flowing(cluster):
    a2 = cluster["ip"]["a2"]
    uplinks = leaf1_uplinks(cluster)
    victim = None
    for iface in uplinks:  # the uplink a1 -> a2 uses (ECMP picks one per flow)
        proc = subprocess.Popen(["timeout", "10", "tcpdump", "-l", "-nn", "-c", "1", "-i", iface,
                                 f"icmp and host {a2}"], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
        time.sleep(1.5)
        ping("a1", a2, count=3)
        if a2 in proc.communicate(timeout=30)[0]:
            victim = iface
            break
    assert victim, f"ping a1 -> a2 crossed none of {uplinks}"
    interval, count = 0.02, 300
    flood = subprocess.Popen(
        [sys.executable, "-m", "k8snet.cli", "exec", "--name", CLUSTER, "--timeout", "60", "a1",
         "--", "ping", "-q", "-i", str(interval), "-c", str(count), "-W", "1", a2],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(2)
        subprocess.run(["ip", "link", "set", victim, "down"], check=True)
        out, _ = flood.communicate(timeout=120)
        m = re.search(r"(\d+) packets transmitted, (\d+) packets received", out)
        assert m, out
        lost = int(m.group(1)) - int(m.group(2))
        print(f"\nspine link {victim} down: {lost} of {m.group(1)} pings lost at "
              f"{interval * 1000:.0f} ms intervals: recovery <= {lost * interval * 1000:.0f} ms")
        assert int(m.group(2)) > count // 2, out
        sent, received, _ = ping("a1", a2)
        assert received == sent
        assert http_get("a1", f"http://{a2}:8080/hostname") == "a2"
    finally:
        if flood.poll() is None:
            flood.kill()
        subprocess.run(["ip", "link", "set", victim, "up"], check=False)
