"""Flow and group specifications: plain data, turned into OpenFlow by the app.

Match dicts use os-ken's OFPMatch field names (``eth_type``, ``eth_dst``,
``ipv4_dst`` as ``(address, netmask)`` or a plain address, ``in_port``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Union

# Tables (see the package docstring).
TABLE_CLASSIFY = 0
TABLE_ROUTE = 1
TABLE_FORWARD = 2

# Cookies: one base value marks every flow this controller installs, the low
# byte says which kind of entry it is (handy in ``ovs-ofctl dump-flows``).
COOKIE_BASE = 0x4B38_0000_0000_0000
COOKIE_MASK = 0xFFFF_0000_0000_0000
COOKIE_MISS = COOKIE_BASE | 0x01
COOKIE_ARP = COOKIE_BASE | 0x02
COOKIE_CLASSIFY = COOKIE_BASE | 0x03
COOKIE_HOST_ROUTE = COOKIE_BASE | 0x04
COOKIE_PREFIX_ROUTE = COOKIE_BASE | 0x05
COOKIE_FORWARD = COOKIE_BASE | 0x06
COOKIE_POD_ROUTE = COOKIE_BASE | 0x07  # macvlan mode: one /32 per Pod
COOKIE_ARP_REPLY = COOKIE_BASE | 0x08  # the switch answers ARP (the responder)
COOKIE_DETOUR = COOKIE_BASE | 0x09  # spine link failover: detoured packets (k8snet.fabric.detour)

PORT_IN = 0xFFFFFFF8  # OFPP_IN_PORT: send back out of the ingress port
ETH_TYPE_IPV4 = 0x0800
ETH_TYPE_ARP = 0x0806


@dataclass(frozen=True)
class Output:
    """Send out of a port."""

    port: int


@dataclass(frozen=True)
class ToController:
    """Send the whole packet to the controller."""


@dataclass(frozen=True)
class ToGroup:
    """Hand the packet to a group."""

    group_id: int


@dataclass(frozen=True)
class SetField:
    """Rewrite one header field (only ``eth_src`` / ``eth_dst`` are ever planned)."""

    name: str
    value: Any


@dataclass(frozen=True)
class DecTtl:
    """Decrement the IPv4 TTL (drop at zero)."""


@dataclass(frozen=True)
class Move:
    """Copy ``n_bits`` of header field ``src`` into ``dst`` (Nicira's reg_move, which
    OVS has at every OpenFlow version): how a switch turns an ARP request into its
    reply without knowing the requester in advance."""

    src: str
    dst: str
    n_bits: int


@dataclass(frozen=True)
class PushVlan:
    """Push an 802.1Q tag (its VID is set by a following ``SetField("vlan_vid", ...)``)."""


@dataclass(frozen=True)
class PopVlan:
    """Pop the outer 802.1Q tag."""


@dataclass(frozen=True)
class Opaque:
    """An action or instruction read back from a switch that k8snet never plans (its
    text); it equals no planned action, so a flow holding one is replaced."""

    text: str


Action = Union[Output, ToController, ToGroup, SetField, DecTtl, Move, PushVlan, PopVlan, Opaque]


@dataclass(frozen=True)
class FlowSpec:
    """One flow entry: apply ``actions``, then go to ``goto`` if set."""

    table: int
    priority: int
    match: tuple[tuple[str, Any], ...]
    actions: tuple[Action, ...] = ()
    goto: Optional[int] = None
    cookie: int = COOKIE_BASE

    @property
    def key(self) -> tuple[int, int, tuple[tuple[str, Any], ...]]:
        """What identifies the entry on the switch: table, priority, match."""
        return (self.table, self.priority, self.match)

    def match_dict(self) -> dict[str, Any]:
        """The match as a dict for OFPMatch(**...)."""
        return dict(self.match)


def flow(table: int, priority: int, match: dict[str, Any], actions: tuple = (),
         goto: Optional[int] = None, cookie: int = COOKIE_BASE) -> FlowSpec:
    """Build a FlowSpec from a match dict (kept sorted so equal matches compare equal)."""
    return FlowSpec(table, priority, tuple(sorted(match.items())), tuple(actions), goto, cookie)


@dataclass(frozen=True)
class Bucket:
    """A SELECT group bucket: ``actions``, live while ``watch_port`` is up."""

    watch_port: int
    actions: tuple[Action, ...]
    weight: int = 1


GROUP_SELECT = "select"           # ECMP: one live bucket per flow, by hash
GROUP_FAST_FAILOVER = "ff"        # the first live bucket, chosen by the switch alone


@dataclass(frozen=True)
class GroupSpec:
    """A group: SELECT (ECMP over ``buckets``) or fast-failover (first live bucket)."""

    group_id: int
    buckets: tuple[Bucket, ...] = field(default=())
    type: str = GROUP_SELECT


@dataclass(frozen=True)
class SwitchPlan:
    """Everything one switch should hold."""

    flows: dict = field(default_factory=dict)    # FlowSpec.key -> FlowSpec
    groups: dict = field(default_factory=dict)   # group_id -> GroupSpec

    @classmethod
    def of(cls, flows: list[FlowSpec], groups: list[GroupSpec]) -> SwitchPlan:
        """Index flows by key and groups by id."""
        return cls({f.key: f for f in flows}, {g.group_id: g for g in groups})


@dataclass(frozen=True)
class SwitchChanges:
    """What to send to one switch, in this order, to move it from an old plan to a new one.

    Groups are added/modified before the flows that point at them and deleted
    after; ``full`` means: first delete every flow with our cookie and every
    group (a switch that (re)connected holds unknown state).
    """

    dpid: int
    full: bool = False
    add_groups: tuple[GroupSpec, ...] = ()
    modify_groups: tuple[GroupSpec, ...] = ()
    add_flows: tuple[FlowSpec, ...] = ()
    delete_flows: tuple[FlowSpec, ...] = ()
    delete_groups: tuple[int, ...] = ()

    def __len__(self) -> int:
        return (len(self.add_groups) + len(self.modify_groups) + len(self.add_flows)
                + len(self.delete_flows) + len(self.delete_groups))
