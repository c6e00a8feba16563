"""The controller's brain: holds facts, port liveness and routes; returns changes.

Each method takes an event's plain facts and returns what to send (a list of
:class:`SwitchChanges`, or ARP reply bytes). It never talks to a switch.
"""

from __future__ import annotations

import dataclasses
from typing import Iterable, Optional

from k8snet.fabric.arp import answer, build_arp, parse_arp
from k8snet.fabric.diff import diff_plans, full_install
from k8snet.fabric.facts import Facts, Gateway, Route
from k8snet.fabric.plan import build_plan
from k8snet.fabric.policy import PolicyPlan, switch_policy_flows
from k8snet.fabric.specs import SwitchChanges, SwitchPlan
from k8snet.fabric.topology import Port


class Planner:
    """Plans for every switch of one fabric, kept current as ports and routes change."""

    def __init__(self, facts: Facts) -> None:
        self.facts = facts
        self.down: frozenset[Port] = frozenset()
        self.routes: tuple[Route, ...] = facts.routes
        self.pod_gateways: tuple[Gateway, ...] = ()  # macvlan mode: answered for Pods
        self._dpid = {s.name: s.dpid for s in facts.switches}
        self._name = {s.dpid: s.name for s in facts.switches}
        self._ports = {s.name: set() for s in facts.switches}
        for ln in facts.links:
            self._ports[ln.a].add(ln.a_port)
            self._ports[ln.b].add(ln.b_port)
        for h in facts.hosts:
            self._ports[h.switch].add(h.port)
        self.policy = PolicyPlan()  # macvlan mode: NetworkPolicy in the leaves
        self.plans: dict[str, SwitchPlan] = build_plan(facts, self.down, self.routes)

    # --- lookups -------------------------------------------------------------------
    def knows(self, dpid: int) -> bool:
        """Whether ``dpid`` is a switch of the facts."""
        return dpid in self._name

    def name_of(self, dpid: int) -> str:
        """Switch name for a datapath id."""
        return self._name[dpid]

    # --- events --------------------------------------------------------------------
    def switch_connected(self, dpid: int) -> SwitchChanges:
        """Everything a (re)connecting switch must hold, installed from scratch."""
        return full_install(dpid, self.plans[self._name[dpid]])

    def ports_reported(self, dpid: int, live_ports: Iterable[int]) -> list[SwitchChanges]:
        """A switch described its ports: facts ports missing from ``live_ports`` are down."""
        name = self._name[dpid]
        live = set(live_ports)
        down = {p for p in self.down if p[0] != name}
        down |= {(name, p) for p in self._ports[name] if p not in live}
        return self._replan(frozenset(down), self.routes)

    def port_changed(self, dpid: int, port: int, up: bool) -> list[SwitchChanges]:
        """One port went up or down (OFPPortStatus)."""
        key = (self._name[dpid], port)
        if port not in self._ports[key[0]]:
            return []
        down = self.down - {key} if up else self.down | {key}
        return self._replan(frozenset(down), self.routes)

    def set_routes(self, routes: Iterable[Route]) -> list[SwitchChanges]:
        """Replace the routed prefixes (Pod CIDRs, subnets behind hosts) as a whole.

        Routes must name hosts of the facts (use ``facts.parse_routes`` to validate).
        """
        return self._replan(self.down, tuple(routes))

    def set_pod_gateways(self, gateways: Iterable[Gateway]) -> list[SwitchChanges]:
        """Macvlan mode: extra gateway addresses (one per node block) answered for Pods.
        Their MAC must be a facts gateway's, which the plan already routes."""
        return self._replan(self.down, self.routes, tuple(gateways))

    def set_policy(self, policy: PolicyPlan) -> list[SwitchChanges]:
        """Macvlan mode: the NetworkPolicy flows the leaves hold (part of each plan, so
        warm start keeps them), sent as a diff against the previous ones. Drops are sent
        first: a switch applies flow mods in order, so a Pod that becomes known with
        its isolation never has a moment with its pass flow and not yet its drop."""
        return [dataclasses.replace(c, add_flows=tuple(sorted(
            c.add_flows, key=lambda f: bool(f.actions) or f.goto is not None)))
            for c in self._replan(self.down, self.routes, policy=policy)]

    def arp_reply(self, frame: bytes) -> Optional[bytes]:
        """The frame to send back out of the ingress port, or None."""
        request = parse_arp(frame)
        if request is None:
            return None
        reply = answer(self.facts, self.down, request, self.pod_gateways)
        return None if reply is None else build_arp(reply)

    # --- internals -----------------------------------------------------------------
    def _replan(self, down: frozenset[Port], routes: tuple[Route, ...],
                pod_gateways: Optional[tuple[Gateway, ...]] = None,
                policy: Optional[PolicyPlan] = None) -> list[SwitchChanges]:
        gateways = self.pod_gateways if pod_gateways is None else pod_gateways
        policy = self.policy if policy is None else policy
        if (down == self.down and routes == self.routes and gateways == self.pod_gateways
                and policy == self.policy):
            return []
        new = build_plan(self.facts, down, routes, gateways)
        if policy.active:
            for name, plan in new.items():
                extra = switch_policy_flows(self.facts, name, policy)
                if extra:
                    new[name] = SwitchPlan({**plan.flows, **{f.key: f for f in extra}},
                                           plan.groups)
        changes = []
        for name, plan in new.items():
            c = diff_plans(self._dpid[name], self.plans[name], plan)
            if len(c):
                changes.append(c)
        self.down, self.routes, self.pod_gateways, self.plans = down, routes, gateways, new
        self.policy = policy
        return changes
