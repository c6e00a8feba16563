"""Spine link failover in the switches alone: fast-failover groups and a detour.

A leaf with several uplinks already survives the loss of one by itself: its
SELECT groups' buckets watch their ports, and OVS (userspace datapath included)
skips a bucket whose watched port is down, so only packets on the wire are lost.
The other end is the problem: a spine whose link to leaf D is cut keeps
receiving D's traffic from every other leaf, whose ECMP groups still hash some
flows its way, until the controller has heard of the cut and replanned them (a
round trip through a loaded controller; forever if it is down).

So on a spine, traffic for an adjacent leaf D goes through a FAST-FAILOVER group
(OpenFlow's first-live-bucket group, which OVS evaluates at forwarding time):
bucket 1 is the direct link to D; the next buckets bounce the packet off another
leaf L, tagged with the detour VLAN (:data:`DETOUR_VID`). L sends a tagged packet
that came from spine s for D up another uplink (its own fast-failover group for
"D, not via s"), tag kept, so that the second spine knows the packet has been
detoured once already: it pops the tag and sends it straight down to D (its plain
SELECT group), never detouring it again, so no packet can loop. D never sees a tag.

Routed packets keep working too: the spine's routed buckets set ``eth_dst`` to
D's router MAC before bouncing, the second spine forwards on that MAC, and D
routes it as any packet from a spine (the bounce leaf and the second spine bridge it,
so a detoured packet loses two TTL fewer than the routed path of the same length).
The bounce may go back to the leaf the packet came from (with two leaves it is the
only other one); that leaf sends it up its other uplink like any detoured packet.
Only single spine-leaf links get a detour (parallel links keep their SELECT group:
the other member is the failover). A spine that the controller knows has neither its link
to D nor a leaf to bounce off (several cuts) sends the live shortest way round,
untagged: a path every switch on it forwards as any packet for D.

Which groups and entries exist follows the facts (every link up), so a cut does not
change them: the controller's replan after a cut only modifies groups (the leaves'
ECMP groups drop the dead spine, the spine's group drops the dead bucket), each
atomically, and never pulls a detour from under packets using it.
Roles come from the facts (``spine``, ``leaf``); other topologies are unchanged.
"""

from __future__ import annotations

from typing import Iterable

from k8snet.fabric.facts import Facts, Host
from k8snet.fabric.specs import (
    COOKIE_DETOUR,
    GROUP_FAST_FAILOVER,
    TABLE_CLASSIFY,
    Bucket,
    FlowSpec,
    GroupSpec,
    Output,
    PopVlan,
    PushVlan,
    SetField,
    ToGroup,
    flow,
)
from k8snet.fabric.topology import Topology

DETOUR_VID = 0xFD5  # 4053: the VLAN a detoured packet carries between the two spines
VLAN_PRESENT = 0x1000  # OpenFlow's OFPVID_PRESENT bit, set in vlan_vid matches and sets
PRIO_DETOUR = 400
FF_GROUP_BASE = 0x20000        # spine: bridged to adjacent leaf D, + D's index
FF_ROUTE_GROUP_BASE = 0x30000  # spine: routed to adjacent leaf D, + D's index
LEAF_DETOUR_BASE = 0x100000    # leaf: "to D, not via port P": + D's index * 0x1000 + P


def _index(facts: Facts, switch: str) -> int:
    return 1 + [s.name for s in facts.switches].index(switch)


def _role(facts: Facts, switch: str) -> str:
    return facts.switch(switch).role


def _single_links(topo: Topology, here: str) -> dict[str, int]:
    """Neighbour -> port, for neighbours joined to ``here`` by exactly one live link."""
    ports: dict[str, list[int]] = {}
    for hop in topo.adjacent[here]:
        ports.setdefault(hop.peer, []).append(hop.port)
    return {peer: p[0] for peer, p in ports.items() if len(p) == 1}


def _macs_of(leaf: str, hosts: Iterable[Host], router: str) -> list[str]:
    return sorted({h.mac for h in hosts if h.switch == leaf}) + [router]


