"""The apiextensions side of one apiserver: strategies for CRDs and custom resources, the
served versions in the resource table, and the controllers upstream runs for CRDs
(naming, establishing, non-structural schema, customresourcecleanup).

Everything is driven by the store, not by this server's requests: a list, then a watch
of /registry/.../customresourcedefinitions/, so several apiservers over one etcd each
serve the CRDs created through any of them. Status writes go through the registry with
its compare-and-swap, so two servers reconciling the same CRD agree (the second finds
nothing to change).

Public names:

    CustomResources(registry, clock=time.time, cleanup_deadline=60.0)
        strategy(info) -> Strategy | None     what the registry and server hooks call
        openapi_definitions()                 the served custom resources' OpenAPI
                                              definitions (k8snet.apiextensions.crdopenapi)
        sync(crds)                            the table and strategies for these CRDs
        reconcile_status(crd, crds)           one CRD's status write (if any is due)
        cleanup(crd)                          delete its custom resources, then the
                                              finalizer; raises CleanupPending while some
                                              remain
        mark_deleted(info, name, options, ctx) DELETE of a CRD as upstream's REST does it
                                              (None for anything else)
        run(stop)                             the list-and-watch loop (a thread's target)
    CleanupPending
"""

from __future__ import annotations

import copy
import sys
import threading
import time
from typing import Any, Callable, Optional

from k8snet.apiextensions import crdkinds, crdopenapi, crdstatus
from k8snet.apiextensions.crdkinds import CRD_GROUP, CRD_PLURAL, Key, ServedVersion
from k8snet.apiextensions.crdopenapi import CustomDefinitions
from k8snet.apiextensions.strategy import CRDStrategy, CustomResourceStrategy, Strategy
from k8snet.apiserver import objects as o
from k8snet.apiserver.context import Ctx
from k8snet.apiserver.status import ApiStatusError, conflict, not_found
from k8snet.machinery.resources import KindInfo
from k8snet.store.base import Compacted, KeyNotFound, RevisionMismatch

CONTROLLER = "kube-apiserver"
CLEANUP_DEADLINE = 60.0


class CleanupPending(Exception):
    """Custom resources of a deleted CRD are still there (finalizers of their own)."""


