"""`k8snet ui`'s server on loopback with a recorded view: the page and its
vendored script are served, a published view reaches an SSE client, and the
socket is bound to 127.0.0.1 only."""

import asyncio
import json
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
    task = asyncio.create_task(server.serve(object(), 0, urls.put_nowait, FakeLive))
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
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


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
