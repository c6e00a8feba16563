"""The os-ken shim and its launcher, driven with a fake datapath (no switch, no root)."""

import json
import types

import pytest
from os_ken.ofproto import ofproto_v1_3, ofproto_v1_3_parser

from controllers import launcher
from controllers.messages import build_messages
from k8snet.fabric.arp import ARP_REPLY, ARP_REQUEST, Arp, build_arp, parse_arp
from k8snet.fabric.facts import facts_from_dict
from k8snet.fabric.planner import Planner
from k8snet.fabric.sample import leaf_spine_facts


class FakeDatapath:
    """Records what the app sends; numbers messages like a real datapath."""

    ofproto = ofproto_v1_3
    ofproto_parser = ofproto_v1_3_parser

    def __init__(self, dpid):
        self.id = dpid
        self.sent = []
        self.xid = 0

    def send_msg(self, msg):
        self.xid += 1
        msg.xid = self.xid
        msg.serialize()  # proves the message is well-formed OpenFlow 1.3
        self.sent.append(msg)


def kinds(msgs):
    return [type(m).__name__ for m in msgs]


@pytest.fixture
def facts_path(tmp_path):
    doc = leaf_spine_facts(2, 2, 2)
    doc["routes"] = [{"prefix": "10.244.3.0/24", "via": "h3"}]
    path = tmp_path / "facts.json"
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture
def app(facts_path, monkeypatch):
    from controllers.fabric_app import ENV_FACTS, FabricApp

    monkeypatch.setenv(ENV_FACTS, str(facts_path))
    return FabricApp()


def test_full_install_serialises_in_safe_order(facts_path):
    planner = Planner(facts_from_dict(json.loads(facts_path.read_text())))
    dp = FakeDatapath(0x201)
    for m in build_messages(dp, planner.switch_connected(0x201)):
        dp.send_msg(m)
    names = kinds(dp.sent)
    assert names[:3] == ["OFPFlowMod", "OFPGroupMod", "OFPBarrierRequest"]  # wipe first
    assert dp.sent[0].command == ofproto_v1_3.OFPFC_DELETE
    assert dp.sent[0].table_id == ofproto_v1_3.OFPTT_ALL
    assert names.index("OFPGroupMod", 2) < names.index("OFPFlowMod", 2)  # groups before flows
    assert names[-1] == "OFPBarrierRequest"
    group = next(m for m in dp.sent[3:] if type(m).__name__ == "OFPGroupMod")
    assert group.type == ofproto_v1_3.OFPGT_SELECT
    assert sorted(b.watch_port for b in group.buckets) == [3, 4]
    route = next(m for m in dp.sent if getattr(m, "table_id", None) == 1
                 and m.priority == 124)
    assert route.match["ipv4_dst"] == ("10.244.3.0", "255.255.255.0")
    applied = route.instructions[0].actions  # h3 is under the other leaf: routed onwards
    assert [type(a).__name__ for a in applied] == [
        "OFPActionSetField", "OFPActionDecNwTtl", "OFPActionGroup"]
    routed_group = next(m for m in dp.sent if type(m).__name__ == "OFPGroupMod"
                        and m.group_id == applied[2].group_id)
    assert [type(a).__name__ for a in routed_group.buckets[0].actions] == [
        "OFPActionSetField", "OFPActionOutput"]
    dp2 = FakeDatapath(0x202)  # h3's own leaf: last hop, MACs then table 2
    for m in build_messages(dp2, planner.switch_connected(0x202)):
        dp2.send_msg(m)
    last = next(m for m in dp2.sent if getattr(m, "table_id", None) == 1
                and m.priority == 124)
    assert [type(a).__name__ for a in last.instructions[0].actions] == [
        "OFPActionSetField", "OFPActionSetField", "OFPActionDecNwTtl"]
    assert last.instructions[1].table_id == 2


def connect(app, dp, flows=(), groups=(), more=False):
    """A switch connects and answers the app's reads with ``flows`` and ``groups``
    (anything with the attributes of flow stats / group descriptions)."""
    ns = types.SimpleNamespace
    app.on_features(ns(msg=ns(datapath=dp)))
    flags = ofproto_v1_3.OFPMPF_REPLY_MORE if more else 0
    app.on_group_desc(ns(msg=ns(datapath=dp, body=list(groups), flags=0)))
    app.on_flow_stats(ns(msg=ns(datapath=dp, body=list(flows), flags=flags)))
    if more:  # the rest of a reply in two parts
        app.on_flow_stats(ns(msg=ns(datapath=dp, body=[], flags=0)))


