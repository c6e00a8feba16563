"""Turn two plans of one switch into the changes that move the switch between them.

Why a diff rather than delete-all-then-add by cookie on every event: a link
failure changes a few group buckets on a few switches; a diff sends only
those, so traffic that never used the failed link is not disturbed for even
a moment, and recovery costs a handful of messages instead of the whole
table of every switch. Delete-and-add is kept for the one case where the
switch's content is unknown: a switch (re)connecting (``full_install``).
"""

from __future__ import annotations

from k8snet.fabric.specs import SwitchChanges, SwitchPlan


def diff_plans(dpid: int, old: SwitchPlan, new: SwitchPlan) -> SwitchChanges:
    """Changes from ``old`` to ``new``. A flow whose key (table, priority, match)
    stays but whose actions change is re-added (OpenFlow ADD replaces it in place)."""
    add_groups = tuple(g for gid, g in sorted(new.groups.items()) if gid not in old.groups)
    modify_groups = tuple(g for gid, g in sorted(new.groups.items())
                          if gid in old.groups and old.groups[gid] != g)
    add_flows = tuple(f for k, f in new.flows.items() if old.flows.get(k) != f)
    delete_flows = tuple(f for k, f in old.flows.items() if k not in new.flows)
    delete_groups = tuple(gid for gid in sorted(old.groups) if gid not in new.groups)
    return SwitchChanges(dpid, False, add_groups, modify_groups, add_flows,
                         delete_flows, delete_groups)


def full_install(dpid: int, plan: SwitchPlan) -> SwitchChanges:
    """Wipe our flows and all groups, then install ``plan`` whole."""
    return SwitchChanges(dpid, True, tuple(g for _, g in sorted(plan.groups.items())), (),
                         tuple(plan.flows.values()), (), ())
