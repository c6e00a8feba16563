"""The os-ken app in macvlan mode, driven with fake datapaths: Node blocks and live Pods in,
ARP probes out for Pods without a MAC, the Pod's reply learned, one /32 per Pod installed on
every switch, removed when the Pod goes; the Pod gateway answered."""

import json
import types

import pytest
from os_ken.ofproto import ofproto_v1_3
from test_fabric_app import FakeDatapath, connect

from k8snet.fabric.arp import ARP_REPLY, ARP_REQUEST, Arp, build_arp, parse_arp
from k8snet.fabric.facts import Route
from k8snet.fabric.sample import leaf_spine_facts
from k8snet.fabric.specs import COOKIE_ARP, COOKIE_ARP_REPLY, COOKIE_POD_ROUTE

POD_IP, POD_MAC = "10.244.1.5", "0a:00:00:00:01:05"
GW_MAC = "02:4b:ff:00:00:01"


@pytest.fixture
def app(tmp_path, monkeypatch):
    from controllers.fabric_app import ENV_FACTS, ENV_MODE, FabricApp

    path = tmp_path / "facts.json"
    path.write_text(json.dumps(leaf_spine_facts(2, 2, 2)))
    monkeypatch.setenv(ENV_FACTS, str(path))
    monkeypatch.setenv(ENV_MODE, "macvlan")
    app = FabricApp()
    app.dps = {d: FakeDatapath(d) for d in (0x101, 0x102, 0x201, 0x202)}
    for dp in app.dps.values():
        connect(app, dp)
        dp.sent.clear()
    return app


def pod_flow_mods(app):
    return {d: [m for m in dp.sent if type(m).__name__ == "OFPFlowMod"
                and m.cookie == COOKIE_POD_ROUTE] for d, dp in app.dps.items()}


def packet_in(app, dpid, port, arp, cookie=COOKIE_ARP):
    msg = types.SimpleNamespace(datapath=app.dps[dpid], data=build_arp(arp),
                                match={"in_port": port}, cookie=cookie)
    app.on_packet_in(types.SimpleNamespace(msg=msg))


def test_probe_learn_install_and_remove(app):
    from controllers.fabric_app import SOURCE_NODES, EventPods, EventProbe, EventRoutes

    blocks = (Route("10.244.1.0/24", "h1"), Route("10.244.3.0/24", "h3"))
    app.on_routes(EventRoutes(blocks, "nodes", SOURCE_NODES))
    # blocks alone route nothing; the leaves answer ARP for the two Pod gateways
    added = {d: {(m.cookie, m.match["arp_tpa"]) for m in dp.sent
                 if type(m).__name__ == "OFPFlowMod"} for d, dp in app.dps.items()}
    for leaf in (0x201, 0x202):
        assert added[leaf] == {(c, gw) for c in (COOKIE_ARP, COOKIE_ARP_REPLY)
                               for gw in ("10.244.1.1", "10.244.3.1")}
    assert not added[0x101] and not added[0x102]
    for dp in app.dps.values():
        dp.sent.clear()
    app.on_pods(EventPods(frozenset({POD_IP}), "pods: +" + POD_IP, 0.0))
    (probe,) = app.dps[0x201].sent  # no MAC yet: asked at once, on h1's leaf 1 port 1
    assert all(not dp.sent for d, dp in app.dps.items() if d != 0x201)  # and nothing routed
    app.dps[0x201].sent.clear()
    app.on_probe(EventProbe())  # and again every PROBE_SECONDS until it answers
    assert [m.data for m in app.dps[0x201].sent] == [probe.data]
    assert probe.actions[0].port == 1
    asked = parse_arp(probe.data)
    assert (asked.op, asked.sender_ip, asked.target_ip) == (ARP_REQUEST, "10.244.1.1", POD_IP)
    app.dps[0x201].sent.clear()
    # the Pod's answer, seen on h1's port: one /32 on every switch
    packet_in(app, 0x201, 1, Arp(ARP_REPLY, POD_MAC, POD_IP, GW_MAC, "10.244.1.1"))
    mods = pod_flow_mods(app)
    assert all(len(m) == 1 and m[0].command == ofproto_v1_3.OFPFC_ADD for m in mods.values())
    assert mods[0x201][0].match["ipv4_dst"] == POD_IP
    for dp in app.dps.values():
        dp.sent.clear()
    app.on_probe(EventProbe())
    assert all(not dp.sent for dp in app.dps.values())  # resolved: no more probes
    # the Pod asks for its gateway: the leaf's responder answered and sent a copy
    # (nothing more to send); what reaches the controller otherwise is answered there
    ask = Arp(ARP_REQUEST, POD_MAC, POD_IP, "00:00:00:00:00:00", "10.244.1.1", POD_MAC,
              "ff:ff:ff:ff:ff:ff")
    packet_in(app, 0x201, 1, ask, cookie=COOKIE_ARP_REPLY)
    assert not app.dps[0x201].sent
    packet_in(app, 0x201, 1, ask)
    (out,) = app.dps[0x201].sent
    assert parse_arp(out.data).sender_mac == GW_MAC
    app.dps[0x201].sent.clear()
    app.on_pods(EventPods(frozenset(), "pods: -" + POD_IP, 0.0))
    mods = pod_flow_mods(app)
    assert all(len(m) == 1 and m[0].command == ofproto_v1_3.OFPFC_DELETE_STRICT
               for m in mods.values())


def test_an_address_claimed_on_another_nodes_port_is_not_learned(app):
    from controllers.fabric_app import SOURCE_NODES, EventPods, EventRoutes

    app.on_routes(EventRoutes((Route("10.244.1.0/24", "h1"),), "nodes", SOURCE_NODES))
    app.on_pods(EventPods(frozenset({POD_IP}), "pods", 0.0))
    packet_in(app, 0x202, 1, Arp(ARP_REPLY, POD_MAC, POD_IP, GW_MAC, "10.244.1.1"))  # h3
    assert all(not m for m in pod_flow_mods(app).values())
