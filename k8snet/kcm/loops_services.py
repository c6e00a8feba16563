"""Service -> Endpoints, and garbage collection."""

from __future__ import annotations

from k8snet.kcm import endpoints as ep
from k8snet.kcm import gc
from k8snet.kcm import nodelifecycle as nl
from k8snet.kcm.base import Loop
from k8snet.kcm.objects import meta, name_of
from k8snet.machinery.client import AlreadyExists, ApiError, Conflict, NotFound


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
