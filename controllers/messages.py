"""Turn planned changes into os-ken OpenFlow 1.3 messages for one datapath.

The single place where specifications meet os-ken's message classes.
"""

from __future__ import annotations

from typing import Any

from k8snet.fabric.specs import (
    GROUP_FAST_FAILOVER,
    Action,
    DecTtl,
    FlowSpec,
    GroupSpec,
    Move,
    Output,
    SetField,
    SwitchChanges,
    ToController,
    ToGroup,
)


def _actions(parser: Any, ofp: Any, actions: tuple[Action, ...]) -> list:
    out = []
    for a in actions:
        if isinstance(a, Output):
            out.append(parser.OFPActionOutput(a.port))
        elif isinstance(a, ToController):
            out.append(parser.OFPActionOutput(ofp.OFPP_CONTROLLER, ofp.OFPCML_NO_BUFFER))
        elif isinstance(a, ToGroup):
            out.append(parser.OFPActionGroup(a.group_id))
        elif isinstance(a, SetField):
            out.append(parser.OFPActionSetField(**{a.name: a.value}))
        elif isinstance(a, DecTtl):
            out.append(parser.OFPActionDecNwTtl())
        elif isinstance(a, Move):
            out.append(parser.NXActionRegMove(src_field=a.src, dst_field=a.dst,
                                              n_bits=a.n_bits))
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
