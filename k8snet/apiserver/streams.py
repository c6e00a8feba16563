"""Streaming responses: watches (with bookmarks, deadlines, 410 ERROR events, Table
events) and followed Pod logs. Mixed into the HTTP handler."""

from __future__ import annotations

import json
import ssl
import time

from k8snet.apiserver import objects as o
from k8snet.apiserver import podlog
from k8snet.apiserver.context import Ctx
from k8snet.apiserver.routes import Route
from k8snet.apiserver.status import bad_request, status_object
from k8snet.apiserver.watch import END, WatchPump, initial_events, translate
from k8snet.machinery import resources as kinds
from k8snet.store.base import Compacted


def _accepts_table(accept: str) -> bool:
    return "as=Table" in accept.replace(" ", "")


class StreamsMixin:
    """Needs the handler's server, _start_stream, _chunk, _end_stream, _client_gone, _send."""

    def _watch(self, route: Route, ctx: Ctx, accept: str) -> None:
        reg = self.server.registry
        opts = self.server.options
        info = route.info
        assert info is not None
        label_sel, field_sel = reg.selectors(info, ctx)

        def matches(obj: dict) -> bool:
            return label_sel.matches((obj.get("metadata") or {}).get("labels") or {}) and \
                field_sel.matches(obj)
        as_table = _accepts_table(accept)
        include = ctx.get("includeObject") or "Metadata"
        rv_text = ctx.get("resourceVersion") or ""
        try:
            timeout = float(ctx.get("timeoutSeconds") or opts.default_watch_timeout)
        except ValueError:
            raise bad_request("timeoutSeconds must be a number") from None
        bookmarks = ctx.get("allowWatchBookmarks") in ("true", "1")
        initial: list[dict] = []
        if rv_text in ("", "0") or ctx.get("sendInitialEvents") == "true":
            items, rv, _ = reg.list(info, route.namespace,
                                    Ctx(params={k: v for k, v in ctx.params.items()
                                                if k in ("labelSelector", "fieldSelector")}))
            initial = items
            from_rev = int(rv)
        else:
            from_rev = o.parse_rv(rv_text) or 0
        pump = WatchPump(reg.store, o.prefix(info, route.namespace), from_rev).start()
        deadline = time.monotonic() + max(timeout, 0)
        last_rev = from_rev
        last_sent = time.monotonic()
        first = [True]
        self._start_stream("application/json")
        self.close_connection = False

        def send(etype: str, obj: dict) -> None:
            if as_table and etype not in ("ERROR", "BOOKMARK"):
                obj = self._table(info, [obj], obj["metadata"].get("resourceVersion", ""),
                                  "", include)
                first[0] = False
            self._chunk(json.dumps({"type": etype, "object": obj},
                                   separators=(",", ":")).encode() + b"\n")
        try:
            for etype, obj in initial_events(initial):
                send(etype, obj)
            if ctx.get("sendInitialEvents") == "true" and bookmarks:
                send("BOOKMARK", {"kind": info.kind, "apiVersion": info.api_version,
                                  "metadata": {"resourceVersion": str(from_rev), "annotations": {
                                      "k8s.io/initial-events-end": "true"}}})
            while not self.server.stopping.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                item = pump.get(min(1.0, left))
                if item is None:
                    if self._client_gone():
                        self.close_connection = True
                        return
                    if bookmarks and time.monotonic() - last_sent >= opts.bookmark_interval:
                        send("BOOKMARK", {"kind": info.kind, "apiVersion": info.api_version,
                                          "metadata": {"resourceVersion": str(last_rev)}})
                        last_sent = time.monotonic()
                    continue
                if item is END:
                    break
                if isinstance(item, Compacted):
                    send("ERROR", status_object(
                        410, f"too old resource version: {item.requested} "
                        f"({item.compact_revision})", "Expired"))
                    break
                if isinstance(item, Exception):
                    send("ERROR", status_object(500, f"watch failed: {item}", "InternalError"))
                    break
                last_rev = item.revision
                out = translate(info, item, matches)
                if out is not None:
                    send(*out)
                    last_sent = time.monotonic()
            self._end_stream()
        except (OSError, ssl.SSLError):
            self.close_connection = True
        finally:
            pump.close()

    # -- logs --------------------------------------------------------------------------
    def _pod_log(self, route: Route, ctx: Ctx) -> None:
        reg = self.server.registry
        pod = reg.get(route.info, route.namespace, str(route.name))
        container = podlog.pick_container(pod, ctx.get("container"))
        node_name = (pod.get("spec") or {}).get("nodeName")
        node = reg.read(kinds.KINDS["Node"], None, node_name) if node_name else None
        url = podlog.kubelet_url(pod, node, container, ctx.params)
        resp = podlog.open_kubelet(url)
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
