"""Memory and start time per idle container (root): N busybox `sleep` containers.

The runtime (k8snet.cri.runtime, in this process, state in a scratch
directory) starts N Pods, each a sandbox in the node's network namespace
with one busybox `sleep` container. Then, from /proc/PID/smaps_rollup:

- the PSS of each container's monitor (started.json's ``shim_pid``: conmon
  now, the Python shim before) and of its first process;
- the same N `sleep` processes started bare (no monitor, no namespaces) in
  the same run: the floor a container cannot go below.

Start time is StartContainer's wall time, next to spawning a bare `busybox
true` in the same run (the ratio is what to compare across machines).

    python -m benchmarks.bench_containers [--pods 50] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time

from benchmarks.common import percentile as pct


def pss_kib(pid: int) -> int:
    """Proportional set size of a process in KiB (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def bare_sleeps(n: int, busybox: str) -> tuple[list, list]:
    """N bare `sleep` processes, and the wall times of N bare `busybox true` spawns."""
    procs = [subprocess.Popen([busybox, "sleep", "3600"]) for _ in range(n)]
    spawns = []
    for _ in range(n):
        t = time.monotonic()
        subprocess.run([busybox, "true"], check=True)
        spawns.append(time.monotonic() - t)
    return procs, spawns


def run(pods: int) -> dict:
    from k8snet.cri.runtime import Runtime, RuntimeConfig

    name = f"bc{secrets.token_hex(3)}"
    tmp = tempfile.mkdtemp(prefix="k8snet-bench-containers-")
    rt = Runtime(RuntimeConfig(root_dir=os.path.join(tmp, "root"),
                               netns_prefix=f"k8snet-{name}",
                               cni_conf_dir=os.path.join(tmp, "cni"),
                               cgroup_parent=f"k8snet/bench/{name}"))
    rt.prepare()
    busybox = rt.host_ctx.busybox
    sandboxes, starts, records = [], [], []
    bare, spawns = [], []
    try:
        for i in range(pods):
            sid = rt.run_pod_sandbox({"metadata": {"name": f"p{i}", "namespace": "default",
                                                   "uid": f"u{i}"}, "host_network": True})
            sandboxes.append(sid)
            cid = rt.create_container(sid, {"metadata": {"name": "c"},
                                            "image": {"image": "busybox"},
                                            "command": ["sleep", "3600"]})
            t = time.monotonic()
            rt.start_container(cid)
            starts.append(time.monotonic() - t)
            with open(os.path.join(rt.cfg.root_dir, "containers", cid, "started.json"),
                      encoding="utf-8") as fh:
                records.append(json.load(fh))
        time.sleep(2)   # let every monitor settle into its idle loop
        bare, spawns = bare_sleeps(pods, busybox)
        time.sleep(1)
        monitor = [pss_kib(r.get("shim_pid", 0)) for r in records]
        first = [pss_kib(r["pid"]) for r in records]
        floor = [pss_kib(p.pid) for p in bare]
    finally:
        for p in bare:
            p.kill()
            p.wait()
        for sid in sandboxes:
            rt.stop_pod_sandbox(sid)
            rt.remove_pod_sandbox(sid)
        for path in rt.cgroups._dirs("").values():   # the containers' parent cgroup
            try:
                os.rmdir(path)
            except OSError:
                pass
        shutil.rmtree(tmp, ignore_errors=True)
    per = [m + f for m, f in zip(monitor, first)]
    return {
        "pods": pods,
        "monitor_pss_kib_mean": sum(monitor) / pods,
        "first_process_pss_kib_mean": sum(first) / pods,
        "container_pss_kib_mean": sum(per) / pods,
        "bare_sleep_pss_kib_mean": sum(floor) / pods,
        "container_pss_kib_total": sum(per),
        "start_ms_p50": 1000 * pct(starts, 50), "start_ms_p95": 1000 * pct(starts, 95),
        "bare_spawn_ms_p50": 1000 * pct(spawns, 50),
        "start_ratio_p50": pct(starts, 50) / max(pct(spawns, 50), 1e-6),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=50)
    parser.add_argument("--json", default="", help="also write the figures here")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("skipped: needs root (namespaces, cgroups)")
        return 0
    res = run(args.pods)
    print(f"{res['pods']} idle busybox sleep containers")
    print(f"  PSS per container: {res['container_pss_kib_mean']:.0f} KiB "
          f"(monitor {res['monitor_pss_kib_mean']:.0f} + first process "
          f"{res['first_process_pss_kib_mean']:.0f}); a bare sleep: "
          f"{res['bare_sleep_pss_kib_mean']:.0f} KiB")
    print(f"  StartContainer p50 {res['start_ms_p50']:.0f} ms, p95 {res['start_ms_p95']:.0f} "
          f"ms; bare spawn p50 {res['bare_spawn_ms_p50']:.1f} ms "
          f"(ratio {res['start_ratio_p50']:.0f}x)")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(res, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
