"""Helpers the benchmarks share: percentiles, process memory, the k8snet command,
a cluster's recorded processes and Pod readiness."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence

K8SNET = [sys.executable, "-m", "k8snet.cli"]


def percentile(values: Sequence[float], p: float) -> Optional[float]:
    """Nearest-rank percentile ``p`` (0-100) of ``values``; None when empty."""
    s = sorted(values)
    if not s:
        return None
    return s[min(len(s) - 1, max(0, int(round(p / 100 * (len(s) - 1)))))]


def k8snet(*args: str, timeout: float = 900, check: bool = True) -> subprocess.CompletedProcess:
    """Run the k8snet command; raise SystemExit with its output when it fails."""
    proc = subprocess.run([*K8SNET, *args], capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise SystemExit(f"k8snet {' '.join(args)} failed:\n{proc.stdout}{proc.stderr}")
    return proc


def rss_kib(pid: int) -> int:
    """Resident set size of ``pid`` in KiB (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def netns_pids(netns: str) -> List[int]:
    """Processes whose network namespace is ``netns`` (``ip netns pids``)."""
    out = subprocess.run(["ip", "netns", "pids", netns], capture_output=True, text=True,
                         timeout=30, check=False).stdout
    return [int(p) for p in out.split()]


def component_pids(state, component: str) -> Dict[str, int]:
    """node -> PID of ``component`` (kubelet, runtime, kube-proxy) from a
    cluster's `ClusterState`."""
    out = {}
    for record in state.processes:
        name, _, node = record.name.partition("@")
        if name == component and node:
            out[node] = record.pid
    return out


def is_ready(pod: Dict) -> bool:
    return bool(pod.get("status", {}).get("podIP")) and any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in pod.get("status", {}).get("conditions", []))


def wait_pod_ready(client, name: str, namespace: str = "default", timeout: float = 120,
                   interval: float = 0.02) -> Dict:
    """Poll one Pod until it is Ready with an IP; return it."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        pod = client.get("pods", name, namespace)
        if is_ready(pod):
            return pod
        time.sleep(interval)
    raise SystemExit(f"Pod {namespace}/{name} not Ready after {timeout:.0f}s")


def fmt_ms(seconds: Optional[float]) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f} ms"
