"""The HTTP(S) layer: one thread per connection (watches are long-lived), keep-alive,
chunked streaming for watches and followed logs."""

from __future__ import annotations

import json
import select
import socket
import ssl
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Optional
from urllib.parse import parse_qs, parse_qsl, urlsplit

from k8snet.apiextensions import crscale
from k8snet.apiserver import (
    bodies,
    componentstatus,
    eviction,
    health,
    inflight,
    metricsapi,
    patching,
    protobuf,
    reviews,
    tables,
    tokenrequest,
)
from k8snet.apiserver import objects as o
from k8snet.apiserver.auth import Auth
from k8snet.apiserver.context import Ctx
from k8snet.apiserver.inflight import InflightLimit
from k8snet.apiserver.metrics import CONTENT_TYPE as METRICS_CT
from k8snet.apiserver.metrics import ApiMetrics, request_labels
from k8snet.apiserver.openapiserve import OpenAPIService
from k8snet.apiserver.registry import Registry
from k8snet.apiserver.requestinfo import RequestInfo, request_info
from k8snet.apiserver.routes import Route, parse_path, verb_allowed
from k8snet.apiserver.satokens import TokenIssuer
from k8snet.apiserver.status import ApiStatusError, bad_request
from k8snet.apiserver.streams import StreamsMixin
from k8snet.apiserver.watch import EventCache
from k8snet.machinery import discovery
from k8snet.machinery.httpserver import HTTPServer
from k8snet.machinery.resources import KindInfo
from k8snet.store.base import StoreUnavailable

MAX_BODY = 3 * 1024 * 1024
MAX_DRAIN = 16 * 1024 * 1024  # a refused body is read to its end up to this size
AGGREGATED_CT = discovery.AGGREGATED_CT
VERSION = {"major": "1", "minor": "32", "gitVersion": "v1.32.0-k8snet",
           "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
           "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23.0",
           "compiler": "gc", "platform": "linux/amd64"}
RBAC_PLURALS = ("roles", "rolebindings", "clusterroles", "clusterrolebindings")


@dataclass
class ServerOptions:
    """What the handler needs besides the registry: who may do what (auth), what to count
    (metrics) and what /healthz, /livez and /readyz check (health_checks)."""

    auth: Auth
    metrics: ApiMetrics
    issuer: Optional[TokenIssuer] = None
    health_checks: list = field(default_factory=list)
    bookmark_interval: float = 60.0
    default_watch_timeout: float = 1800.0
    server_address: str = ""
    kubelet_tls: Optional[ssl.SSLContext] = None   # client certificate towards kubelets
    inflight: Optional[InflightLimit] = None       # None: no limit (k8snet.apiserver.inflight)


