"""The verbs (get, list, create, update, patch, delete) over the store.

Objects are stored as JSON without resourceVersion; the store's mod revision
is the resourceVersion. Per-kind rules (status subresources, Service address
allocation) live here, deletion (marking, finalizers, Namespace termination) in
k8snet.apiserver.deletion; pure helpers come from k8snet.api.
"""

from __future__ import annotations

import base64
import copy
import json
import random
import time
import uuid
from typing import Callable, Optional

from k8snet.api import defaults, defaults_more, ephemeral, schema, selectors, validation
from k8snet.api.apply import track_update
from k8snet.apiserver import objects as o
from k8snet.apiserver import saadmission, storageclass
from k8snet.apiserver.context import Ctx
from k8snet.apiserver.deletion import DeletionMixin, should_remove_on_update
from k8snet.apiserver.ipam import ServiceIPAM
from k8snet.apiserver.status import (
    ApiStatusError,
    already_exists,
    bad_request,
    conflict,
    invalid,
    not_found,
    status_object,
)
from k8snet.machinery import resources as kinds
from k8snet.machinery.resources import KindInfo, ResourceTable
from k8snet.store.base import (
    Compacted,
    FutureRevision,
    KeyExists,
    KeyNotFound,
    RevisionMismatch,
    Store,
)

CREATE_ON_UPDATE = ("endpoints", "events", "leases")
# Kinds with a status subresource whose status a create keeps (the kubelet registers a Node
# with its status); every other such kind starts with an empty status, as upstream's
# PrepareForCreate does, and defaults then fill the initial phase where upstream has one.
KEEP_STATUS_ON_CREATE = {("", "Node")}
MAX_RETRIES = 16

Mutate = Callable[[Optional[dict]], Optional[dict]]


def _meta(obj: dict) -> dict:
    meta = obj.get("metadata")
    if meta is None:
        meta = obj["metadata"] = {}
    if not isinstance(meta, dict):
        raise bad_request("metadata must be an object")
    return meta


