"""What only the etcd backend has: several endpoints, a Raft cluster of
members started with k8snet.store.etcd_process, and watches that survive the
loss of the member they were reading from."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import tempfile
import threading
import time
from typing import Iterator, List, Tuple

import pytest

from k8snet.store import open_store
from k8snet.store.etcd_process import (
    ETCD_BIN,
    EtcdMember,
    render_etcd_command,
    start_etcd,
    stop_etcd,
    store_url,
    wait_healthy,
)

pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.skipif(not os.access(ETCD_BIN, os.X_OK), reason=f"{ETCD_BIN} is missing"),
]
DEADLINE = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def etcd_cluster(size: int) -> Iterator[Tuple[List[EtcdMember], List[subprocess.Popen]]]:
    """``size`` members on loopback; every process started is stopped by its PID."""
    with tempfile.TemporaryDirectory(prefix="k8snet-etcd-") as tmp:
        members = [
            EtcdMember(f"m{i}", "127.0.0.1", free_port(), free_port()) for i in range(size)
        ]
        procs: List[subprocess.Popen] = []
        try:
            for m in members:
                argv = render_etcd_command(m, members, os.path.join(tmp, m.name))
                procs.append(start_etcd(argv, os.path.join(tmp, m.name + ".log")))
            for m, p in zip(members, procs):
                wait_healthy(m.client_url, time.monotonic() + DEADLINE, p,
                             os.path.join(tmp, m.name + ".log"))
            yield members, procs
        finally:
            for p in procs:
                stop_etcd(p)


def test_dead_endpoint_is_skipped():
    with etcd_cluster(1) as (members, _procs):
        dead = free_port()
        store = open_store(f"etcd://127.0.0.1:{dead},127.0.0.1:{members[0].client_port}")
        try:
            rev = store.create("/registry/nodes/n1", b"{}")
            assert store.get("/registry/nodes/n1") == (b"{}", rev)
        finally:
            store.close()


def test_three_members_survive_losing_one_under_a_watch():
    with etcd_cluster(3) as (members, procs):
        store = open_store(store_url(members))
        try:
            start = store.create("/registry/pods/ns/a", b"1")
            stop = threading.Event()
            seen: List[int] = []
            watch = store.watch("/registry/pods/", start, stop)

            def consume() -> None:
                for event in watch:
                    seen.append(event.revision)
                    if len(seen) == 2:
                        return

            reader = threading.Thread(target=consume)
            reader.start()
            r1 = store.create("/registry/pods/ns/b", b"1")
            stop_etcd(procs[0])  # the member the store and its watch talk to first
            deadline = time.monotonic() + DEADLINE
            while True:  # a new leader may need an election before writes go through
                try:
                    r2 = store.create("/registry/pods/ns/c", b"1")
                    break
                except Exception:
                    assert time.monotonic() < deadline, "no write accepted after losing a member"
                    time.sleep(0.5)
            reader.join(DEADLINE)
            stop.set()
            assert seen == [r1, r2]
            items, _ = store.list("/registry/pods/")
            assert [k[-1] for k, _, _ in items] == ["a", "b", "c"]
        finally:
            store.close()
