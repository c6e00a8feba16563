"""Measuring the fabric's data plane under faults: pings lost while the controller is
killed and restarted, milliseconds lost when a spine link goes down.

Shared by the integration tests (which assert the targets) and
``benchmarks/bench_fabric_faults.py`` (which prints the figures). Pings run in
the nodes' namespaces with iputils ``ping``; loss is what its summary says
(transmitted - received), parsed by :func:`ping_counts` (pure). The link cut
sets both ends of an inter-switch veth down in the root namespace, as a pulled
cable would; OVS reports it to the controller and marks group buckets that
watch those ports dead.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from dataclasses import dataclass
from typing import Iterable, List, Optional, Tuple

from k8snet import naming
from k8snet.testbed import state as st
from k8snet.testbed.state import ClusterState, Controller

_SUMMARY = re.compile(r"(\d+) packets transmitted, (\d+) received")


def ping_counts(text: str) -> Tuple[int, int]:
    """(transmitted, received) from ping's summary; ValueError when it has none."""
    m = _SUMMARY.search(text)
    if m is None:
        raise ValueError(f"no ping summary in: {text.strip()[-200:]!r}")
    return int(m.group(1)), int(m.group(2))


@dataclass
class Ping:
    """A ping running in a node's namespace."""

    src: str
    dst_ip: str
    interval: float
    proc: subprocess.Popen

    def result(self, timeout: float = 120) -> Tuple[int, int]:
        """Wait for it; (transmitted, received)."""
        out, _ = self.proc.communicate(timeout=timeout)
        return ping_counts(out)

    def lost_ms(self, timeout: float = 120) -> float:
        """Milliseconds of traffic lost: packets lost times the interval."""
        sent, got = self.result(timeout)
        return (sent - got) * self.interval * 1000


def start_ping(cluster: str, src: str, dst_ip: str, seconds: float, interval: float,
               flood: bool = False) -> Ping:
    """``seconds`` of pings every ``interval`` s from node ``src`` (``-f``: flood mode,
    which also sends as soon as a reply comes); each waits at most 1 s for its reply,
    and the last one is waited for (``-c``, not ``-w``: a deadline counts the packet
    in flight as lost)."""
    count = max(1, int(seconds / interval))
    cmd = ["ip", "netns", "exec", naming.node_netns(cluster, src), "ping", "-n", "-q",
           "-i", f"{interval:g}", "-c", str(count), "-W", "1", dst_ip]
    if flood:
        cmd.insert(cmd.index("-n"), "-f")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return Ping(src, dst_ip, interval, proc)


def facts(state: ClusterState) -> dict:
    """The controller's facts document of a cluster."""
    if state.controller is None:
        raise ValueError(f"cluster {state.name} has no fabric controller")
    with open(state.controller.facts) as fh:
        return json.load(fh)


def cross_leaf_pairs(state: ClusterState) -> List[Tuple[str, str]]:
    """(node, other node's address) for nodes under different switches, both ways."""
    hosts = facts(state)["hosts"]
    return [(a["name"], b["ip"]) for a in hosts for b in hosts
            if a["switch"] != b["switch"] and a["ip"].split(".")[:2] == b["ip"].split(".")[:2]]


def link_ports(state: ClusterState, a: str, b: str) -> List[str]:
    """Root-namespace port names of the first link between switches ``a`` and ``b``."""
    for ln in facts(state)["links"]:
        if {ln["a"], ln["b"]} == {a, b}:
            return [naming.switch_port_name(ln["a"], ln["a_port"]),
                    naming.switch_port_name(ln["b"], ln["b_port"])]
    raise ValueError(f"no link between {a} and {b}")


def set_link(state: ClusterState, a: str, b: str, up: bool) -> None:
    """Cut (both ends down) or restore the link between switches ``a`` and ``b``."""
    for port in link_ports(state, a, b):
        subprocess.run(["ip", "link", "set", port, "up" if up else "down"], check=True,
                       timeout=30)


def kill_controller(state: ClusterState) -> Controller:
    """SIGKILL the cluster's controller and hold it down (a ``k8snet fault stop``, so
    the supervisor does not restart it); the record of the process killed."""
    from k8snet.testbed import api, cmd_fault

    record = current_controller(state)
    cmd_fault.stop(api.find(state.name), "controller")
    return record


def restart_controller(state: ClusterState, current: Optional[Controller] = None) -> Controller:
    """Let the supervisor start the controller again (same port, facts, mode: a
    ``k8snet fault start``) and wait until it runs; the new record."""
    from k8snet.testbed import api, cmd_fault

    record = current or current_controller(state)
    if st.is_alive(record.process):
        raise RuntimeError(f"the controller (pid {record.process.pid}) still runs")
    cmd_fault.start(api.find(state.name), "controller")
    end = time.monotonic() + 60
    while time.monotonic() < end:
        now = current_controller(state)
        if now.process.pid != record.process.pid and st.is_alive(now.process):
            return now
        time.sleep(0.1)
    raise RuntimeError("the supervisor did not start the controller again within 60s")


def current_controller(state: ClusterState) -> Controller:
    """The controller as the cluster's state file records it now (the supervisor
    re-records it after each restart)."""
    controller = st.load_state(state.name).controller
    if controller is None:
        raise ValueError(f"cluster {state.name} has no fabric controller")
    return controller


def warm_start_lines(log_path: str, since: int) -> List[str]:
    """``warm start`` lines the controller logged after byte ``since`` of its log."""
    with open(log_path, errors="replace") as fh:
        fh.seek(since)
        return [ln.strip() for ln in fh if "warm start" in ln]


def wait_lines(log_path: str, since: int, want: int, deadline: float) -> List[str]:
    """Wait until ``want`` warm start lines are logged after ``since``; what was logged."""
    t0 = time.monotonic()
    lines = warm_start_lines(log_path, since)
    while len(lines) < want and time.monotonic() - t0 < deadline:
        time.sleep(0.2)
        lines = warm_start_lines(log_path, since)
    return lines


def changed_flows(lines: Iterable[str]) -> int:
    """Flows and groups a warm start changed, summed over its log lines."""
    total = 0
    for ln in lines:
        total += sum(int(n) for n in re.findall(r"(\d+) (?:flows|groups|to delete)",
                                                ln.split(";", 1)[-1]))
    return total
