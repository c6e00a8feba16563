"""``/metrics``: the apiserver's Prometheus metrics, through prometheus_client with one
CollectorRegistry per server (no process-global registry: two servers in one process, as
in tests, keep their own counts).

Series, named and labelled as kube-apiserver's:
- ``apiserver_request_total{verb,dry_run,group,version,resource,subresource,scope,
  component,code}`` and ``apiserver_request_duration_seconds{verb,dry_run,group,version,
  resource,subresource,scope,component}`` (a histogram; watches are left out of it, their
  duration is the client's timeout, not latency);
- ``apiserver_current_inflight_requests{request_kind}``, ``apiserver_longrunning_requests``
  (open watches and followed logs), ``apiserver_authorization_decisions_total{decision,
  name}``, ``authentication_attempts{result}``, ``kubernetes_build_info``;
- the process, platform and garbage-collector collectors of prometheus_client.

``request_labels`` (pure) turns a RequestInfo into those labels as upstream does: LIST vs
GET, WATCH, APPLY for server-side apply, DELETECOLLECTION, CONNECT for exec/attach/
portforward/proxy; scope ``resource`` (a name, or a create), ``namespace``, ``cluster``;
non-resource paths keep their path in ``subresource``.
"""

from __future__ import annotations

from typing import Optional

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

from k8snet.apiserver.requestinfo import RequestInfo

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
REQUEST_LABELS = ("verb", "dry_run", "group", "version", "resource", "subresource", "scope",
                  "component")
DURATION_BUCKETS = (0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2, 3, 4, 5,
                    6, 8, 10, 15, 20, 30, 45, 60)
_VERBS = {"get": "GET", "list": "LIST", "watch": "WATCH", "create": "POST", "update": "PUT",
          "patch": "PATCH", "delete": "DELETE", "deletecollection": "DELETECOLLECTION"}
_CONNECT = ("exec", "attach", "portforward", "proxy")
NON_RESOURCE_PATHS = ("/healthz", "/livez", "/readyz", "/metrics", "/version", "/api",
                      "/apis", "/openapi/v2", "/openapi/v3", "/")
APPLY_PATCH = "application/apply-patch+yaml"


def request_labels(ri: RequestInfo, params: dict, content_type: str = "",
                   known_resource: bool = True) -> Optional[dict]:
    """The request's labels, or None when it is not worth a series (unknown paths and
    resources: clients must not be able to grow the label set without bound)."""
    dry_run = "All" if params.get("dryRun") else ""
    if not ri.resource_request:
        path = ri.path.rstrip("/") or "/"
        head = "/" + path.split("/")[1] if path != "/" else "/"
        if path not in NON_RESOURCE_PATHS:
            if head in ("/api", "/apis", "/healthz", "/livez", "/readyz"):
                path = head
            elif path.startswith("/openapi/v3/"):
                path = "/openapi/v3"
            else:
                return None
        return dict(verb=ri.verb.upper(), dry_run=dry_run, group="", version="", resource="",
                    subresource=path, scope="", component="apiserver")
    if not known_resource:
        return None
    verb = _VERBS.get(ri.verb, ri.verb.upper() or "OTHER")
    if verb == "PATCH" and content_type.split(";")[0].strip() == APPLY_PATCH:
        verb = "APPLY"
    if ri.subresource in _CONNECT:
        verb = "CONNECT"
    scope = ("resource" if ri.name or ri.verb == "create" else
             "namespace" if ri.namespace else "cluster")
    return dict(verb=verb, dry_run=dry_run, group=ri.api_group, version=ri.api_version,
                resource=ri.resource, subresource=ri.subresource, scope=scope,
                component="apiserver")


class ApiMetrics:
    """The metrics of one apiserver."""

    def __init__(self, version: Optional[dict] = None) -> None:
        reg = self.registry = CollectorRegistry()
        self.requests = Counter("apiserver_request_total", "Counter of apiserver requests "
                                "broken out for each verb, dry run value, group, version, "
                                "resource, scope, component, and HTTP response code.",
                                REQUEST_LABELS + ("code",), registry=reg)
        self.duration = Histogram("apiserver_request_duration_seconds", "Response latency "
                                  "distribution in seconds for each verb, dry run value, "
                                  "group, version, resource, subresource, scope and "
                                  "component.", REQUEST_LABELS, buckets=DURATION_BUCKETS,
                                  registry=reg)
        self.inflight = Gauge("apiserver_current_inflight_requests", "Maximal number of "
                              "currently used inflight request limit of this apiserver per "
                              "request kind in last second.", ("request_kind",), registry=reg)
        self.longrunning = Gauge("apiserver_longrunning_requests", "Gauge of all active "
                                 "long-running apiserver requests broken out by verb, group, "
                                 "version, resource, scope and component.",
                                 ("verb", "group", "version", "resource", "subresource",
                                  "scope", "component"), registry=reg)
        self.authz = Counter("apiserver_authorization_decisions_total", "Total number of "
                             "terminal decisions made by an authorizer split by authorizer "
                             "type, name, and decision.", ("decision", "name"), registry=reg)
        self.authn = Counter("authentication_attempts", "Counter of authenticated attempts.",
                             ("result",), registry=reg)
        build = Gauge("kubernetes_build_info", "A metric with a constant '1' value labeled "
                      "by major, minor, git version, git commit, git tree state, build date, "
                      "Go version, and compiler from which Kubernetes was built, and "
                      "platform on which it is running.",
                      ("major", "minor", "git_version", "git_commit", "git_tree_state",
                       "build_date", "go_version", "compiler", "platform"), registry=reg)
        v = version or {}
        build.labels(v.get("major", ""), v.get("minor", ""), v.get("gitVersion", ""),
                     v.get("gitCommit", ""), v.get("gitTreeState", ""),
                     v.get("buildDate", ""), v.get("goVersion", ""), v.get("compiler", ""),
                     v.get("platform", "")).set(1)
        ProcessCollector(registry=reg)
        PlatformCollector(registry=reg)
        GCCollector(registry=reg)

    def observe(self, labels: Optional[dict], code: int, seconds: float) -> None:
        """Count one finished request (labels None: not recorded)."""
        if labels is None:
            return
        self.requests.labels(code=str(code), **labels).inc()
        if labels["verb"] not in ("WATCH", "CONNECT"):
            self.duration.labels(**labels).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
