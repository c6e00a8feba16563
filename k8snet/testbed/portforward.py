"""Lets a local kubectl reach the apiserver without touching the root
namespace's routes: the listening socket is made on root's loopback, then
the process joins the master's network namespace, so every connection it
opens onwards starts inside the cluster. Sockets keep the namespace they
were created in; nothing is routed, nothing is translated.

    python -m k8snet.testbed.portforward --listen 127.0.0.1:PORT \
        --netns k8snet-<cluster>-m1 --to 10.0.0.1:6443
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import socket
import sys
import threading

CLONE_NEWNET = 0x40000000


def join_netns(path: str) -> None:
    """setns(2) into a network namespace (os.setns exists only from 3.12)."""
    libc = ctypes.CDLL(None, use_errno=True)
    with open(path) as ns:
        if libc.setns(ns.fileno(), CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns {path}: {os.strerror(err)}")


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


def serve(listener: socket.socket, target, connect_timeout: float = 10.0) -> None:
    while True:
        client, _ = listener.accept()
        try:
            upstream = socket.create_connection(target, timeout=connect_timeout)
            upstream.settimeout(None)
        except OSError:
            client.close()
            continue
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=pipe, args=(a, b), daemon=True).start()


def split_hostport(text: str):
    host, _, port = text.rpartition(":")
    return host, int(port)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--listen", required=True)
    parser.add_argument("--netns", required=True)
    parser.add_argument("--to", required=True)
    args = parser.parse_args(argv)
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(split_hostport(args.listen))
    listener.listen(64)
    join_netns(f"/run/netns/{args.netns}")
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    print(f"forwarding {args.listen} -> {args.to} in {args.netns}", flush=True)
    serve(listener, split_hostport(args.to))
    return 0


if __name__ == "__main__":
    sys.exit(main())
