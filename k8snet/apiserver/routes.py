"""URL paths -> what is being asked for (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from k8snet.apiserver.status import ApiStatusError
from k8snet.machinery import resources as kinds


@dataclass(frozen=True)
class Route:
    """A parsed request path.

    ``what`` is one of: "version", "health", "api", "apis", "group", "resourcelist",
    "openapi", "resource".
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


def _nf(path: str) -> ApiStatusError:
    return ApiStatusError(404, f"the server could not find the requested resource ({path})",
                          "NotFound", {})


def parse_path(path: str) -> Route:
    """Map an URL path (no query) to a Route; ApiStatusError(404) when unknown."""
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
            raise _nf(path)
        group, version, rest = "", "v1", parts[2:]
    elif head == "apis":
        if len(parts) == 1:
            return Route("apis")
        group = parts[1]
        if not any(g == group for g, _ in kinds.group_versions()):
            raise _nf(path)
        if len(parts) == 2:
            return Route("group", group=group)
        version, rest = parts[2], parts[3:]
        if (group, version) not in kinds.group_versions():
            raise _nf(path)
    else:
        raise _nf(path)
    if not rest:
        return Route("resourcelist", group=group, version=version)
    watch = False
    if rest[0] == "watch":
        watch, rest = True, rest[1:]
        if not rest:
            raise _nf(path)
    namespace: Optional[str] = None
    if rest[0] == "namespaces" and len(rest) >= 3 and group == "":
        # /api/v1/namespaces/{ns}/{plural}...  (but /namespaces/{name}/status is the namespace)
        if rest[2] in ("status", "finalize") and len(rest) == 3:
            pass
        else:
            namespace, rest = rest[1], rest[2:]
    elif rest[0] == "namespaces" and len(rest) >= 3 and group != "":
        namespace, rest = rest[1], rest[2:]
    info = kinds.RESOURCES.get(rest[0])
    if info is None or info.group != group or info.version != version:
        raise _nf(path)
    if namespace is not None and not info.namespaced:
        raise _nf(path)
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else None
    if sub in ("exec", "attach", "portforward") and info.plural == "pods":
        raise ApiStatusError(404, f"pods/{sub} is not served by k8snet: use `k8snet exec "
                             f"{name} -- COMMAND` for a command in a Pod", "NotFound", {})
    if len(rest) > 3 or (sub is not None and info.subresource(sub) is None):
        raise _nf(path)
    return Route("resource", group=group, version=version, info=info, namespace=namespace,
                 name=name, subresource=sub, watch_path=watch)
