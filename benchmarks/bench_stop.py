"""Control-plane start and stop figures: the apiserver's time to ready (first start, which
makes the CA and keys, and a restart on the same data), and how long each component takes
to exit after SIGTERM (target: under 1 s, by itself, status 0).

    python -m benchmarks.bench_stop [--runs 3] [--profile]

`--profile` also runs one apiserver start under cProfile until it is ready and prints the
top functions by cumulative time. `--node` (root) also stops a kubelet and a kube-proxy
of a node in its own network namespace (tests/integration/kubelet_stack.py), once each.
"""

from __future__ import annotations

import argparse
import os
import pstats
import subprocess
import sys
import tempfile
import time

from benchmarks.common import percentile
from tests.component.apiserver_proc import ApiServerProc
from tests.component.stopping import Component, Stopped, controller_manager, scheduler


def baseline(code: str) -> float:
    """Seconds a bare `python -c CODE` takes: what the machine's load makes of a start."""
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.monotonic() - t0


def time_to_ready(tmp: str) -> float:
    srv = ApiServerProc(tmp)
    t0 = time.monotonic()
    srv.start(deadline=120)
    took = time.monotonic() - t0
    srv.stop()
    return took


def wait_for_lease(srv: ApiServerProc, name: str, deadline: float) -> None:
    """Until a component holds its Lease in kube-system (it leads, so it works)."""
    end = time.monotonic() + deadline
    path = f"/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/{name}"
    while time.monotonic() < end:
        code, lease = srv.get(path)
        if code == 200 and (lease.get("spec") or {}).get("holderIdentity"):
            return
        time.sleep(0.2)
    raise RuntimeError(f"nobody holds the Lease kube-system/{name} after {deadline}s")


def stop_times(tmp: str) -> list:
    srv = ApiServerProc(tmp).start(deadline=120)
    api = Component("apiserver", [], srv.log_path)
    api.proc = srv.proc
    comps = [scheduler(srv.kubeconfig, tmp), controller_manager(srv.kubeconfig, tmp)]
    try:
        for lease in ("kube-scheduler", "kube-controller-manager"):
            wait_for_lease(srv, lease, 60)
        comps[1].wait_for_log("controllers running", 60)
        time.sleep(1.0)   # informers listed, loops at work
        return [c.stop() for c in comps] + [api.stop()]
    finally:
        for c in comps:
            if c.proc.poll() is None:
                c.proc.kill()
        srv.stop()


def profile_start(tmp: str) -> None:
    """cProfile one apiserver start until its kubeconfig (written when ready) exists."""
    out = os.path.join(tmp, "start.prof")
    ready = os.path.join(tmp, "kubeconfig")
    proc = subprocess.Popen([sys.executable, "-m", "cProfile", "-o", out, "-m", "k8snet.cli",
                             "apiserver", "--data-dir", os.path.join(tmp, "data"), "--port",
                             "0", "--kubeconfig-out", ready],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    end = time.monotonic() + 120
    while not os.path.exists(ready) and time.monotonic() < end:
        time.sleep(0.05)
    proc.terminate()
    proc.wait(timeout=30)
    pstats.Stats(out).sort_stats("cumulative").print_stats(25)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--node", action="store_true", help="also a kubelet and a proxy (root)")
    args = ap.parse_args(argv)
    first, again, stops, bare, imports = [], [], {}, [], []
    for _ in range(args.runs):
        bare.append(baseline("pass"))
        imports.append(baseline("import k8snet.apiserver.main"))
        tmp = tempfile.mkdtemp(prefix="k8snet-bench-stop-")
        first.append(time_to_ready(tmp))
        again.append(time_to_ready(tmp))
        for s in stop_times(tempfile.mkdtemp(prefix="k8snet-bench-stop-")):
            stops.setdefault(s.name, []).append(s)
    if args.node:
        from tests.integration.test_node_stop import start_node
        from tests.integration.test_node_stop import stop as stop_node_proc
        stack = start_node()
        try:
            for name in ("proxy", "kubelet"):
                took, code, killed = stop_node_proc(stack.procs[name])
                stops.setdefault(name, []).append(Stopped(name, took, code, killed))
        finally:
            stack.close()
    with open("/proc/loadavg") as f:
        load = f.read().split()[0]
    print(f"load average at the end: {load} (2 cores)")
    print(f"baseline: python -c pass {percentile(bare, 50):.2f} s; importing the apiserver "
          f"{percentile(imports, 50):.2f} s")
    print(f"apiserver ready, first start (CA, keys): median {percentile(first, 50):.2f} s, "
          f"max {max(first):.2f} s")
    print(f"apiserver ready, restart:                median {percentile(again, 50):.2f} s, "
          f"max {max(again):.2f} s   (target < 2 s; "
          f"{percentile(again, 50) / percentile(bare, 50):.0f}x a bare interpreter start)")
    for name, got in stops.items():
        secs = [s.seconds for s in got]
        print(f"stop {name:19s} median {percentile(secs, 50):.2f} s, max {max(secs):.2f} s, "
              f"status {sorted({s.returncode for s in got})}, killed {sum(s.killed for s in got)}"
              f"   (target < 1 s, status 0)")
    if args.profile:
        profile_start(tempfile.mkdtemp(prefix="k8snet-bench-stop-"))
    bad = any(s.killed or s.returncode != 0 for got in stops.values() for s in got)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
