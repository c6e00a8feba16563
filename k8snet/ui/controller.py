"""The controller's view of a switch, for the page to show next to the switch's own.

The fabric app decides what each switch holds with the pure
`k8snet.fabric.plan.build_plan` over the facts, the ports it saw go down
and the routes it learned (each Node's Pod CIDR in routed and macvlan mode).
Calling that same function with what the page knows (port state from OVS,
Nodes from the informer) gives the controller's intended content: its flow
count and its ECMP groups with their branches. When the switch's own dump
disagrees, the page shows both, so a difference is visible, not hidden.
(macvlan mode's per-Pod /32 routes are learned from ARP and not shown.)
"""

from __future__ import annotations

from typing import Iterable, Mapping

from k8snet.fabric.facts import Facts
from k8snet.fabric.nodes import merge_routes, routes_from_nodes
from k8snet.fabric.plan import build_plan
from k8snet.trace.path import port_of

ROUTED_MODES = ("routed", "macvlan")


def down_ports(ports: Mapping[str, object]) -> frozenset:
    """(switch, port) of every switch port seen down (``ports``: name -> PortView)."""
    out = set()
    for name, view in ports.items():
        where = port_of(name)
        if where and not getattr(view, "up", True):
            out.add(where)
    return frozenset(out)


def switch_view(facts: Facts, mode: str, switch: str, k8s_nodes: Iterable[dict],
                ports: Mapping[str, object]) -> dict:
    """What the controller means ``switch`` to hold: flow count, groups and branches."""
    routes = facts.routes
    if mode in ROUTED_MODES:
        routes = merge_routes(facts.routes, routes_from_nodes(k8s_nodes, facts.hosts).routes)
    plan = build_plan(facts, down_ports(ports), routes)[switch]
    groups = [{"id": g.group_id,
               "branches": [b.watch_port for b in g.buckets]}
              for g in sorted(plan.groups.values(), key=lambda g: g.group_id)]
    return {"flows": len(plan.flows), "groups": groups,
            "ecmp": [g for g in groups if len(g["branches"]) > 1],
            "down": sorted(f"{s}p{p}" for s, p in down_ports(ports) if s == switch)}


def count_flows(dump: Iterable[str]) -> int:
    """Flows in ``ovs-ofctl dump-flows`` output (its lines that carry actions)."""
    return sum(1 for line in dump if "actions=" in line)


def count_groups(dump: Iterable[str]) -> int:
    return sum(1 for line in dump if line.strip().startswith("group_id="))
