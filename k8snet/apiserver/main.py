"""`k8snet apiserver`: the API server command."""

from __future__ import annotations

import argparse
import faulthandler
import ipaddress
import os
import signal
import ssl
import sys
import threading
from typing import Optional

from k8snet.apiextensions.manager import CustomResources
from k8snet.apiserver import alloc, authn, authz, certs, health, kubeletclient, metricsapi, satokens
from k8snet.apiserver.auth import Auth
from k8snet.apiserver.bootstrap import aggregation_writer, bootstrap, release_leaks_later
from k8snet.apiserver.inflight import DEFAULT_LIMIT as DEFAULT_INFLIGHT
from k8snet.apiserver.inflight import InflightLimit
from k8snet.apiserver.ipam import ServiceIPAM
from k8snet.apiserver.masterleases import MasterLeases
from k8snet.apiserver.metrics import ApiMetrics
from k8snet.apiserver.rbaccache import RbacCache
from k8snet.apiserver.registry import Registry
from k8snet.apiserver.server import VERSION, ApiHTTPServer, ServerOptions
from k8snet.errors import UsageError
from k8snet.machinery import resources as kinds

CACHE_SYNC_DEADLINE = 30.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", default="/var/lib/k8snet/apiserver",
                        help="where the serving certificate (and SQLite db) live")
    parser.add_argument("--pki-dir", default=None,
                        help="where the cluster CA, admin token and ServiceAccount signing "
                             "key live, made if missing; apiservers of one cluster share it "
                             "(default: the data dir)")
    parser.add_argument("--bind-address", default="127.0.0.1", help="IP to listen on")
    parser.add_argument("--port", type=int, default=6443, help="port (0: any free port)")
    parser.add_argument("--store", default=None,
                        help="sqlite:///PATH or etcd://HOST:PORT[,HOST:PORT] "
                             "(default sqlite:///<data-dir>/state.db)")
    parser.add_argument("--kubeconfig-out", default=None,
                        help="write a kubeconfig (CA + token) for this server here")
    parser.add_argument("--kubeconfig-server", action="append", default=[], metavar="URL",
                        help="every apiserver of the cluster, for --kubeconfig-out to list "
                             "so k8snet's clients fail over between them (repeatable)")
    parser.add_argument("--advertise-address", default=None,
                        help="IP other components reach this server on (kubernetes Endpoints, "
                             "kubeconfig server, certificate SAN)")
    parser.add_argument("--tls-san", action="append", default=[],
                        help="extra DNS name or IP for the serving certificate (repeatable)")
    parser.add_argument("--service-cidr", default="10.96.0.0/12")
    parser.add_argument("--node-port-range", default="30000-32767")
    parser.add_argument("--insecure-http", action="store_true",
                        help="plain HTTP without authentication (debugging; loopback only)")
    parser.add_argument("--compaction-interval", type=float, default=300.0,
                        help="seconds between store compactions; each forgets the history "
                             "older than the previous one, as kube-apiserver's "
                             "--etcd-compaction-interval does (0: never)")
    parser.add_argument("--compaction-keep", type=int, default=0,
                        help="also never keep more than this many revisions of history "
                             "(0: no limit)")
    parser.add_argument("--max-requests-inflight", type=int, default=DEFAULT_INFLIGHT,
                        help="ordinary requests worked on at once; the others wait "
                             "(watches, streams, Leases and health checks never do; "
                             "0: no limit)")
    parser.add_argument("--bookmark-interval", type=float, default=60.0,
                        help="seconds between watch BOOKMARK events (when asked for; one "
                             "also comes 2 s before a watch's timeout)")
    parser.add_argument("--token-auth-file", default=None, metavar="CSV",
                        help="more users: lines of token,user,uid,\"group1,group2\" (as "
                             "kube-apiserver's --token-auth-file)")
    parser.add_argument("--service-account-issuer", default=satokens.ISSUER,
                        help="iss of ServiceAccount tokens, also their default audience")


