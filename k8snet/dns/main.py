"""The cluster DNS process (what ``registry.k8s.io/coredns/coredns`` runs here).

    python -m k8snet.dns.main -conf /etc/coredns/Corefile

Reads the Corefile (CoreDNS's ``-conf`` flag), serves its first server
block, watches Services, EndpointSlices and Namespaces (Pods too for
``pods verified``) with the machinery Informer and rebuilds the record
index on each change; serves ``health`` (/health), ``ready`` (/ready, once
every informer has listed) and ``prometheus`` (/metrics); with ``reload``,
re-reads the Corefile every interval and applies it without a restart
(the kubelet refreshes the ConfigMap volume); with ``loop``, exits when its
own probe query comes back through the upstream.

Inside a Pod it talks to the apiserver as its ServiceAccount
($KUBERNETES_SERVICE_HOST, the mounted token, re-read as the kubelet
rotates it); the kubernetes plugin's ``kubeconfig PATH`` or ``endpoint``
options point it elsewhere (tests, benchmarks).
"""

from __future__ import annotations

import argparse
import http.server
import logging
import os
import sys
import threading
from typing import List, Optional

from k8snet.components import stop_on_signals
from k8snet.dns import corefile, records
from k8snet.dns.server import Server
from k8snet.errors import K8snetError
from k8snet.machinery.client import ApiClient
from k8snet.machinery.httpserver import HTTPServer
from k8snet.machinery.informer import Informer

log = logging.getLogger("k8snet.dns")

SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


class InClusterClient(ApiClient):
    """An ApiClient that re-reads the projected token (the kubelet rotates it)."""

    def __init__(self, token_file: str, **kwargs):
        super().__init__(**kwargs)
        self.token_file = token_file

    @property
    def token(self) -> Optional[str]:
        try:
            with open(self.token_file, encoding="utf-8") as fh:
                return fh.read().strip()
        except OSError:
            return None

    @token.setter
    def token(self, _value: Optional[str]) -> None:
        pass


def api_client(cfg: corefile.KubernetesConfig, sa_dir: str = SA_DIR) -> ApiClient:
    if cfg.kubeconfig:
        return ApiClient.from_kubeconfig(cfg.kubeconfig)
    if cfg.endpoint:
        return ApiClient(cfg.endpoint, insecure=True)
    host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), \
        os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    if not host:
        raise K8snetError("not in a Pod ($KUBERNETES_SERVICE_HOST unset): give the "
                          "kubernetes plugin 'kubeconfig PATH' or 'endpoint URL'")
    return InClusterClient(os.path.join(sa_dir, "token"), server=f"https://{host}:{port}",
                           ca_file=os.path.join(sa_dir, "ca.crt"))


def read_config(path: str) -> corefile.Config:
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise K8snetError(f"cannot read Corefile {path}: {exc.strerror}") from None
    blocks = corefile.configs(text)
    for extra in blocks[1:]:
        log.warning("[WARNING] server block %s:%d ignored: k8snet serves the first block "
                    "only", " ".join(extra.zones), extra.port)
    return blocks[0]


class Cluster:
    """The informers behind the kubernetes plugin; rebuilds the index on change."""

    def __init__(self, client: ApiClient, server: Server, stop: threading.Event):
        self.server, self.stop = server, stop
        cfg = server.config.kubernetes
        resources = ["services", "endpointslices", "namespaces"]
        if cfg is not None and cfg.pods == "verified":
            resources.append("pods")
        self.informers = {r: Informer(client, r, on_change=lambda _items: self.rebuild(),
                                      log=log) for r in resources}

    def start(self) -> None:
        for informer in self.informers.values():
            informer.start(self.stop)

    @property
    def synced(self) -> bool:
        return all(i.synced for i in self.informers.values())

    def rebuild(self) -> None:
        cfg = self.server.config.kubernetes
        if cfg is None or not self.synced:
            return
        items = {r: list(i.snapshot().values()) for r, i in self.informers.items()}
        namespaces = [(n.get("metadata") or {}).get("name") for n in items["namespaces"]]
        self.server.index = records.build_index(items["services"], items["endpointslices"],
                                                cfg, items.get("pods", ()), namespaces)
        dns = self.informers["services"].get("/".join(records.DNS_SERVICE)) or {}
        self.server.dns_ip = (dns.get("spec") or {}).get("clusterIP") or ""


