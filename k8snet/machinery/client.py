"""A thin Kubernetes REST client over the standard library.

Objects are plain dicts in Kubernetes JSON shapes; resources are named by their plural
(or kind / short name) and resolved to URL paths through the resource registry
(k8snet.machinery.resources), so every kind the apiserver serves is reachable. HTTP errors become
`ApiError` subclasses built from the server's `Status` object; an unreachable
server is `Unreachable` (an `ApiError` with code 0), so one ``except ApiError``
covers every failure a control loop should retry.

    client = ApiClient.from_kubeconfig("/run/k8snet/c1/kubeconfig")
    pod = client.get("pods", "web-0", namespace="default")
    for kind, obj in client.watch("pods", resource_version="123"):
        ...

With several masters, a kubeconfig's cluster may list every apiserver in an
extension named ``k8snet.io/servers`` (``{"servers": [URL, ...]}``; kubectl
ignores it). The client then fails over: when a server cannot be reached it
moves to the next one and retries, for every request whose bytes never left
(the connection was refused or timed out) and for idempotent ones (GET, PUT,
DELETE: a PUT carries its resourceVersion) whatever happened, and also when
the server answers 503/504 (its store has no quorum). It stays on the server
that answers. All apiservers share one store, so resourceVersions
(and watches resumed from them) mean the same on each.
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import ssl
import threading
import urllib.parse
from typing import Any, Optional

import yaml

from k8snet.errors import K8snetError
from k8snet.machinery import resources as kinds

PATCH_CONTENT_TYPES = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
    "apply": "application/apply-patch+yaml",
}

USER_AGENT = "k8snet/0.1"
SERVERS_EXTENSION = "k8snet.io/servers"
# With several servers, a server that does not accept a connection within this many
# seconds is passed over (a master whose link is cut never answers the SYN).
FAILOVER_CONNECT_TIMEOUT = 3.0
IDEMPOTENT = ("GET", "HEAD", "PUT", "DELETE")
MAX_IDLE_CONNECTIONS = 32   # kept-alive connections a client keeps for its threads


class ApiError(K8snetError):
    """The apiserver answered with an error Status (or could not be reached)."""

    def __init__(self, code: int, reason: str, message: str, status: Optional[dict] = None):
        super().__init__(f"{message} (HTTP {code} {reason})" if code else message)
        self.code = code
        self.reason = reason
        self.message = message
        self.status = status or {}


class NotFound(ApiError):
    """404."""


class Conflict(ApiError):
    """409: a stale resourceVersion on update, or a name already taken."""


class AlreadyExists(Conflict):
    """409 with reason AlreadyExists."""


class Gone(ApiError):
    """410: the requested resourceVersion is too old; re-list."""


class Unreachable(ApiError):
    """No HTTP answer at all: connection refused, reset, timed out."""


def error_from_status(code: int, body: bytes) -> ApiError:
    """Build the right ApiError subclass from an HTTP code and response body."""
    status: dict = {}
    try:
        parsed = json.loads(body.decode("utf-8", "replace")) if body else {}
        if isinstance(parsed, dict):
            status = parsed
    except ValueError:
        pass
    reason = str(status.get("reason") or http.client.responses.get(code, "Error"))
    message = str(status.get("message") or body.decode("utf-8", "replace")[:200] or reason)
    return status_error(code, reason, message, status)


def status_error(code: int, reason: str, message: str, status: dict) -> ApiError:
    """Map a code (and reason) to its ApiError subclass."""
    if code == 404:
        cls: type[ApiError] = NotFound
    elif code == 409:
        cls = AlreadyExists if reason == "AlreadyExists" else Conflict
    elif code == 410 or reason in ("Expired", "Gone"):
        cls = Gone
    else:
        cls = ApiError
    return cls(code, reason, message, status)


class ResourceRef(str):
    """A resource name carrying its entry, for resources only the server's discovery
    knows (custom resources): every verb and the Informer accept it as a resource."""

    info: kinds.KindInfo

    def __new__(cls, info: kinds.KindInfo) -> ResourceRef:
        ref = super().__new__(cls, f"{info.plural}.{info.version}.{info.group}"
                              if info.group else info.plural)
        ref.info = info
        return ref


def resource_info(resource: str) -> kinds.KindInfo:
    """The registry entry of a resource: its plural, or any name `resources.lookup` knows
    (kind, singular, short name), or "plural.group" as kubectl spells a resource of a named
    group (e.g. "events.events.k8s.io"), or a ResourceRef; K8snetError when the registry
    has no such one."""
    if isinstance(resource, ResourceRef):
        return resource.info
    info = kinds.RESOURCES.get(resource) or kinds.lookup(resource)
    if info is None and "." in resource:
        plural, group = resource.split(".", 1)
        info = kinds.lookup(plural, group)
    if info is None:
        raise K8snetError(f"unknown resource '{resource}': the resource registry "
                          "(k8snet.machinery.resources) has no such plural, kind or short name")
    return info


def resource_name(info: kinds.KindInfo) -> str:
    """The name resource_info resolves back to this resource: "pods", "events.events.k8s.io"
    (the group's preferred version)."""
    return f"{info.plural}.{info.group}" if info.group else info.plural


def resource_path(resource: str, namespace: Optional[str] = None, name: Optional[str] = None,
                  subresource: Optional[str] = None) -> str:
    """The URL path of a collection or object, e.g. /apis/apps/v1/namespaces/d/deployments/x."""
    info = resource_info(resource)
    parts = ["/api/" + info.version if not info.group else f"/apis/{info.group}/{info.version}"]
    if info.namespaced and namespace:
        parts.append("namespaces/" + urllib.parse.quote(namespace, safe=""))
    elif info.namespaced and name:
        raise K8snetError(f"{info.plural} are namespaced: give a namespace for '{name}'")
    parts.append(info.plural)
    if name:
        parts.append(urllib.parse.quote(name, safe=""))
    if subresource:
        parts.append(subresource)
    return "/".join(parts)


def query_string(params: dict[str, Any]) -> str:
    """'?a=1&b=2' from the params that are not None ('' when none)."""
    items = [(k, str(v).lower() if isinstance(v, bool) else str(v))
             for k, v in params.items() if v is not None]
    return "?" + urllib.parse.urlencode(items) if items else ""


class WatchStream:
    """An iterator of (type, object) from one watch request.

    `close()` may be called from another thread: it shuts the socket down, so
    a blocked read ends and the iteration stops.
    """

    def __init__(self, conn: http.client.HTTPConnection, response: http.client.HTTPResponse):
        self._conn = conn
        self._response = response
        self._closed = threading.Event()

    def __iter__(self) -> WatchStream:
        return self

    def __next__(self) -> tuple[str, dict]:
        while True:
            if self._closed.is_set():
                raise StopIteration
            try:
                line = self._response.readline()
            except (OSError, http.client.HTTPException, ValueError, AttributeError) as exc:
                # (AttributeError: http.client's reader racing a close() from another thread)
                if self._closed.is_set():  # close() from another thread
                    raise StopIteration from None
                self.close()
                raise Unreachable(0, "WatchBroken", f"watch stream broke: {exc}") from None
            if not line:
                self.close()
                raise StopIteration
            line = line.strip()
            if not line:
                continue
            try:
                event = json.loads(line)
            except ValueError:
                self.close()
                raise ApiError(0, "BadWatchEvent", f"watch sent non-JSON: {line[:120]!r}") \
                    from None
            kind = event.get("type", "")
            obj = event.get("object") or {}
            if kind == "ERROR":
                self.close()
                code = int(obj.get("code") or 500)
                raise status_error(code, str(obj.get("reason", "")),
                                   str(obj.get("message", "watch error")), obj)
            return kind, obj

    def close(self) -> None:
        """Stop the stream (safe from any thread, idempotent)."""
        if self._closed.is_set():
            return
        self._closed.set()
        sock = getattr(self._conn, "sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._conn.close()

    def __enter__(self) -> WatchStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ApiClient:
    """Kubernetes REST verbs against one apiserver."""

    def __init__(self, server: str, token: Optional[str] = None, ca_file: Optional[str] = None,
                 insecure: bool = False, timeout: float = 10.0, ca_data: Optional[str] = None,
                 servers: Optional[list[str]] = None):
        urls = [server] + [u for u in servers or [] if u.rstrip("/") != server.rstrip("/")]
        self._servers = [_split_server(u) for u in urls]
        self._current = 0
        self.token = token
        self.timeout = timeout
        self._ca_file = ca_file
        self._ca_data = ca_data
        self._insecure = insecure
        self._idle: list[tuple[int, http.client.HTTPConnection]] = []  # (server, kept alive)
        self._lock = threading.Lock()
        self._ssl_context: Optional[ssl.SSLContext] = None

    @property
    def server(self) -> str:
        """The URL of the apiserver requests go to now."""
        return self._servers[self._current][0]

    @property
    def servers(self) -> list[str]:
        return [entry[0] for entry in self._servers]

    @property
    def _prefix(self) -> str:
        return self._servers[self._current][4]

    # -- construction -------------------------------------------------------

    @classmethod
    def from_kubeconfig(cls, path: str, timeout: float = 10.0) -> ApiClient:
        """A client for the current context of a kubeconfig file."""
        try:
            with open(path, encoding="utf-8") as fh:
                config = yaml.safe_load(fh) or {}
        except OSError as exc:
            raise K8snetError(f"cannot read kubeconfig {path}: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise K8snetError(f"kubeconfig {path} is not valid YAML: {exc}") from None
        return cls(**kubeconfig_settings(config, path), timeout=timeout)

    def _fail_over(self, index: int) -> bool:
        """Server `index` did not answer: move to the next one (once, however many
        threads saw it fail). False when there is no other server."""
        if len(self._servers) < 2:
            return False
        with self._lock:
            if self._current == index:
                self._current = (index + 1) % len(self._servers)
        return True

    # -- verbs --------------------------------------------------------------

    def get(self, resource: str, name: str, namespace: Optional[str] = None) -> dict:
        """GET one object."""
        return self._json("GET", resource_path(resource, namespace, name))

    def list(self, resource: str, namespace: Optional[str] = None,
             label_selector: Optional[str] = None, field_selector: Optional[str] = None,
             limit: Optional[int] = None, continue_token: Optional[str] = None) -> dict:
        """GET a collection (all namespaces when a namespaced resource gets none)."""
        query = query_string({"labelSelector": label_selector, "fieldSelector": field_selector,
                              "limit": limit, "continue": continue_token})
        return self._json("GET", resource_path(resource, namespace) + query)

    def create(self, resource: str, obj: dict, namespace: Optional[str] = None) -> dict:
        """POST a new object (namespace defaults to the object's own)."""
        ns = namespace or obj.get("metadata", {}).get("namespace")
        return self._json("POST", resource_path(resource, ns), obj)

    def update(self, resource: str, obj: dict, namespace: Optional[str] = None,
               subresource: Optional[str] = None) -> dict:
        """PUT an object; a stale metadata.resourceVersion raises Conflict."""
        meta = obj.get("metadata", {})
        if not meta.get("name"):
            raise K8snetError(f"cannot update {resource}: the object has no metadata.name")
        ns = namespace or meta.get("namespace")
        return self._json("PUT", resource_path(resource, ns, meta["name"], subresource), obj)

    def patch(self, resource: str, name: str, body: Any, namespace: Optional[str] = None,
              subresource: Optional[str] = None, patch_type: str = "merge",
              field_manager: Optional[str] = None, force: Optional[bool] = None) -> dict:
        """PATCH with a merge, strategic, JSON (RFC 6902) or server-side apply body."""
        if patch_type not in PATCH_CONTENT_TYPES:
            raise K8snetError(f"unknown patch type '{patch_type}': use one of "
                              f"{', '.join(PATCH_CONTENT_TYPES)}")
        if patch_type == "apply" and not field_manager:
            field_manager = "k8snet"
        query = query_string({"fieldManager": field_manager, "force": force})
        path = resource_path(resource, namespace, name, subresource) + query
        return self._json("PATCH", path, body, content_type=PATCH_CONTENT_TYPES[patch_type])

    def delete(self, resource: str, name: str, namespace: Optional[str] = None,
               grace_period_seconds: Optional[int] = None,
               propagation_policy: Optional[str] = None) -> Optional[dict]:
        """DELETE an object; returns what the server answered (the object or a Status)."""
        options: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if grace_period_seconds is not None:
            options["gracePeriodSeconds"] = grace_period_seconds
        if propagation_policy is not None:
            options["propagationPolicy"] = propagation_policy
        body = options if len(options) > 2 else None
        result = self._json("DELETE", resource_path(resource, namespace, name), body)
        return result or None

    def watch(self, resource: str, namespace: Optional[str] = None,
              resource_version: Optional[str] = None, label_selector: Optional[str] = None,
              field_selector: Optional[str] = None, timeout_seconds: Optional[int] = None,
              allow_bookmarks: bool = False) -> WatchStream:
        """Watch a collection; iterate for (type, object). A 410 ERROR event raises Gone."""
        query = query_string({
            "watch": "true", "resourceVersion": resource_version,
            "labelSelector": label_selector, "fieldSelector": field_selector,
            "timeoutSeconds": timeout_seconds,
            "allowWatchBookmarks": "true" if allow_bookmarks else None,
        })
        path = resource_path(resource, namespace) + query
        # A watch may be quiet for a long time: no read timeout unless the server has one.
        read_timeout = None if timeout_seconds is None else timeout_seconds + self.timeout
        for attempt in range(len(self._servers)):
            index = self._current
            conn = self._new_connection(read_timeout, index)
            try:
                conn.request("GET", self._prefix + path, headers=self._headers())
                response = conn.getresponse()
                break
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                if attempt + 1 < len(self._servers) and self._fail_over(index):
                    continue
                raise self._unreachable(exc) from None
        if response.status != 200:
            body = response.read()
            conn.close()
            raise error_from_status(response.status, body)
        return WatchStream(conn, response)

    def create_subresource(self, resource: str, name: str, subresource: str, obj: dict,
                           namespace: Optional[str] = None) -> dict:
        """POST to an object's subresource (serviceaccounts/x/token, pods/x/eviction)."""
        return self._json("POST", resource_path(resource, namespace, name, subresource), obj)

    def bind(self, namespace: str, pod_name: str, node_name: str) -> None:
        """Bind a Pod to a Node through the pods/binding subresource."""
        binding = {
            "apiVersion": "v1", "kind": "Binding",
            "metadata": {"name": pod_name, "namespace": namespace},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node_name},
        }
        self._json("POST", resource_path("pods", namespace, pod_name, "binding"), binding)

    def pod_log(self, namespace: str, name: str, container: Optional[str] = None) -> str:
        """The log text of a Pod's container."""
        path = resource_path("pods", namespace, name, "log") + query_string(
            {"container": container})
        status, body = self._request("GET", path)
        if status >= 400:
            raise error_from_status(status, body)
        return body.decode("utf-8", "replace")

    def raw(self, method: str, path: str, body: Any = None) -> Any:
        """Any request by path (e.g. '/version'); JSON in, JSON out."""
        return self._json(method, path, body)

    # -- plumbing -----------------------------------------------------------

    def _json(self, method: str, path: str, body: Any = None,
              content_type: str = "application/json") -> Any:
        payload = None
        if body is not None:
            if content_type.endswith("yaml") and isinstance(body, str):
                payload = body.encode()
            else:
                payload = json.dumps(body).encode()
        status, data = self._request(method, path, payload, content_type)
        if status >= 400:
            raise error_from_status(status, data)
        if not data:
            return {}
        try:
            return json.loads(data)
        except ValueError:
            raise ApiError(status, "BadResponse",
                           f"{method} {path}: server sent non-JSON: {data[:120]!r}") from None

    def _request(self, method: str, path: str, payload: Optional[bytes] = None,
                 content_type: str = "application/json") -> tuple[int, bytes]:
        headers = self._headers()
        if payload is not None:
            headers["Content-Type"] = content_type
        retried_stale = False
        failovers = 0
        while True:
            conn, reused, index = self._connection()
            sent = False
            try:
                if conn.sock is None:
                    conn.connect()
                sent = True
                conn.request(method, self._servers[index][4] + path, body=payload,
                             headers=headers)
                response = conn.getresponse()
                data = response.read()
                if response.will_close:
                    conn.close()
                else:
                    self._release(conn, index)
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                # A kept-alive connection the server had closed: try once on a fresh one.
                if reused and not retried_stale and isinstance(exc, (
                        http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError,
                        ConnectionAbortedError, ssl.SSLEOFError, ssl.SSLZeroReturnError)):
                    retried_stale = True
                    self._drop_idle()    # the others kept alive are likely closed too
                    continue
                # Whatever the verb, the next request goes elsewhere; this one is sent
                # again only when that cannot apply it twice.
                if self._fail_over(index) and (not sent or method in IDEMPOTENT) and \
                        failovers + 1 < len(self._servers):
                    failovers += 1
                    continue
                raise self._unreachable(exc) from None
            # 503/504: this apiserver has lost its store (its etcd member is cut off
            # from the quorum); another may still have it.
            if response.status in (503, 504) and self._fail_over(index) and \
                    method in IDEMPOTENT and failovers + 1 < len(self._servers):
                failovers += 1
                continue
            return response.status, data

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        return headers

    def _unreachable(self, exc: BaseException) -> Unreachable:
        return Unreachable(0, "Unreachable", f"cannot reach apiserver {self.server}: {exc}")

    def _connection(self) -> tuple[http.client.HTTPConnection, bool, int]:
        """A kept-alive connection to the current server from the shared idle pool (made
        if there is none), whether it was reused, and the server's index. The pool is
        shared by every thread, so short-lived threads (a pool of a sync, a Pod's
        terminator) reuse connections instead of paying a TLS handshake each."""
        index = self._current
        with self._lock:
            while self._idle:
                server, conn = self._idle.pop()
                if server == index:
                    return conn, True, index
                conn.close()             # kept for a server we have since left
        return self._new_connection(self.timeout, index), False, index

    def _drop_idle(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for _server, conn in idle:
            conn.close()

    def _release(self, conn: http.client.HTTPConnection, index: int) -> None:
        """Put a connection whose response was read back in the idle pool."""
        with self._lock:
            if len(self._idle) < MAX_IDLE_CONNECTIONS:
                self._idle.append((index, conn))
                return
        conn.close()

    def _new_connection(self, timeout: Optional[float],
                        index: Optional[int] = None) -> http.client.HTTPConnection:
        _url, scheme, host, port, _prefix = self._servers[
            self._current if index is None else index]
        if scheme == "http":
            conn = http.client.HTTPConnection(host, port, timeout=timeout)
        else:
            conn = http.client.HTTPSConnection(host, port, timeout=timeout,
                                               context=self._context())
        if len(self._servers) > 1:
            _bound_connect(conn, timeout)
        return conn

    def _context(self) -> ssl.SSLContext:
        with self._lock:
            if self._ssl_context is None:
                ctx = ssl.create_default_context(cafile=self._ca_file, cadata=self._ca_data)
                if self._insecure:
                    ctx.check_hostname = False
                    ctx.verify_mode = ssl.CERT_NONE
                self._ssl_context = ctx
            return self._ssl_context


def _split_server(server: str) -> tuple[str, str, str, int, str]:
    """(url, scheme, host, port, path prefix) of an apiserver URL."""
    url = urllib.parse.urlsplit(server)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise K8snetError(f"bad apiserver URL '{server}': expected https://HOST:PORT")
    port = url.port or (443 if url.scheme == "https" else 80)
    return server.rstrip("/"), url.scheme, url.hostname, port, url.path.rstrip("/")


def _bound_connect(conn: http.client.HTTPConnection, timeout: Optional[float]) -> None:
    """Make `conn` give up connecting after FAILOVER_CONNECT_TIMEOUT (then reads wait
    `timeout` as before), so a dead server costs seconds, not the read timeout."""
    connect = conn.connect

    def bounded() -> None:
        conn.timeout = FAILOVER_CONNECT_TIMEOUT if timeout is None else \
            min(timeout, FAILOVER_CONNECT_TIMEOUT)
        try:
            connect()
        finally:
            conn.timeout = timeout
        if conn.sock is not None:
            conn.sock.settimeout(timeout)
            keep_alive(conn.sock)
    conn.connect = bounded  # type: ignore[method-assign]


def keep_alive(sock: socket.socket, idle: int = 5, interval: int = 2, count: int = 3) -> None:
    """TCP keepalive probes after `idle` s of silence: a quiet watch on a master whose
    link was cut fails within about idle + interval * count seconds instead of hanging
    until its timeout (client-go relies on keepalive and HTTP/2 pings the same way)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (("TCP_KEEPIDLE", idle), ("TCP_KEEPINTVL", interval),
                        ("TCP_KEEPCNT", count)):
        if hasattr(socket, name):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)


def servers_from_cluster(cluster: dict) -> list[str]:
    """The apiserver URLs a kubeconfig cluster lists in its k8snet.io/servers extension."""
    for ext in cluster.get("extensions") or []:
        if isinstance(ext, dict) and ext.get("name") == SERVERS_EXTENSION:
            value = ext.get("extension") or {}
            return [str(u) for u in value.get("servers") or [] if u]
    return []


def kubeconfig_settings(config: dict, path: str = "kubeconfig") -> dict[str, Any]:
    """ApiClient keyword arguments from a parsed kubeconfig (its current context)."""
    def named(section: str, name: Optional[str]) -> dict:
        for entry in config.get(section) or []:
            if entry.get("name") == name:
                return entry.get(section[:-1]) or {}
        if name is None and len(config.get(section) or []) == 1:
            return config[section][0].get(section[:-1]) or {}
        raise K8snetError(f"kubeconfig {path}: no {section[:-1]} named '{name}'")

    current = config.get("current-context")
    context = named("contexts", current) if current or config.get("contexts") else {}
    cluster = named("clusters", context.get("cluster"))
    user = named("users", context.get("user")) if context.get("user") or config.get("users") \
        else {}
    server = cluster.get("server")
    if not server:
        raise K8snetError(f"kubeconfig {path}: the cluster has no server URL")
    token = user.get("token")
    if not token and user.get("tokenFile"):
        with open(user["tokenFile"], encoding="utf-8") as fh:
            token = fh.read().strip()
    ca_data = None
    if cluster.get("certificate-authority-data"):
        ca_data = base64.b64decode(cluster["certificate-authority-data"]).decode()
    return {
        "server": server, "token": token, "ca_file": cluster.get("certificate-authority"),
        "ca_data": ca_data, "insecure": bool(cluster.get("insecure-skip-tls-verify")),
        "servers": servers_from_cluster(cluster),
    }