class CustomResources:
    """CRD serving for one apiserver (see the module docstring)."""

    def __init__(self, registry: Any, clock: Callable[[], float] = time.time,
                 cleanup_deadline: float = CLEANUP_DEADLINE) -> None:
        self.registry = registry
        self.cleanup_deadline = cleanup_deadline
        self.retry_interval = 5.0
        self._stop = threading.Event()
        self.table = registry.table
        self.clock = clock
        self._lock = threading.Lock()
        self._served: dict[Key, tuple[ServedVersion, CustomResourceStrategy]] = {}
        self._crd_strategy = CRDStrategy()
        self._cleaning: set[str] = set()
        self._openapi: Optional[CustomDefinitions] = None

    @property
    def crd_info(self) -> KindInfo:
        info = self.table.get(CRD_GROUP, "v1", CRD_PLURAL)
        if info is None:
            raise RuntimeError("the resource table does not serve "
                               "customresourcedefinitions.apiextensions.k8s.io/v1")
        return info

    def _ctx(self) -> Ctx:
        return Ctx(params={}, user_agent=CONTROLLER)

    # -- what the hooks ask ----------------------------------------------------------------
    def strategy(self, info: KindInfo) -> Optional[Strategy]:
        """The strategy for a CRD or custom resource request; None for built-ins."""
        if info.group == CRD_GROUP and info.plural == CRD_PLURAL:
            return self._crd_strategy
        if not info.custom:
            return None
        got = self._served.get((info.group, info.version, info.plural))
        return got[1] if got is not None else None

    def served(self) -> list[ServedVersion]:
        """The served versions of every CRD, as the table has them."""
        return [sv for sv, _ in self._served.values()]

    def openapi_definitions(self) -> CustomDefinitions:
        """The OpenAPI definitions of the served custom resources (rebuilt after changes)."""
        got = self._openapi
        if got is None:
            got = self._openapi = crdopenapi.build(self.served())
        return got

    # -- the table ---------------------------------------------------------------------------
    def sync(self, crds: list[dict]) -> None:
        """Serve exactly the versions these CRDs ask for (add/remove table entries)."""
        wanted = crdkinds.desired(crds)
        with self._lock:
            current = {k: sv for k, (sv, _) in self._served.items()}
            remove, add = crdkinds.changes(current, wanted)
            served = dict(self._served)
            for k in remove:
                sv, _ = served.pop(k)
                if k not in wanted or wanted[k].info != sv.info:
                    self.table.remove(*k)
            for k in add:
                sv = wanted[k]
                old = current.get(k)
                if old is None or old.info != sv.info:
                    try:
                        self.table.add(sv.info)
                    except ValueError as e:  # a built-in already serves it
                        print(f"k8snet apiserver: not serving {sv.crd_name}: {e}",
                              file=sys.stderr, flush=True)
                        continue
                served[k] = (sv, CustomResourceStrategy(sv))
            self._served = served
            if remove or add:
                self._openapi = None

    # -- status ------------------------------------------------------------------------------
    def reconcile_status(self, crd: dict, crds: list[dict]) -> None:
        """Write the status the naming/establishing controllers converge to (if changed)."""
        name = (crd.get("metadata") or {}).get("name")
        if not name:
            return
        others = [c for c in crds if (c.get("metadata") or {}).get("name") != name]
        now = o.rfc3339(self.clock())

        def mutate(cur: Optional[dict]) -> Optional[dict]:
            if cur is None:
                return None
            status = crdstatus.reconcile(cur, others + [cur], now)
            if status is None:
                return None
            new = copy.deepcopy(cur)
            new["status"] = status
            return new
        try:
            self.registry.guaranteed_update(self.crd_info, None, name, mutate, self._ctx(),
                                            subresource="status")
        except ApiStatusError as e:
            if e.code != 404:
                raise

    def _set_terminating(self, name: str, reason: str, message: str = "") -> Optional[dict]:
        now = o.rfc3339(self.clock())

        def mutate(cur: Optional[dict]) -> Optional[dict]:
            if cur is None:
                return None
            new = copy.deepcopy(cur)
            status = new.setdefault("status", {})
            before = copy.deepcopy(status)
            crdstatus.set_condition(status, crdstatus.terminating(reason, message), now)
            return None if status == before else new
        obj, _ = self.registry.guaranteed_update(self.crd_info, None, name, mutate,
                                                 self._ctx(), subresource="status")
        return obj

    # -- deletion ----------------------------------------------------------------------------
    def mark_deleted(self, info: KindInfo, name: str, options: dict, ctx: Ctx
                     ) -> Optional[dict]:
        """DELETE of a CRD: deletionTimestamp, the cleanup finalizer and Terminating in one
        write (the object is removed once its custom resources are gone). None when the
        generic deletion applies (not a CRD, or one already marked without the finalizer)."""
        if info.group != CRD_GROUP or info.plural != CRD_PLURAL:
            return None
        pre = options.get("preconditions") if isinstance(options.get("preconditions"),
                                                         dict) else {}
        k = o.key(info, None, name)
        for _ in range(16):
            got = self.registry.store.get(k)
            if got is None:
                raise not_found(info.plural, name, info.group)
            cur = o.decode(info, got[0], got[1])
            meta = cur["metadata"]
            if pre.get("uid") and pre["uid"] != meta.get("uid"):
                raise conflict(info.plural, name, "Precondition failed: UID in precondition: "
                               f"{pre['uid']}, UID in object meta: {meta.get('uid')}",
                               info.group)
            if pre.get("resourceVersion") and str(pre["resourceVersion"]) != str(got[1]):
                raise conflict(info.plural, name, "Precondition failed: ResourceVersion in "
                               f"precondition: {pre['resourceVersion']}, ResourceVersion in "
                               f"object meta: {got[1]}", info.group)
            if meta.get("deletionTimestamp") and \
                    crdstatus.CLEANUP_FINALIZER not in (meta.get("finalizers") or []):
                return None
            new = copy.deepcopy(cur)
            nmeta = new["metadata"]
            nmeta.setdefault("deletionTimestamp", o.rfc3339(self.clock()))
            nmeta.setdefault("deletionGracePeriodSeconds", 0)
            fins = list(nmeta.get("finalizers") or [])
            if crdstatus.CLEANUP_FINALIZER not in fins:
                fins.append(crdstatus.CLEANUP_FINALIZER)
            nmeta["finalizers"] = fins
            crdstatus.set_condition(new.setdefault("status", {}),
                                    crdstatus.terminating("InstanceDeletionPending"),
                                    o.rfc3339(self.clock()))
            if new == cur or ctx.dry_run:
                return new
            try:
                rev = self.registry.store.update(k, o.encode(new, info), got[1])
            except (RevisionMismatch, KeyNotFound):
                continue
            nmeta["resourceVersion"] = str(rev)
            return new
        raise conflict(info.plural, name, "too many concurrent writers; try again", info.group)

    def cleanup(self, crd: dict) -> None:
        """The customresourcecleanup finalizer: delete every custom resource of the CRD,
        wait (CLEANUP_DEADLINE) until none is left, then drop the finalizer."""
        name = crd["metadata"]["name"]
        was_established = crdstatus.is_true(crd, "Established")
        self._set_terminating(name, "InstanceDeletionInProgress")
        info = crdkinds.storage_info(crd)
        if was_established and info is not None:
            self._delete_instances(info)
            reason = "InstanceDeletionCompleted"
        else:
            reason = "NeverEstablished"
        self._set_terminating(name, reason)

        def mutate(cur: Optional[dict]) -> Optional[dict]:
            if cur is None:
                return None
            fins = (cur.get("metadata") or {}).get("finalizers") or []
            if crdstatus.CLEANUP_FINALIZER not in fins:
                return None
            new = copy.deepcopy(cur)
            new["metadata"]["finalizers"] = [f for f in fins
                                             if f != crdstatus.CLEANUP_FINALIZER]
            return new
        try:
            self.registry.guaranteed_update(self.crd_info, None, name, mutate, self._ctx())
        except ApiStatusError as e:
            if e.code != 404:
                raise

    def _delete_instances(self, info: KindInfo) -> None:
        ctx = self._ctx()
        items, _, _ = self.registry.list(info, None, Ctx())
        for obj in items:
            meta = obj.get("metadata") or {}
            try:
                self.registry.delete(info, meta.get("namespace"), meta.get("name"),
                                     {"propagationPolicy": "Background"}, ctx)
            except ApiStatusError as e:
                if e.code != 404:
                    raise
        deadline = time.monotonic() + self.cleanup_deadline
        while True:
            items, _, _ = self.registry.list(info, None, Ctx())
            if not items:
                return
            if time.monotonic() >= deadline:
                raise CleanupPending(f"{len(items)} {info.plural}.{info.group} still present "
                                     f"after {self.cleanup_deadline:.0f}s (finalizers of their "
                                     "own?)")
            time.sleep(0.5)

    def _cleanup_thread(self, crd: dict) -> None:
        """Run the cleanup until it succeeds or the CRD is gone (retried every few seconds
        while custom resources remain, as upstream requeues it)."""
        meta = crd.get("metadata") or {}
        name, uid = meta.get("name") or "", meta.get("uid") or ""
        try:
            while not self._stop.is_set():
                try:
                    self.cleanup(crd)
                    return
                except CleanupPending as e:
                    print(f"k8snet apiserver: {name}: {e}", file=sys.stderr, flush=True)
                    self._set_terminating(name, "InstanceDeletionCheck")
                except Exception as e:  # noqa: BLE001 - said, then tried again
                    print(f"k8snet apiserver: cleanup of {name} failed: {e}", file=sys.stderr,
                          flush=True)
                    try:
                        self._set_terminating(name, "InstanceDeletionFailed",
                                              f"could not issue all deletes: {e}")
                    except Exception as e2:  # noqa: BLE001 - the store itself may be failing
                        print(f"k8snet apiserver: status of {name}: {e2}", file=sys.stderr,
                              flush=True)
                if self._stop.wait(self.retry_interval):
                    return
                current = self.registry.read(self.crd_info, None, name)
                if current is None or (current.get("metadata") or {}).get("uid") != uid or \
                        crdstatus.CLEANUP_FINALIZER not in \
                        ((current.get("metadata") or {}).get("finalizers") or []):
                    return
                crd = current
        except ApiStatusError:
            return
        finally:
            with self._lock:
                self._cleaning.discard(uid)

    # -- the loop ----------------------------------------------------------------------------
    def converge(self, crds: list[dict]) -> None:
        """One pass: table and strategies, status of every CRD, cleanup of deleted ones."""
        self.sync(crds)
        now = o.rfc3339(self.clock())
        for crd in crds:
            meta = crd.get("metadata") or {}
            if meta.get("deletionTimestamp"):
                if crdstatus.CLEANUP_FINALIZER in (meta.get("finalizers") or []):
                    self._start_cleanup(crd)
                continue
            if crdstatus.reconcile(crd, crds, now) is None:
                continue  # as the store has it: nothing to write
            try:
                self.reconcile_status(crd, crds)
            except ApiStatusError as e:
                print(f"k8snet apiserver: status of {meta.get('name')}: {e.message}",
                      file=sys.stderr, flush=True)

    def _start_cleanup(self, crd: dict) -> None:
        uid = (crd.get("metadata") or {}).get("uid") or ""
        with self._lock:
            if uid in self._cleaning:
                return
            self._cleaning.add(uid)
        threading.Thread(target=self._cleanup_thread, args=(crd,), daemon=True,
                         name="crd-cleanup").start()

    def run(self, stop: threading.Event) -> None:
        """List, then watch, the CRDs in the store until `stop` is set."""
        self._stop = stop
        info = self.crd_info
        prefix = o.prefix(info, None)
        store = self.registry.store
        while not stop.is_set():
            try:
                items, rev = store.list(prefix)
                crds = {k: o.decode(info, v, r) for k, v, r in items}
                self.converge(list(crds.values()))
                for ev in store.watch(prefix, rev, stop):
                    if ev.type == "DELETE" or ev.value is None:
                        crds.pop(ev.key, None)
                    else:
                        crds[ev.key] = o.decode(info, ev.value, ev.revision)
                    self.converge(list(crds.values()))
            except Compacted:
                continue
            except Exception as e:  # noqa: BLE001 - say it, then list again
                print(f"k8snet apiserver: CRD controller: {type(e).__name__}: {e}",
                      file=sys.stderr, flush=True)
                stop.wait(1.0)
