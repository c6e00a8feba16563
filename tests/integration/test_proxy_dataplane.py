"""kube-proxy rules in a scratch netns topology: real packets, both modes (root).

Topology (all namespaces k8snet-test-px<id>-*):
    pod-a 10.244.1.2 ─┐
    pod-b 10.244.1.3 ─┼─ node (veths, /32 routes like CNI ptp; gateway 10.244.1.1)
    client 10.244.1.4 ─┘     └─ 10.0.0.2/24 ── external 10.0.0.100/24
Pods run a TCP+UDP server on 8080 answering "<name> <source IP it saw>".
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
import uuid

import pytest

from k8snet.proxy.apply import Conntrack, IptablesApplier, NftApplier, applier_for
from k8snet.proxy.loop import ProxyLoop
from k8snet.proxy.model import NodeFacts, conntrack_flushes, service_ports

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for network namespaces"),
    pytest.mark.skipif(not shutil.which("ip"), reason="needs iproute2"),
]

PY = "/usr/bin/python3"
CLUSTER_IP, NODE_IP, EXT_IP = "10.96.0.10", "10.0.0.2", "10.0.0.100"
PODS = {"pod-a": "10.244.1.2", "pod-b": "10.244.1.3", "client": "10.244.1.4"}
NODE_PORT = 30080

SERVER = r"""
import socket, sys, threading
name, port = sys.argv[1], int(sys.argv[2])
t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(("0.0.0.0", port)); t.listen(128)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("0.0.0.0", port))
def udp():
    while True:
        data, peer = u.recvfrom(2048)
        u.sendto(f"{name} {peer[0]}".encode(), peer)
threading.Thread(target=udp, daemon=True).start()
print("ready", flush=True)
while True:
    c, peer = t.accept()
    c.sendall(f"{name} {peer[0]}".encode()); c.close()
"""

CLIENT = r"""
import json, socket, sys
proto, ip, port, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
sport = int(sys.argv[5]) if len(sys.argv) > 5 else 0
out = []
for _ in range(n):
    try:
        if proto == "tcp":
            s = socket.create_connection((ip, port), timeout=2)
            data = s.recv(2048)
        else:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("", sport))
            s.sendto(b"hi", (ip, port)); data = s.recvfrom(2048)[0]
        s.close(); out.append(data.decode())
    except OSError as e:
        out.append("ERR " + type(e).__name__ + " " + str(e.errno))