class ApiHTTPServer(HTTPServer):
    """The threading HTTP server carrying the registry; TLS handshakes happen in handler threads."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr: tuple[str, int], registry: Registry, options: ServerOptions,
                 tls: Optional[ssl.SSLContext]) -> None:
        self.registry = registry
        self.options = options
        self.tls = tls
        self.stopping = threading.Event()
        self.event_cache = EventCache()  # watch events decoded and encoded once for all
        self.openapi = OpenAPIService(registry.table, custom=lambda: (
            registry.extensions.openapi_definitions() if registry.extensions else None))
        super().__init__(addr, Handler)

    def get_request(self):
        sock, addr = super().get_request()
        if self.tls is not None:
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request, client_address) -> None:  # noqa: D401
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, ssl.SSLError, socket.timeout, TimeoutError)):
            return
        traceback.print_exc()


def _accepts_table(accept: str) -> bool:
    return "as=Table" in accept.replace(" ", "")


def warning_header(text: str) -> str:
    """A `Warning: 299 - "..."` value: quoted, one line, ASCII (headers are latin-1)."""
    text = text.replace("\\", "\\\\").replace('"', '\\"')
    text = "".join(c if " " <= c <= "~" else f"\\u{ord(c):04x}" for c in text)
    return f'299 - "{text[:1000]}"'


class Handler(StreamsMixin, BaseHTTPRequestHandler):
    """One request at a time on a keep-alive connection."""

    protocol_version = "HTTP/1.1"
    server_version = "k8snet-apiserver"
    timeout = 300
    # headers and body go out in separate writes: with Nagle the body waits for the
    # client's delayed ACK of the headers (~40 ms per keep-alive request)
    disable_nagle_algorithm = True
    server: ApiHTTPServer

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - base signature
        pass

    def setup(self) -> None:
        super().setup()
        conn = self.connection
        if isinstance(conn, ssl.SSLSocket):
            try:
                conn.settimeout(30)
                conn.do_handshake()
                conn.settimeout(self.timeout)
            except (OSError, ssl.SSLError):
                self.close_connection = True
                raise ConnectionResetError("TLS handshake failed") from None

    # every method goes through one dispatcher
    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_OPTIONS(self) -> None:
        self._dispatch("OPTIONS")

    # -- plumbing ------------------------------------------------------------------
    def _read_body(self) -> bytes:
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            out = bytearray()
            while True:
                line = self.rfile.readline(1024)
                try:
                    size = int(line.split(b";")[0].strip() or b"x", 16)
                except ValueError:
                    self.close_connection = True
                    raise bad_request("malformed chunked body") from None
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                if len(out) + size > MAX_BODY:
                    self.close_connection = True
                    raise ApiStatusError(413, "the request body is too large",
                                         "RequestEntityTooLarge")
                out += self.rfile.read(size)
                self.rfile.readline(1024)
        length_text = self.headers.get("Content-Length") or "0"
        try:
            length = int(length_text)
        except ValueError:
            self.close_connection = True
            raise bad_request("bad Content-Length") from None
        if length < 0:
            self.close_connection = True
            raise bad_request("bad Content-Length")
        if length > MAX_BODY:
            self.close_connection = True
            self._discard(length)
            raise ApiStatusError(413, "the request body is too large", "RequestEntityTooLarge")
        return self.rfile.read(length) if length else b""

    def _discard(self, length: int) -> None:
        """Read and drop a refused body of up to MAX_DRAIN bytes, so that a client still
        sending it reads the 413 instead of a connection reset (larger ones: reset)."""
        if length > MAX_DRAIN:
            return
        while length > 0:
            got = self.rfile.read(min(length, 256 * 1024))
            if not got:
                return
            length -= len(got)

    def _send(self, code: int, body: bytes, ctype: str = "application/json",
              extra: Optional[list] = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        if code not in (204, 304):  # no body by definition: no length either (as Go)
            self.send_header("Content-Length", str(len(body)))
        if not any(k.lower() == "cache-control" for k, _ in extra or []):
            self.send_header("Cache-Control", "no-cache, private")
        for k, v in extra or []:
            self.send_header(k, v)
        if self.close_connection:
            # said, so that the client does not send its next request on this
            # connection while it is being closed (it would get no response)
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, code: int, obj: object, ctx: Optional[Ctx] = None,
              ctype: str = "application/json") -> None:
        self._last_obj = obj
        if self._rbac_write is not None and 200 <= code < 300:
            # before the reply leaves: the client's next request is judged by this write
            self._rbac_written(self._rbac_write)
        self._rbac_write = None
        extra = []
        for w in (ctx.warnings if ctx else [])[:20]:
            extra.append(("Warning", warning_header(str(w))))
        self._send(code, json.dumps(obj, separators=(",", ":")).encode() + b"\n", ctype, extra)

    def _status(self, e: ApiStatusError) -> None:
        self._json(e.code, e.status())

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _start_stream(self, ctype: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()

    def _end_stream(self) -> None:
        try:
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            self.close_connection = True

    def _client_gone(self) -> bool:
        """Has the client closed the connection (checked while a stream is idle)?"""
        conn = self.connection
        try:
            if isinstance(conn, ssl.SSLSocket) and conn.pending():
                return True
            readable, _, _ = select.select([conn], [], [], 0)
            if not readable:
                return False
            # EOF, a TLS close_notify or (protocol violation) bytes during a stream: the
            # client is done with this response either way
            return True
        except ssl.SSLWantReadError:
            return False
        except (OSError, ValueError, socket.timeout):
            return True

    def send_response(self, code: int, message: Optional[str] = None) -> None:
        self._code = code
        super().send_response(code, message)

    def _dispatch(self, method: str) -> None:
        self._responded = False
        self._code = 0
        self._last_obj: object = None
        self._rbac_write: Optional[RequestInfo] = None
        started = time.perf_counter()
        opts = self.server.options
        labels: Optional[dict] = None
        gauge = None
        try:
            try:
                body = self._read_body()
            except ApiStatusError as e:
                self._status(e)
                return
            url = urlsplit(self.path)
            params = dict(parse_qsl(url.query, keep_blank_values=True))
            ri = request_info(method, url.path, params)
            served = self.server.registry.table.get(ri.api_group, ri.api_version,
                                                    ri.resource) is not None
            labels = request_labels(ri, params, self.headers.get("Content-Type") or "", served)
            gauge = self._track(labels, method)
            ctx = self._admit_request(ri, params)
            if url.path == "/metrics":
                self._metrics(method)
                return
            if ri.resource in RBAC_PLURALS and method in ("POST", "PUT", "PATCH", "DELETE"):
                self._rbac_write = ri
            limit = opts.inflight
            held = limit is not None and not inflight.exempt(ri, params) and limit.enter()
            try:
                self._route(method, parse_path(url.path, self.server.registry.table), ctx,
                            body)
            finally:
                if held:
                    limit.leave()
        except ApiStatusError as e:
            self._safe_status(e)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, socket.timeout,
                TimeoutError):
            self.close_connection = True
        except StoreUnavailable as e:
            # etcd has no quorum here (this master is cut off, or most members are
            # down): 503 tells clients to try another apiserver.
            self._safe_status(ApiStatusError(503, f"the storage is unavailable: {e}",
                                             "ServiceUnavailable"))
        except Exception as e:  # noqa: BLE001 - a request must never drop the connection
            traceback.print_exc()
            self._safe_status(ApiStatusError(500, f"Internal error occurred: "
                                             f"{type(e).__name__}: {e}", "InternalError"))
        finally:
            if gauge is not None:
                gauge.dec()
            opts.metrics.observe(labels, self._code, time.perf_counter() - started)

    def _track(self, labels: Optional[dict], method: str):
        """The in-flight (or long-running, for watches) gauge of this request, raised."""
        m = self.server.options.metrics
        if labels is not None and labels["verb"] in ("WATCH", "CONNECT"):
            gauge = m.longrunning.labels(**{k: v for k, v in labels.items()
                                            if k != "dry_run"})
        else:
            gauge = m.inflight.labels("readOnly" if method in ("GET", "HEAD", "OPTIONS")
                                      else "mutating")
        gauge.inc()
        return gauge

    def _admit_request(self, ri: RequestInfo, params: dict) -> Ctx:
        """Authenticate, impersonate, authorize: the request's Ctx, or 401/403."""
        auth = self.server.options.auth
        user = auth.user_for(self.headers.get("Authorization"), ri.path)
        user = auth.act_as(user, list(self.headers.items()))
        auth.authorize(ri.attributes(user))
        return Ctx(params=params, user_agent=self.headers.get("User-Agent") or "", user=user,
                   auth=auth, admit=auth.admission(user))

    def _rbac_written(self, ri: RequestInfo) -> None:
        """After a write of an RBAC object: until the authorizer sees it (bounded)."""
        name = ri.name
        if not name and isinstance(self._last_obj, dict):
            name = str((self._last_obj.get("metadata") or {}).get("name") or "")
        if not name:
            return
        info = self.server.registry.table.get(ri.api_group, ri.api_version, ri.resource)
        if info is None:
            return
        key = o.key(info, ri.namespace or None, name)
        cur = self.server.registry.store.get(key)
        self.server.options.auth.written(key, cur[1] if cur else None)

    def _metrics(self, method: str) -> None:
        if method not in ("GET", "HEAD"):
            raise self._not_allowed(method)
        self._send(200, self.server.options.metrics.render(), METRICS_CT)

    def end_headers(self) -> None:
        self._responded = True
        super().end_headers()

    def _safe_status(self, e: ApiStatusError) -> None:
        if getattr(self, "_responded", False):
            self.close_connection = True  # a response is already on the wire: just close
            return
        self._headers_buffer = []  # drop a half-built response
        try:
            self._status(e)
        except OSError:
            self.close_connection = True

    # -- routing -----------------------------------------------------------------------
    def _route(self, method: str, route: Route, ctx: Ctx, body: bytes) -> None:
        if route.what == "resource":
            self._resource(method, route, ctx, body)
            return
        if method not in ("GET", "HEAD"):
            raise ApiStatusError(405, f"the server does not allow this method on the requested "
                                 f"resource ({method} {urlsplit(self.path).path})",
                                 "MethodNotAllowed")
        accept = self.headers.get("Accept") or ""
        table = self.server.registry.table
        if route.what == "version":
            self._json(200, VERSION)
        elif route.what == "health":
            self._health(route.extra)
        elif route.what == "root":
            self._json(200, {"paths": ["/api", "/api/v1", "/apis", "/healthz", "/livez",
                                       "/metrics", "/openapi/v2", "/openapi/v3", "/readyz",
                                       "/version"] +
                             [f"/apis/{g}" for g in table.groups() if g] +
                             [f"/apis/{g}/{v}" for g, v in table.group_versions() if g]})
        elif route.what in ("api", "apis"):
            core = route.what == "api"
            if "g=apidiscovery.k8s.io" in accept.replace(" ", ""):
                self._json(200, discovery.aggregated(table, core), ctype=AGGREGATED_CT)
            elif core:
                self._json(200, {"kind": "APIVersions", "versions": ["v1"],
                                 "serverAddressByClientCIDRs": [{
                                     "clientCIDR": "0.0.0.0/0",
                                     "serverAddress": self.server.options.server_address}]})
            else:
                self._json(200, discovery.group_list(table))
        elif route.what == "group":
            group = discovery.api_group(table, route.group)
            if group is None:
                raise ApiStatusError(404, "the server could not find the requested resource",
                                     "NotFound", {})
            self._json(200, group)
        elif route.what == "resourcelist":
            self._json(200, discovery.resource_list(table, route.group, route.version))
        elif route.what == "openapi":
            reply = self.server.openapi.reply(route.extra, ctx.params, self.headers)
            if reply is None:
                raise ApiStatusError(404, "the server could not find the requested resource",
                                     "NotFound")
            self._send(reply.status, reply.body, reply.content_type, list(reply.headers))
        else:
            raise ApiStatusError(404, "the server could not find the requested resource",
                                 "NotFound")

    def _health(self, path: str) -> None:
        """/healthz, /livez, /readyz (?verbose, ?exclude=) and /readyz/CHECK."""
        endpoint, _, check = path.partition("/")
        checks = self.server.options.health_checks
        ctype = "text/plain; charset=utf-8"
        if endpoint not in health.ENDPOINTS:
            raise ApiStatusError(404, "the server could not find the requested resource",
                                 "NotFound", {})
        if check:
            got = health.report_one(endpoint, check, checks)
            if got is None:
                raise ApiStatusError(404, "the server could not find the requested resource",
                                     "NotFound", {})
            self._send(got[0], got[1].encode(), ctype)
            return
        query = parse_qs(urlsplit(self.path).query, keep_blank_values=True)
        exclude = tuple(x for v in query.get("exclude", []) for x in v.split(","))
        code, text = health.report(endpoint, checks, "verbose" in query, exclude)
        self._send(code, text.encode(), ctype)

    def _decode(self, body: bytes) -> object:
        ctype = (self.headers.get("Content-Type") or "application/json").split(";")[0].strip()
        if "protobuf" in ctype:
            try:
                decoded = protobuf.decode(body)
                bodies.check_shape(decoded)
                return decoded
            except (ValueError, TypeError, KeyError, RecursionError) as e:
                raise ApiStatusError(415, f"the protobuf body could not be decoded: {e}; "
                                     "accepted media types include: application/json, "
                                     "application/yaml", "UnsupportedMediaType") from None
        if not body.strip():
            raise bad_request("the request body is empty; send a JSON object")
        try:
            return bodies.load(body, as_yaml="yaml" in ctype)
        except ValueError as e:
            raise bad_request(f"the body of the request could not be decoded: {e}") from None

    def _resource(self, method: str, route: Route, ctx: Ctx, body: bytes) -> None:
        reg = self.server.registry
        info = route.info
        assert info is not None
        ns, name, sub = route.namespace, route.name, route.subresource
        if info.namespaced and ns is None and (name is not None or method == "POST"):
            raise ApiStatusError(404, "the server could not find the requested resource",
                                 "NotFound", {})
        if ctx.get("dryRun") not in (None, "All"):
            raise bad_request(f"unsupported dryRun value {ctx.get('dryRun')!r}; use All")
        accept = self.headers.get("Accept") or ""
        if sub is None and not verb_allowed(info, method, name is not None,
                                            route.watch_path or (name is None and ctx.get(
                                                "watch") in ("true", "1", "True"))):
            raise self._not_supported(info, method, name is not None)
        st = reg.strategy(info)  # CRDs and custom resources (k8snet.apiextensions)
        if st is not None:
            st.refuse(method, sub, self.headers.get("Content-Type") or "")
            ctx.warnings.extend(st.request_warnings(method))
        if info.group == metricsapi.GROUP:
            self._resource_metrics(route, ctx)
            return
        if info.plural == "componentstatuses" and info.group == "":
            self._component_statuses(name, ctx, accept)
            return
        if info.kind in reviews.KINDS and not info.stored:
            if method != "POST" or name is not None:
                raise self._not_allowed(method)
            self._json(201, reviews.create(info, self._decode(body), ctx, namespace=ns))
            return
        if info.plural == "serviceaccounts" and sub == "token" and name is not None:
            if method != "POST" or self.server.options.issuer is None:
                raise self._not_allowed(method)
            self._json(201, tokenrequest.create_token(reg, self.server.options.issuer, str(ns),
                                                      name, self._decode(body), ctx))
            return
        if info.plural == "bindings":
            obj = self._decode(body)
            bname = ((obj.get("metadata") or {}).get("name")
                     if isinstance(obj, dict) and isinstance(obj.get("metadata"), dict) else None)
            if not bname:
                raise bad_request("Binding must carry metadata.name (the Pod's name)")
            pods = reg.table.get("", "v1", "pods")
            assert pods is not None
            self._json(201, patching.bind(reg, pods, str(ns), bname, obj, ctx))
            return
        if name is None:
            self._collection(method, route, ctx, body, accept)
            return
        if method in ("GET", "HEAD") and route.watch_path:
            self._watch(route, Ctx(params=dict(ctx.params, fieldSelector=",".join(
                x for x in (ctx.get("fieldSelector"), f"metadata.name={name}") if x))), accept)
            return
        if sub == "log":
            if method != "GET":
                raise self._not_allowed(method)
            self._pod_log(route, ctx)
            return
        if sub in ("exec", "attach", "portforward") and info.plural == "pods":
            if method not in ("GET", "POST"):
                raise self._not_allowed(method)
            self._pod_stream(route, ctx, urlsplit(self.path).query)
            return
        if sub == "eviction":
            if method != "POST":
                raise self._not_allowed(method)
            self._json(201, eviction.evict(reg, str(ns), name, self._decode(body), ctx))
            return
        if sub == "binding":
            if method != "POST":
                raise self._not_allowed(method)
            self._json(201, patching.bind(reg, info, str(ns), name, self._decode(body), ctx))
            return
        if sub == "scale" and st is not None:
            self._json(200, crscale.serve(reg, st, info, ns, name, method, ctx, body,
                                          self.headers.get("Content-Type") or ""), ctx)
            return
        if sub == "scale":
            if method == "GET":
                self._json(200, patching.to_scale(reg.get(info, ns, name)))
            elif method == "PUT":
                self._json(200, patching.scale_update(reg, info, str(ns), name, ctx,
                                                      put_body=self._decode(body)))
            elif method == "PATCH":
                kind, pbody = patching.parse_patch_body(
                    self.headers.get("Content-Type") or "", body)
                self._json(200, patching.scale_update(reg, info, str(ns), name, ctx,
                                                      patch_kind=kind, patch_body=pbody))
            else:
                raise self._not_allowed(method)
            return
        if method in ("GET", "HEAD"):
            obj = reg.get(info, ns, name)
            if _accepts_table(accept) and sub is None:
                obj = self._table(info, [obj], obj["metadata"]["resourceVersion"], "",
                                  ctx.get("includeObject") or "Metadata")
            self._json(200, obj)
        elif method == "PUT":
            obj, created = reg.update(info, ns, name, self._decode(body), ctx, sub)
            self._json(201 if created else 200, obj, ctx)
        elif method == "PATCH":
            kind, pbody = patching.parse_patch_body(self.headers.get("Content-Type") or "",
                                                    body)
            obj, created = patching.patch(reg, info, ns, name, kind, pbody, ctx, sub)
            self._json(201 if created else 200, obj, ctx)
        elif method == "DELETE" and sub is None:
            obj, code = reg.delete(info, ns, name, self._delete_options(body, ctx), ctx)
            self._json(code, obj, ctx)
        else:
            raise self._not_allowed(method)

    def _table(self, info: KindInfo, objs: list, rv: str, cont: str = "",
               include: str = "Metadata") -> dict:
        """A Table of objs: a custom resource's printer columns, else the built-in's."""
        st = self.server.registry.strategy(info)
        got = st.table(objs, time.time(), rv, cont, include) if st is not None else None
        return got if got is not None else tables.table(info.plural, objs, time.time(), rv,
                                                        cont, include=include)

    def _not_supported(self, info: KindInfo, method: str, named: bool
                       ) -> ApiStatusError:
        """405 as upstream words it when a resource lacks the verb."""
        verb = {"GET": "get" if named else "list", "HEAD": "get" if named else "list",
                "POST": "create", "PUT": "update", "PATCH": "patch",
                "DELETE": "delete" if named else "deletecollection"}.get(method, method)
        qual = f"{info.plural}.{info.group}" if info.group else info.plural
        return ApiStatusError(405, f'{verb} is not supported on resources of kind "{qual}"',
                              "MethodNotAllowed", {"group": info.group, "kind": info.plural})

    def _component_statuses(self, name: Optional[str], ctx: Ctx, accept: str) -> None:
        checks = componentstatus.check_all(self.server.registry, time.time())
        if name is not None:
            obj = next((c for c in checks if c["metadata"]["name"] == name), None)
            if obj is None:
                raise ApiStatusError(404, f'componentstatuses "{name}" not found', "NotFound",
                                     {"name": name, "group": "", "kind": "componentstatuses"})
            objs = [obj]
        else:
            objs = checks
        if _accepts_table(accept):
            self._json(200, tables.table("componentstatuses", objs, time.time(), "",
                                         include=ctx.get("includeObject") or "Metadata"))
        elif name is not None:
            self._json(200, objs[0])
        else:
            self._json(200, {"kind": "ComponentStatusList", "apiVersion": "v1",
                             "metadata": {}, "items": objs})

    def _not_allowed(self, method: str) -> ApiStatusError:
        return ApiStatusError(405, f"the server does not allow this method on the requested "
                              f"resource ({method} {urlsplit(self.path).path})",
                              "MethodNotAllowed")

    def _delete_options(self, body: bytes, ctx: Ctx) -> dict:
        opts: dict = {}
        if body.strip():
            obj = self._decode(body)
            if not isinstance(obj, dict):
                raise bad_request("DeleteOptions must be an object")
            opts.update(obj)
        if ctx.get("gracePeriodSeconds") not in (None, ""):
            opts["gracePeriodSeconds"] = o.parse_rv(ctx.get("gracePeriodSeconds"),
                                                    "gracePeriodSeconds")
        if ctx.get("propagationPolicy"):
            opts["propagationPolicy"] = ctx.get("propagationPolicy")
        if ctx.get("orphanDependents") in ("true", "false"):
            opts["orphanDependents"] = ctx.get("orphanDependents") == "true"
        if isinstance(opts.get("dryRun"), list) and opts["dryRun"]:
            ctx.params["dryRun"] = "All"
        return opts

    def _collection(self, method: str, route: Route, ctx: Ctx, body: bytes,
                    accept: str) -> None:
        reg = self.server.registry
        info = route.info
        assert info is not None
        if method in ("GET", "HEAD"):
            if route.watch_path or ctx.get("watch") in ("true", "1", "True"):
                self._watch(route, ctx, accept)
                return
            items, rv, cont = reg.list(info, route.namespace, ctx)
            if _accepts_table(accept):
                self._json(200, self._table(info, items, rv, cont,
                                            ctx.get("includeObject") or "Metadata"))
                return
            meta: dict = {"resourceVersion": rv}
            if cont:
                meta["continue"] = cont
            self._json(200, {"kind": info.list_kind, "apiVersion": info.api_version,
                             "metadata": meta, "items": items})
        elif method == "POST":
            if "create" not in info.verbs:
                raise self._not_allowed(method)
            obj = reg.create(info, route.namespace, self._decode(body), ctx)
            self._json(201, obj, ctx)
        elif method == "DELETE":
            if "deletecollection" not in info.verbs:
                raise self._not_allowed(method)
            self._json(200, reg.delete_collection(info, route.namespace,
                                                  self._delete_options(body, ctx), ctx), ctx)
        else:
            raise self._not_allowed(method)
