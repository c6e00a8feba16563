"""The REST operations of a group-version, as plain data for the OpenAPI documents (pure).

One description serves both renderings (OpenAPI v3 per group-version, swagger 2.0
for /openapi/v2): paths, their operations (verb, ``x-kubernetes-action``, GVK,
operationId, query parameters, request and response bodies by definition name).
Paths, actions, operationIds and parameter names follow what a 1.32 apiserver
publishes; descriptions are ours.

Public names:

    Param(name, where, type, description, required=False)
    Operation(method, action, operation_id, description, gvk, params, body,
              body_types, response, codes, tag)
    PathItem(path, params, operations)
    group_version_paths(group, version, resources, names=None) -> list[PathItem]
        resources: the KindInfo of each resource served in the group-version; names:
        (group, version, kind) -> definition name for custom resources
    root_definitions(group, version, resources, custom=None) -> list[str]
        the definition names the paths use (closure not taken)
    gv_path(group, version) -> "api/v1" | "apis/apps/v1"
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Optional

from k8snet.api import definitions as defs

_META = "io.k8s.apimachinery.pkg.apis.meta.v1."
STATUS = _META + "Status"
DELETE_OPTIONS = _META + "DeleteOptions"
PATCH = _META + "Patch"
WATCH_EVENT = _META + "WatchEvent"
RESOURCE_LIST = _META + "APIResourceList"
PATCH_TYPES = ("application/apply-patch+yaml", "application/json-patch+json",
               "application/merge-patch+json", "application/strategic-merge-patch+json")
# custom resources take no strategic merge patch (kubectl apply then sends a merge patch)
CUSTOM_PATCH_TYPES = PATCH_TYPES[:3]
CONNECT = frozenset({"exec", "attach", "portforward", "proxy"})


@dataclass(frozen=True)
class Param:
    """A path or query parameter."""

    name: str
    where: str
    type: str
    description: str
    required: bool = False


@dataclass(frozen=True)
class Operation:
    """One verb on one path."""

    method: str
    action: str
    operation_id: str
    description: str
    gvk: Optional[tuple[str, str, str]]
    params: tuple[Param, ...] = ()
    body: Optional[str] = None
    body_types: tuple[str, ...] = ()
    response: Optional[str] = None
    codes: tuple[str, ...] = ("200",)
    tag: str = ""


@dataclass(frozen=True)
class PathItem:
    """A path, the parameters all its operations share, and its operations."""

    path: str
    params: tuple[Param, ...]
    operations: tuple[Operation, ...]


def _q(name: str, kind: str, text: str) -> Param:
    return Param(name, "query", kind, text)


_PRETTY = _q("pretty", "string", "If 'true', the output is pretty printed.")
_DRY_RUN = _q("dryRun", "string", "When set to All, the request is validated and answered "
              "but nothing is persisted.")
_FIELD_MANAGER = _q("fieldManager", "string", "The name of the actor making this change, "
                    "recorded in managedFields.")
_FIELD_VALIDATION = _q("fieldValidation", "string", "How unknown and duplicate fields in the "
                       "body are treated: Ignore, Warn (the default) or Strict (rejected).")
_FORCE = _q("force", "boolean", "Apply only: take over fields other managers own.")
_LIST = (
    _q("allowWatchBookmarks", "boolean", "Ask for BOOKMARK events on a watch."),
    _q("continue", "string", "The continue token of the previous page of a paged list."),
    _q("fieldSelector", "string", "Only objects whose fields match this selector."),
    _q("labelSelector", "string", "Only objects whose labels match this selector."),
    _q("limit", "integer", "At most this many items; the list metadata then carries a "
       "continue token for the rest."),
    _q("resourceVersion", "string", "Which resource version the answer may be served from."),
    _q("resourceVersionMatch", "string", "How resourceVersion applies to a list: Exact or "
       "NotOlderThan."),
    _q("sendInitialEvents", "boolean", "Watch only: start with the current objects as ADDED "
       "events, then a bookmark."),
    _q("timeoutSeconds", "integer", "End the list or watch after this many seconds."),
    _q("watch", "boolean", "Stream changes instead of answering once."),
)
_GRACE = _q("gracePeriodSeconds", "integer", "Seconds before the object is deleted; 0 deletes "
            "at once.")
_IGNORE_READ = _q("ignoreStoreReadErrorWithClusterBreakingPotential", "boolean",
                  "Delete even when the stored object cannot be read.")
_ORPHAN = _q("orphanDependents", "boolean", "Deprecated; use propagationPolicy.")
_PROPAGATION = _q("propagationPolicy", "string", "What happens to dependents: Orphan, "
                  "Background or Foreground.")
_LOG = (
    _q("container", "string", "The container whose log to read."),
    _q("follow", "boolean", "Keep streaming the log."),
    _q("insecureSkipTLSVerifyBackend", "boolean", "Do not verify the kubelet's certificate."),
    _q("limitBytes", "integer", "Stop after this many bytes."),
    _q("previous", "boolean", "The log of the previous, terminated container."),
    _q("sinceSeconds", "integer", "Only lines newer than this many seconds."),
    _q("stream", "string", "Which stream: All, Stdout or Stderr."),
    _q("tailLines", "integer", "Only this many last lines."),
    _q("timestamps", "boolean", "Prefix each line with its timestamp."),
)


def gv_path(group: str, version: str) -> str:
    """The group-version's path below the server root: api/v1 or apis/apps/v1."""
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _group_words(group: str) -> list[str]:
    if not group:
        return ["core"]
    return group.removesuffix(".k8s.io").split(".")


