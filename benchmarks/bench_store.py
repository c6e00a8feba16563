"""Store figures for both backends: sequential and concurrent writes per
second, get and list latency, and watch latency (write returned -> event seen).

    python -m benchmarks.bench_store [--writes 500] [--threads 4]
    python -m benchmarks.bench_store --convoy [--busy 4] [--seconds 5]
    python -m benchmarks.bench_store --fanout [--watchers 200] [--seconds 5]

``--convoy`` measures SQLite writes per second from one thread while ``--busy``
other threads of the process compute (as an apiserver's watch streams do), at
CPython's default GIL switch interval (5 ms) and at 0.5 ms, one after the other in
the same run, with the ratio; and with no busy thread as the baseline. Each SQLite
call of a write gives the GIL up and waits up to an interval for it back. (A
shorter interval helps this writer, but a 50-worker apiserver set to 0.5 ms did
worse than at 5 ms: its lock holders were preempted more often. It keeps 5 ms.)

``--fanout`` measures SQLite writes per second from 4 threads while ``--watchers``
watches of the same process follow them (half under the written prefix, reading
every event, half elsewhere, asking for progress, as informers do), against the
same writes with no watcher, in the same run, with the ratio and the watchers'
delivery lag (write returned -> event seen); then again with the watchers under the
written prefix narrowed to one node of 50 each (a trigger, as kubelets' Pod watches).
"""

from __future__ import annotations

import argparse
import os
import socket
import tempfile
import threading
import time
from typing import Callable, Dict, List, Tuple

