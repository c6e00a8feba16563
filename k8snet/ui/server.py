"""The web server of `k8snet ui`: aiohttp, on 127.0.0.1 only.

aiohttp rather than an ASGI stack: it is one library (server, static files,
streamed responses for SSE) with no separate ASGI server to run, and it is
already in the venv. Routes:

- ``GET /`` the page; ``GET /static/...`` its script, style and the vendored
  Cytoscape.js (no CDN: nothing outside this machine is reachable);
- ``GET /api/view`` the current view document (`k8snet.ui.model`);
- ``GET /events`` Server-Sent Events, one ``view`` event per new document;
- ``POST /api/trace`` ``{"src", "dst", "proto", "port"}`` runs `k8snet trace`
  and returns its report plus the element ids of the path;
- ``POST /api/probe`` runs the probes, returns each check's verdict;
- ``GET /api/switch/{name}`` that switch's OpenFlow flows and groups, beside
  what the controller means it to hold (`k8snet.ui.controller`);
- ``POST /api/fault`` ``{"action", ...}`` one ``k8snet fault`` action
  (`k8snet.ui.actions`); ``GET /api/components`` what a kill can name.

Trace and probe block for seconds: they run in the default executor, one
at a time (a lock), so two clicks do not send two marked packets at once.
Fault actions have their own lock: a fault can be injected during a trace.

The POST routes change the cluster, so another web page open in the same
browser must not reach them (cross-site request forgery), nor a page
whose host name an attacker points at 127.0.0.1 (DNS rebinding):

- every request must name 127.0.0.1 or localhost as its Host;
- every POST must carry ``X-K8snet-Token``, a random token made when the
  server starts and written only into the page it serves. Another origin
  cannot read that page, and cannot send a custom header cross-origin
  without a CORS preflight, which this server never grants.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import subprocess
import threading
from typing import Optional, Set

from aiohttp import web

from k8snet.errors import K8snetError
from k8snet.ui import actions, controller, model
from k8snet.ui.live import LiveView

STATIC = os.path.join(os.path.dirname(__file__), "static")
HOST = "127.0.0.1"     # never another address: the page can run traces and probes
HEARTBEAT_SECONDS = 15.0
CLUSTER = web.AppKey("cluster", object)        # the api.Cluster served
HUB = web.AppKey("hub", object)                # Hub: latest view and SSE queues
LIVE = web.AppKey("live", object)              # LiveView (or a test's stand-in)
BUSY = web.AppKey("busy", asyncio.Lock)        # one trace or probe at a time
FAULTING = web.AppKey("faulting", asyncio.Lock)  # one fault action at a time
TOKEN = web.AppKey("token", str)               # the page's secret for POSTs
TOKEN_HEADER = "X-K8snet-Token"
LOCAL_HOSTS = ("127.0.0.1", "localhost")
STOP = web.AppKey("stop", threading.Event)     # stops the view's threads


class Hub:
    """The latest view document and the SSE subscribers waiting for the next."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.latest: Optional[dict] = None
        self.queues: Set[asyncio.Queue] = set()

    def publish_threadsafe(self, doc: dict) -> None:
        self.loop.call_soon_threadsafe(self.publish, doc)

    def publish(self, doc: dict) -> None:
        self.latest = doc
        for queue in self.queues:
            if queue.full():  # a slow browser only needs the newest document
                queue.get_nowait()
            queue.put_nowait(doc)


@web.middleware
async def guard(request: web.Request, handler):
    """Host must be local (DNS rebinding); POSTs must carry the page's token (CSRF)."""
    if request.host.rsplit(":", 1)[0] not in LOCAL_HOSTS:
        raise web.HTTPForbidden(text="k8snet ui answers only to 127.0.0.1 or localhost")
    if request.method != "GET" and not secrets.compare_digest(
            request.headers.get(TOKEN_HEADER, ""), request.app[TOKEN]):
        raise web.HTTPForbidden(text=json.dumps(
            {"error": f"missing or wrong {TOKEN_HEADER}: reload the page"}),
            content_type="application/json")
    return await handler(request)


async def page(request: web.Request) -> web.Response:
    """index.html with this server's token (hex, so safe in an attribute)."""
    with open(os.path.join(STATIC, "index.html")) as fh:
        html = fh.read().replace("{{token}}", request.app[TOKEN])
    return web.Response(text=html, content_type="text/html",
                        headers={"Cache-Control": "no-store"})


async def view(request: web.Request) -> web.Response:
    hub: Hub = request.app[HUB]
    if hub.latest is None:
        raise web.HTTPServiceUnavailable(text="the view is not built yet")
    return web.json_response(hub.latest)


async def events(request: web.Request) -> web.StreamResponse:
    hub: Hub = request.app[HUB]
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                       "Cache-Control": "no-cache"})
    await resp.prepare(request)
    queue: asyncio.Queue = asyncio.Queue(maxsize=1)
    hub.queues.add(queue)
    try:
        if hub.latest is not None:
            queue.put_nowait(hub.latest)
        while True:
            try:
                doc = await asyncio.wait_for(queue.get(), HEARTBEAT_SECONDS)
            except asyncio.TimeoutError:
                await resp.write(b": heartbeat\n\n")
                continue
            await resp.write(f"event: view\ndata: {json.dumps(doc)}\n\n".encode())
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        hub.queues.discard(queue)
    return resp