def tag_of(group: str, version: str) -> str:
    """Upstream's operation tag: core_v1, apps_v1, rbacAuthorization_v1."""
    words = _group_words(group)
    return words[0] + "".join(w[:1].upper() + w[1:] for w in words[1:]) + "_" + version


def _id_prefix(group: str, version: str) -> str:
    words = _group_words(group)
    return "".join(w[:1].upper() + w[1:] for w in words) + version[:1].upper() + version[1:]


def _gvk_name(gvk: Optional[tuple[str, str, str]], names: Optional[Mapping] = None
              ) -> Optional[str]:
    """The definition of a GVK: a custom resource's from `names`, else the built-in one."""
    if not gvk:
        return None
    if names and gvk in names:
        return names[gvk]
    return defs.name_for(*gvk)


def _resource_paths(info, prefix: str, tag: str, idp: str,
                    names: Optional[Mapping] = None) -> list[PathItem]:
    kind, verbs = info.kind, set(info.verbs)
    gvk = (info.group, info.version, kind)
    obj = _gvk_name(gvk, names)
    lst = _gvk_name((info.group, info.version, info.list_kind), names)
    scope = "Namespaced" if info.namespaced else ""
    ns_part = "namespaces/{namespace}/" if info.namespaced else ""
    ns_params = (Param("namespace", "path", "string", "The namespace of the objects.", True),) \
        if info.namespaced else ()
    name_param = Param("name", "path", "string", f"The name of the {kind}.", True)
    coll = f"{prefix}/{ns_part}{info.plural}"
    item = f"{coll}/{{name}}"
    writes = (_DRY_RUN, _FIELD_MANAGER, _FIELD_VALIDATION)
    out: list[PathItem] = []

    def op(method: str, action: str, verb: str, text: str, suffix: str = "", **kw) -> Operation:
        return Operation(method, action, f"{verb}{idp}{scope}{kind}{suffix}", text, gvk,
                         tag=tag, **kw)

    coll_ops = []
    if "list" in verbs:
        coll_ops.append(op("get", "list", "list", f"list or watch objects of kind {kind}",
                           params=_LIST, response=lst))
    if "create" in verbs:
        coll_ops.append(op("post", "post", "create", f"create a {kind}", params=writes,
                           body=obj, body_types=("*/*",), response=obj,
                           codes=("200", "201", "202")))
    if "deletecollection" in verbs:
        params = tuple(sorted((_LIST[1], _DRY_RUN, _LIST[2], _GRACE, _IGNORE_READ, _LIST[3],
                               _LIST[4], _ORPHAN, _PROPAGATION, _LIST[5], _LIST[6], _LIST[7],
                               _LIST[8]), key=lambda p: p.name))
        coll_ops.append(Operation("delete", "deletecollection",
                                  f"delete{idp}Collection{scope}{kind}",
                                  f"delete a collection of {kind}", gvk, params,
                                  DELETE_OPTIONS, ("*/*",), STATUS, ("200",), tag))
    if coll_ops:
        out.append(PathItem(coll, ns_params + (_PRETTY,), tuple(coll_ops)))
    item_ops = []
    if "get" in verbs:
        item_ops.append(op("get", "get", "read", f"read the named {kind}", response=obj))
    if "update" in verbs:
        item_ops.append(op("put", "put", "replace", f"replace the named {kind}",
                           params=writes, body=obj, body_types=("*/*",), response=obj,
                           codes=("200", "201")))
    if "delete" in verbs:
        item_ops.append(op("delete", "delete", "delete", f"delete the named {kind}",
                           params=(_DRY_RUN, _GRACE, _IGNORE_READ, _ORPHAN, _PROPAGATION),
                           body=DELETE_OPTIONS, body_types=("*/*",), response=STATUS,
                           codes=("200", "202")))
    if "patch" in verbs:
        item_ops.append(op("patch", "patch", "patch", f"partially update the named {kind}",
                           params=writes + (_FORCE,), body=PATCH,
                           body_types=CUSTOM_PATCH_TYPES if info.custom else PATCH_TYPES,
                           response=obj, codes=("200", "201")))
    if item_ops:
        out.append(PathItem(item, (name_param,) + ns_params + (_PRETTY,), tuple(item_ops)))
    if "list" in verbs and info.namespaced:
        out.append(PathItem(f"{prefix}/{info.plural}", (), (
            Operation("get", "list", f"list{idp}{kind}ForAllNamespaces",
                      f"list or watch objects of kind {kind} in every namespace", gvk,
                      _LIST + (_PRETTY,), response=lst, tag=tag),)))
    if "watch" in verbs:
        out.extend(_watch_paths(info, prefix, tag, idp, gvk, ns_params, name_param))
    for sub in info.subresources:
        out.extend(_subresource_paths(info, sub, item, tag, idp, scope,
                                      (name_param,) + ns_params, names))
    return out