def _check(args: argparse.Namespace) -> tuple[tuple[int, int], str]:
    try:
        port_range = alloc.parse_port_range(args.node_port_range)
    except ValueError as e:
        raise UsageError(f"--node-port-range: {e}") from None
    try:
        ipaddress.ip_network(args.service_cidr, strict=False)
    except ValueError:
        raise UsageError(f"--service-cidr {args.service_cidr!r} is not a CIDR, e.g. "
                         "10.96.0.0/12") from None
    try:
        ipaddress.ip_address(args.bind_address)
    except ValueError:
        raise UsageError(f"--bind-address {args.bind_address!r} is not an IP address") from None
    if args.insecure_http and not ipaddress.ip_address(args.bind_address).is_loopback:
        raise UsageError("--insecure-http is for debugging on loopback only: use "
                         "--bind-address 127.0.0.1")
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port} is out of range 0-65535")
    advertise = args.advertise_address or (
        "127.0.0.1" if args.bind_address in ("0.0.0.0", "::") else args.bind_address)
    return port_range, advertise


def compaction_target(previous: int, current: int, keep: int) -> int:
    """The revision a compaction forgets up to: the one the previous compaction saw (so
    one to two intervals of history stay), or `current - keep` when that keeps less."""
    target = previous
    if keep > 0:
        target = max(target, current - keep)
    return target


def compactor(store, stop: threading.Event, interval: float, keep: int) -> None:
    """Every `interval` seconds, compact the store to the revision of the previous round."""
    previous = 0
    while not stop.wait(interval):
        try:
            current = store.current_revision()
            target = compaction_target(previous, current, keep)
            if target > 0:
                store.compact_to(target)
            previous = current
        except Exception as e:  # noqa: BLE001 - say it and retry next period
            print(f"k8snet apiserver: compaction failed: {e}", file=sys.stderr, flush=True)


def _static_tokens(args: argparse.Namespace, admin_token: Optional[str]) -> dict:
    users: dict = {}
    if args.token_auth_file:
        try:
            with open(args.token_auth_file) as f:
                text = f.read()
        except OSError as e:
            raise UsageError(f"--token-auth-file: {e}") from None
        try:
            users, warnings = authn.parse_token_file(text, args.token_auth_file)
        except ValueError as e:
            raise UsageError(f"--token-auth-file: {e}") from None
        for w in warnings:
            print(f"k8snet apiserver: {w}", file=sys.stderr, flush=True)
    if admin_token:
        users[admin_token] = authn.admin_user()
    return users


def _lookup(registry: Registry):
    def lookup(kind: str, namespace: str, name: str) -> Optional[dict]:
        info = kinds.KINDS.get(kind)
        if info is None:
            return None
        return registry.read(info, namespace if info.namespaced else None, name)
    return lookup


def _health_checks(store, cache: RbacCache, httpd: ApiHTTPServer,
                   started: set) -> list[health.Check]:
    def etcd() -> Optional[str]:
        store.current_revision()
        return None

    def hook(name: str):
        return lambda: None if name in started else "not finished"
    return [
        health.Check("ping", lambda: None),
        health.Check("log", lambda: None),
        health.Check("etcd", etcd),
        health.Check("etcd-readiness", etcd),
        health.Check("informer-sync", lambda: None if cache.synced else
                     "the RBAC cache has not listed yet"),
        health.Check("poststarthook/bootstrap-controller", hook("bootstrap-controller")),
        health.Check("poststarthook/rbac/bootstrap-roles", hook("rbac/bootstrap-roles")),
        health.Check("shutdown", lambda: "process is shutting down"
                     if httpd.stopping.is_set() else None),
    ]


class TermRequest:
    """The SIGTERM handler: it only records the request.

    A Python signal handler runs in the main thread between any two bytecodes, possibly
    inside a lock the main thread holds (an Event's condition while it sets it, the
    thread table while it starts a handler thread). A handler that takes such a lock
    itself (Event.set, Thread.start) deadlocks when a second SIGTERM arrives during the
    first one's work; assigning an attribute takes none. The serving loop looks at it.
    """

    def __init__(self) -> None:
        self.requested = False

    def __call__(self, _sig: int, _frm: object) -> None:
        self.requested = True


POLL = 0.2  # seconds between looks at a SIGTERM when no request arrives


def serve_until(httpd: ApiHTTPServer, term: TermRequest) -> None:
    """Serve requests one accept at a time until SIGTERM has been asked for."""
    httpd.timeout = POLL
    while not term.requested:
        httpd.handle_request()


