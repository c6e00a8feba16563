"""The controller loops: each reads informer snapshots, asks its pure module for a plan,
and applies it with the API client (conflicts are left for the next sync)."""

from __future__ import annotations

import datetime as dt
import ipaddress
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Optional

from k8snet.client import AlreadyExists, ApiError, Conflict, NotFound
from k8snet.events import record_event
from k8snet.kcm import deployment as dep
from k8snet.kcm import endpoints as ep
from k8snet.kcm import gc, nodeipam
from k8snet.kcm import nodelifecycle as nl
from k8snet.kcm.base import Loop, with_kind
from k8snet.kcm.objects import meta, name_of
from k8snet.kcm.replicaset import pod_from_template, reconcile_replicaset, slow_start_batches

EXPECTATION_TIMEOUT = 30.0
CREATE_WORKERS = 8


@dataclass
class Options:
    """controller-manager settings."""

    cluster_cidr: str = "10.244.0.0/16"
    node_cidr_mask_size: int = 24
    node_monitor_grace_period: float = 20.0
    pod_eviction_timeout: float = 30.0
    allocate_node_cidrs: bool = True


def _key(obj: dict) -> str:
    return f"{meta(obj).get('namespace')}/{name_of(obj)}"


def _status_differs(old: Optional[dict], new: dict) -> bool:
    """Whether any field the plan sets differs (fields the plan leaves out are ignored)."""
    old = old or {}
    return any(old.get(k) != v for k, v in new.items())


class DeploymentLoop(Loop):
    """Deployment -> ReplicaSets."""

    name = "deployment"
    watches = ("deployments", "replicasets", "pods")

    def sync(self) -> None:
        now = self.ctx.clock()
        rss, pods = self.ctx.items("replicasets"), self.ctx.items("pods")
        for d in self.ctx.items("deployments"):
            try:
                self._apply(d, dep.reconcile_deployment(d, rss, pods, now))
            except (Conflict, NotFound) as exc:
                self.log.debug("%s: %s (next sync retries)", _key(d), exc.reason)

    def _apply(self, d: dict, plan: dep.DeploymentPlan) -> None:
        client, ns = self.ctx.client, meta(d).get("namespace")
        if plan.create_rs is not None:
            try:
                client.create("replicasets", plan.create_rs, ns)
                self.log.info("%s: created ReplicaSet %s (%d)", _key(d),
                              name_of(plan.create_rs), plan.create_rs["spec"]["replicas"])
                record_event(client, with_kind("deployments", d), "ScalingReplicaSet",
                             f"Scaled up replica set {name_of(plan.create_rs)} from 0 to "
                             f"{plan.create_rs['spec']['replicas']}", "Normal",
                             "deployment-controller", log=self.log)
            except AlreadyExists:
                pass
        cached = {name_of(r): r for r in self.ctx.items("replicasets")
                  if meta(r).get("namespace") == ns}
        for rs_name in set(plan.scale) | set(plan.annotate):
            rs = cached.get(rs_name)
            if rs is None:
                continue
            new = with_kind("replicasets", rs)
            new["metadata"] = dict(meta(rs), annotations=dict(
                meta(rs).get("annotations") or {}, **plan.annotate.get(rs_name, {})))
            old_replicas = (rs.get("spec") or {}).get("replicas", 0)
            if rs_name in plan.scale:
                new["spec"] = dict(rs.get("spec") or {}, replicas=plan.scale[rs_name])
            client.update("replicasets", new, ns)
            if rs_name in plan.scale and plan.scale[rs_name] != old_replicas:
                verb = "up" if plan.scale[rs_name] > old_replicas else "down"
                self.log.info("%s: scaled %s %s from %s to %s", _key(d), rs_name, verb,
                              old_replicas, plan.scale[rs_name])
                record_event(client, with_kind("deployments", d), "ScalingReplicaSet",
                             f"Scaled {verb} replica set {rs_name} from {old_replicas} to "
                             f"{plan.scale[rs_name]}", "Normal", "deployment-controller",
                             log=self.log)
        for rs_name in plan.delete_rs:
            try:
                client.delete("replicasets", rs_name, ns, propagation_policy="Background")
            except NotFound:
                pass
        if plan.annotations:
            client.patch("deployments", name_of(d), {"metadata": {"annotations":
                                                                  plan.annotations}}, ns)
        if _status_differs_ignoring_times(d.get("status"), plan.status):
            client.update("deployments", dict(with_kind("deployments", d), status=plan.status),
                          ns, subresource="status")