def _watch_paths(info, prefix: str, tag: str, idp: str, gvk: tuple, ns_params: tuple,
                 name_param: Param) -> list[PathItem]:
    """The deprecated /watch/ paths a 1.32 apiserver still publishes."""
    kind = info.kind
    scope = "Namespaced" if info.namespaced else ""
    ns_part = "namespaces/{namespace}/" if info.namespaced else ""
    coll = f"{prefix}/watch/{ns_part}{info.plural}"

    def watch(path: str, params: tuple, action: str, op_id: str, text: str) -> PathItem:
        return PathItem(path, params + _LIST + (_PRETTY,), (
            Operation("get", action, op_id, text, gvk, response=WATCH_EVENT, tag=tag),))

    out = [watch(coll, ns_params, "watchlist", f"watch{idp}{scope}{kind}List",
                 f"watch changes to objects of kind {kind} (deprecated: use watch on the "
                 f"list)"),
           watch(f"{coll}/{{name}}", (name_param,) + ns_params, "watch",
                 f"watch{idp}{scope}{kind}",
                 f"watch changes to a {kind} (deprecated: use watch on the list with a "
                 f"fieldSelector)")]
    if info.namespaced:
        out.append(watch(f"{prefix}/watch/{info.plural}", (), "watchlist",
                         f"watch{idp}{kind}ListForAllNamespaces",
                         f"watch changes to objects of kind {kind} in every namespace "
                         f"(deprecated: use watch on the list)"))
    return out


def _subresource_paths(info, sub, item: str, tag: str, idp: str, scope: str,
                       params: tuple, names: Optional[Mapping] = None) -> list[PathItem]:
    path = f"{item}/{sub.name}"
    suffix = sub.name[:1].upper() + sub.name[1:]
    gvk = (sub.group, sub.version, sub.kind)
    obj = _gvk_name(gvk, names)
    base = f"{idp}{scope}{info.kind}{suffix}"
    verbs = set(sub.verbs)
    writes = (_DRY_RUN, _FIELD_MANAGER, _FIELD_VALIDATION)
    text = f"{sub.name} of the named {info.kind}"
    ops: list[Operation] = []
    if sub.name in CONNECT:
        for method in ("get", "post"):
            ops.append(Operation(method, "connect", f"connect{idp}{method.title()}{scope}"
                                 f"{info.kind}{suffix}", f"connect to {text}", gvk, tag=tag,
                                 response=None))
        return [PathItem(path, params, tuple(ops))]
    if sub.name == "log":
        ops.append(Operation("get", "get", f"read{base}", f"read the {text}", gvk, _LOG,
                             tag=tag, response=None))
        return [PathItem(path, params, tuple(ops))]
    if "get" in verbs:
        ops.append(Operation("get", "get", f"read{base}", f"read the {text}", gvk,
                             response=obj, tag=tag))
    if "create" in verbs:
        ops.append(Operation("post", "post", f"create{base}", f"create the {text}", gvk,
                             writes, obj, ("*/*",), obj, ("200", "201", "202"), tag))
    if "update" in verbs:
        ops.append(Operation("put", "put", f"replace{base}", f"replace the {text}", gvk,
                             writes, obj, ("*/*",), obj, ("200", "201"), tag))
    if "patch" in verbs:
        ops.append(Operation("patch", "patch", f"patch{base}", f"partially update the {text}",
                             gvk, writes + (_FORCE,), PATCH,
                             CUSTOM_PATCH_TYPES if info.custom else PATCH_TYPES, obj,
                             ("200", "201"), tag))
    return [PathItem(path, params + (_PRETTY,), tuple(ops))] if ops else []


def group_version_paths(group: str, version: str, resources: Iterable,
                        names: Optional[Mapping] = None) -> list[PathItem]:
    """Every path of the group-version's resources, the resource list first (`names`:
    definition names of custom resources by GVK)."""
    prefix = "/" + gv_path(group, version)
    tag = tag_of(group, version)
    idp = _id_prefix(group, version)
    out = [PathItem(prefix + "/", (), (
        Operation("get", "", f"get{idp}APIResources", "get the resources of this "
                  "group-version", None, response=RESOURCE_LIST, tag=tag),))]
    for info in resources:
        out.extend(_resource_paths(info, prefix, tag, idp, names))
    return out


def root_definitions(group: str, version: str, resources: Iterable,
                     custom: Optional[Mapping] = None) -> list[str]:
    """The definitions the group-version's paths name (before following refs)."""
    names: set = {STATUS, DELETE_OPTIONS, PATCH, WATCH_EVENT, RESOURCE_LIST}
    for item in group_version_paths(group, version, resources, custom):
        for op in item.operations:
            names.update(n for n in (op.body, op.response) if n)
            if op.gvk and op.action not in ("connect",):
                found = _gvk_name(op.gvk, custom)
                if found:
                    names.add(found)
    return sorted(names)
