"""Service -> Endpoints."""

from __future__ import annotations

from k8snet.kcm import endpoints as ep
from k8snet.kcm.base import Loop
from k8snet.kcm.objects import meta, name_of
from k8snet.machinery.client import AlreadyExists, Conflict, NotFound


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
