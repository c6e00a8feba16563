"""The garbage collector (owner/dependent graph, k8snet.kcm.gcgraph) and the Pod garbage
collector (Pods of gone or unreachable Nodes, k8snet.kcm.gc): thin loops that read
informers, ask the pure modules and apply their answer through the API.

The collector watches every deletable built-in resource from the start and, as upstream
resyncs its monitors with discovery, looks at the apiserver's discovery every 30 s:
custom resources (CRDs) get informers when they appear and lose them when they go."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Optional

from k8snet.kcm import gc
from k8snet.kcm import gcgraph as g
from k8snet.kcm import namespace as nsc
from k8snet.kcm import nodelifecycle as nl
from k8snet.kcm.base import Context, Loop
from k8snet.kcm.objects import name_of
from k8snet.machinery import resources as kinds
from k8snet.machinery.client import (
    ApiError,
    Conflict,
    NotFound,
    ResourceRef,
    resource_info,
    resource_name,
    resource_path,
)
from k8snet.machinery.informer import Informer

# upstream's default GCIgnoredResources: events are never owners worth a watch
IGNORED = {("", "events"), ("events.k8s.io", "events")}
ABSENT_CACHE_SIZE = 500
DISCOVERY_SECONDS = 30.0
REPEAT_SECONDS = 2.0
COMPONENT = "garbage-collector-controller"


def gc_resources() -> list[kinds.KindInfo]:
    """Every served resource the collector watches: the preferred version of those that
    can be listed, watched and deleted (as upstream's GetDeletableResources), minus the
    ignored ones."""
    out = []
    for group, version in kinds.group_versions():
        if version != kinds.builtin_view().preferred_version(group):
            continue
        for info in kinds.resources_in(group, version):
            if {"delete", "list", "watch"} <= set(info.verbs) and \
                    (info.group, info.plural) not in IGNORED:
                out.append(info)
    return out


class AbsentOwners:
    """A bounded memory of owners verified absent (their uid never comes back)."""

    def __init__(self, size: int = ABSENT_CACHE_SIZE) -> None:
        self.size = size
        self._items: OrderedDict = OrderedDict()

    def add(self, key: g.Lookup) -> None:
        self._items[key] = None
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def known(self) -> dict:
        return dict.fromkeys(self._items)


class GarbageCollectorLoop(Loop):
    """Owner/dependent garbage collection over one informer per deletable resource."""

    name = "garbagecollector"
    event_component = COMPONENT
    period = 30.0

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.resources: dict[str, kinds.KindInfo] = {resource_name(i): i
                                                     for i in gc_resources()}
        self.informers: dict[str, Informer] = {}
        self._own: list[Informer] = []
        self._custom: dict[str, threading.Event] = {}   # custom resource -> its stop
        self._served: dict[tuple[str, str], kinds.KindInfo] = {}  # discovered kinds
        self._discovered_at: Optional[float] = None
        self._stop: Optional[threading.Event] = None
        self.absent = AbsentOwners()
        self._recent: dict[object, float] = {}
        self._warned: set = set()

    def watch(self, informers: dict[str, Informer]) -> None:
        """Reuse the manager's informers that watch a whole resource; make the others."""
        for name, info in self.resources.items():
            inf = _shared(informers, info)
            if inf is None:
                inf = Informer(self.ctx.client, name, log=self.log)
                self._own.append(inf)
            self.informers[name] = inf
            self.reconciler.watch(inf)

    def run(self, stop: threading.Event) -> None:
        self._stop = stop
        for inf in self._own:
            inf.start(stop)
        try:
            super().run(stop)
        finally:
            for custom_stop in self._custom.values():
                custom_stop.set()

    # -- what is served ------------------------------------------------------------------
    def kind(self, api_version: str, kind: str) -> Optional[kinds.KindInfo]:
        """The served resource of an apiVersion/kind: built-in, or seen in discovery."""
        return kinds.by_api_version_kind(api_version, kind) or \
            self._served.get((api_version, kind))

    def scope(self, api_version: str, kind: str) -> Optional[bool]:
        """Whether a kind is namespaced; None when the server does not serve it."""
        info = self.kind(api_version, kind)
        return None if info is None else info.namespaced

    def _resource_of(self, api_version: str, kind: str) -> Optional[ResourceRef]:
        info = self.kind(api_version, kind)
        return None if info is None else ResourceRef(info)

    def _discover(self) -> None:
        """Every DISCOVERY_SECONDS: the custom resources served now get informers (and
        those no longer served lose theirs)."""
        now = self.ctx.monotonic()
        if self._discovered_at is not None and now - self._discovered_at < DISCOVERY_SECONDS:
            return
        self._discovered_at = now
        client = self.ctx.client
        try:
            core, groups = client.raw("GET", "/api/v1"), client.raw("GET", "/apis")
            lists = {}
            for grp in groups.get("groups") or []:
                gv = (grp.get("preferredVersion") or {}).get("groupVersion")
                if gv and not kinds.builtin_view().versions(grp.get("name", "")):
                    lists[gv] = client.raw("GET", f"/apis/{gv}")   # a CRD's group
        except ApiError as exc:
            self.log.warning("discovery failed (%s): custom resources wait for the next try",
                             exc)
            return
        found = [i for i in nsc.discovered_resources(core, groups, lists)
                 if kinds.by_api_version_kind(i.api_version, i.kind) is None]
        self._served = {(i.api_version, i.kind): i for i in found}
        wanted = {str(ResourceRef(i)): i for i in found
                  if {"delete", "list", "watch"} <= set(i.verbs)}
        for name in [n for n in self._custom if n not in wanted]:
            self._custom.pop(name).set()
            self.informers.pop(name, None)
            self.resources.pop(name, None)
            self.log.info("no longer watching %s (not served)", name)
        for name, info in wanted.items():
            if name in self._custom or self._stop is None or self._stop.is_set():
                continue
            own_stop = threading.Event()
            inf = Informer(client, ResourceRef(info), log=self.log)
            self.reconciler.watch(inf)
            inf.start(own_stop)
            self._custom[name], self.informers[name], self.resources[name] = \
                own_stop, inf, info
            self.log.info("watching %s (custom resource)", name)

    def _reconcile(self, _key: str) -> Optional[float]:
        self._discover()
        if not all(inf.synced for inf in list(self.informers.values())):
            return 0.5  # a new custom resource's first list first
        return self.pacer.run(self.sync)

    def sync(self) -> None:
        """One pass over the whole graph (run once every informer has listed: absence
        must be real absence)."""
        graph = g.build_graph(
            (self.resources[name].api_version, self.resources[name].kind, obj)
            for name, inf in list(self.informers.items()) for obj in inf.snapshot().values())
        known = self.absent.known()
        plan = g.plan(graph, known, self.scope)
        if plan.verify:
            for key in plan.verify:
                known[key] = self._lookup(key)
            plan = g.plan(graph, known, self.scope)
        now = time.monotonic()
        self._recent = {a: t for a, t in self._recent.items() if now - t < REPEAT_SECONDS}
        for action in plan.actions:
            if action in self._recent:
                continue  # done a moment ago; the informers have not caught up yet
            try:
                self._apply(action)
                self._recent[action] = now
            except NotFound:
                pass
            except ApiError as exc:
                self.log.warning("%s: %s (retried on the next sync)", action, exc)
                self.requeue()

    def _lookup(self, key: g.Lookup) -> Optional[dict]:
        """The owner by a live GET; None (and remembered) when it does not exist."""
        resource = self._resource_of(key.api_version, key.kind)
        if resource is None:
            return {}
        try:
            obj = self.ctx.client.get(resource, key.name, key.namespace or None)
        except NotFound:
            obj = None
        if obj is None or (obj.get("metadata") or {}).get("uid") != key.uid:
            self.absent.add(key)
            return None
        return obj

    # -- effects -------------------------------------------------------------------------
    def _apply(self, action: object) -> None:
        if isinstance(action, g.Delete):
            self._delete(action)
        elif isinstance(action, g.PatchOwnerRefs):
            self._patch_refs(action.ref, lambda refs: g.unblocked(refs) if action.unblock
                             else g.without_owners(refs, action.remove))
        elif isinstance(action, g.RemoveFinalizer):
            self._remove_finalizer(action.ref, action.finalizer)
        elif isinstance(action, g.Orphan):
            for dep in action.dependents:
                try:
                    self._patch_refs(dep, lambda refs: g.without_owners(refs, [action.owner.uid]))
                except NotFound:
                    pass
            self._remove_finalizer(action.owner, g.ORPHAN)
            self.log.info("orphaned the dependents of %s", action.owner)
        elif isinstance(action, g.Warn):
            self._warn(action)

    def _delete(self, action: g.Delete) -> None:
        resource = self._resource_of(action.ref.api_version, action.ref.kind)
        if resource is None:
            return
        path = resource_path(resource, action.ref.namespace or None, action.ref.name)
        rv = action.resource_version
        for _ in range(2):
            pre = {"uid": action.ref.uid}
            if rv:
                pre["resourceVersion"] = rv
            try:
                self.ctx.client.raw("DELETE", path, {
                    "kind": "DeleteOptions", "apiVersion": "v1",
                    "propagationPolicy": action.policy, "preconditions": pre})
                self.log.info("deleted %s (propagation %s)", action.ref, action.policy)
                return
            except Conflict:
                # changed since the cache saw it: still the same owners -> delete that
                live = self.ctx.client.get(resource, action.ref.name,
                                           action.ref.namespace or None)
                meta = live.get("metadata") or {}
                if meta.get("uid") != action.ref.uid or \
                        g.owners_key(meta.get("ownerReferences")) != action.owners:
                    self.requeue()  # decide again on fresh data
                    return
                rv = str(meta.get("resourceVersion") or "")
        self.requeue()

    def _patch_refs(self, ref: g.Ref, change) -> None:
        """Rewrite the ownerReferences of `ref` on its live version (resourceVersion-guarded,
        retried on conflict)."""
        resource = self._resource_of(ref.api_version, ref.kind)
        if resource is None:
            return
        for _ in range(5):
            live = self.ctx.client.get(resource, ref.name, ref.namespace or None)
            meta = live.get("metadata") or {}
            if meta.get("uid") != ref.uid:
                return
            old = meta.get("ownerReferences") or []
            new = change(old)
            if new == old:
                return
            try:
                self.ctx.client.patch(resource, ref.name, {"metadata": {
                    "resourceVersion": meta.get("resourceVersion"),
                    "ownerReferences": new or None}}, ref.namespace or None)
                return
            except Conflict:
                continue
        raise Conflict(409, "Conflict", f"ownerReferences of {ref} kept changing")

    def _remove_finalizer(self, ref: g.Ref, finalizer: str) -> None:
        resource = self._resource_of(ref.api_version, ref.kind)
        if resource is None:
            return
        for _ in range(5):
            live = self.ctx.client.get(resource, ref.name, ref.namespace or None)
            meta = live.get("metadata") or {}
            fins = list(meta.get("finalizers") or [])
            if meta.get("uid") != ref.uid or finalizer not in fins:
                return
            try:
                self.ctx.client.patch(resource, ref.name, {"metadata": {
                    "resourceVersion": meta.get("resourceVersion"),
                    "finalizers": [f for f in fins if f != finalizer] or None}},
                    ref.namespace or None)
                self.log.info("removed finalizer %s from %s", finalizer, ref)
                return
            except Conflict:
                continue
        raise Conflict(409, "Conflict", f"finalizers of {ref} kept changing")

    def _warn(self, action: g.Warn) -> None:
        key = (action.ref.uid, action.reason, action.message)
        if key in self._warned:
            return
        self._warned.add(key)
        obj = {"kind": action.ref.kind, "apiVersion": action.ref.api_version,
               "metadata": {"name": action.ref.name, "uid": action.ref.uid,
                            "namespace": action.ref.namespace or None}}
        self.log.warning("%s: %s", action.reason, action.message)
        self.events.event(obj, "Warning", action.reason, action.message)


def _shared(informers: dict[str, Informer], info: kinds.KindInfo) -> Optional[Informer]:
    """The manager's informer for this resource, if it watches all of it."""
    for key in (resource_name(info), info.plural):
        inf = informers.get(key)
        if inf is not None and not inf.namespace and resource_info(inf.resource) == info:
            return inf
    return None


class PodGCLoop(Loop):
    """Pods bound to Nodes that no longer exist, and terminating Pods on unreachable Nodes
    past their deadline: force-deleted (as the Pod garbage collector does)."""

    name = "podgc"
    watches = ("pods", "nodes")
    period = 10.0

    def sync(self) -> None:
        now = self.ctx.clock()
        pods, nodes = self.ctx.items("pods"), self.ctx.items("nodes")
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