def held_by(sent):
    """What a switch holds after the ADDs in ``sent`` (flow mods double as flow stats,
    group mods as group descriptions: same attribute names)."""
    flows = [m for m in sent if type(m).__name__ == "OFPFlowMod"
             and m.command == ofproto_v1_3.OFPFC_ADD]
    groups = [m for m in sent if type(m).__name__ == "OFPGroupMod"]
    return flows, groups


def test_features_reads_the_switch_then_installs_what_it_lacks(app):
    dp = FakeDatapath(0x101)
    app.on_features(types.SimpleNamespace(msg=types.SimpleNamespace(datapath=dp)))
    assert app.datapaths == {0x101: dp}
    assert kinds(dp.sent) == ["OFPPortDescStatsRequest", "OFPGroupDescStatsRequest",
                              "OFPFlowStatsRequest"]  # nothing wiped, nothing sent yet
    dp.sent.clear()
    connect(app, dp, more=True)  # an empty switch: the whole plan, no delete
    assert (0x101, dp.sent[-1].xid) in app.pending  # barrier awaited for timing
    assert not [m for m in dp.sent if getattr(m, "command", None) in (
        ofproto_v1_3.OFPFC_DELETE, ofproto_v1_3.OFPFC_DELETE_STRICT)]
    plan = app.planner.plans["kntst-s1"]
    flows, groups = held_by(dp.sent)
    assert len(flows) == len(plan.flows) and len(groups) == len(plan.groups)
    stranger = FakeDatapath(0x999)
    app.on_features(types.SimpleNamespace(msg=types.SimpleNamespace(datapath=stranger)))
    assert stranger.sent == [] and 0x999 not in app.datapaths


def test_a_restarted_controller_changes_only_what_differs(app, facts_path):
    from controllers.fabric_app import ENV_FACTS, FabricApp  # noqa: F401

    dp = FakeDatapath(0x201)
    connect(app, dp)
    flows, groups = held_by(dp.sent)
    again = FabricApp()  # a new controller; the switch kept its tables
    dp2 = FakeDatapath(0x201)
    connect(again, dp2, flows, groups)
    assert kinds(dp2.sent[3:]) == ["OFPBarrierRequest"]  # nothing to change
    # a leftover flow, a missing one and a changed group: exactly those are fixed
    stray = flows[0].__class__(dp, cookie=flows[0].cookie, table_id=2, priority=77,
                               match=ofproto_v1_3_parser.OFPMatch(eth_dst="02:00:00:00:00:99"),
                               instructions=[])
    group = groups[0]
    changed = group.__class__(dp, group.command, group.type, group.group_id,
                              group.buckets[:1])
    dp3 = FakeDatapath(0x201)
    connect(FabricApp(), dp3, [stray] + flows[1:], [changed] + groups[1:])
    sent = dp3.sent[3:]
    mods = [(type(m).__name__, m.command) for m in sent if hasattr(m, "command")]
    assert sorted(mods) == sorted([("OFPGroupMod", ofproto_v1_3.OFPGC_MODIFY),
                                   ("OFPFlowMod", ofproto_v1_3.OFPFC_ADD),
                                   ("OFPFlowMod", ofproto_v1_3.OFPFC_DELETE_STRICT)])
    add = next(m for m in sent if getattr(m, "command", None) == ofproto_v1_3.OFPFC_ADD)
    assert (add.table_id, add.priority, add.match.to_jsondict()) == (
        flows[0].table_id, flows[0].priority, flows[0].match.to_jsondict())
    delete = next(m for m in sent if getattr(m, "command", None)
                  == ofproto_v1_3.OFPFC_DELETE_STRICT)
    assert (delete.priority, delete.match["eth_dst"]) == (77, "02:00:00:00:00:99")


