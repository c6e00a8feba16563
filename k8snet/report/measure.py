"""Figures the report adds to each mode of `k8snet compare` (its ``extra`` hook).

Run in the mode's cluster after compare's own measurements, between the
Pods ``cmp-a`` (first worker) and ``cmp-c`` (a worker under another leaf):

- ``paths``: TCP with 4 parallel streams and UDP (iperf3 ``-u -b 0``, the
  received rate and the loss), as more paths beside compare's own;
- ``rr_ms``: TCP request/response times, HTTP GETs on one kept-alive
  connection to agnhost (``curl``), the connection's first request left out;
- ``cpu``: CPU seconds of the two iperf3 processes (user + system, so the
  kernel's send path, VXLAN encapsulation included, counts) and of
  ``ovs-vswitchd`` (the userspace datapath, shared by every cluster on the
  machine) for the single-stream run, per Gbit carried;
- ``ready_to_reachable_s``: from a new Pod's Ready condition (as a watch
  sees it) to its first ping reply from ``cmp-a``;
- ``mtu``: whether a full-size ping with DF set passes, one byte more is
  refused, and an oversize ping without DF gets through fragmented.

A figure that cannot be measured is recorded as ``{"error": ...}`` so one
missing tool does not lose the rest of the run.
"""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import time
from typing import Callable, Dict, List, Optional

from k8snet.errors import K8snetError

PARALLEL_STREAMS = 4
RR_REQUESTS = 30
IPERF_PORT = 5202          # not compare's, in case one is left listening
REACH_DEADLINE = 30.0


def netns_run(netns: str, *cmd: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", "netns", "exec", netns, *cmd], capture_output=True, text=True,
                          timeout=timeout, check=False)


def parse_iperf_end(text: str) -> Dict:
    """Received Gbit/s (and UDP loss) from ``iperf3 -J``; ValueError when absent."""
    try:
        end = json.loads(text or "{}").get("end") or {}
    except json.JSONDecodeError as exc:
        raise ValueError(f"iperf3 printed no JSON: {text[:200]!r}") from exc
    if "sum_received" in end and "lost_percent" not in end.get("sum", {}):
        return {"gbps": end["sum_received"]["bits_per_second"] / 1e9}
    total = end.get("sum")
    if not total or "bits_per_second" not in total:
        raise ValueError(f"no iperf3 result in {text[:200]!r}")
    lost = float(total.get("lost_percent", 0.0))
    # UDP: the sender's rate times what arrived.
    return {"gbps": total["bits_per_second"] * (1 - lost / 100) / 1e9, "loss_pct": lost}


def parse_curl_times(text: str) -> List[float]:
    """Milliseconds per request from ``curl -w '%{time_total}\\n'`` lines."""
    return [float(x) * 1000 for x in re.findall(r"^(\d+\.\d+)$", text, re.M)]