async def blocking(request: web.Request, fn, *args, lock=BUSY):
    """Run a slow library call in a thread, one at a time; errors become JSON."""
    async with request.app[lock]:
        try:
            return await asyncio.get_running_loop().run_in_executor(None, fn, *args)
        except K8snetError as exc:
            raise web.HTTPBadRequest(text=json.dumps({"error": str(exc)}),
                                     content_type="application/json") from None


async def trace(request: web.Request) -> web.Response:
    from k8snet.trace.main import trace as run_trace

    body = await request.json()
    if not body.get("src") or not body.get("dst"):
        raise web.HTTPBadRequest(text='{"error": "give src and dst"}',
                                 content_type="application/json")
    proto = body.get("proto") or "icmp"
    port = int(body["port"]) if body.get("port") else None
    doc = await blocking(request, run_trace, request.app[CLUSTER], body["src"], body["dst"],
                         proto, port)
    path = model.trace_path(doc, request.app[LIVE].facts)
    return web.json_response({"trace": doc, "path": path})


def probe_rows(cluster) -> dict:
    from k8snet.probe import report
    from k8snet.probe.run import run_probes

    rows, ok = run_probes(cluster, [], False, lambda _text: None)
    return {"ok": ok, "report": report.to_json(cluster.name, cluster.spec.mode, rows)}


async def probe(request: web.Request) -> web.Response:
    return web.json_response(await blocking(request, probe_rows, request.app[CLUSTER]))


def switch_tables(bridge: str) -> dict:
    def ofctl(*args: str) -> str:
        out = subprocess.run(["ovs-ofctl", "-O", "OpenFlow13", *args, bridge],
                             capture_output=True, text=True, timeout=10, check=False)
        return out.stdout if out.returncode == 0 else out.stderr
    return {"switch": bridge, "flows": ofctl("dump-flows", "--no-stats").splitlines(),
            "groups": ofctl("dump-groups").splitlines()}


async def switch(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    facts = request.app[LIVE].facts
    if name not in {s.name for s in facts.switches}:
        raise web.HTTPNotFound(text=f"no switch {name} in this cluster")
    loop = asyncio.get_running_loop()
    tables = await loop.run_in_executor(None, switch_tables, name)
    intended = await loop.run_in_executor(None, request.app[LIVE].switch_view, name)
    return web.json_response({**tables, "controller": intended,
                              "held": {"flows": controller.count_flows(tables["flows"]),
                                       "groups": controller.count_groups(tables["groups"])}})


async def fault(request: web.Request) -> web.Response:
    try:
        body = await request.json()
    except ValueError:
        body = None
    lines = await blocking(request, actions.run_fault, request.app[CLUSTER].name, body,
                           lock=FAULTING)
    kick = getattr(request.app[LIVE], "kick", None)
    if kick is not None:
        kick.set()  # show the new fault state now, not at the next poll
    return web.json_response({"done": lines})


async def components(request: web.Request) -> web.Response:
    from k8snet.testbed import api

    loop = asyncio.get_running_loop()
    cluster = await loop.run_in_executor(None, api.find, request.app[CLUSTER].name)
    return web.json_response(actions.components(cluster.state))


def make_app(cluster, live_factory=LiveView, token: Optional[str] = None) -> web.Application:
    """The application for ``cluster``; its view thread starts with the app."""
    app = web.Application(middlewares=[guard])
    app[CLUSTER] = cluster
    app[TOKEN] = token or secrets.token_hex(32)
    app.router.add_get("/", page)
    app.router.add_get("/api/view", view)
    app.router.add_get("/events", events)
    app.router.add_post("/api/trace", trace)
    app.router.add_post("/api/probe", probe)
    app.router.add_get("/api/switch/{name}", switch)
    app.router.add_post("/api/fault", fault)
    app.router.add_get("/api/components", components)
    app.router.add_static("/static/", STATIC)

    async def start_live(app: web.Application) -> None:
        app[STOP] = threading.Event()
        app[BUSY] = asyncio.Lock()
        app[FAULTING] = asyncio.Lock()
        app[HUB] = Hub(asyncio.get_running_loop())
        app[LIVE] = live_factory(cluster, app[HUB].publish_threadsafe)
        app[LIVE].start(app[STOP])

    async def stop_live(app: web.Application) -> None:
        app[STOP].set()

    app.on_startup.append(start_live)
    app.on_shutdown.append(stop_live)
    return app


async def serve(cluster, port: int, announce, live_factory=LiveView) -> None:
    """Serve until cancelled; ``announce(url)`` once the socket listens."""
    # Bind first: a port in use is reported before anything starts watching.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
    except OSError as exc:
        sock.close()
        raise K8snetError(f"cannot listen on {HOST}:{port} ({exc.strerror}); "
                          "choose another with --port") from None
    runner = web.AppRunner(make_app(cluster, live_factory), shutdown_timeout=1.0)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    announce(f"http://{HOST}:{sock.getsockname()[1]}/")
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
