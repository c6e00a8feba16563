"""Routed vs overlay vs macvlan Pod networking (issue #5's figures), all in one run (root):

- TCP throughput (iperf3) and RTT (ping) Pod-to-Pod on the same node and
  across leaves, in routed, overlay and macvlan mode (``--modes`` to choose),
  next to node-to-node across leaves and a bare veth pair (the baseline every ratio is to): this is
  `k8snet compare`'s measurement, reused;
- per mode, time from a Pod being Ready to being reachable from every node:
  N Pods are created one after another (alternating workers); as soon as the
  apiserver shows one Ready (polled every 20 ms), every node (masters and
  workers) pings it every 10 ms until the first reply; the figure is the last
  node's first reply minus the moment Ready was seen. P50 and max, with the
  floor of the method (the same pings again, once the Pod is surely reachable:
  process start-up plus one round trip) and how many Pods answered every
  node's very first ping (already reachable when Ready was seen).

    sudo /opt/k8snet/venv/bin/python -m benchmarks.bench_modes [--pods 10] [--seconds 3]

Leaf-spine, 2 spines x 2 leaves, 2 workers (one per leaf); clusters bmr, bmo
and bmm one after the other, each taken down at the end. It prints figures and
asserts nothing.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from typing import Dict, List, Optional

from benchmarks.common import fmt_ms, percentile, wait_pod_ready
from k8snet.testbed import cmd_compare

REPLY_RE = re.compile(r"^\[(\d+\.\d+)\] \d+ bytes from", re.M)
SENT_RE = re.compile(r"(\d+) packets transmitted")


def first_reply(proc: subprocess.Popen) -> tuple[Optional[float], int]:
    """(unix time of the first reply or None, packets sent) of a ``ping -D`` process."""
    out, _ = proc.communicate(timeout=60)
    reply, sent = REPLY_RE.search(out), SENT_RE.search(out)
    return (float(reply.group(1)) if reply else None), (int(sent.group(1)) if sent else 0)


def ping_all(state, ip: str, deadline: float) -> Dict[str, tuple]:
    """From every master and worker at once: node -> (first reply time, packets sent)."""
    sources = [*state.masters, *state.workers]
    procs = {n.name: subprocess.Popen(
        ["ip", "netns", "exec", n.netns, "ping", "-n", "-D", "-c", "1", "-i", "0.01",
         "-W", "1", "-w", str(int(deadline)), ip], stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True) for n in sources}
    return {src: first_reply(p) for src, p in procs.items()}


def reach_one(client, state, name: str, node: str, deadline: float = 10) -> Dict:
    """Create Pod ``name`` on ``node``; seconds from Ready (seen) to reachable everywhere,
    and the same pings again once it surely is reachable (the floor: process start-up
    and one round trip)."""
    client.create("pods", cmd_compare.pod_doc(name, node), "default")
    pod = wait_pod_ready(client, name, interval=0.02)
    seen_ready = time.time()
    ip = pod["status"]["podIP"]
    replies = ping_all(state, ip, deadline)
    missing = sorted(src for src, (t, _) in replies.items() if t is None)
    last = max((t for t, _ in replies.values() if t is not None), default=None)
    again = time.time()
    floor = ping_all(state, ip, deadline)
    floor_last = max((t for t, _ in floor.values() if t is not None), default=None)
    return {"pod": name, "node": node, "ip": ip, "unreachable_from": missing,
            "seconds": None if missing or last is None else max(0.0, last - seen_ready),
            "floor": None if floor_last is None else floor_last - again,
            "first_ping_answered": all(sent == 1 for _, sent in replies.values())}


def ready_to_reachable(count: int):
    """An extra measurement for cmd_compare.measure_mode (runs while the cluster is up)."""
    def measure(cluster, client) -> Dict:
        workers = [n.name for n in cluster.state.workers]
        return {"reach": [reach_one(client, cluster.state, f"reach-{i}",
                                    workers[i % len(workers)])
                          for i in range(count)]}
    return measure


def reach_summary(samples: List[Dict]) -> str:
    secs = [s["seconds"] for s in samples if s["seconds"] is not None]
    failed = [s["pod"] for s in samples if s["seconds"] is None]
    floor = [s["floor"] for s in samples if s["floor"] is not None]
    at_once = sum(1 for s in samples if s["first_ping_answered"])
    text = (f"P50 {fmt_ms(percentile(secs, 50))}, max {fmt_ms(max(secs) if secs else None)} "
            f"over {len(secs)} Pods; {at_once}/{len(samples)} answered every node's first ping; "
            f"floor (same pings, Pod long reachable) P50 {fmt_ms(percentile(floor, 50))}")
    return text + (f"; never reachable from every node: {', '.join(failed)}" if failed else "")


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_modes",
                                     description=__doc__.splitlines()[0])
    cmd_compare.add_arguments(parser)
    parser.set_defaults(name="bm", modes=list(cmd_compare.MODES))
    parser.add_argument("--pods", type=int, default=10, help="Pods for Ready -> reachable")
    args = parser.parse_args(argv)
    options = cmd_compare.check_options(cmd_compare.options_from_args(args))
    started = time.monotonic()
    result = cmd_compare.compare(options, extra=ready_to_reachable(args.pods))
    print(cmd_compare.render(result))
    print("\nPod Ready (as the apiserver shows it) -> reachable from every node "
          "(masters and workers, ping every 10 ms):")
    for mode, doc in result["modes"].items():
        print(f"  {mode:8} {reach_summary(doc['extra']['reach'])}")
    print(f"\n(whole run {time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
