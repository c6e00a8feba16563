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
PostPolicy = Callable[[dict, str, float], None]   # ({resource: [objects]}, why, seen)


class PolicyWatcher(NodeWatcher):
    """Keeps the app's view of the objects NetworkPolicy depends on current."""

    resource = "networkpolicies"

    def __init__(self, kubeconfig: str, post: PostPolicy, **kwargs: object) -> None:
        super().__init__(kubeconfig, (), post, **kwargs)  # type: ignore[arg-type]
        self.caches: dict[str, Optional[dict]] = {r: None for r in RESOURCES}
        self._lock = threading.Lock()

    def run(self, stop: threading.Event) -> None:
        """Wait for the kubeconfig, then list and watch the three resources until ``stop``."""
        from k8snet.machinery.informer import Informer

        client = self._client(stop)
        if client is None:
            return
        threads = [Informer(client, r, on_change=self._on(r), resync_seconds=self.resync_seconds,
                            watch_timeout=30, retry_seconds=self.retry_seconds,
                            log=self.log).start(stop) for r in RESOURCES]
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
                objects = {r: list(c.values()) for r, c in self.caches.items()}
            self.post(objects, f"policy: {resource} changed", seen)  # type: ignore[arg-type]
        return changed