def _http(address: str, routes: dict, stop: threading.Event) -> None:
    """A tiny HTTP server: path -> callable returning (status, body)."""
    host, _, port = address.rpartition(":")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = routes.get(self.path, lambda: (404, "404 page not found\n"))()
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_args) -> None:
            pass

    httpd = HTTPServer((host or "0.0.0.0", int(port)), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    threading.Thread(target=lambda: (stop.wait(), httpd.shutdown()), daemon=True).start()


def _metrics(server: Server, address: str, zone: str) -> None:
    import prometheus_client as prom

    registry = prom.CollectorRegistry()
    requests = prom.Counter("coredns_dns_requests_total", "DNS requests.",
                            ["server", "zone", "proto", "family", "type"], registry=registry)
    responses = prom.Counter("coredns_dns_responses_total", "DNS responses by rcode.",
                             ["server", "zone", "rcode"], registry=registry)
    duration = prom.Histogram("coredns_dns_request_duration_seconds", "Time to answer.",
                              ["server", "zone", "type"], registry=registry,
                              buckets=(.00025, .0005, .001, .002, .004, .008, .016, .032,
                                       .064, .128, .256, .512, 1.024, 2.048))
    hits = prom.Gauge("coredns_cache_hits_total", "Answers from the cache.", ["server"],
                      registry=registry)
    forwarded = prom.Gauge("coredns_forward_requests_total", "Queries sent upstream.", [],
                           registry=registry)
    name = f"dns://:{server.config.port}"
    hits.labels(name).set_function(lambda: server.stats.cache_hits)
    forwarded.set_function(lambda: server.stats.forwarded)

    def observe(qtype: str, rcode: str, proto: str, seconds: float) -> None:
        requests.labels(name, zone, proto, "1", qtype).inc()
        responses.labels(name, zone, rcode).inc()
        duration.labels(name, zone, qtype).observe(seconds)

    server.observe = observe
    host, _, port = address.rpartition(":")
    prom.start_http_server(int(port), host or "0.0.0.0", registry=registry)


def reload_loop(server: Server, path: str, cluster: Optional[Cluster],
                stop: threading.Event) -> None:
    """Apply Corefile edits every ``reload`` interval; a broken edit keeps the old config."""
    with open(path, encoding="utf-8") as fh:
        current = fh.read()
    while not stop.wait(server.config.reload or 30.0):
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
        except OSError:
            continue
        if text == current:
            continue
        current = text
        try:
            new = corefile.configs(text)[0]
        except corefile.CorefileError as exc:
            log.error("[ERROR] Corefile changed but is invalid, keeping the old one: %s", exc)
            continue
        if new.port != server.config.port:
            log.warning("[WARNING] reload cannot move the server to port %d; restart it",
                        new.port)
        server.set_config(new)
        if cluster is not None:
            cluster.rebuild()
        log.info("[INFO] Reloading complete (plugins ignored: %s)",
                 ", ".join(new.ignored) or "none")
        if new.reload is None:
            return


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-conf", "--conf", default="Corefile", help="the Corefile to load")
    parser.add_argument("-dns.port", "--dns-port", dest="dns_port", type=int, default=None,
                        help="override the Corefile's port")


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    config = read_config(args.conf)
    if args.dns_port is not None:
        config = corefile.Config(**{**config.__dict__, "port": args.dns_port})
    for name in config.ignored:
        log.warning("[WARNING] plugin %s is not supported by k8snet's DNS server: ignored",
                    name)
    server = Server(config)
    stop = stop_on_signals()
    server.on_loop = lambda: os._exit(1)
    cluster = None
    if config.kubernetes is not None:
        cluster = Cluster(api_client(config.kubernetes), server, stop)
        cluster.start()
    zone = config.zones[0]
    if config.health:
        _http(config.health, {"/health": lambda: (200, "OK")}, stop)
    if config.ready:
        _http(config.ready, {"/ready": lambda: (200, "OK") if cluster is None or cluster.synced
                             else (503, "kubernetes plugin not synced\n")}, stop)
    if config.prometheus:
        _metrics(server, config.prometheus, zone)
    udp_port, _ = server.serve("0.0.0.0", config.port, stop)
    log.info("%s:%d\nCoreDNS-k8snet (dnspython) on UDP and TCP %d", zone, config.port, udp_port)
    server.check_loop(udp_port)
    if config.reload is not None:
        threading.Thread(target=reload_loop, args=(server, args.conf, cluster, stop),
                         daemon=True).start()
    stop.wait()
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="coredns", description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except K8snetError as exc:
        print(f"coredns: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
