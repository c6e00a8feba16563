"""Service -> EndpointSlices: the EndpointSlice controller and its mirroring twin."""

from __future__ import annotations

from k8snet.kcm import endpointslice as eps
from k8snet.kcm.base import Loop
from k8snet.kcm.objects import meta, name_of
from k8snet.machinery.client import AlreadyExists, Conflict, NotFound


class EndpointSliceLoop(Loop):
    """Services with a selector -> slices of their Pods; Services without one -> slices
    mirroring their Endpoints; slices of deleted Services go."""

    name = "endpointslice"
    watches = ("services", "endpoints", "pods", "endpointslices", "nodes")
    event_component = "endpoint-slice-controller"

    def sync(self) -> None:
        pods = self.ctx.items("pods")
        services = self.ctx.by_key("services")
        endpoints = self.ctx.by_key("endpoints")
        slices = self.ctx.items("endpointslices")
        zones = {name_of(n): (meta(n).get("labels") or {}).get(eps.ZONE_LABEL, "")
                 for n in self.ctx.items("nodes")}
        for key, svc in services.items():
            plan = eps.reconcile_service(svc, pods, slices, zones)
            if plan is None:
                plan = eps.reconcile_mirror(svc, endpoints.get(key), slices)
            if plan is None:
                continue
            try:
                self._apply(meta(svc).get("namespace"), plan)
            except (Conflict, NotFound, AlreadyExists) as exc:
                self.log.debug("%s: %s (next sync retries)", key, exc.reason)
        for stale in eps.orphaned_slices(services, slices):
            try:
                self.ctx.client.delete("endpointslices", name_of(stale),
                                       meta(stale).get("namespace"))
            except NotFound:
                pass

    def _apply(self, ns: str, plan: eps.SlicePlan) -> None:
        client = self.ctx.client
        for obj in plan.update:
            client.update("endpointslices", obj, ns)
        for obj in plan.create:
            client.create("endpointslices", obj, ns)
        for name in plan.delete:
            try:
                client.delete("endpointslices", name, ns)
            except NotFound:
                pass