def _strip_times(status: Optional[dict]) -> dict:
    status = dict(status or {})
    status["conditions"] = [{k: v for k, v in c.items()
                             if k not in ("lastUpdateTime", "lastTransitionTime")}
                            for c in status.get("conditions") or []]
    return status


def _status_differs_ignoring_times(old: Optional[dict], new: dict) -> bool:
    return _status_differs(_strip_times(old), _strip_times(new))


class ReplicaSetLoop(Loop):
    """ReplicaSet -> Pods, with expectations so a stale cache never doubles a scale step."""

    name = "replicaset"
    watches = ("replicasets", "pods")

    def __init__(self, ctx):
        super().__init__(ctx)
        self.expect: dict[str, tuple[float, set, set]] = {}

    def _satisfied(self, rs_key: str, pods: dict[str, dict], now: float) -> bool:
        entry = self.expect.get(rs_key)
        if entry is None:
            return True
        at, adds, dels = entry
        ns = rs_key.split("/", 1)[0]
        seen_adds = all(f"{ns}/{n}" in pods for n in adds)
        seen_dels = all(f"{ns}/{n}" not in pods or meta(pods[f"{ns}/{n}"]).get(
            "deletionTimestamp") for n in dels)
        if (seen_adds and seen_dels) or now - at > EXPECTATION_TIMEOUT:
            del self.expect[rs_key]
            return True
        return False

    def sync(self) -> None:
        now = self.ctx.clock()
        pods_by_key = self.ctx.by_key("pods")
        pods = list(pods_by_key.values())
        for rs in self.ctx.items("replicasets"):
            key = _key(rs)
            if not self._satisfied(key, pods_by_key, now.timestamp()):
                continue
            plan = reconcile_replicaset(rs, pods, now)
            try:
                self._apply(rs, plan, now.timestamp())
            except (Conflict, NotFound) as exc:
                self.log.debug("%s: %s (next sync retries)", key, exc.reason)

    def _apply(self, rs: dict, plan, now: float) -> None:
        client, ns, key = self.ctx.client, meta(rs).get("namespace"), _key(rs)
        adds: set = set()
        dels: set = set()
        try:
            with ThreadPoolExecutor(CREATE_WORKERS, thread_name_prefix="rs-create") as pool:
                for size in slow_start_batches(plan.create):
                    futures = [pool.submit(client.create, "pods", pod_from_template(rs), ns)
                               for _ in range(size)]
                    errors = []
                    for future in futures:
                        try:
                            adds.add(name_of(future.result()))
                        except ApiError as exc:
                            errors.append(exc)
                    if errors:
                        raise errors[0]
            for name in plan.delete:
                try:
                    client.delete("pods", name, ns)
                except NotFound:
                    pass
                dels.add(name)
        finally:
            if adds or dels:
                self.expect[key] = (now, adds, dels)
                self.log.info("%s: created %d, deleted %d Pods", key, len(adds), len(dels))
                self.kick.set()
        if _status_differs(rs.get("status"), plan.status):
            client.update("replicasets", dict(with_kind("replicasets", rs), status=plan.status),
                          ns, subresource="status")


class EndpointsLoop(Loop):
    """Service -> Endpoints."""

    name = "endpoints"
    watches = ("services", "endpoints", "pods")

    def sync(self) -> None:
        pods = self.ctx.items("pods")
        existing = self.ctx.by_key("endpoints")
        services = self.ctx.by_key("services")
        client = self.ctx.client
        for key, svc in services.items():
            want = ep.desired_endpoints(svc, pods)
            if want is None:
                continue
            current = existing.get(key)
            if not ep.endpoints_differ(current, want):
                continue
            ns = meta(svc).get("namespace")
            try:
                if current is None:
                    client.create("endpoints", want, ns)
                else:
                    want["metadata"]["resourceVersion"] = meta(current).get("resourceVersion")
                    client.update("endpoints", want, ns)
            except (Conflict, NotFound, AlreadyExists) as exc:
                self.log.debug("%s: %s (next sync retries)", key, exc.reason)
        for key, current in existing.items():
            if key in services or not _pod_managed(current):
                continue
            try:
                client.delete("endpoints", name_of(current), meta(current).get("namespace"))
            except NotFound:
                pass


