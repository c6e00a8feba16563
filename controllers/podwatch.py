"""Macvlan mode: watch Pods on the apiserver and hand the set of live Pod addresses to the app.

Same waiting and list-then-watch machinery as :class:`controllers.nodewatch.NodeWatcher`
(the kubeconfig may appear late; re-list after a broken watch or a 410). Which
addresses count is decided by :func:`k8snet.fabric.pods.live_pod_ips` (pure); the
set is posted only when it changes.
"""

from __future__ import annotations

from typing import Callable, Optional

from controllers.nodewatch import NodeWatcher
from k8snet.fabric.pods import live_pod_ips

PostPods = Callable[[frozenset, str, float], None]  # (addresses, why, monotonic time seen)


class PodWatcher(NodeWatcher):
    """Keeps the app's live Pod addresses equal to what the apiserver's Pods say."""

    resource = "pods"

    def __init__(self, kubeconfig: str, post: PostPods, **kwargs: object) -> None:
        super().__init__(kubeconfig, (), post, **kwargs)  # type: ignore[arg-type]
        self.ips: Optional[frozenset] = None

    def changed(self, items: dict[str, dict]) -> None:
        self.pods_changed(items)

    def pods_changed(self, items: dict[str, dict]) -> None:
        """Informer callback (full current set): post the addresses if they changed."""
        seen = self.clock()
        ips = live_pod_ips(items.values())
        if ips == self.ips:
            return
        before = self.ips or frozenset()
        added, gone = sorted(ips - before), sorted(before - ips)
        why = "pods: " + ", ".join([f"+{ip}" for ip in added] + [f"-{ip}" for ip in gone])
        self.ips = ips
        self.post(ips, why, seen)  # type: ignore[arg-type]
