"""The kubelet's containerLogs endpoint on loopback, over CRI log files."""

import http.client
import os
import threading
import time

import pytest

from k8snet.kubelet.logserver import LogServer

LINES = "".join(f"2026-01-01T00:00:0{i}.5Z stdout F line {i}\n" for i in range(5))


@pytest.fixture
def server(tmp_path):
    cdir = tmp_path / "pods" / "default_web_uid1" / "app"
    cdir.mkdir(parents=True)
    (cdir / "0.log").write_text("2026-01-01T00:00:00Z stderr F old run\n")
    (cdir / "1.log").write_text(LINES)
    srv = LogServer("127.0.0.1", 0, str(tmp_path))
    srv.start()
    try:
        yield srv, cdir
    finally:
        srv.stop()


def get(srv, path):
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    conn.request("GET", path)
    resp = conn.getresponse()
    return resp.status, resp.read().decode()


def test_tail_and_timestamps(server):
    srv, _ = server
    assert get(srv, "/containerLogs/default/web/app") == (200, "".join(
        f"line {i}\n" for i in range(5)))
    assert get(srv, "/containerLogs/default/web/app?tailLines=2")[1] == "line 3\nline 4\n"
    status, body = get(srv, "/containerLogs/default/web/app?tailLines=1&timestamps=true")
    assert body == "2026-01-01T00:00:04.500000000Z line 4\n"   # RFC3339NanoFixed, as the kubelet
    assert get(srv, "/containerLogs/default/web/app?previous=true")[1] == "old run\n"
    assert get(srv, "/containerLogs/default/web/app?limitBytes=3")[1] == "lin"


def test_errors(server):
    srv, _ = server
    status, body = get(srv, "/containerLogs/default/web/nosuch")
    assert status == 404 and "nosuch" in body
    status, body = get(srv, "/containerLogs/default/web/app?tailLines=x")
    assert status == 400 and "tailLines must be an integer" in body
    assert get(srv, "/other")[0] == 404


def test_follow_streams_until_the_container_restarts(server):
    srv, cdir = server

    def writer():
        time.sleep(0.5)
        with open(cdir / "1.log", "a") as fh:
            fh.write("2026-01-01T00:00:09Z stdout P half \n")
            fh.flush()
            time.sleep(0.3)
            fh.write("2026-01-01T00:00:09Z stdout F and half\n")
        time.sleep(0.5)
        (cdir / "2.log").write_text("")  # a new attempt ends the stream

    t = threading.Thread(target=writer)
    t.start()
    status, body = get(srv, "/containerLogs/default/web/app?follow=true&tailLines=1")
    t.join()
    assert status == 200 and body == "line 4\nhalf and half\n"
    assert os.path.exists(cdir / "2.log")
