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

from k8snet.apiserver import alloc, certs
from k8snet.apiserver.bootstrap import bootstrap
from k8snet.apiserver.ipam import ServiceIPAM
from k8snet.apiserver.registry import Registry
from k8snet.apiserver.server import ApiHTTPServer, ServerOptions
from k8snet.errors import UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", default="/var/lib/k8snet/apiserver",
                        help="where the CA, certificate, token (and SQLite db) live")
    parser.add_argument("--bind-address", default="127.0.0.1", help="IP to listen on")
    parser.add_argument("--port", type=int, default=6443, help="port (0: any free port)")
    parser.add_argument("--store", default=None,
                        help="sqlite:///PATH or etcd://HOST:PORT[,HOST:PORT] "
                             "(default sqlite:///<data-dir>/state.db)")
    parser.add_argument("--kubeconfig-out", default=None,
                        help="write a kubeconfig (CA + token) for this server here")
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
    parser.add_argument("--bookmark-interval", type=float, default=60.0,
                        help="seconds between watch BOOKMARK events (when asked for; one "
                             "also comes 2 s before a watch's timeout)")


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


def run(args: argparse.Namespace) -> int:
    from k8snet.store import open_store

    port_range, advertise = _check(args)
    data_dir = os.path.abspath(args.data_dir)
    os.makedirs(data_dir, exist_ok=True)
    store_url = args.store or f"sqlite:///{os.path.join(data_dir, 'state.db')}"
    sans = certs.wanted_sans(args.bind_address, [advertise] + list(args.tls_san))
    files = certs.ensure_tls(data_dir, sans)
    tls = None
    token = None
    if not args.insecure_http:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.minimum_version = ssl.TLSVersion.TLSv1_2
        tls.load_cert_chain(files.cert, files.key)
        tls.set_alpn_protocols(["http/1.1"])
        token = certs.read_token(files.token_file)
    store = open_store(store_url)
    try:
        registry = Registry(store, ServiceIPAM(store, args.service_cidr, port_range))
        scheme = "http" if args.insecure_http else "https"
        httpd = ApiHTTPServer((args.bind_address, args.port), registry,
                              ServerOptions(token=token,
                                            bookmark_interval=args.bookmark_interval),
                              tls)
        port = httpd.server_address[1]
        host = advertise if ":" not in advertise else f"[{advertise}]"
        url = f"{scheme}://{host}:{port}"
        httpd.options.server_address = f"{host}:{port}"
        bootstrap(registry, advertise, port)
        if args.kubeconfig_out:
            certs.write_kubeconfig(args.kubeconfig_out, url, files)
        with open(os.path.join(data_dir, "apiserver.url"), "w") as f:
            f.write(url + "\n")
        stop = threading.Event()
        if args.compaction_interval > 0:
            threading.Thread(target=compactor, daemon=True, name="compactor",
                             args=(store, stop, args.compaction_interval,
                                   args.compaction_keep)).start()

        def on_term(_sig: int, _frm: object) -> None:
            stop.set()
            httpd.stopping.set()
            threading.Thread(target=httpd.shutdown, daemon=True).start()
        signal.signal(signal.SIGTERM, on_term)
        faulthandler.register(signal.SIGUSR1)  # `kill -USR1 PID` dumps every thread's stack
        print(f"k8snet apiserver: serving {url} (store {store_url})", flush=True)
        try:
            httpd.serve_forever(poll_interval=0.5)
        except KeyboardInterrupt:
            pass
        finally:
            stop.set()
            httpd.stopping.set()
            httpd.server_close()
        print("k8snet apiserver: stopped", file=sys.stderr, flush=True)
        return 0
    finally:
        store.close()
