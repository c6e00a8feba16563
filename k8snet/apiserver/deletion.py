"""Deletion rules: graceful Pods, Namespace termination, finalizers, cascading deletion
of owned objects, deletecollection. Mixed into Registry (uses its store, ipam, clock)."""

from __future__ import annotations

import copy
from typing import Optional

from k8snet.apiserver import alloc
from k8snet.apiserver import objects as o
from k8snet.apiserver.context import Ctx
from k8snet.apiserver.status import ApiStatusError, bad_request, conflict, not_found
from k8snet.machinery import resources as kinds
from k8snet.machinery.resources import KindInfo
from k8snet.store.base import KeyNotFound, RevisionMismatch

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
MAX_RETRIES = 16


class DeletionMixin:
    """DELETE semantics; expects ``self.store``, ``self.ipam``, ``self.clock``, ``self.list``."""

    def _remove(self, info: KindInfo, ns: Optional[str], name: str,
                expected: Optional[int]) -> dict:
        try:
            rev, old = self.store.delete(o.key(info, ns, name), expected)
        except KeyNotFound:
            raise not_found(info.plural, name, info.group) from None
        obj = o.decode(info, old, rev)
        if info.kind == "Service":
            ips, ports = alloc.service_allocations(obj)
            self.ipam.release(ips, ports)
        return obj

    def delete(self, info: KindInfo, ns: Optional[str], name: str, options: dict,
               ctx: Ctx) -> tuple[dict, int]:
        """DELETE one object: (reply body, HTTP code)."""
        if info.kind == "Namespace" and name in SYSTEM_NAMESPACES:
            raise ApiStatusError(403, f'namespaces "{name}" is forbidden: this namespace may '
                                 "not be deleted", "Forbidden",
                                 {"name": name, "kind": "namespaces"})
        grace = options.get("gracePeriodSeconds")
        if grace is not None and (not isinstance(grace, int) or isinstance(grace, bool)):
            raise bad_request("gracePeriodSeconds must be an integer")
        pre = options.get("preconditions") or {}
        if not isinstance(pre, dict):
            raise bad_request("preconditions must be an object")
        policy = options.get("propagationPolicy")
        if policy not in (None, "Orphan", "Background", "Foreground"):
            raise bad_request(f"unsupported propagationPolicy {policy!r}")
        if options.get("orphanDependents") is True:
            policy = "Orphan"
        for _ in range(MAX_RETRIES):
            got = self.store.get(o.key(info, ns, name))
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
            graceful = self._graceful_marking(info, cur, grace)
            if ctx.dry_run:
                return (graceful or cur), 200
            try:
                if graceful is not None:
                    if graceful == cur:
                        return cur, 200
                    rev = self.store.update(o.key(info, ns, name), o.encode(graceful), got[1])
                    graceful["metadata"]["resourceVersion"] = str(rev)
                    return graceful, 200
                obj = self._remove(info, ns, name, got[1])
            except (RevisionMismatch, KeyNotFound):
                continue
            if policy != "Orphan":
                self.cascade(info, ns, meta.get("uid"))
            return obj, 200
        raise conflict(info.plural, name, "too many concurrent writers; try again", info.group)

    def _graceful_marking(self, info: KindInfo, cur: dict, grace: Optional[int]) \
            -> Optional[dict]:
        """The object marked for deletion, or None to remove it now."""
        meta = cur["metadata"]
        now = self.clock()
        if info.kind == "Pod":
            spec, status = cur.get("spec") or {}, cur.get("status") or {}
            if grace is None:
                grace = spec.get("terminationGracePeriodSeconds")
                grace = 30 if not isinstance(grace, int) else grace
            if grace <= 0 or not spec.get("nodeName") or \
                    status.get("phase") in ("Succeeded", "Failed"):
                return None
            old_grace = meta.get("deletionGracePeriodSeconds")
            if meta.get("deletionTimestamp") and old_grace is not None and old_grace <= grace:
                return cur
            new = copy.deepcopy(cur)
            new["metadata"]["deletionTimestamp"] = o.rfc3339(now + grace)
            new["metadata"]["deletionGracePeriodSeconds"] = grace
            new["metadata"].pop("resourceVersion", None)
            return new
        if info.kind == "Namespace":
            if meta.get("deletionTimestamp"):
                return cur
            new = copy.deepcopy(cur)
            new["metadata"]["deletionTimestamp"] = o.rfc3339(now)
            new["metadata"]["deletionGracePeriodSeconds"] = 0
            new["metadata"].pop("resourceVersion", None)
            new.setdefault("status", {})["phase"] = "Terminating"
            return new
        if meta.get("finalizers"):
            if meta.get("deletionTimestamp"):
                return cur
            new = copy.deepcopy(cur)
            new["metadata"]["deletionTimestamp"] = o.rfc3339(now)
            new["metadata"]["deletionGracePeriodSeconds"] = 0
            new["metadata"].pop("resourceVersion", None)
            return new
        return None

    def cascade(self, info: KindInfo, ns: Optional[str], uid: Optional[str]) -> None:
        """Delete objects whose ownerReferences name `uid` (a small garbage collector)."""
        if not uid or not ns:
            return
        for dep in ("replicasets", "pods"):
            dinfo = kinds.RESOURCES[dep]
            items, _ = self.store.list(o.prefix(dinfo, ns))
            for _k, v, r in items:
                obj = o.decode(dinfo, v, r)
                refs = obj["metadata"].get("ownerReferences") or []
                if any(isinstance(x, dict) and x.get("uid") == uid for x in refs):
                    try:
                        self.delete(dinfo, ns, obj["metadata"]["name"],
                                    {"propagationPolicy": "Background"}, Ctx())
                    except ApiStatusError:
                        pass

    def delete_collection(self, info: KindInfo, ns: Optional[str], options: dict,
                          ctx: Ctx) -> dict:
        """DELETE on a collection (selectors honoured): the deleted items as a list."""
        items, rv, _ = self.list(info, ns, Ctx(params={
            k: v for k, v in ctx.params.items() if k in ("labelSelector", "fieldSelector")}))
        out = []
        for item in items:
            meta = item["metadata"]
            if info.kind == "Namespace" and meta["name"] in SYSTEM_NAMESPACES:
                continue
            try:
                obj, _ = self.delete(info, meta.get("namespace"), meta["name"], options, ctx)
                out.append(obj)
            except ApiStatusError as e:
                if e.code != 404:
                    raise
        return {"kind": info.list_kind, "apiVersion": info.api_version,
                "metadata": {"resourceVersion": rv}, "items": out}

    # -- namespaces ---------------------------------------------------------------
    def finalize_namespace(self, name: str) -> bool:
        """One pass over a terminating namespace: delete its contents; when nothing is left,
        remove it. True when the namespace is gone."""
        for info in kinds.STORED.values():
            if not info.namespaced:
                continue
            items, _ = self.store.list(o.prefix(info, name))
            for _k, v, r in items:
                obj = o.decode(info, v, r)
                if obj["metadata"].get("deletionTimestamp") and info.kind == "Pod":
                    continue
                try:
                    self.delete(info, name, obj["metadata"]["name"],
                                {"propagationPolicy": "Background"}, Ctx())
                except ApiStatusError:
                    pass
        for info in kinds.STORED.values():
            if info.namespaced and self.store.list(o.prefix(info, name), limit=1)[0]:
                return False
        try:
            self._remove(kinds.KINDS["Namespace"], None, name, None)
        except ApiStatusError:
            pass
        return True