def cpu_seconds_of(pid: int) -> float:
    """user + system CPU seconds of a process so far (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ovs_pid() -> Optional[int]:
    try:
        with open("/var/run/openvswitch/ovs-vswitchd.pid") as fh:
            return int(fh.read().strip())
    except (OSError, ValueError):
        return None


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def iperf(server_ns: str, client_ns: str, ip: str, seconds: float, *args: str) -> Dict:
    """One iperf3 run with ``args``; adds the CPU both iperf3 processes and
    ovs-vswitchd used while it ran."""
    srv = subprocess.Popen(["ip", "netns", "exec", server_ns, "iperf3", "-s", "-1", "-p",
                            str(IPERF_PORT)], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    ovs = ovs_pid()
    try:
        last = ""
        for _attempt in range(20):   # the server may need a moment to listen
            cpu0, ovs0 = children_cpu(), cpu_seconds_of(ovs) if ovs else 0.0
            out = netns_run(client_ns, "iperf3", "-c", ip, "-p", str(IPERF_PORT), "-t",
                            f"{seconds:g}", "-J", *args, timeout=seconds + 30)
            try:
                result = parse_iperf_end(out.stdout)
            except ValueError:
                last = (out.stdout + out.stderr).strip()[-200:]
                time.sleep(0.2)
                continue
            srv.wait(timeout=10)   # the server exits after one test (-1): count its CPU
            result["iperf_cpu_s"] = children_cpu() - cpu0
            result["ovs_cpu_s"] = (cpu_seconds_of(ovs) - ovs0) if ovs else None
            result["seconds"] = seconds
            return result
        raise K8snetError(f"iperf3 {client_ns} -> {ip} {' '.join(args)} gave no result: {last}")
    finally:
        if srv.poll() is None:
            srv.kill()
        srv.wait()


def request_response(client_ns: str, ip: str, count: int = RR_REQUESTS) -> List[float]:
    url = f"http://{ip}:8080/echo?msg=k8snet"
    out = netns_run(client_ns, "curl", "-s", "-w", "%{time_total}\\n",
                    *(["-o", "/dev/null", url] * count), timeout=60)   # -o is per URL
    times = parse_curl_times(out.stdout)
    if len(times) < 2:
        raise K8snetError(f"curl to {url} answered {len(times)} time(s): {out.stderr[-200:]}")
    return times[1:]   # the first paid for the TCP handshake


def mtu_behaviour(client_ns: str, ip: str, pod_mtu: int) -> Dict:
    def ping_ok(*args: str) -> bool:
        out = netns_run(client_ns, "ping", "-n", "-c", "1", "-W", "2", *args, ip, timeout=15)
        return out.returncode == 0
    full = pod_mtu - 28   # IPv4 and ICMP headers
    return {"pod_mtu": pod_mtu, "df_full_size_passes": ping_ok("-M", "do", "-s", str(full)),
            "df_one_byte_more_passes": ping_ok("-M", "do", "-s", str(full + 1)),
            "fragmented_3000_passes": ping_ok("-M", "dont", "-s", "3000")}


def ready_to_reachable(client, client_ns: str, node: str, pod_doc: Callable,
                       wait_ready: Callable) -> float:
    """Seconds from a new Pod's Ready (as the watch sees it) to its first ping reply."""
    client.create("pods", pod_doc("cmp-r", node), "default")
    pods = wait_ready(client, ["cmp-r"])
    ready_at = time.monotonic()
    ip = pods["cmp-r"]["status"]["podIP"]
    while time.monotonic() - ready_at < REACH_DEADLINE:
        out = netns_run(client_ns, "ping", "-n", "-c", "1", "-W", "0.2", ip, timeout=5)
        if out.returncode == 0:
            return time.monotonic() - ready_at
    raise K8snetError(f"Pod cmp-r ({ip}) did not answer ping within {REACH_DEADLINE:.0f}s "
                      "of being Ready")


def guarded(fn: Callable, *args) -> object:
    try:
        return fn(*args)
    except (K8snetError, OSError, subprocess.SubprocessError, ValueError) as exc:
        return {"error": str(exc)}


def extra_figures(cluster, client, seconds: float = 2.0) -> Dict:
    """The report's figures for one mode's cluster (compare's ``extra`` hook)."""
    from k8snet.testbed import cmd_compare as cc

    pods = {p["metadata"]["name"]: p for p in client.list("pods", "default")["items"]}
    existing = os.listdir("/run/netns")

    def netns(name: str) -> str:
        node = cluster.node(pods[name]["spec"]["nodeName"])
        return cc.pod_netns(existing, node.netns, "default", name)

    a_ns, c_ns = netns("cmp-a"), netns("cmp-c")
    c_ip = pods["cmp-c"]["status"]["podIP"]
    mtu = cc.parse_mtu(cc.in_netns(a_ns, "ip", "-o", "link", "show", "eth0").stdout)
    single = guarded(iperf, c_ns, a_ns, c_ip, seconds)
    parallel = guarded(iperf, c_ns, a_ns, c_ip, seconds, "-P", str(PARALLEL_STREAMS))
    udp = guarded(iperf, c_ns, a_ns, c_ip, seconds, "-u", "-b", "0", "-l", str(mtu - 28 - 8))
    doc: Dict = {"paths": {}, "cpu": single}
    for key, result in (("pod_across_leaves_parallel", parallel),
                        ("pod_across_leaves_udp", udp)):
        if "gbps" in result:
            doc["paths"][key] = {"gbps": [result["gbps"]],
                                 **({"loss_pct": result["loss_pct"]} if "loss_pct" in result
                                    else {})}
        else:
            doc["paths"][key] = result
    doc["rr_ms"] = guarded(request_response, a_ns, c_ip)
    doc["mtu"] = guarded(mtu_behaviour, a_ns, c_ip, mtu)
    doc["ready_to_reachable_s"] = guarded(ready_to_reachable, client, a_ns,
                                          pods["cmp-c"]["spec"]["nodeName"], cc.pod_doc,
                                          cc.wait_ready)
    return doc
