"""`k8snet ui`'s server on loopback with a recorded view: the page and its
vendored script are served, a published view reaches an SSE client, the
socket is bound to 127.0.0.1 only, and the POST routes refuse a request
without the page's token or with a foreign Host."""

import asyncio
import json
import re
import types

import aiohttp

from k8snet.ui import server

VIEW = {"cluster": "t", "mode": "routed", "elements": [], "nodes": [], "pods": [],
        "services": [], "links": [], "faults": [], "policies": []}


class FakeLive:
    """Stands in for LiveView: publishes what the test tells it to."""

    instances = []

    def __init__(self, cluster, publish):
        self.publish, self.facts = publish, types.SimpleNamespace(switches=())
        FakeLive.instances.append(self)

    def start(self, stop):
        self.publish(VIEW)


async def scenario():
    urls = asyncio.Queue()
    cluster = types.SimpleNamespace(name="t")
    task = asyncio.create_task(server.serve(cluster, 0, urls.put_nowait, FakeLive))
    url = await asyncio.wait_for(urls.get(), 10)
    try:
        assert url.startswith("http://127.0.0.1:")
        async with aiohttp.ClientSession() as http:
            async with http.get(url) as resp:
                page = await resp.text()
            assert resp.status == 200 and "cytoscape-3.35.0.min.js" in page
            async with http.get(url + "static/vendor/cytoscape-3.35.0.min.js") as resp:
                assert resp.status == 200 and len(await resp.read()) > 100_000
            async with http.get(url + "api/view") as resp:
                assert await resp.json() == VIEW
            async with http.get(url + "events") as resp:
                assert resp.headers["Content-Type"].startswith("text/event-stream")
                first = await read_event(resp)
                assert first == VIEW     # the current view at once
                changed = {**VIEW, "mode": "overlay"}
                FakeLive.instances[-1].publish(changed)
                assert await read_event(resp) == changed
            async with http.get(url + "api/switch/nosuch") as resp:
                assert resp.status == 404
            await refuses_forged_requests(http, url, page)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def refuses_forged_requests(http, url, page):
    token = re.search(r'<meta name="k8snet-token" content="([0-9a-f]{64})">', page).group(1)
    body = {"action": "explode"}
    for headers in ({}, {"X-K8snet-Token": "0" * 64}):
        for route in ("api/fault", "api/trace", "api/probe"):
            async with http.post(url + route, json=body, headers=headers) as resp:
                assert resp.status == 403, (route, headers)
    # A page whose host name resolves here (DNS rebinding) is refused, even a GET.
    async with http.get(url + "api/view", headers={"Host": "evil.example:80"}) as resp:
        assert resp.status == 403
    async with http.post(url + "api/fault", json=body, headers={
            "X-K8snet-Token": token, "Host": "evil.example"}) as resp:
        assert resp.status == 403
    # With the token, the request reaches the action, which says what was wrong.
    async with http.post(url + "api/fault", json=body,
                         headers={"X-K8snet-Token": token}) as resp:
        assert resp.status == 400
        assert "unknown fault action 'explode'" in (await resp.json())["error"]
    # Each server makes its own token.
    assert token != server.make_app(None)[server.TOKEN]


async def read_event(resp):
    data = None
    while True:
        line = (await asyncio.wait_for(resp.content.readline(), 5)).decode().rstrip("\n")
        if line.startswith("data: "):
            data = json.loads(line[6:])
        elif line == "" and data is not None:
            return data


def test_page_view_and_events():
    asyncio.run(scenario())
