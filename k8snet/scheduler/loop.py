"""The scheduler's effects: watch Pods and Nodes, decide, bind, report failures.

It runs on the machinery's Reconciler with one key: every change of Pods, Nodes or
Namespaces (and a failed binding) asks for one scheduling pass over the pending Pods;
a 1 s resync lets Pods whose back-off has passed be tried again."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Optional

from k8snet.machinery.client import ApiClient, ApiError, Conflict, NotFound
from k8snet.machinery.events import NORMAL, WARNING, EventRecorder
from k8snet.machinery.informer import Informer
from k8snet.machinery.reconciler import ALL, FIRST_LIST_DEADLINE, Backoff, Reconciler
from k8snet.machinery.timefmt import format_time, utcnow
from k8snet.scheduler.decide import schedule
from k8snet.scheduler.matching import resolve_namespace_selectors
from k8snet.scheduler.nodeinfo import NodeInfo, build_node_infos, find
from k8snet.scheduler.queue import (
    Attempt,
    bound_fingerprint,
    is_due,
    next_attempt,
    pending_pods,
    pod_key,
    should_emit_event,
)
from k8snet.scheduler.volumebinding import claims_to_select
from k8snet.scheduler.volumebinding import resolve as resolve_volumes

ASSUME_SECONDS = 30.0
BIND_WORKERS = 4
RESYNC_SECONDS = 1.0
RETRY = Backoff(base=0.5, cap=10.0)


class Scheduler:
    """Binds Pods that ask for `name` to nodes, one decision at a time."""

    def __init__(self, client: ApiClient, name: str = "default-scheduler",
                 clock: Callable[[], float] = time.monotonic, periodic: float = 30.0,
                 backoff_initial: float = 1.0, backoff_max: float = 10.0,
                 log: Optional[logging.Logger] = None, background_events: bool = False):
        self.client = client
        self.name = name
        self.clock = clock
        self.periodic = periodic
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.log = log or logging.getLogger("k8snet.scheduler")
        self.reconciler = Reconciler("scheduler", self._reconcile, clock=clock, backoff=RETRY,
                                     resync=RESYNC_SECONDS, log=self.log)
        self._binder: Optional[ThreadPoolExecutor] = None
        # background_events: Events are sent by a thread of their own (the command's
        # default), so a bind worker is free for the next binding at once
        self.events = EventRecorder(client, name, log=self.log, background=background_events)
        self.generation = 0
        self.attempts: dict[str, Attempt] = {}
        self.assumed: dict[str, tuple[float, dict]] = {}
        self.bound_count = 0
        self.lock = threading.Lock()
        self._fingerprint: frozenset = frozenset()
        self.pods: Optional[Informer] = None
        self.nodes: Optional[Informer] = None
        self.namespaces: Optional[Informer] = None
        self.storage: dict[str, Informer] = {}

    # -- informer callbacks ---------------------------------------------------

    def _on_pods(self, items: dict[str, dict]) -> None:
        fingerprint = bound_fingerprint(items.values())
        if fingerprint != self._fingerprint:
            self._fingerprint = fingerprint
            self.generation += 1

    def _on_nodes(self, items: dict[str, dict]) -> None:
        self.generation += 1

    # -- main loop -----------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Watch and schedule until `stop` is set."""
        self.pods = Informer(self.client, "pods", on_change=self._on_pods, log=self.log)
        self.nodes = Informer(self.client, "nodes", on_change=self._on_nodes, log=self.log)
        self.namespaces = Informer(self.client, "namespaces", on_change=self._on_nodes,
                                   log=self.log)
        self.storage = {r: Informer(self.client, r, on_change=self._on_nodes, log=self.log)
                        for r in ("persistentvolumeclaims", "persistentvolumes",
                                  "storageclasses")}
        for informer in (self.pods, self.nodes, self.namespaces, *self.storage.values()):
            self.reconciler.watch(informer)
            informer.start(stop)
        # Binding (and its Event) happens in workers, as Kubernetes' binding cycle does:
        # the next decision counts the Pod as placed ("assumed") meanwhile.
        with ThreadPoolExecutor(BIND_WORKERS, thread_name_prefix="bind") as binder:
            self._binder = binder
            self.reconciler.run(stop, sync_timeout=FIRST_LIST_DEADLINE)

    def _reconcile(self, _key: str) -> None:
        self.schedule_pending(self._binder)

    def cluster(self) -> tuple[list[dict], list[NodeInfo]]:
        """Pending Pods and NodeInfos, counting Pods this scheduler bound but has not yet seen."""
        assert self.pods is not None and self.nodes is not None
        pods = self.pods.snapshot()
        now = self.clock()
        with self.lock:
            for key, (at, pod) in list(self.assumed.items()):
                seen = pods.get(key)
                if seen is None or (seen.get("spec") or {}).get("nodeName") or \
                        now - at > ASSUME_SECONDS:
                    del self.assumed[key]
                else:
                    pods[key] = pod
            for key in list(self.attempts):
                if key not in pods:
                    del self.attempts[key]
        if self.namespaces is not None:
            labels = {name: (ns.get("metadata") or {}).get("labels") or {}
                      for name, ns in self.namespaces.snapshot().items()}
            pods = {k: resolve_namespace_selectors(p, labels) for k, p in pods.items()}
        if self.storage:
            claims, volumes, classes = (self.storage[r].snapshot() for r in (
                "persistentvolumeclaims", "persistentvolumes", "storageclasses"))
            volumes = {(v.get("metadata") or {}).get("name"): v for v in volumes.values()}
            classes = {(c.get("metadata") or {}).get("name"): c for c in classes.values()}
            pods = {k: resolve_volumes(p, claims, volumes, classes) for k, p in pods.items()}
        infos = build_node_infos(self.nodes.snapshot().values(), pods.values())
        return pending_pods(pods.values(), self.name), infos

    def schedule_pending(self, binder: Optional[ThreadPoolExecutor] = None) -> None:
        """Try every due pending Pod once (binding inline when no `binder` is given)."""
        pending, infos = self.cluster()
        for pod in pending:
            key = pod_key(pod)
            now = self.clock()
            with self.lock:
                attempt = self.attempts.get(key)
            if not is_due(attempt, now, self.generation, self.periodic):
                continue
            decision = schedule(pod, infos)
            if decision.node is None:
                self._unschedulable(pod, decision.message, now)
                continue
            bound = dict(pod, spec=dict(pod.get("spec") or {}, nodeName=decision.node))
            with self.lock:
                self.assumed[key] = (now, bound)
            info = find(infos, decision.node)
            if info is not None:
                info.add_pod(bound)
            if binder is None:
                self._bind(pod, decision.node)
            else:
                binder.submit(self._bind, pod, decision.node)

    def _forget(self, key: str) -> None:
        with self.lock:
            self.assumed.pop(key, None)
        self.reconciler.enqueue(ALL)

    def _bind(self, pod: dict, node: str) -> bool:
        meta = pod["metadata"]
        key = pod_key(pod)
        try:
            for claim in claims_to_select(pod, node):
                self.client.update("persistentvolumeclaims", claim,
                                   meta.get("namespace", "default"))
            self.client.bind(meta.get("namespace", "default"), meta["name"], node)
        except (Conflict, NotFound) as exc:
            self.log.info("%s: not bound (%s)", key, exc.reason)
            self._forget(key)
            return False
        except ApiError as exc:
            self.log.warning("%s: bind to %s failed: %s", key, node, exc)
            with self.lock:
                self.attempts[key] = next_attempt(self.attempts.get(key), self.clock(),
                                                  self.generation, str(exc),
                                                  self.backoff_initial, self.backoff_max)
            self._forget(key)
            return False
        with self.lock:
            self.attempts.pop(key, None)
            self.bound_count += 1
        self.log.info("bound %s to %s", key, node)
        self.events.event(_with_kind(pod), NORMAL, "Scheduled",
                          f"Successfully assigned {key} to {node}", action="Binding")
        return True

    def _unschedulable(self, pod: dict, message: str, now: float) -> None:
        key = pod_key(pod)
        with self.lock:
            previous = self.attempts.get(key)
            attempt = next_attempt(previous, now, self.generation, message,
                                   self.backoff_initial, self.backoff_max)
            self.attempts[key] = attempt
        self.log.info("%s: %s", key, message)
        self._set_condition(pod, message)
        if should_emit_event(attempt, now, previous.message if previous else ""):
            attempt.event_at = now
            self.events.event(_with_kind(pod), WARNING, "FailedScheduling", message,
                              action="Scheduling")

    def _set_condition(self, pod: dict, message: str) -> None:
        """PodScheduled=False, reason Unschedulable, through pods/status (skip if already so)."""
        meta = pod["metadata"]
        for _ in range(3):
            conditions = [c for c in (pod.get("status") or {}).get("conditions") or []]
            current = next((c for c in conditions if c.get("type") == "PodScheduled"), None)
            if current and current.get("status") == "False" and \
                    current.get("reason") == "Unschedulable" and current.get("message") == message:
                return
            condition = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                         "message": message, "lastProbeTime": None,
                         "lastTransitionTime": format_time(utcnow())}
            conditions = [c for c in conditions if c.get("type") != "PodScheduled"] + [condition]
            status = dict(pod.get("status") or {}, conditions=conditions)
            status.setdefault("phase", "Pending")
            try:
                self.client.update("pods", dict(_with_kind(pod), status=status),
                                   meta.get("namespace"), subresource="status")
                return
            except Conflict:
                try:
                    pod = self.client.get("pods", meta["name"], meta.get("namespace"))
                except ApiError:
                    return
                if (pod.get("spec") or {}).get("nodeName"):
                    return
            except ApiError as exc:
                self.log.warning("%s: status update failed: %s", pod_key(pod), exc)
                return


def _with_kind(pod: dict) -> dict:
    return dict(pod, kind="Pod", apiVersion="v1")
