"""DELETE only marks, as Kubernetes' generic registry does; cascading is the garbage
collector's (k8snet.kcm.gcgraph), emptying a namespace is the namespace controller's.

What a DELETE does to an object:
- propagationPolicy Orphan adds the ``orphan`` finalizer, Foreground ``foregroundDeletion``,
  Background neither (an explicit policy replaces a GC finalizer already there). Without a
  policy the kind's default applies: Background, except Orphan for batch/v1 Jobs (with
  upstream's warning) and v1 ReplicationControllers; Events take no GC finalizer.
- A Pod is deleted gracefully: deletionTimestamp = now + grace, kept until its kubelet
  deletes it with grace 0 (unscheduled or finished Pods go at once).
- An object with finalizers gets deletionTimestamp (and deletionGracePeriodSeconds 0) and
  stays until an update removes its last finalizer; without any it is removed now.
- A Namespace goes Terminating (deletionTimestamp, status.phase) and stays until its
  ``spec.finalizers`` are emptied through ``/finalize`` (and its metadata.finalizers).

The decisions are pure functions (plan_delete, plan_namespace_delete, should_remove_on_update,
update_causes); DeletionMixin applies them to the store.
"""

from __future__ import annotations

import copy
import datetime
from dataclasses import dataclass
from typing import Optional

from k8snet.api.fielderrors import Errors
from k8snet.apiserver import alloc
from k8snet.apiserver import objects as o
from k8snet.apiserver.context import Ctx
from k8snet.apiserver.status import ApiStatusError, bad_request, conflict, invalid, not_found
from k8snet.machinery.resources import KindInfo
from k8snet.store.base import KeyNotFound, RevisionMismatch

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
MAX_RETRIES = 16
ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"
POLICIES = ("Foreground", "Background", "Orphan")
# upstream strategies' DefaultGarbageCollectionPolicy where it is not "delete dependents"
DEFAULT_POLICY = {("", "replicationcontrollers"): "Orphan", ("batch", "jobs"): "Orphan",
                  ("", "events"): "Unsupported", ("events.k8s.io", "events"): "Unsupported"}
JOB_ORPHAN_WARNING = ("child pods are preserved by default when jobs are deleted; set "
                      "propagationPolicy=Background to remove them or set "
                      "propagationPolicy=Orphan to suppress this warning")


@dataclass(frozen=True)
class DeleteOptions:
    """A validated DeleteOptions body (query parameters already merged in)."""

    grace: Optional[int] = None
    policy: Optional[str] = None
    orphan_dependents: Optional[bool] = None
    uid: Optional[str] = None
    resource_version: Optional[str] = None

    @property
    def explicit(self) -> Optional[str]:
        """The propagation asked for (orphanDependents mapped to a policy), or None."""
        if self.orphan_dependents is not None:
            return "Orphan" if self.orphan_dependents else "Background"
        return self.policy


@dataclass
class DeletePlan:
    """What a DELETE does: remove the key now, or write `obj` (marked), or nothing."""

    obj: dict
    remove: bool = False
    write: bool = False


def parse_delete_options(body: dict) -> DeleteOptions:
    """Validate a DeleteOptions body: 400 for wrong types, 422 as ValidateDeleteOptions."""
    grace = body.get("gracePeriodSeconds")
    if grace is not None and (not isinstance(grace, int) or isinstance(grace, bool)):
        raise bad_request("gracePeriodSeconds must be an integer")
    if grace is not None and grace < 0:
        grace = 1  # upstream treats a negative grace period as 1 s
    pre = body.get("preconditions") or {}
    if not isinstance(pre, dict):
        raise bad_request("preconditions must be an object")
    orphan = body.get("orphanDependents")
    if orphan is not None and not isinstance(orphan, bool):
        raise bad_request("orphanDependents must be a boolean")
    policy = body.get("propagationPolicy")
    errs = Errors()
    if orphan is not None and policy is not None:
        errs.invalid("propagationPolicy", policy,
                     "orphanDependents and deletionPropagation cannot be both set")
    if policy is not None and policy not in POLICIES:
        errs.add("propagationPolicy", "FieldValueNotSupported",
                 f'Unsupported value: "{policy}": supported values: '
                 + ", ".join(f'"{p}"' for p in POLICIES + ("nil",)))
    if errs.causes:
        raise invalid("DeleteOptions.meta.k8s.io", "", errs.causes, "meta.k8s.io")
    rv = pre.get("resourceVersion")
    return DeleteOptions(grace, policy, orphan, pre.get("uid") or None,
                         None if rv in (None, "") else str(rv))


def default_policy(info: KindInfo) -> str:
    """The kind's propagation when the request names none: Background, Orphan or
    Unsupported (no GC finalizers at all)."""
    return DEFAULT_POLICY.get((info.group, info.plural), "Background")