class Registry(DeletionMixin):
    """Kubernetes REST semantics over a Store (deletion rules: k8snet.apiserver.deletion)."""

    def __init__(self, store: Store, ipam: ServiceIPAM,
                 clock: Callable[[], float] = time.time,
                 rng: Optional[random.Random] = None,
                 table: Optional[ResourceTable] = None) -> None:
        self.store = store
        self.ipam = ipam
        self.clock = clock
        self.rng = rng or random.Random()
        self.table = table if table is not None else kinds.builtin_table()
        # CRDs and custom resources (k8snet.apiextensions.manager.CustomResources), set by
        # the apiserver; its strategies hook into strict decoding, preparation, validation
        self.extensions = None

    def strategy(self, info: KindInfo):
        """The apiextensions strategy of a CRD or custom resource (None for built-ins)."""
        return self.extensions.strategy(info) if self.extensions is not None else None

    def delete(self, info: KindInfo, ns: Optional[str], name: str, options: dict,
               ctx: Ctx) -> tuple[dict, int]:
        """DELETE one object; a CRD is marked for its customresourcecleanup finalizer first."""
        if self.extensions is not None:
            marked = self.extensions.mark_deleted(info, name, options, ctx)
            if marked is not None:
                return marked, 200
        return super().delete(info, ns, name, options, ctx)

    # -- reading ---------------------------------------------------------------
    def read(self, info: KindInfo, ns: Optional[str], name: str) -> Optional[dict]:
        """The object or None."""
        got = self.store.get(o.key(info, ns, name))
        return None if got is None else o.decode(info, got[0], got[1])

    def _service_account(self, ns: str, name: str) -> Optional[dict]:
        """The ServiceAccount ns/name or None (for the ServiceAccount admission plugin)."""
        info = kinds.lookup("serviceaccounts", "")
        return None if info is None else self.read(info, ns, name)

    def get(self, info: KindInfo, ns: Optional[str], name: str) -> dict:
        obj = self.read(info, ns, name)
        if obj is None:
            raise not_found(info.plural, name, info.group)
        return obj

    def list(self, info: KindInfo, ns: Optional[str], ctx: Ctx) -> tuple[list[dict], str, str]:
        """(items, resourceVersion, continue token) honouring selectors and limit/continue."""
        label_sel, field_sel = self.selectors(info, ctx)
        limit = o.parse_rv(ctx.get("limit"), "limit") or 0
        start_after: Optional[str] = None
        revision: Optional[int] = None
        token = ctx.get("continue")
        if token:
            try:
                data = json.loads(base64.urlsafe_b64decode(token.encode() + b"==="))
                revision, start_after = int(data["rv"]), str(data["start"])
            except (ValueError, KeyError, TypeError):
                raise bad_request("continue key is not valid: incorrect encoded start "
                                  "resourceVersion") from None
        pref = o.prefix(info, ns)
        if start_after is not None and not start_after.startswith(pref):
            raise bad_request("continue key is not valid: it belongs to another collection")
        out: list[dict] = []
        last_key = ""
        more = False
        chunk = limit + 1 if limit else None
        while True:
            try:
                items, rev = self.store.list(pref, revision=revision, limit=chunk,
                                             start_after=start_after)
            except Compacted:
                raise ApiStatusError(410, "The provided continue parameter is too old to "
                                     "display a consistent list result. You can start a new "
                                     "list without the continue parameter.", "Expired") from None
            except FutureRevision as e:
                raise ApiStatusError(504, f"Too large resource version: {e.requested}, "
                                     f"current resource version: {e.current}",
                                     "Timeout") from None
            revision = rev
            for _i, (k, v, r) in enumerate(items):
                obj = o.decode(info, v, r)
                if not (label_sel.matches(_meta(obj).get("labels") or {})
                        and field_sel.matches(obj)):
                    continue
                if limit and len(out) == limit:
                    more = True
                    break
                out.append(obj)
                last_key = k
            if more or chunk is None or len(items) < chunk:
                break
            start_after = items[-1][0]
        cont = ""
        if more:
            cont = base64.urlsafe_b64encode(json.dumps(
                {"rv": revision, "start": last_key}).encode()).decode().rstrip("=")
        return out, str(revision), cont

    def selectors(self, info: KindInfo, ctx: Ctx):
        try:
            label_sel = selectors.parse_label_selector(ctx.get("labelSelector"))
            st = self.strategy(info)
            field_sel = st.field_selector(ctx.get("fieldSelector")) if st is not None else None
            if field_sel is None:
                field_sel = selectors.parse_field_selector(ctx.get("fieldSelector"), info.kind)
        except ValueError as e:
            raise bad_request(str(e)) from None
        return label_sel, field_sel

    # -- writing: helpers ----------------------------------------------------
    def _check_body(self, info: KindInfo, obj: object, sub_kind: Optional[str] = None) -> dict:
        want_kind = sub_kind or info.kind
        if not isinstance(obj, dict):
            raise bad_request(f"the body of the request must be a {want_kind} object")
        kind, api_version = obj.get("kind"), obj.get("apiVersion")
        if kind not in (None, "") and kind != want_kind:
            raise bad_request(f"the kind in the data ({kind}) does not match the expected "
                              f"kind ({want_kind})")
        want_av = info.api_version if sub_kind is None else None
        if want_av and api_version not in (None, "") and api_version != want_av:
            raise bad_request(f"the API version in the data ({api_version}) does not match "
                              f"the expected API version ({want_av})")
        _meta(obj)
        if sub_kind is None:
            problem = defaults_more.decode_problem(info.group, info.kind, obj)
            if problem:
                raise bad_request(f'{info.kind} in version "{info.version}" cannot be handled '
                                  f"as a {info.kind}: {problem}")
        return obj

    def _strict(self, info: KindInfo, obj: dict, ctx: Ctx) -> None:
        """Decode as upstream does: wrong types fail always; unknown fields per fieldValidation."""
        mode = ctx.strict
        st = self.strategy(info)
        unknown = st.unknown_fields(obj) if st is not None else None
        if unknown is not None:  # a custom resource: what pruning would drop
            if mode == "Strict" and unknown:
                raise bad_request(st.strict_message(unknown))
            if mode == "Warn":
                ctx.warnings.extend(schema.unknown_field_warning(f) for f in unknown)
            return
        found = schema.check(info.kind, obj, info.api_version)
        if found.error and not ctx.applying:
            raise bad_request(schema.cannot_handle(info.kind, info.version, found.error))
        if not found.unknown:
            return
        if mode == "Strict":
            raise bad_request(schema.strict_message(list(found.unknown)))
        schema.prune(info.kind, obj, info.api_version)  # dropped, as upstream's decoder does
        if mode != "Ignore":
            ctx.warnings.extend(schema.unknown_field_warning(f) for f in found.unknown)

    def _decode_patched(self, info: KindInfo, obj: dict, ctx: Ctx) -> None:
        """A patched object is decoded as upstream does (JSON, merge and strategic patches)."""
        found = schema.check(info.kind, obj, info.api_version)
        if found.error:
            patched = json.dumps(obj, separators=(",", ":"))
            cause = {"reason": "FieldValueInvalid", "field": "patch",
                     "message": f"Invalid value: {schema.go_quote(patched)}: {found.error}"}
            raise ApiStatusError(422, schema.patch_invalid(patched, found.error), "Invalid",
                                 {"causes": [cause]})
        if not found.unknown:
            return
        if ctx.strict == "Strict":
            raise bad_request(schema.strict_message(list(found.unknown)))
        schema.prune(info.kind, obj, info.api_version)
        if ctx.strict != "Ignore":
            ctx.warnings.extend(w for w in map(schema.unknown_field_warning, found.unknown)
                                if w not in ctx.warnings)

    def _validate(self, info: KindInfo, obj: dict, old: Optional[dict],
                  subresource: Optional[str] = None) -> None:
        try:
            if subresource == "ephemeralcontainers" and info.kind == "Pod" and old is not None:
                causes = ephemeral.validate_update(obj, old)  # the rest is the stored Pod
            else:
                causes = validation.validate(info.kind, obj, old, group=info.group,
                                             namespaced=info.namespaced)
            st = self.strategy(info)
            if st is not None:
                causes = st.validate(obj, old, subresource, causes)
        except (TypeError, AttributeError, ValueError, KeyError) as e:
            causes = [{"field": "", "reason": "FieldValueInvalid",
                       "message": f"malformed object: {e}"}]
        if causes:
            raise invalid(info.kind, str(_meta(obj).get("name") or ""), causes, info.group)

    def _namespace_ok(self, info: KindInfo, ns: Optional[str], name: str = "") -> None:
        """Creating into a namespace needs it to exist and not be terminating (upstream's
        NamespaceLifecycle admission: 404, or 403 with a NamespaceTerminating cause)."""
        if not info.namespaced:
            return
        nsobj = self.read(kinds.KINDS["Namespace"], None, str(ns))
        if nsobj is None:
            raise not_found("namespaces", str(ns))
        if (nsobj.get("metadata") or {}).get("deletionTimestamp"):
            qual = f"{info.plural}.{info.group}" if info.group else info.plural
            what = f'{qual} "{name}"' if name else qual
            raise ApiStatusError(
                403, f"{what} is forbidden: unable to create new content in namespace {ns} "
                "because it is being terminated", "Forbidden",
                {"name": name, "group": info.group, "kind": info.plural,
                 "causes": [{"reason": "NamespaceTerminating", "field": "metadata.namespace",
                             "message": f"namespace {ns} is being terminated"}]})

    # -- create --------------------------------------------------------------------
    def create(self, info: KindInfo, ns: Optional[str], obj: object, ctx: Ctx) -> dict:
        """POST a new object; 201 body."""
        obj = copy.deepcopy(self._check_body(info, obj))
        self._strict(info, obj, ctx)
        meta = _meta(obj)
        if info.namespaced:
            if meta.get("namespace") not in (None, "", ns):
                raise bad_request("the namespace of the provided object does not match the "
                                  "namespace sent on the request")
            meta["namespace"] = ns
        else:
            meta.pop("namespace", None)
        if not meta.get("name") and isinstance(meta.get("generateName"), str) \
                and meta["generateName"]:
            meta["name"] = o.generate_name(meta["generateName"], self.rng)
        self._namespace_ok(info, ns, str(meta.get("name") or ""))
        return self._create_prepared(info, ns, obj, ctx)

    def _storage_classes(self) -> list[dict]:
        """Every stored StorageClass (for the DefaultStorageClass admission)."""
        info = kinds.lookup("storageclasses", "storage.k8s.io")
        if info is None:
            return []
        items, _ = self.store.list(o.prefix(info, None))
        return [o.decode(info, v, r) for _k, v, r in items]

    def _create_prepared(self, info: KindInfo, ns: Optional[str], obj: dict,
                         ctx: Ctx) -> dict:
        meta = _meta(obj)
        for k in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds",
                  "selfLink"):
            meta.pop(k, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = o.rfc3339(self.clock())
        meta["generation"] = 1
        if info.subresource("status") is not None and \
                (info.group, info.kind) not in KEEP_STATUS_ON_CREATE:
            obj["status"] = {}
        if info.kind == "Namespace":
            obj["status"] = {"phase": "Active"}
        obj["apiVersion"], obj["kind"] = info.api_version, info.kind
        defaults_more.prepare_create(info.group, info.kind, obj)
        obj = defaults.apply_defaults(info.kind, obj, info.group)
        st = self.strategy(info)
        if st is not None:
            st.prepare(obj, None, None)
        if info.kind == "PersistentVolumeClaim" and not info.group:
            storageclass.admit_claim(obj, self._storage_classes())
        if info.kind in ("PersistentVolumeClaim", "PersistentVolume") and not info.group:
            storageclass.protect(info.kind, obj)
        if info.kind == "Pod" and info.group == "":
            obj = saadmission.admit_pod(obj, self._service_account, self.rng)
        self._validate(info, obj, None)
        if ctx.admit is not None:
            ctx.admit(info, obj, None)
        if not ctx.applying:
            obj = track_update(None, obj, ctx.manager, meta["creationTimestamp"], info.kind)
        name = str(_meta(obj)["name"])
        k = o.key(info, ns, name)
        new_ips: list = []
        new_ports: list = []
        if info.kind == "Service":
            new_ips, new_ports, _, _ = self.ipam.allocate(obj, None, ctx.dry_run)
        if ctx.dry_run:
            if self.store.get(k) is not None:
                raise already_exists(info.plural, name, info.group)
            return obj
        try:
            rev = self.store.create(k, o.encode(obj, info))
        except KeyExists:
            self.ipam.release(new_ips, new_ports)
            raise already_exists(info.plural, name, info.group) from None
        except Exception:
            self.ipam.release(new_ips, new_ports)
            raise
        _meta(obj)["resourceVersion"] = str(rev)
        if info.kind == "Namespace" and info.group == "":
            self._ensure_default_service_account(name)
        return obj

    def _ensure_default_service_account(self, ns: str) -> None:
        """A new namespace gets its `default` ServiceAccount at once, so that Pods created
        right after the namespace are admitted (the controller-manager's serviceaccount
        controller does the same, and recreates it when deleted)."""
        info = kinds.lookup("serviceaccounts", "")
        if info is None or self.read(info, ns, saadmission.DEFAULT_SA) is not None:
            return
        try:
            self._create_prepared(info, ns, {"metadata": {
                "name": saadmission.DEFAULT_SA, "namespace": ns}}, Ctx())
        except ApiStatusError as exc:
            if exc.code != 409:
                raise

    # -- update -------------------------------------------------------------------
    def guaranteed_update(self, info: KindInfo, ns: Optional[str], name: str,
                          mutate: Mutate, ctx: Ctx, precondition_rv: Optional[int] = None,
                          subresource: Optional[str] = None,
                          create_ok: bool = False) -> tuple[dict, bool]:
        """Read-modify-CAS loop. `mutate(current or None)` returns the wanted object.

        Returns (stored object, created). 409 on a stale precondition.
        """
        k = o.key(info, ns, name)
        for _ in range(MAX_RETRIES):
            got = self.store.get(k)
            if got is None:
                if not create_ok:
                    raise not_found(info.plural, name, info.group)
                wanted = mutate(None)
                if wanted is None:
                    raise not_found(info.plural, name, info.group)
                self._namespace_ok(info, ns, name)
                try:
                    return self._create_prepared(info, ns, wanted, ctx), True
                except ApiStatusError as e:
                    if e.reason == "AlreadyExists":
                        continue
                    raise
            cur = o.decode(info, got[0], got[1])
            if precondition_rv is not None and precondition_rv != got[1]:
                raise conflict(info.plural, name, "the object has been modified; please apply "
                               "your changes to the latest version and try again", info.group)
            wanted = mutate(copy.deepcopy(cur))
            if wanted is None:
                return cur, False
            new = self._prepare_update(info, cur, wanted, subresource)
            if new is not cur and not ctx.applying:
                new = track_update(cur, new, ctx.manager, o.rfc3339(self.clock()), info.kind,
                                   subresource)
            if new is not cur and ctx.admit is not None:
                ctx.admit(info, new, cur)
            if not ctx.dry_run and new is not cur and should_remove_on_update(info, cur, new):
                try:  # the last finalizer of an object being deleted is gone: so is it
                    gone = self._remove(info, ns, name, got[1])
                except RevisionMismatch:
                    continue
                _meta(new)["resourceVersion"] = gone["metadata"]["resourceVersion"]
                return new, False
            new_ips: list = []
            new_ports: list = []
            old_ips: list = []
            old_ports: list = []
            if info.kind == "Service" and subresource is None:
                new_ips, new_ports, old_ips, old_ports = self.ipam.allocate(new, cur,
                                                                            ctx.dry_run)
            if ctx.dry_run:
                return new, False
            if new == cur:
                return cur, False
            try:
                rev = self.store.update(k, o.encode(new, info), got[1])
            except (RevisionMismatch, KeyNotFound):
                self.ipam.release(new_ips, new_ports)
                if precondition_rv is not None:
                    raise conflict(info.plural, name, "the object has been modified; please "
                                   "apply your changes to the latest version and try again",
                                   info.group) from None
                continue
            except Exception:
                self.ipam.release(new_ips, new_ports)
                raise
            self.ipam.release(old_ips, old_ports)
            _meta(new)["resourceVersion"] = str(rev)
            return new, False
        raise conflict(info.plural, name, "too many concurrent writers; try again", info.group)

    def _prepare_update(self, info: KindInfo, cur: dict, wanted: object,
                        subresource: Optional[str]) -> dict:
        wanted = self._check_body(info, wanted)
        wmeta = _meta(wanted)
        cmeta = cur["metadata"]
        if wmeta.get("name") not in (None, "", cmeta.get("name")):
            raise bad_request(f"the name of the object ({wmeta.get('name')}) does not match "
                              f"the name on the URL ({cmeta.get('name')})")
        if info.namespaced and wmeta.get("namespace") not in (None, "", cmeta.get("namespace")):
            raise bad_request("the namespace of the provided object does not match the "
                              "namespace sent on the request")
        if subresource == "binding":
            new = copy.deepcopy(wanted)
        elif subresource == "ephemeralcontainers" and info.kind == "Pod":
            new = ephemeral.subresource_update(cur, wanted)
        elif subresource == "status":
            new = copy.deepcopy(cur)
            new["status"] = wanted.get("status")
            # kubelets also patch labels/annotations through status in practice
            for k in ("labels", "annotations"):
                if k in wmeta:
                    new["metadata"][k] = wmeta[k]
        else:
            new = copy.deepcopy(wanted)
            if info.subresource("status") is not None and "status" in cur:
                new["status"] = copy.deepcopy(cur.get("status"))
            elif info.subresource("status") is not None:
                new.pop("status", None)
        meta = _meta(new)
        for k in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                  "namespace", "name", "generateName"):
            if k in cmeta:
                meta[k] = cmeta[k]
            else:
                meta.pop(k, None)
        meta.pop("resourceVersion", None)
        meta["generation"] = int(cmeta.get("generation") or 1) + (
            1 if subresource is None and o.spec_changed(cur, new) else 0)
        new["apiVersion"], new["kind"] = info.api_version, info.kind
        if info.kind == "Service" and isinstance(new.get("spec"), dict):
            old_spec = cur.get("spec") or {}
            if not new["spec"].get("clusterIP") and old_spec.get("clusterIP"):
                new["spec"]["clusterIP"] = old_spec["clusterIP"]
                new["spec"]["clusterIPs"] = old_spec.get("clusterIPs") or [old_spec["clusterIP"]]
        self._deletion_update_rules(info, cur, new, subresource)
        new = defaults.apply_defaults(info.kind, new, info.group)
        st = self.strategy(info)
        if st is not None:
            st.prepare(new, cur, subresource)
        # a binding is the apiserver's own change: Pod spec immutability does not apply
        self._validate(info, new, None if subresource == "binding" else cur, subresource)
        cur_cmp = dict(cur, metadata={k: v for k, v in cmeta.items() if k != "resourceVersion"})
        if new == cur_cmp:
            return cur
        return new

    def update(self, info: KindInfo, ns: Optional[str], name: str, body: object,
               ctx: Ctx, subresource: Optional[str] = None) -> tuple[dict, bool]:
        """PUT."""
        body = copy.deepcopy(self._check_body(info, body))
        self._strict(info, body, ctx)
        meta = _meta(body)
        if info.namespaced and meta.get("namespace") not in (None, "", ns):
            raise bad_request("the namespace of the provided object does not match the "
                              "namespace sent on the request")
        if meta.get("name") not in (None, "", name):
            raise bad_request(f"the name of the object ({meta.get('name')}) does not match "
                              f"the name on the URL ({name})")
        rv = o.parse_rv(meta.get("resourceVersion"))
        create_ok = info.plural in CREATE_ON_UPDATE and subresource is None

        def mutate(cur: Optional[dict]) -> dict:
            new = copy.deepcopy(body)
            _meta(new)["name"] = name
            if info.namespaced:
                _meta(new)["namespace"] = ns
            return new
        return self.guaranteed_update(info, ns, name, mutate, ctx, rv, subresource, create_ok)

    def success(self, info: KindInfo, name: str) -> dict:
        return status_object(200, "", details={"name": name, "group": info.group,
                                               "kind": info.plural}, success=True)
