"""Warm start: a (re)started controller changes only what the switch holds wrongly.

Faucet's warm start, here: when a switch connects, the controller first reads
what it holds (its flows and groups, read back into the same specifications the
plan is made of, by ``controllers.messages``), then sends the diff between that
and the plan. A controller restart over switches that kept their tables sends
nothing at all, so no packet notices it; a switch that lost its tables gets
everything; anything left over (an older plan, a hand-added flow) is removed.
The old way (delete every flow and group, then add the plan) dropped every
packet between the delete and the adds on every switch, on every restart.

Flow ADDs of an existing key replace the entry in place and group MODIFYs are
atomic in OpenFlow, so even a switch whose every entry differs changes without
a window where a packet finds no entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from k8snet.fabric.diff import diff_plans
from k8snet.fabric.specs import FlowSpec, GroupSpec, SwitchChanges, SwitchPlan


@dataclass
class Reading:
    """What a switch said it holds, gathered over several multipart replies."""

    flows: list[FlowSpec] = field(default_factory=list)
    groups: list[GroupSpec] = field(default_factory=list)
    flows_done: bool = False
    groups_done: bool = False

    def add_flows(self, flows: Iterable[FlowSpec], more: bool) -> None:
        """One flow stats reply; ``more``: the switch has further parts to send."""
        self.flows += flows
        self.flows_done = not more

    def add_groups(self, groups: Iterable[GroupSpec], more: bool) -> None:
        """One group description reply."""
        self.groups += groups
        self.groups_done = not more

    @property
    def complete(self) -> bool:
        """Both tables read to the end."""
        return self.flows_done and self.groups_done

    def held(self) -> SwitchPlan:
        """The switch's content as a plan (flows by key, groups by id)."""
        return SwitchPlan.of(self.flows, self.groups)


def warm_start(dpid: int, held: SwitchPlan, wanted: SwitchPlan) -> SwitchChanges:
    """The changes that turn what a switch holds into what it should hold: missing or
    different flows added (in place), leftovers deleted, groups added, modified or
    deleted; nothing for entries that are already right."""
    return diff_plans(dpid, held, wanted)


def describe(held: SwitchPlan, changes: SwitchChanges) -> str:
    """One line for the log: what the switch held and what changes."""
    return (f"held {len(held.flows)} flows, {len(held.groups)} groups; "
            f"{len(changes.add_flows)} flows to add or fix, {len(changes.delete_flows)} to "
            f"delete, {len(changes.add_groups) + len(changes.modify_groups)} groups to add "
            f"or fix, {len(changes.delete_groups)} to delete")
