"""The os-ken fabric controller on a real Mininet leaf-spine (root, OVS).

2 spines, 2 leaves, 2 hosts per leaf plus one host in another subnet. The
controller is started with ``python -m controllers.launcher`` on a free port,
as the testbed does. Names are prefixed ``kntst-`` so they never collide with
a cluster; the fixture stops the net and the launcher it started, nothing else.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time

import pytest

from k8snet.fabric.sample import leaf_spine_facts

pytestmark = pytest.mark.root
if os.geteuid() != 0 or shutil.which("mnexec") is None or shutil.which("ovs-vsctl") is None:
    pytest.skip("needs root, Mininet (mnexec) and Open vSwitch", allow_module_level=True)
if subprocess.run(["ovs-vsctl", "--timeout=5", "show"], capture_output=True).returncode != 0:
    pytest.skip("Open vSwitch is not running (make setup starts it)", allow_module_level=True)

from mininet.log import setLogLevel  # noqa: E402
from mininet.net import Mininet  # noqa: E402
from mininet.node import OVSSwitch, RemoteController  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GW = "10.0.255.254"
EXT_GW = "10.1.0.254"
POD_IP = "10.244.3.1"  # an address behind h3, reached through a route


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def facts_doc() -> dict:
    doc = leaf_spine_facts(spines=2, leaves=2, hosts_per_leaf=2, prefix="kntst")
    doc["hosts"].append({"name": "ext", "ip": "10.1.0.1", "prefixlen": 24,
                         "mac": "02:4b:01:00:00:01", "switch": "kntst-l2", "port": 9,
                         "role": "external"})
    doc["gateways"].append({"ip": EXT_GW, "prefixlen": 24, "mac": "02:4b:ff:00:00:02"})
    return doc


def build_net(doc: dict, port: int) -> Mininet:
    """The Mininet network the facts describe, port numbers included."""
    user = not os.path.exists("/sys/module/openvswitch")
    net = Mininet(controller=None, build=False, autoSetMacs=False, cleanup=False)
    net.addController("kntst-c0", controller=RemoteController, ip="127.0.0.1", port=port)
    for sw in doc["switches"]:
        net.addSwitch(sw["name"], cls=OVSSwitch, dpid=f"{sw['dpid']:016x}",
                      protocols="OpenFlow13", datapath="user" if user else "kernel")
    for h in doc["hosts"]:
        net.addHost(h["name"], ip=f"{h['ip']}/{h['prefixlen']}", mac=h["mac"])
    for h in doc["hosts"]:
        net.addLink(h["name"], h["switch"], port2=h["port"])
    for ln in doc["links"]:
        net.addLink(ln["a"], ln["b"], port1=ln["a_port"], port2=ln["b_port"])
    net.build()
    return net


def wait_for(what: str, check, deadline: float, interval: float = 0.2) -> float:
    """Poll ``check`` until true; return seconds taken; fail saying what was awaited."""
    t0 = time.monotonic()
    while not check():
        if time.monotonic() - t0 > deadline:
            raise AssertionError(f"gave up after {deadline:.0f}s waiting for {what}")
        time.sleep(interval)
    return time.monotonic() - t0


def ping(src, ip: str) -> bool:
    return ", 0% packet loss" in src.cmd(f"ping -n -c1 -W1 {ip}")


def all_pairs_reach(net, names) -> list[tuple[str, str]]:
    """Pairs (src, dst) that do not answer one ping."""
    bad = []
    for a in names:
        for b in names:
            if a != b and not ping(net.get(a), net.get(b).IP()):
                bad.append((a, b))
    return bad


def start_launcher(facts, port, log, routes):
    """The controller, as the testbed starts it."""
    return subprocess.Popen(
        [sys.executable, "-m", "controllers.launcher", "--facts", str(facts), "--ofp-port",
         str(port), "--log", str(log), "--routes-file", str(routes)], cwd=REPO)


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def stop_launcher(proc) -> int:
    """SIGTERM our launcher (by its Popen handle only); its exit status."""
    proc.terminate()
    try:
        return proc.wait(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture
def fabric(tmp_path):
    setLogLevel("warning")
    port = free_port()
    doc = facts_doc()
    facts = tmp_path / "facts.json"
    facts.write_text(json.dumps(doc))
    routes = tmp_path / "routes.json"
    routes.write_text(json.dumps({"routes": []}))
    log = tmp_path / "controller.log"
    state = {"proc": start_launcher(facts, port, log, routes)}
    net = None

    def restart():
        assert stop_launcher(state["proc"]) == 0, "launcher did not exit 0 on SIGTERM"
        state["proc"] = start_launcher(facts, port, log, routes)

    try:
        wait_for(f"the launcher to listen on 127.0.0.1:{port}", lambda: listening(port), 30)
        net = build_net(doc, port)
        net.start()
        for h in net.hosts:
            for intf in h.intfNames():
                h.cmd(f"ethtool -K {intf} tx off")
            if h.name == "ext":
                h.cmd(f"ip route add default via {EXT_GW}")
            else:
                h.cmd(f"ip route add 10.1.0.0/24 via {GW}")
                h.cmd(f"ip route add 10.244.0.0/16 via {GW}")
        net.get("h3").cmd(f"ip addr add {POD_IP}/32 dev lo")
        names = [h["name"] for h in doc["hosts"]]
        wait_for("h1 to reach h4 through the fabric",
                 lambda: ping(net.get("h1"), net.get("h4").IP()), 60)
        yield {"net": net, "names": names, "routes": routes, "log": log, "restart": restart}
    finally:
        if net is not None:
            net.stop()
        assert stop_launcher(state["proc"]) == 0, "launcher did not exit 0 on SIGTERM"


def tcp_exchange(server, client, deadline: float = 10.0) -> str:
    """Start a one-shot TCP server on ``server``, connect from ``client``; return the
    client address the server saw."""
    port = 18080
    srv = server.popen([sys.executable, "-c", (
        "import socket,sys\n"
        "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        f"s.bind(('0.0.0.0',{port})); s.listen(1); s.settimeout({deadline})\n"
        "c,a=s.accept(); c.settimeout(5); n=0\n"
        "while True:\n"
        "    d=c.recv(65536)\n"
        "    if not d: break\n"
        "    n+=len(d)\n"
        "c.sendall(a[0].encode()); c.close(); print(n)\n")],
        stdout=subprocess.PIPE, text=True)
    try:
        out = ""
        t0 = time.monotonic()
        while not out and time.monotonic() - t0 < deadline:
            out = client.cmd(
                f"{sys.executable} -c \"import socket; c=socket.create_connection("
                f"('{server.IP()}',{port}),timeout=3); c.sendall(b'x'*60000); "
                f"c.shutdown(socket.SHUT_WR); print(c.recv(100).decode())\" 2>/dev/null").strip()
            if not out:
                time.sleep(0.2)
        got, _ = srv.communicate(timeout=deadline)
        assert got.strip() == "60000", f"server got {got!r} bytes"
        return out
    finally:
        if srv.poll() is None:
            srv.kill()
            srv.wait()


def test_all_to_all_tcp_routing_and_routes(fabric):
    net, names = fabric["net"], fabric["names"]
    assert wait_for("all pairs to ping", lambda: not all_pairs_reach(net, names), 60) < 60
    h1, h4, ext = net.get("h1"), net.get("h4"), net.get("ext")
    assert tcp_exchange(h4, h1) == h1.IP()            # across leaves, source IP intact
    assert tcp_exchange(ext, h1) == h1.IP()           # routed to the other subnet, no NAT
    # Bridged within the subnet: TTL untouched; routed: one hop per switch crossed
    # (ext sits under the other leaf: leaf, spine, leaf).
    assert "ttl=64" in h1.cmd(f"ping -n -c1 -W1 {h4.IP()}")
    assert "ttl=61" in h1.cmd(f"ping -n -c1 -W1 {ext.IP()}")
    # Routes arrive at run time through the routes file.
    assert not ping(h1, POD_IP)
    fabric["routes"].write_text(json.dumps({"routes": [{"prefix": "10.244.3.0/24",
                                                        "via": "h3"}]}))
    took = wait_for("the route to 10.244.3.0/24 via h3", lambda: ping(h1, POD_IP), 30)
    print(f"\nroute installed and used {took:.2f}s after the routes file changed")
    fabric["routes"].write_text(json.dumps({"routes": []}))
    wait_for("the route to go", lambda: not ping(h1, POD_IP), 30)


def start_pings(net, pairs, seconds: float, interval: float = 0.01) -> list:
    """Background ``ping -i interval`` for each (src, dst) pair, for ``seconds``."""
    count = int(seconds / interval)
    return [net.get(a).popen(["ping", "-n", "-q", "-i", str(interval), "-c", str(count),
                              "-W", "1", net.get(b).IP()], stdout=subprocess.PIPE, text=True)
            for a, b in pairs]


def lost_packets(procs, deadline: float) -> list[tuple[int, int]]:
    """(transmitted, received) of each ping started by start_pings."""
    out = []
    for p in procs:
        text, _ = p.communicate(timeout=deadline)
        line = next(ln for ln in text.splitlines() if "transmitted" in ln)
        sent, got = (int(w.split()[0]) for w in line.split(",")[:2])
        out.append((sent, got))
    return out


def test_spine_link_down_is_survived(fabric):
    net, names = fabric["net"], fabric["names"]
    wait_for("all pairs to ping", lambda: not all_pairs_reach(net, names), 60)
    h1, h3 = net.get("h1"), net.get("h3")
    pairs = [("h1", "h3"), ("h1", "h4"), ("h2", "h3"), ("h2", "h4"), ("h3", "h1"), ("h4", "h2")]
    pings = start_pings(net, pairs, seconds=3.0)
    time.sleep(1.0)
    net.configLinkStatus("kntst-l1", "kntst-s1", "down")
    took = wait_for("all pairs after kntst-l1<->kntst-s1 went down",
                    lambda: not all_pairs_reach(net, names), 60, interval=0.05)
    stats = lost_packets(pings, 30)
    lost = [s - g for s, g in stats]
    print(f"\nspine link down: all pairs answered again {took:.2f}s later; "
          f"10 ms pings lost per cross-leaf flow: {lost} (worst outage ~{max(lost) * 10} ms)")
    assert all(g > 0 for _, g in stats)
    assert tcp_exchange(h3, h1) == h1.IP()
    log = fabric["log"].read_text()
    assert ("port kntst-l1:3 down" in log or "port kntst-s1:1 down" in log), log
    assert "installed on" in log
    net.configLinkStatus("kntst-l1", "kntst-s1", "up")
    wait_for("the controller to see both ends of the link up",
             lambda: all(f"port {p} up" in fabric["log"].read_text()
                         for p in ("kntst-l1:3", "kntst-s1:1")), 30)
    wait_for("all pairs after the link came back", lambda: not all_pairs_reach(net, names), 60)
    print("\n".join(ln for ln in fabric["log"].read_text().splitlines()
                    if " down: " in ln or " up: " in ln))


def spine_rx(spine: str) -> int:
    """Packets a spine received from the leaves (its veth counters)."""
    total = 0
    for port in (1, 2):
        with open(f"/sys/class/net/{spine}-eth{port}/statistics/rx_packets") as fh:
            total += int(fh.read())
    return total


def send_udp(src, dst_ip: str, count: int, first_port: int = 20000) -> None:
    """``count`` UDP datagrams from ``src`` to ``dst_ip``, each from its own source port."""
    src.cmd(f"{sys.executable} -c \"import socket\n"
            f"for p in range({first_port}, {first_port + count}):\n"
            f"    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('', p))\n"
            f"    s.sendto(b'k8snet', ('{dst_ip}', 9)); s.close()\"")


def test_ecmp_spreads_host_pairs_over_both_spines(fabric):
    """Every spine carries some host pair. (Measured here: the userspace datapath's
    default select hash spreads per address pair; 64 UDP flows of one pair took one spine.)"""
    net = fabric["net"]
    spines = ("kntst-s1", "kntst-s2")
    carried_by: dict[str, list[str]] = {s: [] for s in spines}
    for a, b in [("h1", "h3"), ("h1", "h4"), ("h2", "h3"), ("h2", "h4"),
                 ("h3", "h1"), ("h3", "h2"), ("h4", "h1"), ("h4", "h2"),
                 ("h1", "ext"), ("h2", "ext"), ("ext", "h1"), ("ext", "h2")]:
        assert ping(net.get(a), net.get(b).IP())  # neighbours resolved before counting
        before = {s: spine_rx(s) for s in spines}
        send_udp(net.get(a), net.get(b).IP(), 20)
        time.sleep(0.3)
        delta = {s: spine_rx(s) - before[s] for s in spines}
        busiest = max(spines, key=lambda s: delta[s])
        if delta[busiest] >= 15:  # most of the 20 datagrams (replies are rate-limited ICMP)
            carried_by[busiest].append(f"{a}->{b}")
    print(f"\nhost pairs per spine: {carried_by}")
    assert all(carried_by[s] for s in spines), carried_by
    assert sum(len(v) for v in carried_by.values()) == 12  # each pair crossed one spine


def test_controller_restart_relearns_a_down_link(fabric):
    net, names = fabric["net"], fabric["names"]
    net.configLinkStatus("kntst-l2", "kntst-s2", "down")
    fabric["restart"]()  # the new controller must learn the down link from port descriptions
    wait_for("the restarted controller to install every switch",
             lambda: fabric["log"].read_text().count("connect: installed on") >= 8, 30)
    took = wait_for("all pairs after the controller restart",
                    lambda: not all_pairs_reach(net, names), 60)
    print(f"\nall pairs reachable {took:.2f}s after the restarted controller installed")
    net.configLinkStatus("kntst-l2", "kntst-s2", "up")
    wait_for("all pairs with the link back", lambda: not all_pairs_reach(net, names), 60)