def test_port_status_sends_only_group_changes(app):
    dps = {d: FakeDatapath(d) for d in (0x101, 0x102, 0x201, 0x202)}
    for dp in dps.values():
        connect(app, dp)
        dp.sent.clear()
    ofp = ofproto_v1_3
    desc = types.SimpleNamespace(port_no=3, config=0, state=ofp.OFPPS_LINK_DOWN)
    msg = types.SimpleNamespace(datapath=dps[0x201], desc=desc, reason=ofp.OFPPR_MODIFY)
    app.on_port_status(types.SimpleNamespace(msg=msg))
    sent = [m for dp in dps.values() for m in dp.sent]
    # the failover entries stay (they watch ports): only ECMP groups change, atomically
    assert sent and set(kinds(sent)) == {"OFPGroupMod", "OFPBarrierRequest"}
    assert all(m.command == ofp.OFPGC_MODIFY for m in sent if type(m).__name__ == "OFPGroupMod")


def test_packet_in_arp_gets_a_packet_out_reply(app):
    dp = FakeDatapath(0x201)
    req = Arp(ARP_REQUEST, "02:4b:00:00:00:01", "10.0.0.1", "00:00:00:00:00:00", "10.0.255.254",
              "02:4b:00:00:00:01", "ff:ff:ff:ff:ff:ff")
    msg = types.SimpleNamespace(datapath=dp, data=build_arp(req), match={"in_port": 1})
    app.on_packet_in(types.SimpleNamespace(msg=msg))
    (out,) = dp.sent
    assert out.actions[0].port == 1
    reply = parse_arp(out.data)
    assert reply.op == ARP_REPLY and reply.sender_mac == "02:4b:ff:00:00:01"
    msg.data = build_arp(Arp(ARP_REQUEST, "02:4b:00:00:00:01", "10.0.0.1",
                             "00:00:00:00:00:00", "10.0.0.200"))
    app.on_packet_in(types.SimpleNamespace(msg=msg))
    assert len(dp.sent) == 1  # unknown target: silence, never a flood


def test_launcher_arguments(tmp_path, facts_path, capsys):
    args = launcher.build_parser().parse_args(
        ["--facts", str(facts_path), "--ofp-port", "6653", "--log", str(tmp_path / "c.log"),
         "--routes-file", str(tmp_path / "routes.json")])
    assert (args.ofp_port, args.ofp_host) == (6653, "127.0.0.1")
    launcher.check_args(args)  # a routes file that does not exist yet is fine
    bad = [
        ["--facts", str(tmp_path / "nope.json"), "--ofp-port", "6653", "--log", "x.log"],
        ["--facts", str(facts_path), "--ofp-port", "70000", "--log", "x.log"],
        ["--facts", str(facts_path), "--ofp-port", "6653", "--log", "/no/such/dir/c.log"],
    ]
    for argv in bad:
        assert launcher.main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1


def test_moves_read_back_by_their_nicira_names_are_the_planned_ones():
    """OVS reports reg_move fields as NXM_OF_ETH_SRC..., os-ken as eth_src_nxm."""
    import struct

    from controllers.messages import _action_spec
    from k8snet.fabric.specs import Move

    buf = bytearray()
    ofproto_v1_3_parser.NXActionRegMove(src_field="eth_src", dst_field="eth_dst",
                                        n_bits=48).serialize(buf, 0)
    struct.pack_into("!II", buf, 16, 0x00000406, 0x00000206)  # NXM_OF_ETH_SRC, _DST
    action = ofproto_v1_3_parser.OFPAction.parser(bytes(buf), 0)
    assert action.src_field == "eth_src_nxm"
    assert _action_spec(ofproto_v1_3, action) == Move("eth_src", "eth_dst", 48)


def test_every_planned_action_reads_back_as_planned():
    """Warm start compares what a switch reports with the plan: each action kind the
    plan uses (detours' VLAN and in_port included) survives the trip through os-ken."""
    from controllers.messages import _action_spec, _actions
    from k8snet.fabric.specs import PopVlan, PushVlan, SetField

    planned = [PushVlan(), PopVlan(), SetField("in_port", 0), SetField("vlan_vid", 0x1FD5),
               SetField("eth_dst", "02:4b:fe:00:00:01")]
    for spec in planned:
        (action,) = _actions(ofproto_v1_3_parser, ofproto_v1_3, (spec,))
        buf = bytearray()
        action.serialize(buf, 0)
        back = ofproto_v1_3_parser.OFPAction.parser(bytes(buf), 0)
        assert _action_spec(ofproto_v1_3, back) == spec
