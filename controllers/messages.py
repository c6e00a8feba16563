"""Turn planned changes into os-ken OpenFlow 1.3 messages for one datapath.

The single place where specifications meet os-ken's message classes.
"""

from __future__ import annotations

from typing import Any

from os_ken.ofproto import nicira_ext

from k8snet.fabric.specs import (
    GROUP_FAST_FAILOVER,
    GROUP_SELECT,
    Action,
    Bucket,
    DecTtl,
    FlowSpec,
    GroupSpec,
    Move,
    Opaque,
    Output,
    PopVlan,
    PushVlan,
    SetField,
    SwitchChanges,
    ToController,
    ToGroup,
)
from k8snet.policy.render_of import Conjunction, Ct, Resubmit

NX_CT_F_COMMIT = 1
NX_CT_RECIRC_NONE = 0xFF
NX_IN_PORT = 0xFFF8   # resubmit's in_port is a 16-bit (OpenFlow 1.0) port: "keep in_port"


def _actions(parser: Any, ofp: Any, actions: tuple[Action, ...]) -> list:
    out = []
    for a in actions:
        if isinstance(a, Output):
            out.append(parser.OFPActionOutput(a.port))
        elif isinstance(a, ToController):
            out.append(parser.OFPActionOutput(ofp.OFPP_CONTROLLER, ofp.OFPCML_NO_BUFFER))
        elif isinstance(a, ToGroup):
            out.append(parser.OFPActionGroup(a.group_id))
        elif isinstance(a, SetField) and a.name == "in_port":
            # OVS refuses an OpenFlow set_field of in_port to 0 (no port) but takes
            # Nicira's load into NXM_OF_IN_PORT, its documented way to let a packet
            # be output back to the port it came in by (the spine detours).
            out.append(parser.NXActionRegLoad(ofs_nbits=nicira_ext.ofs_nbits(0, 15),
                                              dst="in_port_nxm", value=a.value))
        elif isinstance(a, SetField):
            out.append(parser.OFPActionSetField(**{a.name: a.value}))
        elif isinstance(a, DecTtl):
            out.append(parser.OFPActionDecNwTtl())
        elif isinstance(a, PushVlan):
            out.append(parser.OFPActionPushVlan(0x8100))
        elif isinstance(a, PopVlan):
            out.append(parser.OFPActionPopVlan())
        elif isinstance(a, Move):
            out.append(parser.NXActionRegMove(src_field=a.src, dst_field=a.dst,
                                              n_bits=a.n_bits))
        elif isinstance(a, Ct):   # policy (macvlan mode): conntrack, then a table
            out.append(parser.NXActionCT(
                flags=NX_CT_F_COMMIT if a.commit else 0, zone_src="",
                zone_ofs_nbits=a.zone, alg=0, actions=[],
                recirc_table=NX_CT_RECIRC_NONE if a.table is None else a.table))
        elif isinstance(a, Conjunction):   # clauses are numbered from 0 on the wire
            out.append(parser.NXActionConjunction(clause=a.clause - 1,
                                                  n_clauses=a.n_clauses, id_=a.conj_id))
        elif isinstance(a, Resubmit):
            out.append(parser.NXActionResubmitTable(in_port=NX_IN_PORT, table_id=a.table))
        else:
            raise TypeError(f"unknown action {a!r}")
    return out


def _flow_mod(dp: Any, f: FlowSpec, command: int) -> Any:
    ofp, parser = dp.ofproto, dp.ofproto_parser
    inst = []
    if f.actions:
        inst.append(parser.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS,
                                                 _actions(parser, ofp, f.actions)))
    if f.goto is not None:
        inst.append(parser.OFPInstructionGotoTable(f.goto))
    return parser.OFPFlowMod(dp, cookie=f.cookie, table_id=f.table, command=command,
                             priority=f.priority, out_port=ofp.OFPP_ANY,
                             out_group=ofp.OFPG_ANY, match=parser.OFPMatch(**f.match_dict()),
                             instructions=inst)


def _group_type(ofp: Any, g: GroupSpec) -> int:
    return ofp.OFPGT_FF if g.type == GROUP_FAST_FAILOVER else ofp.OFPGT_SELECT


def _group_mod(dp: Any, g: GroupSpec, command: int) -> Any:
    ofp, parser = dp.ofproto, dp.ofproto_parser
    buckets = [parser.OFPBucket(weight=b.weight, watch_port=b.watch_port,
                                watch_group=ofp.OFPG_ANY,
                                actions=_actions(parser, ofp, b.actions)) for b in g.buckets]
    return parser.OFPGroupMod(dp, command, _group_type(ofp, g), g.group_id, buckets)


def build_messages(dp: Any, changes: SwitchChanges) -> list:
    """Messages, in a safe order, with barriers between phases: wipe (if full),
    groups in, flows in, flows out, groups out, then a final barrier."""
    ofp, parser = dp.ofproto, dp.ofproto_parser
    msgs: list = []
    if changes.full:
        msgs.append(parser.OFPFlowMod(dp, table_id=ofp.OFPTT_ALL, command=ofp.OFPFC_DELETE,
                                      out_port=ofp.OFPP_ANY, out_group=ofp.OFPG_ANY,
                                      match=parser.OFPMatch()))
        msgs.append(parser.OFPGroupMod(dp, ofp.OFPGC_DELETE, ofp.OFPGT_SELECT, ofp.OFPG_ALL))
        msgs.append(parser.OFPBarrierRequest(dp))
    msgs += [_group_mod(dp, g, ofp.OFPGC_ADD) for g in changes.add_groups]
    msgs += [_group_mod(dp, g, ofp.OFPGC_MODIFY) for g in changes.modify_groups]
    if changes.add_groups or changes.modify_groups:
        msgs.append(parser.OFPBarrierRequest(dp))
    msgs += [_flow_mod(dp, f, ofp.OFPFC_ADD) for f in changes.add_flows]
    msgs += [_flow_mod(dp, f, ofp.OFPFC_DELETE_STRICT) for f in changes.delete_flows]
    if changes.delete_groups:
        msgs.append(parser.OFPBarrierRequest(dp))
        msgs += [parser.OFPGroupMod(dp, ofp.OFPGC_DELETE, ofp.OFPGT_SELECT, gid)
                 for gid in changes.delete_groups]
    msgs.append(parser.OFPBarrierRequest(dp))
    return msgs