print(json.dumps(out))
"""


def sh(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True, timeout=30).stdout


class Topo:
    """The namespaces, links and servers of one test; `close()` removes them all."""

    def __init__(self) -> None:
        self.prefix = f"k8snet-test-px{uuid.uuid4().hex[:6]}"
        self.node = f"{self.prefix}-node"
        self.ext = f"{self.prefix}-ext"
        self.ns = {name: f"{self.prefix}-{name}" for name in PODS}
        self.made: list[str] = []
        self.servers: list[subprocess.Popen] = []
        self.applied: list = []

    def build(self) -> Topo:
        for ns in (self.node, self.ext, *self.ns.values()):
            sh("ip", "netns", "add", ns)
            self.made.append(ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "netns", "exec", self.node, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        for i, (name, ip) in enumerate(PODS.items()):
            host_if = f"vp{i}"
            sh("ip", "-n", self.node, "link", "add", host_if, "type", "veth", "peer", "name",
               "eth0", "netns", self.ns[name])
            sh("ip", "-n", self.node, "addr", "add", "10.244.1.1/32", "dev", host_if)
            sh("ip", "-n", self.node, "link", "set", host_if, "up")
            sh("ip", "-n", self.node, "route", "add", f"{ip}/32", "dev", host_if)
            sh("ip", "-n", self.ns[name], "addr", "add", f"{ip}/32", "dev", "eth0")
            sh("ip", "-n", self.ns[name], "link", "set", "eth0", "up")
            sh("ip", "-n", self.ns[name], "route", "add", "10.244.1.1", "dev", "eth0")
            sh("ip", "-n", self.ns[name], "route", "add", "default", "via", "10.244.1.1")
        sh("ip", "-n", self.node, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0",
           "netns", self.ext)
        sh("ip", "-n", self.node, "addr", "add", f"{NODE_IP}/24", "dev", "eth0")
        sh("ip", "-n", self.node, "link", "set", "eth0", "up")
        sh("ip", "-n", self.ext, "addr", "add", f"{EXT_IP}/24", "dev", "eth0")
        sh("ip", "-n", self.ext, "link", "set", "eth0", "up")
        # Like a real node: a default route (else unknown Service IPs are unroutable).
        sh("ip", "-n", self.node, "route", "add", "default", "via", EXT_IP)
        for name in ("pod-a", "pod-b"):
            self._serve(name)
        return self

    def _serve(self, name: str) -> None:
        proc = subprocess.Popen(["ip", "netns", "exec", self.ns[name], PY, "-c", SERVER, name,
                                 "8080"], stdout=subprocess.PIPE, text=True)
        self.servers.append(proc)
        ready: list[str] = []
        reader = threading.Thread(target=lambda: ready.append(proc.stdout.readline()),
                                  daemon=True)
        reader.start()
        reader.join(15)
        if not ready or "ready" not in ready[0]:
            raise AssertionError(f"server in {name} did not say ready within 15 s")

    def probe(self, ns: str, proto: str, ip: str, port: int, n: int,
              sport: int = 0) -> list[str]:
        out = subprocess.run(["ip", "netns", "exec", ns, PY, "-c", CLIENT, proto, ip,
                              str(port), str(n), str(sport)], capture_output=True, text=True,
                             timeout=30 + 3 * n, check=True).stdout
        return json.loads(out)

    def close(self) -> None:
        for proc in self.servers:
            proc.kill()
            proc.wait(10)
        for ns in reversed(self.made):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)


@pytest.fixture
def topo():
    t = Topo()
    try:
        yield t.build()
    finally:
        t.close()


def service(affinity: bool = False, protocol_ports=(("TCP", 80), ("UDP", 53)),
            svc_type: str = "NodePort", name: str = "web") -> dict:
    spec = {"type": svc_type, "clusterIP": CLUSTER_IP, "ports": [
        {"name": proto.lower(), "protocol": proto, "port": port, "targetPort": 8080,
         **({"nodePort": NODE_PORT + i} if svc_type == "NodePort" else {})}
        for i, (proto, port) in enumerate(protocol_ports)]}
    if affinity:
        spec["sessionAffinity"] = "ClientIP"
        spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": 300}}
    return {"metadata": {"namespace": "default", "name": name}, "spec": spec}


def endpoints(pods=("pod-a", "pod-b"), name: str = "web") -> dict:
    """The EndpointSlice of Service `name` with these Pods ready."""
    return {"metadata": {"namespace": "default", "name": f"{name}-slice",
                         "labels": {"kubernetes.io/service-name": name}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [PODS[p]], "nodeName": "node",
                           "conditions": {"ready": True}} for p in pods],
            "ports": [{"name": "tcp", "port": 8080, "protocol": "TCP"},
                      {"name": "udp", "port": 8080, "protocol": "UDP"}]}


NODE = NodeFacts(name="node", ips=(NODE_IP,), cluster_cidr="10.244.0.0/16")


def apply(topo: Topo, mode: str, svc: dict, eps: dict) -> None:
    """What one proxy sync does: rules, then stale UDP flows dropped."""
    ports = service_ports([svc], [eps])
    applier_for(mode, netns=topo.node).sync(ports, NODE)
    Conntrack(netns=topo.node).flush(conntrack_flushes(topo.applied, ports))
    topo.applied = ports


def names(replies: list[str]) -> set[str]:
    return {r.split()[0] for r in replies}


@pytest.mark.parametrize("mode", ["iptables", "nftables"])
def test_clusterip_balances_without_snat_and_drops_removed_endpoint(topo, mode):
    apply(topo, mode, service(), endpoints())
    client = topo.ns["client"]
    for proto, port in (("tcp", 80), ("udp", 53)):
        replies = topo.probe(client, proto, CLUSTER_IP, port, 40)
        assert names(replies) == {"pod-a", "pod-b"}, (proto, replies)
        # No SNAT: each endpoint saw the client Pod's own address.
        assert {r.split()[1] for r in replies} == {PODS["client"]}, (proto, replies)
    apply(topo, mode, service(), endpoints(("pod-a",)))
    for proto, port in (("tcp", 80), ("udp", 53)):
        replies = topo.probe(client, proto, CLUSTER_IP, port, 20)
        assert names(replies) == {"pod-a"}, (proto, replies)


@pytest.mark.skipif(not shutil.which("conntrack"), reason="needs the conntrack tool")
@pytest.mark.parametrize("mode", ["iptables", "nftables"])
def test_udp_flow_to_removed_endpoint_moves(topo, mode):
    """A UDP flow (same source port) pinned by conntrack follows an endpoint removal."""
    apply(topo, mode, service(), endpoints())
    first = topo.probe(topo.ns["client"], "udp", CLUSTER_IP, 53, 3, sport=40053)
    assert len(names(first)) == 1 and not first[0].startswith("ERR"), first
    gone = first[0].split()[0]
    keep = "pod-b" if gone == "pod-a" else "pod-a"
    apply(topo, mode, service(), endpoints((keep,)))
    after = topo.probe(topo.ns["client"], "udp", CLUSTER_IP, 53, 3, sport=40053)
    if names(after) != {keep}:
        flows = subprocess.run(["ip", "netns", "exec", topo.node, "conntrack", "-L", "-p",
                                "udp"], capture_output=True, text=True, timeout=30)
        raise AssertionError(f"before {first}, after {after}; node's UDP flows: "
                             f"{flows.stdout} {flows.stderr}")


@pytest.mark.parametrize("mode", ["iptables", "nftables"])
def test_nodeport_from_outside_reaches_the_app(topo, mode):
    apply(topo, mode, service(), endpoints())
    seen: set[str] = set()
    for proto, port in (("tcp", NODE_PORT), ("udp", NODE_PORT + 1)):
        replies = topo.probe(topo.ext, proto, NODE_IP, port, 30)
        assert all(not r.startswith("ERR") for r in replies), (proto, replies)
        seen |= names(replies)
        # Masqueraded (externalTrafficPolicy Cluster): the reply must come back via the node.
        assert EXT_IP not in {r.split()[1] for r in replies}
    assert seen == {"pod-a", "pod-b"}


@pytest.mark.parametrize("mode", ["iptables", "nftables"])
def test_session_affinity_sticks_to_one_endpoint(topo, mode):
    apply(topo, mode, service(affinity=True), endpoints())
    replies = topo.probe(topo.ns["client"], "tcp", CLUSTER_IP, 80, 15)
    assert len(names(replies)) == 1 and not replies[0].startswith("ERR"), replies
    # A resync (same rules applied again) keeps the client where it was.
    apply(topo, mode, service(affinity=True), endpoints())
    again = topo.probe(topo.ns["client"], "tcp", CLUSTER_IP, 80, 5)
    assert names(again) == names(replies), (replies, again)


@pytest.mark.parametrize("mode", ["iptables", "nftables"])
def test_service_without_endpoints_is_rejected(topo, mode):
    apply(topo, mode, service(), endpoints(()))
    replies = topo.probe(topo.ns["client"], "tcp", CLUSTER_IP, 80, 2)
    assert replies == ["ERR ConnectionRefusedError 111"] * 2, replies


def test_switching_mode_and_cleanup_leave_nothing_behind(topo):
    apply(topo, "iptables", service(), endpoints())
    IptablesApplier(netns=topo.node).cleanup()
    assert "KUBE-" not in sh("ip", "netns", "exec", topo.node, "iptables-save")
    apply(topo, "nftables", service(), endpoints())
    assert names(topo.probe(topo.ns["client"], "tcp", CLUSTER_IP, 80, 20)) == \
        {"pod-a", "pod-b"}
    NftApplier(netns=topo.node).cleanup()
    assert "k8snet-proxy" not in sh("ip", "netns", "exec", topo.node, "nft", "list", "tables")
    replies = topo.probe(topo.ns["client"], "tcp", CLUSTER_IP, 80, 1)
    assert replies[0].startswith("ERR"), replies


@pytest.mark.parametrize("mode", ["iptables", "nftables"])
def test_loop_applies_endpoint_changes(topo, mode):
    loop = ProxyLoop(applier_for(mode, netns=topo.node), NODE, sync_period=60,
                     min_interval=0.05)
    stop = threading.Event()
    thread = threading.Thread(target=loop.run, args=(stop,), daemon=True)
    thread.start()
    try:
        loop.on_services({"default/web": service()})
        loop.on_endpoint_slices({"default/web-slice": endpoints()})
        wait_for(lambda: loop.stats.syncs >= 1, 30, "the first sync")
        assert names(topo.probe(topo.ns["client"], "tcp", CLUSTER_IP, 80, 30)) == \
            {"pod-a", "pod-b"}
        loop.on_endpoint_slices({"default/web-slice": endpoints(("pod-b",))})
        wait_for(lambda: loop.stats.syncs >= 2, 30, "the sync after an endpoint removal")
        assert names(topo.probe(topo.ns["client"], "tcp", CLUSTER_IP, 80, 15)) == {"pod-b"}
        assert loop.stats.latencies, "no endpoints-change latency recorded"
    finally:
        stop.set()
        thread.join(30)


def wait_for(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)