def run(args: argparse.Namespace) -> int:
    from k8snet.store import open_store

    port_range, advertise = _check(args)
    data_dir = os.path.abspath(args.data_dir)
    os.makedirs(data_dir, exist_ok=True)
    store_url = args.store or f"sqlite:///{os.path.join(data_dir, 'state.db')}"
    sans = certs.wanted_sans(args.bind_address, [advertise] + list(args.tls_san))
    pki_dir = os.path.abspath(args.pki_dir or data_dir)
    files = certs.ensure_tls(data_dir, sans, pki_dir)
    tls = None
    token = None
    if not args.insecure_http:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.minimum_version = ssl.TLSVersion.TLSv1_2
        tls.load_cert_chain(files.cert, files.key)
        tls.set_alpn_protocols(["http/1.1"])
        token = certs.read_token(files.token_file)
    static = _static_tokens(args, token)
    issuer = satokens.TokenIssuer(
        satokens.load_signing_key(certs.cluster_pki(pki_dir).sa_key),
        args.service_account_issuer, (args.service_account_issuer,))
    store = open_store(store_url)
    try:
        registry = Registry(store, ServiceIPAM(store, args.service_cidr, port_range))
        cache = RbacCache(store, reconcile=aggregation_writer(registry))
        metrics = ApiMetrics(VERSION)
        authenticator = None if args.insecure_http else \
            authn.Authenticator(static, issuer, _lookup(registry))
        auth = Auth(authenticator, authz.Authorizer(cache.policy), cache, metrics)
        registry.extensions = CustomResources(registry)
        for info in metricsapi.KIND_INFOS:  # computed from the kubelets, never stored
            registry.table.add(info)
        scheme = "http" if args.insecure_http else "https"
        kubelet_tls = kubeletclient.client_context(data_dir, pki_dir)
        httpd = ApiHTTPServer((args.bind_address, args.port), registry,
                              ServerOptions(auth=auth, metrics=metrics, issuer=issuer,
                                            bookmark_interval=args.bookmark_interval,
                                            kubelet_tls=kubelet_tls,
                                            inflight=InflightLimit(
                                                args.max_requests_inflight)),
                              tls)
        started: set = set()
        httpd.options.health_checks = _health_checks(store, cache, httpd, started)
        port = httpd.server_address[1]
        host = advertise if ":" not in advertise else f"[{advertise}]"
        url = f"{scheme}://{host}:{port}"
        httpd.options.server_address = f"{host}:{port}"
        leaks = bootstrap(registry, advertise, port)
        started.update(("bootstrap-controller", "rbac/bootstrap-roles"))
        stop = threading.Event()
        threading.Thread(target=release_leaks_later, args=(registry, leaks, stop),
                         daemon=True, name="ipam-repair").start()
        leases = MasterLeases(registry, advertise, port)
        threading.Thread(target=leases.run, args=(stop,), daemon=True,
                         name="master-leases").start()
        cache.start(stop)
        cache.wait_synced(CACHE_SYNC_DEADLINE)
        if args.kubeconfig_out:
            certs.write_kubeconfig(args.kubeconfig_out, url, files, args.kubeconfig_server)
        with open(os.path.join(data_dir, "apiserver.url"), "w") as f:
            f.write(url + "\n")
        threading.Thread(target=registry.extensions.run, args=(stop,), daemon=True,
                         name="crd-controller").start()
        if args.compaction_interval > 0:
            threading.Thread(target=compactor, daemon=True, name="compactor",
                             args=(store, stop, args.compaction_interval,
                                   args.compaction_keep)).start()

        term = TermRequest()
        signal.signal(signal.SIGTERM, term)
        faulthandler.register(signal.SIGUSR1)  # `kill -USR1 PID` dumps every thread's stack
        print(f"k8snet apiserver: serving {url} (store {store_url})", flush=True)
        try:
            serve_until(httpd, term)
        except KeyboardInterrupt:
            pass
        finally:
            stop.set()
            httpd.stopping.set()
            httpd.server_close()
            leases.release()
        print("k8snet apiserver: stopped", file=sys.stderr, flush=True)
        return 0
    finally:
        store.close()