def packet_out(dp: Any, port: int, data: bytes) -> Any:
    """Send ``data`` out of ``port`` (the ARP reply path)."""
    ofp, parser = dp.ofproto, dp.ofproto_parser
    return parser.OFPPacketOut(dp, buffer_id=ofp.OFP_NO_BUFFER, in_port=ofp.OFPP_CONTROLLER,
                               actions=[parser.OFPActionOutput(port)], data=data)


def port_is_up(ofp: Any, port: Any) -> bool:
    """An OFPPort is usable: neither administratively down nor without link."""
    return not (port.config & ofp.OFPPC_PORT_DOWN) and not (port.state & ofp.OFPPS_LINK_DOWN)


# --- reading a switch back (warm start) ---------------------------------------------
def _action_spec(ofp: Any, a: Any) -> Action:
    """One os-ken action as a spec; :class:`Opaque` for anything k8snet never plans."""
    name = type(a).__name__
    if name == "OFPActionOutput":
        if a.port == ofp.OFPP_CONTROLLER:
            return ToController()
        return Output(a.port)
    if name == "OFPActionGroup":
        return ToGroup(a.group_id)
    if name == "OFPActionSetField":
        return SetField(a.key, a.value)
    if name == "NXActionRegLoad" and _oxm_name(a.dst) == "in_port" and a.ofs_nbits == 15:
        return SetField("in_port", a.value)
    if name == "OFPActionDecNwTtl":
        return DecTtl()
    if name == "OFPActionPushVlan" and a.ethertype == 0x8100:
        return PushVlan()
    if name == "OFPActionPopVlan":
        return PopVlan()
    if name == "NXActionRegMove" and a.src_ofs == 0 and a.dst_ofs == 0:
        # OVS reports the fields by their Nicira names (NXM_OF_ETH_SRC), which os-ken
        # calls eth_src_nxm: the same field as OpenFlow's eth_src.
        return Move(_oxm_name(a.src_field), _oxm_name(a.dst_field), a.n_bits)
    if name == "NXActionCT" and not a.zone_src and not a.actions and not a.alg:
        return Ct(commit=bool(a.flags & NX_CT_F_COMMIT),
                  table=None if a.recirc_table == NX_CT_RECIRC_NONE else a.recirc_table,
                  zone=a.zone_ofs_nbits)
    if name == "NXActionConjunction":
        return Conjunction(a.id, a.clause + 1, a.n_clauses)
    if name == "NXActionResubmitTable" and a.in_port == NX_IN_PORT:
        return Resubmit(a.table_id)
    return Opaque(repr(a))


def _oxm_name(field: str) -> str:
    return field[:-len("_nxm")] if field.endswith("_nxm") else field


def _match_items(match: Any) -> tuple:
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v)
                        for k, v in match.items()))


def flow_spec(ofp: Any, stats: Any) -> FlowSpec:
    """A flow entry read from the switch (an OFPFlowStats, or anything with its
    attributes) as the spec that would have installed it."""
    actions: list[Action] = []
    goto = None
    for inst in stats.instructions:
        kind = type(inst).__name__
        if kind == "OFPInstructionActions" and inst.type == ofp.OFPIT_APPLY_ACTIONS:
            actions += [_action_spec(ofp, a) for a in inst.actions]
        elif kind == "OFPInstructionGotoTable":
            goto = inst.table_id
        else:
            actions.append(Opaque(repr(inst)))
    return FlowSpec(stats.table_id, stats.priority, _match_items(stats.match), tuple(actions),
                    goto, stats.cookie)


def group_spec(ofp: Any, desc: Any) -> GroupSpec:
    """A group read from the switch (an OFPGroupDescStats) as its spec."""
    kinds = {ofp.OFPGT_SELECT: GROUP_SELECT, ofp.OFPGT_FF: GROUP_FAST_FAILOVER}
    buckets = tuple(Bucket(b.watch_port, tuple(_action_spec(ofp, a) for a in b.actions),
                           b.weight) for b in desc.buckets)
    return GroupSpec(desc.group_id, buckets, kinds.get(desc.type, f"type {desc.type}"))


def read_requests(dp: Any) -> list:
    """Ask a switch for everything it holds: all flows of every table, all groups."""
    ofp, parser = dp.ofproto, dp.ofproto_parser
    return [parser.OFPGroupDescStatsRequest(dp, 0),
            parser.OFPFlowStatsRequest(dp, 0, ofp.OFPTT_ALL, ofp.OFPP_ANY, ofp.OFPG_ANY,
                                       0, 0, parser.OFPMatch())]


def more_parts(ofp: Any, msg: Any) -> bool:
    """A multipart reply with further parts to come."""
    return bool(msg.flags & ofp.OFPMPF_REPLY_MORE)