def spine_groups(facts: Facts, whole: Topology, live: Topology, spine: str,
                 hosts: Iterable[Host], router_macs: dict[str, str]
                 ) -> tuple[dict[int, GroupSpec], dict[int, int], list[FlowSpec]]:
    """A spine's fast-failover groups, which of its SELECT groups they stand in for
    (select id -> fast-failover id, as :mod:`k8snet.fabric.plan` numbers them: the
    spine's table entries are pointed at them), and its entries for detoured packets
    (tag popped, straight down to the leaf).

    Which groups and entries exist follows ``whole`` (every link up), so a cut never
    changes them; the detour buckets follow ``live`` (the links the controller knows
    are up): a leaf that cannot reach the destination any more is no detour."""
    from k8snet.fabric.plan import group_id, route_group_id

    hosts = list(hosts)
    groups: dict[int, GroupSpec] = {}
    remap: dict[int, int] = {}
    flows: list[FlowSpec] = []
    if _role(facts, spine) != "spine":
        return groups, remap, flows
    links = _single_links(whole, spine)
    leaves = [peer for peer in links if _role(facts, peer) == "leaf"]
    for leaf in leaves:
        direct = links[leaf]
        if not any(other != leaf and _can_detour(facts, whole, other, spine, leaf)
                   for other in leaves):
            continue  # nowhere to bounce even with every link up: the SELECT group stays
        # Links the controller knows are down lose their buckets even if this end's port
        # still looks up (only the other end went down): group modifications.
        live_links = _single_links(live, spine)
        up = live_links.get(leaf) == direct
        vias = [(other, links[other]) for other in leaves
                if other != leaf and live_links.get(other) == links[other]
                and _can_detour(facts, live, other, spine, leaf)]
        # The bounce may go back to the leaf it came from (with two leaves, the only
        # other leaf): OpenFlow drops output to the ingress port, so forget it first
        # (in_port is writable in OVS; 0 is no port).
        tag = (PushVlan(), SetField("vlan_vid", VLAN_PRESENT | DETOUR_VID),
               SetField("in_port", 0))
        rmac = SetField("eth_dst", router_macs[leaf])
        i = _index(facts, leaf)
        # Neither the link nor one bounce is left (several cuts the controller knows of):
        # the live shortest way round, untagged, which every switch on it forwards as
        # any packet for D; without it the group would have no bucket and drop.
        around = [] if up or vias else _toward(live, spine, leaf)
        first = (Bucket(direct, (Output(direct),), 0),) if up else ()
        bridged = GroupSpec(FF_GROUP_BASE + i, first + tuple(
            Bucket(port, tag + (Output(port),), 0) for _, port in vias) + tuple(
            Bucket(h.port, (Output(h.port),), 0) for h in around), GROUP_FAST_FAILOVER)
        first = (Bucket(direct, (rmac, Output(direct)), 0),) if up else ()
        routed = GroupSpec(FF_ROUTE_GROUP_BASE + i, first + tuple(
            Bucket(port, (rmac,) + tag + (Output(port),), 0) for _, port in vias) + tuple(
            Bucket(h.port, (SetField("eth_dst", router_macs[h.peer]), Output(h.port)), 0)
            for h in around), GROUP_FAST_FAILOVER)
        groups[bridged.group_id] = bridged
        groups[routed.group_id] = routed
        remap[group_id(facts, leaf)] = bridged.group_id
        remap[route_group_id(facts, leaf)] = routed.group_id
        plain = group_id(facts, leaf)  # detoured once already: straight down, no second bounce
        groups[plain] = GroupSpec(plain, (Bucket(direct, (Output(direct),)),) if up else ())
        for mac in _macs_of(leaf, hosts, router_macs[leaf]):
            flows.append(flow(TABLE_CLASSIFY, PRIO_DETOUR,
                              {"vlan_vid": VLAN_PRESENT | DETOUR_VID, "eth_dst": mac},
                              (PopVlan(), ToGroup(plain)), cookie=COOKIE_DETOUR))
    return groups, remap, flows


def _toward(topo: Topology, here: str, target: str) -> list:
    """The hops from ``here`` on a shortest path to ``target`` ([] if there is none)."""
    dist = topo.distances_to(target)
    if here not in dist:
        return []
    return [h for h in topo.adjacent[here] if dist.get(h.peer) == dist[here] - 1]


def _can_detour(facts: Facts, topo: Topology, via: str, spine: str, leaf: str) -> bool:
    """Leaf ``via`` reaches ``leaf`` over some spine other than ``spine``."""
    return bool(_other_uplinks(facts, topo, via, spine, leaf))


def _other_uplinks(facts: Facts, topo: Topology, here: str, avoid: str,
                   leaf: str) -> list[int]:
    """Ports of ``here`` towards spines other than ``avoid`` that are adjacent to ``leaf``."""
    out = []
    for hop in topo.adjacent[here]:
        if hop.peer != avoid and _role(facts, hop.peer) == "spine" and any(
                h.peer == leaf for h in topo.adjacent[hop.peer]):
            out.append(hop.port)
    return out


def leaf_detours(facts: Facts, whole: Topology, live: Topology, here: str,
                 hosts: Iterable[Host], router_macs: dict[str, str]
                 ) -> tuple[dict[int, GroupSpec], list[FlowSpec]]:
    """A leaf's part: a tagged packet from spine s for leaf D goes up another uplink
    that leads to D (first live one), still tagged. Entries follow ``whole``, the
    uplinks in the groups ``live`` (see :func:`spine_groups`)."""
    hosts = list(hosts)
    groups: dict[int, GroupSpec] = {}
    flows: list[FlowSpec] = []
    if _role(facts, here) != "leaf":
        return groups, flows
    uplinks = {peer: port for peer, port in _single_links(whole, here).items()
               if _role(facts, peer) == "spine"}
    for spine, port in sorted(uplinks.items()):
        if port >= 0x1000:
            continue  # no room in the group id; such a leaf simply gets no detour
        for leaf in sorted({h.peer for h in whole.adjacent[spine]}):
            if leaf == here or _role(facts, leaf) != "leaf":
                continue
            if not _other_uplinks(facts, whole, here, spine, leaf):
                continue
            others = _other_uplinks(facts, live, here, spine, leaf)  # may be none: drop
            gid = LEAF_DETOUR_BASE + _index(facts, leaf) * 0x1000 + port
            groups[gid] = GroupSpec(gid, tuple(Bucket(q, (Output(q),), 0) for q in others),
                                    GROUP_FAST_FAILOVER)
            for mac in _macs_of(leaf, hosts, router_macs[leaf]):
                flows.append(flow(TABLE_CLASSIFY, PRIO_DETOUR,
                                  {"in_port": port, "vlan_vid": VLAN_PRESENT | DETOUR_VID,
                                   "eth_dst": mac}, (ToGroup(gid),), cookie=COOKIE_DETOUR))
    return groups, flows
