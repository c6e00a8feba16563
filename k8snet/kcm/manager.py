"""Runs the controller loops over one shared set of informers."""

from __future__ import annotations

import logging
import threading
from typing import Optional

from k8snet.errors import K8snetError
from k8snet.kcm.base import Clock, Context, Loop
from k8snet.kcm.loops import LOOPS, Options
from k8snet.machinery.client import ApiClient
from k8snet.machinery.informer import Informer
from k8snet.machinery.reconciler import STOP_GRACE, join_all
from k8snet.machinery.timefmt import utcnow

INFORMERS = {"pods": None, "nodes": None, "services": None, "endpoints": None,
             "deployments": None, "replicasets": None, "leases": "kube-node-lease",
             "jobs": None, "daemonsets": None, "controllerrevisions": None,
             "endpointslices": None, "statefulsets": None, "persistentvolumeclaims": None,
             "cronjobs": None, "poddisruptionbudgets": None,
             "persistentvolumes": None, "storageclasses": None, "namespaces": None,
             "serviceaccounts": None, "configmaps": None}


class ControllerManager:
    """Start the informers, then every loop in its own thread, until `stop`."""

    def __init__(self, client: ApiClient, options: Options, clock: Clock = utcnow,
                 log: Optional[logging.Logger] = None):
        self.client = client
        self.options = options
        self.clock = clock
        self.log = log or logging.getLogger("k8snet.controller-manager")

    def run(self, stop: threading.Event) -> None:
        informers = {
            resource: Informer(self.client, resource, namespace=namespace, log=self.log)
            for resource, namespace in INFORMERS.items()
        }
        ctx = Context(self.client, informers, self.clock, self.log, self.options)
        loops: list[Loop] = [cls(ctx) for cls in LOOPS
                             if cls.name != "nodeipam" or self.options.allocate_node_cidrs]
        for lp in loops:
            lp.watch(informers)
        for informer in informers.values():
            informer.start(stop)
        threads = []
        failures: list[K8snetError] = []

        def run_loop(lp: Loop) -> None:
            try:
                lp.run(stop)
            except K8snetError as exc:  # its informers did not list: the manager says so
                failures.append(exc)
        for lp in loops:
            t = threading.Thread(target=run_loop, args=(lp,), daemon=True,
                                 name=f"kcm-{lp.name}")
            t.start()
            threads.append(t)
        self.log.info("controllers running: %s", ", ".join(lp.name for lp in loops))
        while not stop.wait(0.2):
            if failures:
                raise failures[0]
        join_all(threads, STOP_GRACE)
