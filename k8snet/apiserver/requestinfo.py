"""What an HTTP request asks for, in Kubernetes' terms (pure): the RequestInfo the apiserver
derives from the method and the URL before routing, for authorization and metrics.

Resource requests are ``/api/v1/...`` and ``/apis/GROUP/VERSION/...``; the verb comes from
the method (GET get, or list/watch without a name; POST create; PUT update; PATCH patch;
DELETE delete, or deletecollection without a name), from a ``/watch/`` path segment, or
from ``watch=true``. A list or watch whose fieldSelector pins ``metadata.name`` names that
object. ``/api/v1/namespaces/NS`` is the namespace NS (its own namespace too). Everything
else (``/version``, ``/healthz``, ``/api``, ``/apis/apps/v1``, ``/metrics``) is a
non-resource request whose verb is the lowercase method.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from k8snet.apiserver.identity import UserInfo
from k8snet.apiserver.rbac import Attributes

_METHOD_VERBS = {"POST": "create", "GET": "get", "HEAD": "get", "PUT": "update",
                 "PATCH": "patch", "DELETE": "delete"}
_NAMESPACE_SUBRESOURCES = ("status", "finalize")


@dataclass(frozen=True)
class RequestInfo:
    """The parsed request (Kubernetes' request.RequestInfo)."""

    resource_request: bool
    path: str
    verb: str
    api_prefix: str = ""
    api_group: str = ""
    api_version: str = ""
    namespace: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""

    def attributes(self, user: UserInfo) -> Attributes:
        return Attributes(user, self.verb, self.resource_request, self.namespace,
                          self.api_group, self.api_version, self.resource, self.subresource,
                          self.name, self.path)


def _truthy(value: Optional[str]) -> bool:
    return value is not None and value.lower() not in ("false", "0")


def _name_from_field_selector(selector: Optional[str]) -> str:
    """X when the selector requires metadata.name=X exactly (alone or among others)."""
    for term in (selector or "").split(","):
        for op in ("==", "="):
            key, sep, value = term.partition(op)
            if sep and key.strip() == "metadata.name" and not key.endswith("!"):
                value = value.strip()
                ok = value and "/" not in value and value not in (".", "..") and "%" not in value
                return value if ok else ""
    return ""


# Pod connect subresources kubectl opens with a GET upgrade (KEP-4006); upstream's
# AuthorizePodWebsocketUpgradeCreatePermission (on by default since 1.31) asks `create`
WEBSOCKET_CONNECT = ("exec", "attach", "portforward")


def request_info(method: str, path: str, params: dict) -> RequestInfo:
    """Parse one request. `params` maps query names to their first value."""
    method = method.upper()
    parts = [p for p in path.strip("/").split("/") if p] if path.strip("/") else []
    plain = RequestInfo(False, path, method.lower())
    if len(parts) < 3 or parts[0] not in ("api", "apis"):
        return plain
    prefix, rest = parts[0], parts[1:]
    group = ""
    if prefix == "apis":
        if len(rest) < 3:
            return plain
        group, rest = rest[0], rest[1:]
    version, rest = rest[0], rest[1:]
    if rest[0] == "watch":
        if len(rest) < 2:
            return plain
        verb, rest = "watch", rest[1:]
    else:
        verb = _METHOD_VERBS.get(method, "")
    namespace = ""
    if rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    if resource == "pods" and subresource in WEBSOCKET_CONNECT and verb == "get":
        verb = "create"  # a WebSocket upgrade is a GET; 1.32 authorizes it as create
    if not name and verb == "get":
        verb = "watch" if _truthy(params.get("watch")) else "list"
    if not name and verb in ("list", "watch"):
        name = _name_from_field_selector(params.get("fieldSelector"))
    if not name and verb == "delete":
        verb = "deletecollection"
    return RequestInfo(True, path, verb, prefix, group, version, namespace, resource,
                       subresource, name)