def gc_finalizers(finalizers: list, explicit: Optional[str], default: str) -> list:
    """The finalizers after a DELETE with `explicit` propagation (None: not given)."""
    if default == "Unsupported":
        orphan = foreground = False
    elif explicit is not None:
        orphan, foreground = explicit == "Orphan", explicit == "Foreground"
    else:
        first = next((f for f in finalizers if f in (ORPHAN, FOREGROUND)), None)
        orphan = first == ORPHAN or (first is None and default == "Orphan")
        foreground = FOREGROUND in finalizers
    new = [f for f in finalizers if f not in (ORPHAN, FOREGROUND)]
    new += [ORPHAN] if orphan else []
    new += [FOREGROUND] if foreground else []
    return list(finalizers) if set(new) == set(finalizers) else new


def _parse(ts: Optional[str]) -> Optional[datetime.datetime]:
    try:
        return datetime.datetime.strptime(str(ts), "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=datetime.timezone.utc)
    except ValueError:
        return None


def pod_grace(pod: dict, requested: Optional[int]) -> int:
    """The grace period a Pod gets: asked, else its spec's; 0 unscheduled or finished."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    period = requested
    if period is None:
        period = spec.get("terminationGracePeriodSeconds")
        period = 30 if not isinstance(period, int) else period
    if not spec.get("nodeName") or status.get("phase") in ("Succeeded", "Failed"):
        return 0
    return period


def _mark(obj: dict, when: float, grace: int) -> dict:
    new = copy.deepcopy(obj)
    meta = new["metadata"]
    if not meta.get("deletionTimestamp") and int(meta.get("generation") or 0) > 0:
        meta["generation"] = int(meta["generation"]) + 1
    meta["deletionTimestamp"] = o.rfc3339(when)
    meta["deletionGracePeriodSeconds"] = grace
    meta.pop("resourceVersion", None)
    return new


def before_delete(info: KindInfo, cur: dict, grace: Optional[int], now: float) \
        -> tuple[Optional[dict], bool]:
    """Graceful deletion (Pods only): (the marked object or None, deletion pending)."""
    if info.kind != "Pod":
        return None, False
    meta = cur["metadata"]
    if meta.get("deletionTimestamp"):
        old = meta.get("deletionGracePeriodSeconds")
        if not old:
            return None, False
        if grace is None or grace >= old:
            return None, True  # only a shorter grace period changes anything
        return _mark(cur, now + grace, grace), False
    period = pod_grace(cur, grace)
    return _mark(cur, now + period, period), False


def mark_as_deleting(obj: dict, now: float) -> dict:
    """deletionTimestamp now (an earlier one stays) and deletionGracePeriodSeconds 0."""
    meta = obj["metadata"]
    old = _parse(meta.get("deletionTimestamp"))
    when = now if old is None or old.timestamp() > now else old.timestamp()
    return _mark(obj, when, 0)


def _with_finalizers(obj: dict, finalizers: list) -> dict:
    new = copy.deepcopy(obj)
    if finalizers:
        new["metadata"]["finalizers"] = list(finalizers)
    else:
        new["metadata"].pop("finalizers", None)
    return new


def plan_delete(info: KindInfo, cur: dict, opts: DeleteOptions, now: float) -> DeletePlan:
    """The generic registry's DELETE of `cur` (anything but a first Namespace delete)."""
    marked, pending = before_delete(info, cur, opts.grace, now)
    if pending:
        return DeletePlan(cur)
    old_fins = list(cur["metadata"].get("finalizers") or [])
    fins = gc_finalizers(old_fins, opts.explicit, default_policy(info))
    if marked is None and not old_fins and fins == old_fins:
        return DeletePlan(cur, remove=True)
    new = _with_finalizers(marked if marked is not None else cur, fins)
    graceful = marked is not None and int(new["metadata"].get(
        "deletionGracePeriodSeconds") or 0) > 0
    if graceful:
        return DeletePlan(new, write=True)
    if fins:
        return DeletePlan(mark_as_deleting(new, now), write=True)
    return DeletePlan(cur, remove=True)


def plan_namespace_delete(cur: dict, opts: DeleteOptions, now: float) -> DeletePlan:
    """A Namespace: the first DELETE makes it Terminating; it goes once finalized."""
    meta = cur["metadata"]
    if meta.get("deletionTimestamp"):
        if (cur.get("spec") or {}).get("finalizers"):
            return DeletePlan(cur)
        return plan_delete(_NS_INFO, cur, opts, now)
    new = copy.deepcopy(cur)
    new["metadata"]["deletionTimestamp"] = o.rfc3339(now)
    new["metadata"].pop("resourceVersion", None)
    new.setdefault("status", {})["phase"] = "Terminating"
    fins = list(meta.get("finalizers") or [])
    explicit = opts.explicit
    want_orphan = explicit == "Orphan" if explicit else ORPHAN in fins
    want_fg = explicit == "Foreground" if explicit else FOREGROUND in fins
    if opts.orphan_dependents is False:
        want_fg = True  # upstream's namespace registry reads orphanDependents=false so
    wanted = [f for f in fins if f not in (ORPHAN, FOREGROUND)]
    wanted += [ORPHAN] if want_orphan else []
    wanted += [FOREGROUND] if want_fg else []
    if set(wanted) != set(fins):
        new = _with_finalizers(new, wanted)
    return DeletePlan(new, write=True)


_NS_INFO = KindInfo("Namespace", "namespaces", "namespace", "", "v1", False)


def should_remove_on_update(info: KindInfo, old: dict, new: dict) -> bool:
    """An update that leaves an object being deleted without finalizers removes it (when
    its grace period is over; a Namespace also needs empty spec.finalizers)."""
    ometa, nmeta = old.get("metadata") or {}, new.get("metadata") or {}
    if nmeta.get("finalizers") or not ometa.get("deletionTimestamp"):
        return False
    if ometa.get("deletionGracePeriodSeconds"):
        return False
    return not (info.kind == "Namespace" and (new.get("spec") or {}).get("finalizers"))


def update_causes(old: dict, new: dict) -> list[dict]:
    """Finalizer rules of an update: none added while deleting; not orphan and
    foregroundDeletion together."""
    errs = Errors()
    old_f = list((old.get("metadata") or {}).get("finalizers") or [])
    new_f = list((new.get("metadata") or {}).get("finalizers") or [])
    extra = sorted(set(new_f) - set(old_f))
    if (old.get("metadata") or {}).get("deletionTimestamp") and extra:
        errs.add("metadata.finalizers", "FieldValueForbidden",
                 "Forbidden: no new finalizers can be added if the object is being deleted, "
                 "found new finalizers []string{" + ", ".join(f'"{f}"' for f in extra) + "}")
    if ORPHAN in new_f and FOREGROUND in new_f:
        errs.invalid("metadata.finalizers", new_f,
                     f"finalizer {ORPHAN} and {FOREGROUND} cannot be both set")
    return errs.causes


class DeletionMixin:
    """DELETE and deletecollection over the store; expects ``self.store``, ``self.ipam``,
    ``self.clock``, ``self.list`` (mixed into Registry)."""

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
        opts = parse_delete_options(options)
        if opts.explicit is None and default_policy(info) == "Orphan" and info.kind == "Job":
            ctx.warnings.append(JOB_ORPHAN_WARNING)
        for _ in range(MAX_RETRIES):
            got = self.store.get(o.key(info, ns, name))
            if got is None:
                raise not_found(info.plural, name, info.group)
            cur = o.decode(info, got[0], got[1])
            self._check_preconditions(info, name, cur, got[1], opts)
            now = self.clock()
            plan = plan_namespace_delete(cur, opts, now) if info.kind == "Namespace" \
                else plan_delete(info, cur, opts, now)
            if ctx.dry_run:
                return plan.obj, 200
            try:
                if plan.remove:
                    return self._remove(info, ns, name, got[1]), 200
                if plan.write:
                    rev = self.store.update(o.key(info, ns, name), o.encode(plan.obj), got[1])
                    plan.obj["metadata"]["resourceVersion"] = str(rev)
            except (RevisionMismatch, KeyNotFound):
                continue
            return plan.obj, (202 if opts.orphan_dependents is False else 200)
        raise conflict(info.plural, name, "too many concurrent writers; try again", info.group)

    @staticmethod
    def _check_preconditions(info: KindInfo, name: str, cur: dict, rev: int,
                             opts: DeleteOptions) -> None:
        uid = cur["metadata"].get("uid")
        if opts.uid and opts.uid != uid:
            raise conflict(info.plural, name, f"Precondition failed: UID in precondition: "
                           f"{opts.uid}, UID in object meta: {uid}", info.group)
        if opts.resource_version and opts.resource_version != str(rev):
            raise conflict(info.plural, name, "Precondition failed: ResourceVersion in "
                           f"precondition: {opts.resource_version}, ResourceVersion in "
                           f"object meta: {rev}", info.group)

    def _deletion_update_rules(self, info: KindInfo, cur: dict, new: dict,
                               subresource: Optional[str]) -> None:
        """Per-update rules: a Namespace's spec.finalizers change only through /finalize;
        finalizer causes are 422."""
        if info.kind == "Namespace" and subresource != "finalize" and \
                isinstance(new.get("spec") or {}, dict):
            spec = dict(new.get("spec") or {})
            fins = (cur.get("spec") or {}).get("finalizers")
            if fins is None:
                spec.pop("finalizers", None)
            else:
                spec["finalizers"] = copy.deepcopy(fins)
            if spec or "spec" in new:
                new["spec"] = spec
        causes = update_causes(cur, new)
        if causes:
            raise invalid(info.kind, str(cur["metadata"].get("name") or ""), causes,
                          info.group)

    def delete_collection(self, info: KindInfo, ns: Optional[str], options: dict,
                          ctx: Ctx) -> dict:
        """DELETE on a collection (selectors honoured): the deleted or marked items."""
        parse_delete_options(options)
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
