"""The DNS server as a process on loopback against a real apiserver: records
appear as objects change, UDP truncation falls back to TCP, forward and
cache, health/ready/metrics, the loop check, and reload without a restart."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import urllib.request

import dns.flags
import dns.message
import dns.query
import dns.rcode
import pytest

from k8snet.dns import corefile
from k8snet.dns.server import Server
from k8snet.machinery.client import ApiClient
from tests.component.apiserver_proc import ApiServerProc, free_port

COREFILE = """.:{port} {{
    errors
    health :{health}
    ready :{ready}
    prometheus 127.0.0.1:{metrics}
    kubernetes cluster.local in-addr.arpa {{
        kubeconfig {kubeconfig}
        pods insecure
        ttl {ttl}
    }}
    forward . 127.0.0.1:{upstream}
    cache 30
    reload 2s
    whoami
}}
"""


@pytest.fixture(scope="module")
def upstream():
    """An in-process server answering example.test (the external resolver's stand-in)."""
    cfg = corefile.configs(".:53 {\n hosts {\n  10.1.0.1 example.test\n }\n}\n")[0]
    server, stop = Server(cfg), threading.Event()
    port, _ = server.serve("127.0.0.1", 0, stop)
    yield server, port
    stop.set()


@pytest.fixture(scope="module")
def env(tmp_path_factory, upstream):
    tmp = str(tmp_path_factory.mktemp("dns"))
    api = ApiServerProc(tmp).start()
    ports = {k: free_port() for k in ("port", "health", "ready", "metrics")}
    settings = dict(ports, kubeconfig=api.kubeconfig, upstream=upstream[1])
    path = os.path.join(tmp, "Corefile")
    with open(path, "w") as fh:
        fh.write(COREFILE.format(ttl=5, **settings))
    log = open(os.path.join(tmp, "dns.log"), "w")
    proc = subprocess.Popen([sys.executable, "-m", "k8snet.dns.main", "-conf", path],
                            stdout=log, stderr=subprocess.STDOUT)
    client = ApiClient.from_kubeconfig(api.kubeconfig)
    try:
        yield {"api": api, "client": client, "proc": proc, "path": path, "tmp": tmp,
               "settings": settings, **ports}
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()
        api.stop()


def ask(env, name, qtype="A", tcp=False, payload=None):
    query = dns.message.make_query(name, qtype, use_edns=payload is not None,
                                   payload=payload or 512)
    send = dns.query.tcp if tcp else dns.query.udp
    return send(query, "127.0.0.1", port=env["port"], timeout=3)


def until(what, fn, timeout=20.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = fn()
            if value:
                return value
        except Exception as exc:  # not up yet
            value = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: last {value!r}")
        time.sleep(0.2)


def addresses(msg):
    return sorted(rd.to_text() for rrset in msg.answer for rd in rrset)


def http(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=3) as r:
        return r.status, r.read().decode()


def test_ready_health_and_service_records_follow_the_apiserver(env):
    until("ready", lambda: http(env["ready"], "/ready")[0] == 200)
    assert http(env["health"], "/health") == (200, "OK")
    client = env["client"]
    svc = client.create("services", {"metadata": {"name": "web"}, "spec": {
        "ports": [{"name": "http", "port": 80}]}}, "default")
    ip = svc["spec"]["clusterIP"]
    got = until("A record", lambda: addresses(ask(env, "web.default.svc.cluster.local")))
    assert got == [ip]
    srv = ask(env, "_http._tcp.web.default.svc.cluster.local", "SRV")
    assert addresses(srv) == ["0 100 80 web.default.svc.cluster.local."]
    missing = ask(env, "nope.default.svc.cluster.local")
    assert missing.rcode() == dns.rcode.NXDOMAIN and missing.flags & dns.flags.AA
    client.delete("services", "web", "default")
    until("NXDOMAIN after delete", lambda: ask(
        env, "web.default.svc.cluster.local").rcode() == dns.rcode.NXDOMAIN)


def test_big_headless_answer_truncates_over_udp_and_completes_over_tcp(env):
    client = env["client"]
    client.create("services", {"metadata": {"name": "many"}, "spec": {
        "clusterIP": "None", "ports": [{"port": 80}]}}, "default")
    client.create("endpointslices", {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
        "metadata": {"name": "many-1", "labels": {"kubernetes.io/service-name": "many"}},
        "endpoints": [{"addresses": [f"10.244.7.{i}"], "conditions": {"ready": True}}
                      for i in range(1, 61)],
        "ports": [{"port": 80, "protocol": "TCP"}]}, "default")
    name = "many.default.svc.cluster.local"
    udp = until("truncated answer", lambda: (lambda m: m if m.flags & dns.flags.TC else None)(
        ask(env, name)))
    assert not udp.answer
    assert len(addresses(ask(env, name, tcp=True))) == 60
    assert len(addresses(ask(env, name, payload=4096))) == 60   # EDNS0: big enough for UDP


def test_forward_cache_and_metrics(env, upstream):
    server, _port = upstream
    before = server.stats.requests
    assert addresses(ask(env, "example.test")) == ["10.1.0.1"]
    assert addresses(ask(env, "example.test")) == ["10.1.0.1"]
    assert server.stats.requests == before + 1        # the second came from the cache
    assert ask(env, "other.test").rcode() == dns.rcode.REFUSED  # what the upstream said
    _status, text = http(env["metrics"], "/metrics")
    assert 'coredns_dns_requests_total{' in text and "coredns_cache_hits_total" in text


def test_external_name_is_chased_through_the_upstream(env):
    env["client"].create("services", {"metadata": {"name": "ext"}, "spec": {
        "type": "ExternalName", "externalName": "example.test"}}, "default")
    got = until("CNAME and A", lambda: (lambda m: m if len(m.answer) == 2 else None)(
        ask(env, "ext.default.svc.cluster.local")))
    assert [r.to_text().split()[-1] for r in got.answer] == ["example.test.", "10.1.0.1"]


def test_reload_applies_an_edited_corefile_without_a_restart(env):
    client = env["client"]
    client.create("services", {"metadata": {"name": "ttl"}, "spec": {
        "ports": [{"port": 80}]}}, "default")
    name = "ttl.default.svc.cluster.local"
    first = until("record", lambda: ask(env, name).answer)
    assert first[0].ttl == 5
    with open(env["path"], "w") as fh:
        fh.write(COREFILE.format(ttl=17, **env["settings"]))
    until("new ttl", lambda: ask(env, name).answer[0].ttl == 17, timeout=15)
    assert env["proc"].poll() is None
    with open(os.path.join(env["tmp"], "dns.log")) as fh:
        log = fh.read()
    assert "Reloading complete" in log and "plugin whoami is not supported" in log


def test_loop_to_itself_is_detected():
    cfg = corefile.configs(".:53 {\n  loop\n  forward . 127.0.0.1:1\n}\n")[0]
    server, stop = Server(cfg), threading.Event()
    port, _ = server.serve("127.0.0.1", 0, stop)
    loops = []
    server.on_loop = lambda: loops.append(True)
    server.set_config(corefile.Config(**{**cfg.__dict__, "forward_to": (f"127.0.0.1:{port}",)}))
    try:
        server.check_loop(port)
        assert loops, "the probe came back to us but no loop was reported"
    finally:
        stop.set()


def test_hosts_file_and_inline_entries(tmp_path):
    hosts = tmp_path / "hosts"
    hosts.write_text("# comment\n10.2.0.1 a.example b.example\n10.2.0.2 a.example\n")
    cfg = corefile.configs(f".:53 {{\n  hosts {hosts} {{\n    10.2.0.9 c.example\n  }}\n}}\n")[0]
    server, stop = Server(cfg), threading.Event()
    port, _ = server.serve("127.0.0.1", 0, stop)
    try:
        def q(name, qtype="A"):
            return dns.query.udp(dns.message.make_query(name, qtype), "127.0.0.1", port=port,
                                 timeout=3)
        assert addresses(q("a.example")) == ["10.2.0.1", "10.2.0.2"]
        assert addresses(q("c.example")) == ["10.2.0.9"]
        nodata = q("b.example", "AAAA")
        assert nodata.rcode() == dns.rcode.NOERROR and not nodata.answer
    finally:
        stop.set()
