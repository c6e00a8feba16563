"""URL paths -> what is being asked for (pure, over a ResourceTable)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from k8snet.apiserver.status import ApiStatusError
from k8snet.machinery import resources as kinds

# subresources of a namespace that sit where a namespaced resource's plural would
NAMESPACE_SUBRESOURCES = ("status", "finalize")
# connect subresources k8snet does not serve (discovery lists them, as upstream's does)
UNSERVED_CONNECT = ("proxy",)

# HTTP method (and whether a name is given) -> the verb discovery lists
METHOD_VERBS = {("GET", True): "get", ("HEAD", True): "get", ("GET", False): "list",
                ("HEAD", False): "list", ("POST", False): "create", ("PUT", True): "update",
                ("PATCH", True): "patch", ("DELETE", True): "delete",
                ("DELETE", False): "deletecollection"}


@dataclass(frozen=True)
class Route:
    """A parsed request path.

    ``what`` is one of: "root", "version", "health", "api", "apis", "group",
    "resourcelist", "openapi", "resource", "unknown".
    """

    what: str
    group: str = ""
    version: str = ""
    info: Optional[kinds.KindInfo] = None
    namespace: Optional[str] = None
    name: Optional[str] = None
    subresource: Optional[str] = None
    watch_path: bool = False
    extra: str = ""


def not_found_path(path: str = "") -> ApiStatusError:
    """The apiserver's 404 for a path it does not serve (a Status with empty details)."""
    return ApiStatusError(404, "the server could not find the requested resource",
                          "NotFound", {})


def parse_path(path: str, table: Optional[kinds.ResourceTable] = None) -> Route:
    """Map an URL path (no query) to a Route; ApiStatusError(404) when unknown."""
    if table is None:
        table = kinds.builtin_view()
    parts = [p for p in path.split("/") if p]
    if not parts:
        return Route("root")
    head = parts[0]
    if head == "version" and len(parts) == 1:
        return Route("version")
    if head in ("healthz", "livez", "readyz"):
        return Route("health", extra="/".join(parts))
    if head == "openapi":
        return Route("openapi", extra="/".join(parts[1:]))
    if head == "api":
        if len(parts) == 1:
            return Route("api")
        if parts[1] != "v1":
            raise not_found_path(path)
        group, version, rest = "", "v1", parts[2:]
    elif head == "apis":
        if len(parts) == 1:
            return Route("apis")
        group = parts[1]
        if not group or group not in table.groups():
            raise not_found_path(path)
        if len(parts) == 2:
            return Route("group", group=group)
        version, rest = parts[2], parts[3:]
        if version not in table.versions(group):
            raise not_found_path(path)
    else:
        raise not_found_path(path)
    if not rest:
        return Route("resourcelist", group=group, version=version)
    return _resource_route(path, table, group, version, rest)


def _resource_route(path: str, table: kinds.ResourceTable, group: str, version: str,
                    rest: list[str]) -> Route:
    watch = False
    if rest[0] == "watch":
        watch, rest = True, rest[1:]
        if not rest:
            raise not_found_path(path)
    namespace: Optional[str] = None
    if rest[0] == "namespaces" and len(rest) >= 3:
        # /api/v1/namespaces/{ns}/{plural}... but /namespaces/{name}/status is the namespace
        is_ns_sub = group == "" and len(rest) == 3 and rest[2] in NAMESPACE_SUBRESOURCES
        if not is_ns_sub:
            namespace, rest = rest[1], rest[2:]
    info = table.get(group, version, rest[0])
    if info is None or (namespace is not None and not info.namespaced):
        raise not_found_path(path)
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else None
    if sub in UNSERVED_CONNECT and info.subresource(sub) is not None:
        raise ApiStatusError(404, f"{info.plural}/{sub} is not served by k8snet",
                             "NotFound", {"name": name or "", "group": info.group,
                                          "kind": info.plural})
    if len(rest) > 3 or (sub is not None and info.subresource(sub) is None):
        raise not_found_path(path)
    return Route("resource", group=group, version=version, info=info, namespace=namespace,
                 name=name, subresource=sub, watch_path=watch)


def verb_allowed(info: kinds.KindInfo, method: str, named: bool, watch: bool) -> bool:
    """Does discovery list the verb this request needs (main resource only)?"""
    verb = "watch" if watch else METHOD_VERBS.get((method, named))
    return verb is not None and verb in info.verbs