def _pod_managed(endpoints: dict) -> bool:
    """Endpoints whose every address points at a Pod (those this controller writes)."""
    for subset in endpoints.get("subsets") or []:
        for field in ("addresses", "notReadyAddresses"):
            for address in subset.get(field) or []:
                if (address.get("targetRef") or {}).get("kind") != "Pod":
                    return False
    return True


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

    def __init__(self, ctx):
        super().__init__(ctx)
        self.health: dict[str, nl.NodeHealth] = {}

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
        for node in nodes:
            name = name_of(node)
            self.health[name] = nl.observe(self.health.get(name), leases.get(name), now, node)
            plan = nl.decide_node(node, self.health[name], pods_by_node.get(name, []), now,
                                  opts.node_monitor_grace_period, opts.pod_eviction_timeout)
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
            record_event(client, with_kind("nodes", dict(node, metadata=dict(
                meta(node), namespace="default"))), "NodeNotReady",
                f"Node {name} status is now: NodeNotReady", "Normal", "node-controller",
                log=self.log)
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
                record_event(client, {"kind": "Pod", "apiVersion": "v1", "metadata": {
                    "name": pod_name, "namespace": ns}}, "TaintManagerEviction",
                    f"Marking for deletion Pod {key}", "Normal", "taint-eviction-controller",
                    log=self.log)
            except NotFound:
                pass


class GarbageCollectorLoop(Loop):
    """Dependents of deleted owners; Pods of deleted or unreachable Nodes."""

    name = "garbagecollector"
    watches = ("pods", "replicasets", "deployments", "nodes")
    period = 10.0

    def sync(self) -> None:
        now = self.ctx.clock()
        pods, rss = self.ctx.items("pods"), self.ctx.items("replicasets")
        nodes = self.ctx.items("nodes")
        for key in gc.orphaned(pods, rss, "ReplicaSet"):
            self._delete_orphan("pods", "replicasets", key, pods)
        for key in gc.orphaned(rss, self.ctx.items("deployments"), "Deployment"):
            self._delete_orphan("replicasets", "deployments", key, rss)
        unreachable = {name_of(n) for n in nodes
                       if any(t.get("key") == nl.UNREACHABLE
                              for t in (n.get("spec") or {}).get("taints") or [])}
        doomed = gc.pods_on_missing_nodes(pods, nodes) + gc.stuck_terminating(pods, unreachable,
                                                                               now)
        for key in doomed:
            ns, name = key.split("/", 1)
            try:
                self.ctx.client.delete("pods", name, ns, grace_period_seconds=0)
                self.log.info("force-deleted Pod %s (its node is gone or unreachable)", key)
            except NotFound:
                pass

    def _delete_orphan(self, resource: str, owner_resource: str, key: str,
                       items: list[dict]) -> None:
        ns, name = key.split("/", 1)
        obj = next(o for o in items if meta(o).get("namespace") == ns and name_of(o) == name)
        ref = next(r for r in meta(obj).get("ownerReferences") or [] if r.get("controller"))
        try:
            owner = self.ctx.client.get(owner_resource, ref.get("name"), ns)
            if meta(owner).get("uid") == ref.get("uid"):
                return  # the cache was behind; the owner is alive
        except NotFound:
            pass
        try:
            self.ctx.client.delete(resource, name, ns, propagation_policy="Background")
            self.log.info("deleted %s %s: its owner %s is gone", resource, key, ref.get("name"))
        except (NotFound, ApiError) as exc:
            self.log.debug("%s %s: %s", resource, key, exc)


LOOPS = (DeploymentLoop, ReplicaSetLoop, EndpointsLoop, NodeIpamLoop, NodeLifecycleLoop,
         GarbageCollectorLoop)
