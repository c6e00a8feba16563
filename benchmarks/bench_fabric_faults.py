"""The data plane without the controller (issue #14), on a network-only leaf-spine
(4 leaves, 2 spines, 4 workers, a master, an external host):

- controller kill: a 10 s flood ping (one packet each 4 ms, or as soon as the reply
  comes) between w1 and w4, both ways, across leaves; the controller is killed after
  2 s and started again 2 s later. Packets lost (target 0), next to the same pings
  without the kill, and what the restarted controller changed on the switches (warm
  start: 0 expected).
- spine link cut: every node pings w4 every 20 ms; the link between w4's leaf and a
  spine goes down after 1.5 s. Milliseconds lost by the worst node (target < 100),
  next to the same pings without a cut; once with the controller running, once with
  it killed (only the switches' fast-failover groups and detours act).

    sudo python -m benchmarks.bench_fabric_faults [--trials 3]

Nothing here asserts: it prints figures (tests/integration/test_fabric_faults.py asserts).
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Dict, List

from benchmarks.common import k8snet
from k8snet.testbed import dataplane
from k8snet.testbed import state as st

CLUSTER = "bnfab"


def flood(state, held, kill: bool) -> tuple[int, int]:
    """(packets lost, flows and groups changed by the restart) for one flood trial."""
    w1, w4 = state.node("w1").ip, state.node("w4").ip
    pings = [dataplane.start_ping(CLUSTER, "w1", w4, 10, 0.004, flood=True),
             dataplane.start_ping(CLUSTER, "w4", w1, 10, 0.004, flood=True)]
    changed = 0
    if kill:
        time.sleep(2)
        held["controller"] = dataplane.kill_controller(state)
        time.sleep(2)
        log = held["controller"].process.log
        since = len(open(log, "rb").read())
        held["controller"] = dataplane.restart_controller(state, held["controller"])
        lines = dataplane.wait_lines(log, since, len(state.switches), 60)
        changed = dataplane.changed_flows(lines) if len(lines) == len(state.switches) else -1
    lost = sum(sent - got for sent, got in (p.result() for p in pings))
    return lost, changed


def cut(state, cut_link: bool) -> float:
    """Worst node's ms lost pinging w4 every 20 ms, with or without the link cut."""
    leaf = next(h["switch"] for h in dataplane.facts(state)["hosts"] if h["name"] == "w4")
    spine = next(s.name for s in state.switches if s.role == "spine")
    w4 = state.node("w4").ip
    others = [n for n in state.nodes if n.name != "w4" and n.ip.startswith("10.0.")]
    pings = [dataplane.start_ping(CLUSTER, n.name, w4, 4, 0.02) for n in others]
    time.sleep(1.5)
    if cut_link:
        dataplane.set_link(state, leaf, spine, up=False)
    try:
        return max(p.lost_ms() for p in pings)
    finally:
        if cut_link:
            dataplane.set_link(state, leaf, spine, up=True)
            time.sleep(2)  # the controller (if any) puts the link back in the plan


def summary(values: List[float]) -> str:
    return f"median {statistics.median(values):g}, max {max(values):g} ({values})"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_fabric_faults")
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args(argv)
    k8snet("up", "--detach", "--name", CLUSTER, "--topology", "leaf-spine", "--workers", "4",
           "--network-only")
    state = st.load_state(CLUSTER)
    held = {"controller": state.controller}
    figures: Dict[str, List[float]] = {k: [] for k in (
        "flood lost, no kill", "flood lost, controller killed and restarted",
        "flows+groups changed by the restart", "cut ms, no cut", "cut ms, controller up",
        "cut ms, controller dead")}
    try:
        for _ in range(args.trials):
            figures["flood lost, no kill"].append(flood(state, held, kill=False)[0])
            lost, changed = flood(state, held, kill=True)
            figures["flood lost, controller killed and restarted"].append(lost)
            figures["flows+groups changed by the restart"].append(changed)
            figures["cut ms, no cut"].append(cut(state, False))
            figures["cut ms, controller up"].append(cut(state, True))
        for _ in range(args.trials):
            held["controller"] = dataplane.kill_controller(state)
            figures["cut ms, controller dead"].append(cut(state, True))
            held["controller"] = dataplane.restart_controller(state, held["controller"])
            time.sleep(3)
        print(f"fabric faults, {args.trials} trials (network-only leaf-spine, "
              f"{state.datapath} datapath):")
        for name, values in figures.items():
            print(f"  {name}: {summary(values)}")
    finally:
        k8snet("down", "--name", CLUSTER)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
