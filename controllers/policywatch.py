"""Macvlan mode: watch NetworkPolicies, Pods and Namespaces for the fabric's policy flows.

One Informer per resource (the same list-then-watch machinery as the Node
watch, waiting for the kubeconfig the same way); once all three have listed,
every change posts the three current sets to the app, which plans the flows
on its event thread (:func:`k8snet.fabric.policy.plan_policy`, pure).
"""

from __future__ import annotations

import threading
from typing import Callable, Optional

from controllers.nodewatch import NodeWatcher

RESOURCES = ("networkpolicies", "pods", "namespaces")
# ({resource: {key: object}}, {resource: resourceVersion listed or watched}, why, seen)
PostPolicy = Callable[[dict, dict, str, float], None]


class PolicyWatcher(NodeWatcher):
    """Keeps the app's view of the objects NetworkPolicy depends on current."""

    resource = "networkpolicies"

    def __init__(self, kubeconfig: str, post: PostPolicy, **kwargs: object) -> None:
        super().__init__(kubeconfig, (), post, **kwargs)  # type: ignore[arg-type]
        self.caches: dict[str, Optional[dict]] = {r: None for r in RESOURCES}
        self._lock = threading.Lock()
        self.informers: dict[str, object] = {}

    def run(self, stop: threading.Event) -> None:
        """Wait for the kubeconfig, then list and watch the three resources until ``stop``."""
        from k8snet.machinery.informer import Informer

        client = self._client(stop)
        if client is None:
            return
        self.informers = {r: Informer(client, r, on_change=self._on(r),
                                      resync_seconds=self.resync_seconds, watch_timeout=30,
                                      retry_seconds=self.retry_seconds, log=self.log)
                          for r in RESOURCES}
        threads = [i.start(stop) for i in self.informers.values()]
        self.log.info("watching %s for NetworkPolicy", ", ".join(RESOURCES))
        for t in threads:
            t.join()

    def _on(self, resource: str) -> Callable[[dict], None]:
        def changed(items: dict) -> None:
            seen = self.clock()
            with self._lock:
                self.caches[resource] = dict(items)
                if any(c is None for c in self.caches.values()):
                    return
                objects = {r: dict(c) for r, c in self.caches.items()}  # type: ignore[arg-type]
                versions = {r: getattr(i, "resource_version", None)
                            for r, i in self.informers.items()}
            self.post(objects, {r: v for r, v in versions.items() if v},  # type: ignore
                      f"policy: {resource} changed", seen)
        return changed
