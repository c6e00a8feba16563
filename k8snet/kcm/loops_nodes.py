"""Node loops: a Pod CIDR per Node (IPAM), and heartbeats -> taints -> evictions."""

from __future__ import annotations

import datetime as dt
import ipaddress

from k8snet.kcm import nodeipam
from k8snet.kcm import nodelifecycle as nl
from k8snet.kcm.base import Loop, with_kind
from k8snet.kcm.objects import meta, name_of
from k8snet.machinery.client import Conflict, NotFound
from k8snet.machinery.events import NORMAL


class NodeIpamLoop(Loop):
    """A Pod CIDR block for every Node."""

    name = "nodeipam"
    watches = ("nodes",)

    def __init__(self, ctx):
        super().__init__(ctx)
        opts = ctx.options
        self.cluster = ipaddress.ip_network(opts.cluster_cidr)
        self.mask = opts.node_cidr_mask_size
        self.reserved: dict[str, str] = {}

    def sync(self) -> None:
        nodes = self.ctx.items("nodes")
        names = {name_of(n) for n in nodes}
        for name in list(self.reserved):
            node = next((n for n in nodes if name_of(n) == name), None)
            if node is None or nodeipam.node_cidr(node):
                del self.reserved[name]
        for cidr, holders in nodeipam.duplicates(nodes).items():
            self.log.error("Pod CIDR %s is held by several Nodes: %s", cidr, ", ".join(holders))
        wanting = [n for n in nodes if name_of(n) not in self.reserved]
        plan = nodeipam.allocate(wanting, self.cluster, self.mask, self.reserved.values())
        if len(plan) < sum(1 for n in wanting if not nodeipam.node_cidr(n)):
            self.log.error("no free /%d left in %s", self.mask, self.cluster)
        for name, cidr in plan.items():
            if name not in names:
                continue
            try:
                self.ctx.client.patch("nodes", name,
                                      {"spec": {"podCIDR": cidr, "podCIDRs": [cidr]}})
                self.reserved[name] = cidr
                self.log.info("node %s: podCIDR %s", name, cidr)
            except (Conflict, NotFound) as exc:
                self.log.debug("node %s: %s", name, exc.reason)


class NodeLifecycleLoop(Loop):
    """Missed Lease renewals -> Ready=Unknown, NoExecute taint, evictions."""

    name = "nodelifecycle"
    watches = ("nodes", "leases", "pods")
    period = 1.0
    event_component = "node-controller"

    def __init__(self, ctx):
        super().__init__(ctx)
        self.health: dict[str, nl.NodeHealth] = {}
        self.taints_seen: dict[str, dict[str, dt.datetime]] = {}   # node -> taint -> when
        self.evictions = self.recorder("taint-eviction-controller")

    def sync(self) -> None:
        now = self.ctx.clock()
        opts = self.ctx.options
        leases = {name_of(le): le for le in self.ctx.items("leases")
                  if meta(le).get("namespace") == "kube-node-lease"}
        pods_by_node: dict[str, list[dict]] = {}
        for p in self.ctx.items("pods"):
            node_name = (p.get("spec") or {}).get("nodeName")
            if node_name:
                pods_by_node.setdefault(node_name, []).append(p)
        nodes = self.ctx.items("nodes")
        for name in set(self.health) - {name_of(n) for n in nodes}:
            del self.health[name]
            self.taints_seen.pop(name, None)
        for node in nodes:
            name = name_of(node)
            self.health[name] = nl.observe(self.health.get(name), leases.get(name), now, node)
            seen = self.taints_seen.setdefault(name, {})
            current = {nl.taint_key(t) for t in (node.get("spec") or {}).get("taints") or []}
            for key in set(seen) - current:
                del seen[key]
            for key in current:
                seen.setdefault(key, now)
            plan = nl.decide_node(node, self.health[name], pods_by_node.get(name, []), now,
                                  opts.node_monitor_grace_period, opts.pod_eviction_timeout,
                                  seen)
            try:
                self._apply(node, plan, now)
            except (Conflict, NotFound) as exc:
                self.log.debug("node %s: %s", name, exc.reason)

    def _apply(self, node: dict, plan: nl.NodePlan, now: dt.datetime) -> None:
        client, name = self.ctx.client, name_of(node)
        if plan.ready_unknown:
            fresh = client.get("nodes", name)
            status = dict(fresh.get("status") or {}, conditions=nl.unknown_conditions(fresh, now))
            client.update("nodes", dict(with_kind("nodes", fresh), status=status),
                          subresource="status")
            self.log.warning("node %s: Lease not renewed for %.0fs: Ready=Unknown", name,
                             self.ctx.options.node_monitor_grace_period)
            self.events.event(with_kind("nodes", node), NORMAL, "NodeNotReady",
                              f"Node {name} status is now: NodeNotReady")
        if plan.add_taints or plan.remove_taints:
            fresh = client.get("nodes", name)
            spec = dict(fresh.get("spec") or {})
            taints = [t for t in spec.get("taints") or []
                      if t.get("key") not in plan.remove_taints]
            have = {(t.get("key"), t.get("effect")) for t in taints}
            taints += [t for t in plan.add_taints if (t["key"], t["effect"]) not in have]
            spec["taints"] = taints
            client.update("nodes", dict(with_kind("nodes", fresh), spec=spec))
            self.log.info("node %s: taints now %s", name,
                          [f"{t['key']}:{t['effect']}" for t in taints] or "none")
        for key in plan.evict:
            ns, pod_name = key.split("/", 1)
            try:
                client.delete("pods", pod_name, ns)
                self.log.info("node %s: evicted Pod %s", name, key)
                self.evictions.event({"kind": "Pod", "apiVersion": "v1", "metadata": {
                    "name": pod_name, "namespace": ns}}, NORMAL, "TaintManagerEviction",
                    f"Marking for deletion Pod {key}")
            except NotFound:
                pass
