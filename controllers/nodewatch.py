"""Routed mode: watch Nodes on the apiserver and hand their Pod CIDR routes to the app.

Runs in its own thread (os-ken 4.x's default hub is native threads; the app
gets results through ``FabricApp.post_routes``, which queues an event, so the
planner is only touched on the app's event thread). The kubeconfig appears
only once the cluster's apiserver is up, so the watcher waits for it,
re-reading it whenever the apiserver cannot be reached. List then watch
(:class:`k8snet.machinery.informer.Informer`) re-lists after a broken watch, a 410 or an
apiserver restart, and every ``resync_seconds``; a controller restart starts
with a list. Routes are posted only when they change.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Callable, Iterable, Optional

from k8snet.errors import K8snetError
from k8snet.fabric.facts import Host, Route
from k8snet.fabric.nodes import describe_change, routes_from_nodes

Post = Callable[[tuple[Route, ...], str, float], None]  # (routes, why, monotonic time seen)


class NodeWatcher:
    """Keeps the app's Node-derived routes equal to what the apiserver's Nodes say.

    Subclasses watch another resource by setting ``resource`` and overriding
    :meth:`changed`; the waiting and list-then-watch machinery is shared.
    """

    resource = "nodes"

    def __init__(self, kubeconfig: str, hosts: Iterable[Host], post: Post,
                 log: Optional[logging.Logger] = None, resync_seconds: float = 60.0,
                 retry_seconds: float = 1.0, clock: Callable[[], float] = time.monotonic,
                 client_factory: Optional[Callable[[str], object]] = None) -> None:
        self.kubeconfig = kubeconfig
        self.hosts = tuple(hosts)
        self.post = post
        self.log = log or logging.getLogger("k8snet.fabric.nodes")
        self.resync_seconds = resync_seconds
        self.retry_seconds = retry_seconds
        self.clock = clock
        self.client_factory = client_factory
        self.routes: Optional[tuple[Route, ...]] = None  # None: nothing listed yet
        self._skipped: tuple[str, ...] = ()

    def start(self, stop: threading.Event) -> threading.Thread:
        """Run :meth:`run` in a daemon thread until ``stop`` is set."""
        thread = threading.Thread(target=self.run, args=(stop,), daemon=True,
                                  name=f"fabric-{self.resource}-watch")
        thread.start()
        return thread

    def run(self, stop: threading.Event) -> None:
        """Wait for the kubeconfig, then list and watch ``resource`` until ``stop``."""
        from k8snet.machinery.informer import Informer

        client = self._client(stop)
        if client is None:
            return
        informer = Informer(client, self.resource, on_change=self.changed,
                            resync_seconds=self.resync_seconds, watch_timeout=30,
                            retry_seconds=self.retry_seconds, log=self.log)
        self.log.info("watching %s at %s", self.resource, getattr(client, "server", "?"))
        informer.start(stop).join()

    def changed(self, items: dict[str, dict]) -> None:
        """Informer callback with the full current set of ``resource``."""
        self.nodes_changed(items)

    def nodes_changed(self, items: dict[str, dict]) -> None:
        """Informer callback (full current set): post the routes if they changed."""
        seen = self.clock()
        result = routes_from_nodes(items.values(), self.hosts)
        if result.skipped != self._skipped:
            for reason in result.skipped:
                self.log.info("not routed: %s", reason)
            self._skipped = result.skipped
        if result.routes == self.routes:
            return
        why = "nodes: " + describe_change(self.routes or (), result.routes)
        self.log.info("%s (%d node blocks)", why, len(result.routes))
        self.routes = result.routes
        self.post(result.routes, why, seen)

    def _client(self, stop: threading.Event) -> Optional[object]:
        """An ApiClient once the kubeconfig exists and reads well; None if stopped first."""
        from k8snet.machinery.client import ApiClient

        factory = self.client_factory or ApiClient.from_kubeconfig
        waited_since = self.clock()
        said = False
        while not stop.is_set():
            if os.path.exists(self.kubeconfig):
                try:
                    return factory(self.kubeconfig)
                except K8snetError as exc:  # half-written, most likely: try again
                    self.log.warning("kubeconfig not usable yet: %s", exc)
            elif not said or self.clock() - waited_since > 60:
                self.log.info("waiting for kubeconfig %s (Pod CIDRs are routed once the "
                              "apiserver is up)", self.kubeconfig)
                said, waited_since = True, self.clock()
            stop.wait(self.retry_seconds / 2)
        return None
