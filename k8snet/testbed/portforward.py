"""Lets a local kubectl reach the apiserver without touching the root
namespace's routes: the listening socket is made on root's loopback; each
connection onwards is made inside a master's network namespace (setns(2)
applies to the calling thread only, and a socket keeps the namespace it was
created in), so it starts inside the cluster. Nothing is routed, nothing is
translated.

    python -m k8snet.testbed.portforward --listen 127.0.0.1:PORT \
        --to k8snet-<cluster>-m1=10.0.0.1:6443 [--to k8snet-<cluster>-m2=10.0.0.2:6443 ...]

With several masters it is a TCP failover balancer, the way HAProxy is put
in front of kube-apiservers: a connection goes to the target that last
accepted one; when that target refuses or does not answer within
``--connect-timeout`` seconds, the next is tried. Each target is reached
from its own master's namespace, so a master whose processes died or whose
link is cut takes only its own target away. As HAProxy's ``check`` does, a
thread per target asks its ``/readyz`` every second: a master that still
accepts connections but has lost etcd's quorum (its link is cut) is passed
over too.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import ssl
import sys
import threading
import time
from dataclasses import dataclass
from typing import List, Optional, Tuple

from k8snet import linuxns


def join_netns(path: str) -> None:
    """setns(2) the calling thread into a network namespace."""
    linuxns.setns(path)


def pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (src, dst):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


@dataclass(frozen=True)
class Target:
    netns: str
    address: Tuple[str, int]


def parse_target(text: str) -> Target:
    """``NETNS=HOST:PORT`` (pure)."""
    netns, sep, hostport = text.partition("=")
    if not sep or not netns:
        raise ValueError(f"--to {text!r}: expected NETNS=HOST:PORT")
    return Target(netns, split_hostport(hostport))


def try_order(count: int, preferred: int, healthy: Optional[List[bool]] = None) -> List[int]:
    """Targets to try: the one that last worked first, then the others in order; those
    whose health check fails after all the rest (pure)."""
    order = [(preferred + i) % count for i in range(count)]
    if healthy is None:
        return order
    return [i for i in order if healthy[i]] + [i for i in order if not healthy[i]]


READYZ = b"GET /readyz HTTP/1.1\r\nHost: apiserver\r\nConnection: close\r\n\r\n"


def check_ready(address: Tuple[str, int], timeout: float) -> bool:
    """Does the apiserver at ``address`` answer 200 to /readyz within ``timeout``?
    (Anonymous, as upstream allows; the certificate is not checked: this only decides
    where to forward, kubectl checks the certificate through the tunnel.)"""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection(address, timeout=timeout) as raw:
            with context.wrap_socket(raw) as sock:
                sock.sendall(READYZ)
                return sock.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def health_loop(target: Target, index: int, healthy: List[bool], period: float) -> None:
    """Keep ``healthy[index]`` up to date, from inside the target's namespace."""
    join_netns(f"/run/netns/{target.netns}")
    while True:
        healthy[index] = check_ready(target.address, timeout=2.0)
        time.sleep(period)


class Connector:
    """Opens connections to the first target that accepts, remembering it."""

    def __init__(self, targets: List[Target], connect_timeout: float,
                 healthy: Optional[List[bool]] = None):
        self.targets = targets
        self.connect_timeout = connect_timeout
        self.healthy = healthy
        self.preferred = 0

    def connect(self) -> Optional[socket.socket]:
        for index in try_order(len(self.targets), self.preferred, self.healthy):
            target = self.targets[index]
            try:
                sock = self._open_in(target)
            except OSError as exc:
                print(f"{target.netns} {target.address[0]}:{target.address[1]}: {exc}",
                      flush=True)
                continue
            if index != self.preferred:
                print(f"failing over to {target.address[0]}:{target.address[1]}", flush=True)
                self.preferred = index
            return sock
        return None

    def _open_in(self, target: Target) -> socket.socket:
        """A connected socket made in the target's namespace, from a short-lived
        thread (so the accepting thread's namespace never changes)."""
        def connect() -> socket.socket:
            sock = socket.create_connection(target.address, timeout=self.connect_timeout)
            sock.settimeout(None)
            return sock
        return linuxns.run_in(connect, f"/run/netns/{target.netns}", name="forward-connect")


def serve(listener: socket.socket, connector: Connector) -> None:
    while True:
        client, _ = listener.accept()
        threading.Thread(target=forward, args=(client, connector), daemon=True).start()


def forward(client: socket.socket, connector: Connector) -> None:
    upstream = connector.connect()
    if upstream is None:
        client.close()
        return
    threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()
    pipe(client, upstream)


def split_hostport(text: str):
    host, _, port = text.rpartition(":")
    return host, int(port)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--listen", required=True)
    parser.add_argument("--to", action="append", required=True, metavar="NETNS=HOST:PORT")
    parser.add_argument("--connect-timeout", type=float, default=10.0)
    args = parser.parse_args(argv)
    targets = [parse_target(t) for t in args.to]
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(split_hostport(args.listen))
    listener.listen(64)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    print(f"forwarding {args.listen} -> {', '.join(args.to)}", flush=True)
    healthy = None
    if len(targets) > 1:
        healthy = [True] * len(targets)
        for index, target in enumerate(targets):
            threading.Thread(target=health_loop, args=(target, index, healthy, 1.0),
                             daemon=True, name=f"check-{target.netns}").start()
    serve(listener, Connector(targets, args.connect_timeout, healthy))
    return 0


if __name__ == "__main__":
    sys.exit(main())