from k8snet.store import Store, open_store
from k8snet.store.etcd_process import (
    ETCD_BIN,
    EtcdMember,
    render_etcd_command,
    start_etcd,
    stop_etcd,
    store_url,
    wait_healthy,
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pct(samples: List[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def timed(fn: Callable[[], object], n: int) -> List[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def run(store: Store, writes: int, threads: int) -> Dict[str, str]:
    root = f"/bench{os.getpid()}-{time.time_ns()}/registry/pods/ns/"
    figures: Dict[str, str] = {}
    counter = iter(range(10**9))
    lat = timed(lambda: store.create(f"{root}p{next(counter):06d}", b"x" * 1000), writes)
    figures["create"] = f"{len(lat) / sum(lat):7.0f}/s  P50 {pct(lat, 50)*1e3:.2f} ms"

    key = root + "p000000"
    rev = [store.get(key)[1]]

    def cas() -> None:
        rev[0] = store.update(key, b"y" * 1000, rev[0])

    lat = timed(cas, writes)
    figures["CAS update"] = f"{len(lat) / sum(lat):7.0f}/s  P50 {pct(lat, 50)*1e3:.2f} ms"

    done = []
    start = time.perf_counter()

    def worker(t: int) -> None:
        for i in range(writes // threads):
            store.create(f"{root}t{t}-{i:06d}", b"x" * 1000)
        done.append(t)

    pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - start
    figures[f"create ({threads} threads)"] = f"{(writes // threads) * threads / elapsed:7.0f}/s"

    lat = timed(lambda: store.get(key), writes)
    figures["get"] = f"P50 {pct(lat, 50)*1e3:.2f} ms  P99 {pct(lat, 99)*1e3:.2f} ms"
    lat = timed(lambda: store.list(root, limit=200), 50)
    figures["list 200 of many"] = f"P50 {pct(lat, 50)*1e3:.2f} ms  P99 {pct(lat, 99)*1e3:.2f} ms"

    # Watch latency: a watcher thread timestamps each event; the writer
    # timestamps just before each write.
    wroot = root + "w/"
    sent: Dict[int, float] = {}
    got: Dict[int, float] = {}
    stop = threading.Event()
    events = store.watch(wroot, store.current_revision(), stop)
    n = 100

    def watcher() -> None:
        for event in events:
            got[event.revision] = time.perf_counter()
            if len(got) == n:
                return

    reader = threading.Thread(target=watcher)
    reader.start()
    time.sleep(0.3)
    for i in range(n):
        before = time.perf_counter()
        sent[store.create(f"{wroot}{i}", b"x")] = before
        time.sleep(0.01)
    reader.join(30)
    stop.set()
    lat = [got[r] - sent[r] for r in sent if r in got]
    figures["watch latency"] = (
        f"P50 {pct(lat, 50)*1e3:.2f} ms  P99 {pct(lat, 99)*1e3:.2f} ms ({len(lat)}/{n} seen)"
    )
    return figures


def convoy_rate(path: str, busy: int, interval: float, seconds: float) -> float:
    """SQLite store writes per second while ``busy`` threads compute."""
    import sys

    old = sys.getswitchinterval()
    sys.setswitchinterval(interval)
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            sum(range(500))
    spinners = [threading.Thread(target=spin, daemon=True) for _ in range(busy)]
    store = open_store(f"sqlite://{path}?synchronous=normal")   # as the testbed
    try:
        for t in spinners:
            t.start()
        n, end = 0, time.monotonic() + seconds
        while time.monotonic() < end:
            store.create(f"/registry/bench/{interval}/{busy}/{n}", b"x" * 500)
            n += 1
        return n / seconds
    finally:
        stop.set()
        for t in spinners:
            t.join()
        store.close()
        sys.setswitchinterval(old)


SHORT_INTERVAL = 0.0005


def convoy(tmp: str, busy: int, seconds: float) -> None:
    path = os.path.join(tmp, "convoy.db")
    base = convoy_rate(path, 0, 0.005, seconds)
    slow = convoy_rate(path, busy, 0.005, seconds)
    fast = convoy_rate(path, busy, SHORT_INTERVAL, seconds)
    print(f"sqlite writes/s, one writer: alone {base:.0f}; beside {busy} busy threads: "
          f"{slow:.0f} at a 5 ms switch interval, {fast:.0f} at "
          f"{SHORT_INTERVAL * 1000:g} ms ({fast / max(slow, 1e-9):.1f}x; "
          f"{fast / max(base, 1e-9):.2f} of alone)")


def fanout_rate(path: str, watchers: int, seconds: float, writers: int = 4,
                narrow: bool = False) -> Tuple[float, str]:
    """(writes/s, delivery lag) with ``watchers`` watches following the writes (``narrow``:
    each of those under the written prefix wants one node's objects of 50, by trigger)."""
    store = open_store(f"sqlite://{path}")
    stop = threading.Event()
    root = f"/fanout{time.time_ns()}/registry/pods/"
    sent: Dict[int, float] = {}
    lags: List[float] = []
    start_rev = store.current_revision()

    def follow(prefix: str, progress: bool, trigger) -> None:
        for event in store.watch(prefix, start_rev, stop, progress=progress, trigger=trigger):
            at = sent.get(event.revision)
            if at is not None and len(lags) < 100_000:
                lags.append(time.perf_counter() - at)

    threads = [threading.Thread(target=follow, daemon=True,
                                args=(root if i % 2 == 0 else f"/other/{i}/", i % 2 == 1,
                                      b'"nodeName":"w%d"' % (i % 50) if narrow else None))
               for i in range(watchers)]
    for t in threads:
        t.start()
    time.sleep(0.5 + watchers / 200)
    count = [0] * writers
    deadline = time.monotonic() + seconds

    def write(w: int) -> None:
        i = 0
        while time.monotonic() < deadline:
            before = time.perf_counter()
            value = b'{"spec":{"nodeName":"w%d"},"pad":"%s"}' % (i % 50, b"x" * 1000)
            sent[store.create(f"{root}w{w}-{i}", value)] = before
            i += 1
        count[w] = i

    began = time.perf_counter()
    pool = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    rate = sum(count) / (time.perf_counter() - began)
    time.sleep(1.0)
    stop.set()
    store.close()
    lag = f"lag P50 {pct(lags, 50)*1e3:.1f} ms P99 {pct(lags, 99)*1e3:.1f} ms" if lags else ""
    return rate, lag


def fanout(tmp: str, watchers: int, seconds: float) -> None:
    base, _ = fanout_rate(os.path.join(tmp, "base.db"), 0, seconds)
    rate, lag = fanout_rate(os.path.join(tmp, "fan.db"), watchers, seconds)
    narrow, nlag = fanout_rate(os.path.join(tmp, "narrow.db"), watchers, seconds, narrow=True)
    print("sqlite writes/s from 4 threads:")
    print(f"  no watcher                  {base:7.0f}/s")
    print(f"  {watchers} watchers               {rate:7.0f}/s  "
          f"({rate / base:.2f} of the baseline; {lag})")
    print(f"  {watchers} watchers, one node each {narrow:7.0f}/s  "
          f"({narrow / base:.2f} of the baseline; {nlag})")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--writes", type=int, default=500)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--convoy", action="store_true",
                        help="only the GIL convoy figure (see above)")
    parser.add_argument("--fanout", action="store_true",
                        help="only the watch fan-out figure (see above)")
    parser.add_argument("--watchers", type=int, default=200)
    parser.add_argument("--busy", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--dir", default=None,
                        help="where the SQLite file and etcd data go (default: a temp dir; "
                        "on tmpfs, fsync costs nothing)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="k8snet-bench-", dir=args.dir) as tmp:
        if args.convoy:
            convoy(tmp, args.busy, args.seconds)
            return 0
        if args.fanout:
            fanout(tmp, args.watchers, args.seconds)
            return 0
        store = open_store(f"sqlite://{tmp}/store.db")
        try:
            report("sqlite", run(store, args.writes, args.threads))
        finally:
            store.close()
        if not os.access(ETCD_BIN, os.X_OK):
            print(f"etcd: skipped ({ETCD_BIN} missing)")
            return 0
        member = EtcdMember("bench", "127.0.0.1", free_port(), free_port())
        log = os.path.join(tmp, "etcd.log")
        proc = start_etcd(render_etcd_command(member, [member], os.path.join(tmp, "etcd")), log)
        try:
            wait_healthy(member.client_url, time.monotonic() + 30, proc, log)
            store = open_store(store_url([member]))
            try:
                report("etcd", run(store, args.writes, args.threads))
            finally:
                store.close()
        finally:
            stop_etcd(proc)
    return 0


def report(name: str, figures: Dict[str, str]) -> None:
    print(f"{name}:")
    for label, value in figures.items():
        print(f"  {label:24s} {value}")


if __name__ == "__main__":
    raise SystemExit(main())
