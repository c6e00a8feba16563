"""Streaming responses: watches (with bookmarks, deadlines, 410 ERROR events, Table
events) and followed Pod logs. Mixed into the HTTP handler."""

from __future__ import annotations

import ssl
import time

from k8snet.api import selectors
from k8snet.apiserver import metricsapi, podlog
from k8snet.apiserver import objects as o
from k8snet.apiserver.context import Ctx
from k8snet.apiserver.routes import Route
from k8snet.apiserver.status import ApiStatusError, status_object
from k8snet.apiserver.watch import (
    END,
    TOO_LARGE_WAIT,
    WatchPump,
    bookmark,
    cached_line,
    event_line,
    expired,
    initial_events,
    next_bookmark,
    store_trigger,
    too_large,
    translate,
    watch_options,
)
from k8snet.machinery import resources as kinds
from k8snet.machinery import upgradeproxy
from k8snet.store.base import Compacted

IDLE_LOOK = 5.0  # seconds between looks at an idle watch's client (is it still there?)


def _accepts_table(accept: str) -> bool:
    return "as=Table" in accept.replace(" ", "")


class StreamsMixin:
    """Needs the handler's server, _start_stream, _chunk, _end_stream, _client_gone, _send."""

    def _watch(self, route: Route, ctx: Ctx, accept: str) -> None:
        """A watch stream (semantics: k8snet.apiserver.watch)."""
        reg = self.server.registry
        opts = self.server.options
        info = route.info
        assert info is not None
        label_sel, field_sel = reg.selectors(info, ctx)

        def selected(obj: dict) -> bool:
            return label_sel.matches((obj.get("metadata") or {}).get("labels") or {}) and \
                field_sel.matches(obj)
        # no selector: every object (an update's old object need not be decoded)
        matches = None if label_sel.empty and getattr(field_sel, "empty", False) else selected
        as_table = _accepts_table(accept)
        include = ctx.get("includeObject") or "Metadata"
        wo = watch_options(ctx.params, opts.default_watch_timeout)
        requested = o.parse_rv(wo.resource_version) or 0
        start = time.monotonic()
        deadline = start + wo.timeout
        self._start_stream("application/json")
        self.close_connection = False

        def send(etype: str, obj: dict) -> None:
            if as_table and etype not in ("ERROR", "BOOKMARK"):
                obj = self._table(info, [obj], obj["metadata"].get("resourceVersion", ""),
                                  "", include)
            self._chunk(event_line(etype, obj))
        events = getattr(self.server, "event_cache", None)
        pump = None
        try:
            current = reg.store.current_revision()
            while requested > current and time.monotonic() - start < TOO_LARGE_WAIT:
                time.sleep(0.1)
                current = reg.store.current_revision()
            if requested > current:
                send("ERROR", too_large(requested, current))
                self._end_stream()
                return
            if wo.initial_events:
                items, rv, _ = reg.list(info, route.namespace, Ctx(params={
                    k: v for k, v in ctx.params.items() if k in ("labelSelector",
                                                                 "fieldSelector")}))
                from_rev = int(rv)
            else:
                items, from_rev = [], requested or current
            pump = WatchPump(reg.store, o.prefix(info, route.namespace), from_rev,
                             progress=wo.bookmarks,
                             trigger=store_trigger(info, field_sel)).start()
            for etype, obj in initial_events(items):
                send(etype, obj)
            if wo.send_initial and wo.bookmarks:
                send("BOOKMARK", bookmark(info, from_rev, initial_end=True))
            interval = opts.bookmark_interval
            due = next_bookmark(time.monotonic(), deadline, interval) if wo.bookmarks else None
            last_rev = from_rev
            while not self.server.stopping.is_set():
                now = time.monotonic()
                if now >= deadline:
                    break
                if due is not None and now >= due:
                    send("BOOKMARK", bookmark(info, last_rev))
                    due = next_bookmark(now, deadline, interval)
                    continue
                # an idle stream looks at its client every few seconds (a closed
                # connection frees its threads then); events and stop wake it at once
                wait = min(IDLE_LOOK, deadline - now,
                           (due - now) if due is not None else IDLE_LOOK)
                item = pump.get(max(wait, 0.01))
                if item is None:
                    if self._client_gone():
                        self.close_connection = True
                        return
                    continue
                if item is END:
                    break
                if isinstance(item, Compacted):
                    send("ERROR", expired(item.requested, item.compact_revision))
                    break
                if isinstance(item, Exception):
                    send("ERROR", status_object(500, f"watch failed: {item}", "InternalError"))
                    break
                last_rev = max(last_rev, item.revision)
                out = translate(info, item, matches, events)
                if out is None:
                    continue
                if as_table:
                    send(*out)
                else:
                    self._chunk(cached_line(events, out))
            self._end_stream()
        except (OSError, ssl.SSLError):
            self.close_connection = True
        finally:
            if pump is not None:
                pump.close()

    # -- logs --------------------------------------------------------------------------
    def _pod_log(self, route: Route, ctx: Ctx) -> None:
        reg = self.server.registry
        pod = reg.get(route.info, route.namespace, str(route.name))
        container = podlog.pick_container(pod, ctx.get("container"))
        node_name = (pod.get("spec") or {}).get("nodeName")
        node = reg.read(kinds.KINDS["Node"], None, node_name) if node_name else None
        url = podlog.kubelet_url(pod, node, container, ctx.params)
        resp = podlog.open_kubelet(url, tls=self.server.options.kubelet_tls)
        try:
            if ctx.get("follow") in ("true", "1"):
                self._start_stream("text/plain")
                while True:
                    data = resp.read1(65536) if hasattr(resp, "read1") else resp.read(4096)
                    if not data:
                        break
                    self._chunk(data)
                self._end_stream()
            else:
                self._send(200, resp.read(), "text/plain")
        finally:
            resp.close()

    # -- exec, attach --------------------------------------------------------------------
    def _pod_stream(self, route: Route, ctx: Ctx, query: str) -> None:
        """Take kubectl's WebSocket upgrade to the kubelet, then relay bytes both ways."""
        reg = self.server.registry
        verb = str(route.subresource)
        pod = reg.get(route.info, route.namespace, str(route.name))
        node_name = (pod.get("spec") or {}).get("nodeName")
        node = reg.read(kinds.KINDS["Node"], None, node_name) if node_name else None
        upgrade = (self.headers.get("Upgrade") or "").lower()
        if verb == "portforward":
            url = podlog.portforward_url(pod, node, query)
        else:
            url = podlog.stream_url(pod, node, verb,
                                    podlog.pick_container(pod, ctx.get("container")), query)
        if upgrade != "websocket" and not (verb == "portforward" and upgrade == "spdy/3.1"):
            raise ApiStatusError(400, f"pods/{verb} is served over WebSocket only "
                                 "(v5.channel.k8s.io, v4.channel.k8s.io), not SPDY: use "
                                 "kubectl 1.30 or newer without "
                                 "KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false", "BadRequest")
        try:
            upstream, head, rest = upgradeproxy.open_upgrade(
                url, "GET", self.headers.items(), tls=self.server.options.kubelet_tls)
        except upgradeproxy.UpstreamError as exc:
            raise ApiStatusError(503, f"cannot reach the kubelet of node {node_name}: {exc}",
                                 "ServiceUnavailable") from None
        code = upgradeproxy.response_status(head)
        if code != 101:
            body = rest
            try:
                while len(body) < 8192:
                    more = upstream.recv(8192)
                    if not more:
                        break
                    body += more
            except OSError:
                pass
            upstream.close()
            raise ApiStatusError(code if code in (400, 404) else 502,
                                 f"the kubelet refused {verb}: "
                                 f"{body.decode('utf-8', 'replace').strip()}",
                                 "NotFound" if code == 404 else "BadRequest" if code == 400
                                 else "InternalError")
        self._responded = True
        self.close_connection = True
        self.wfile.write(head + rest)
        self.wfile.flush()
        self.connection.settimeout(None)  # an idle shell is not a dead connection
        upgradeproxy.splice(self.rfile.read1, self.connection, upstream)

    # -- metrics.k8s.io ------------------------------------------------------------------
    def _resource_metrics(self, route: Route, ctx: Ctx) -> None:
        """NodeMetrics / PodMetrics, read from the kubelets now (k8snet.apiserver.metricsapi)."""
        reg = self.server.registry
        info = route.info
        assert info is not None
        nodes, _, _ = reg.list(kinds.KINDS["Node"], None, Ctx(params={}))
        tls = self.server.options.kubelet_tls
        node_items, pod_items = metricsapi.collect(
            nodes, lambda n: metricsapi.fetch_summary(n, tls))
        wanted = selectors.parse_label_selector(ctx.get("labelSelector"))
        if info.kind == "NodeMetrics":
            labels = {n["metadata"]["name"]: n["metadata"].get("labels") or {} for n in nodes}
            items = [dict(i, metadata=dict(i["metadata"], labels=labels.get(
                i["metadata"]["name"], {}))) for i in node_items]
        else:
            items = []
            for item in pod_items:  # labels from the Pod; gone Pods show no figures
                meta = item["metadata"]
                pod = reg.read(kinds.KINDS["Pod"], meta["namespace"], meta["name"])
                if pod is not None:
                    items.append(dict(item, metadata=dict(meta, labels=(
                        pod["metadata"].get("labels") or {}))))
        self._json(200, metricsapi.select(
            items, info.kind, route.namespace, route.name,
            lambda i: wanted.matches(i["metadata"].get("labels") or {})))
