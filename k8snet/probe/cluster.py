"""A running cluster's Pods' namespaces, and commands inside them (effects).

Asks each node's runtime (CRI PodSandboxStatus) for a Pod's network
namespace, and runs small commands (`ip`, `cat /proc/net/snmp`) inside
namespaces. The cluster itself comes from the testbed's API
(``k8snet.testbed.api.find``).
"""

from __future__ import annotations

import subprocess
from typing import Dict, List, Optional, Sequence

from k8snet.errors import K8snetError
from k8snet.probe.agents import netns_argv, pod_netns_path
from k8snet.testbed.state import ClusterState


def pod_netns(state: ClusterState, node: str, uid: str) -> Optional[str]:
    """The path of the netns of the Ready sandbox of Pod ``uid`` on ``node``."""
    from k8snet.machinery.cri import RuntimeClient

    info = state.node(node)
    if info is None:  # not one of the testbed's nodes
        return None
    with RuntimeClient(state.runtime_socket(node), timeout=10) as runtime:
        for sb in runtime.list_pod_sandboxes({"io.kubernetes.pod.uid": uid}, ready_only=True):
            netns = runtime.pod_sandbox_status(sb["id"]).get("netns")
            if netns:
                return pod_netns_path(info, netns)
    return None


def in_netns(path: Optional[str], argv: Sequence[str], timeout: float = 15) -> str:
    """Run a command inside a namespace; its stdout (K8snetError on failure)."""
    proc = subprocess.run([*netns_argv(path), *argv], capture_output=True, text=True,
                          timeout=timeout, check=False)
    if proc.returncode != 0:
        raise K8snetError(f"{' '.join(argv)} failed in {path}: {proc.stderr.strip()[:200]}")
    return proc.stdout


def ipv4_addresses(path: str, iface: str = "eth0") -> List[str]:
    out = in_netns(path, ["ip", "-4", "-o", "addr", "show", "dev", iface])
    return [line.split()[3].split("/")[0] for line in out.splitlines() if " inet " in line]


def out_echo_replies(path: str) -> int:
    """The namespace's ICMP OutEchoReps counter (/proc/net/snmp is per netns)."""
    return parse_snmp(in_netns(path, ["cat", "/proc/net/snmp"]))["Icmp"]["OutEchoReps"]


def parse_snmp(text: str) -> Dict[str, Dict[str, int]]:
    """/proc/net/snmp: pairs of header and value lines per protocol."""
    out: Dict[str, Dict[str, int]] = {}
    lines = [line.split() for line in text.splitlines() if line.strip()]
    for head, values in zip(lines[::2], lines[1::2]):
        out[head[0].rstrip(":")] = {k: int(v) for k, v in zip(head[1:], values[1:])}
    return out


def link_mtu(path: Optional[str], iface: str) -> Optional[int]:
    out = in_netns(path, ["ip", "-o", "link", "show", "dev", iface])
    parts = out.split()
    return int(parts[parts.index("mtu") + 1]) if "mtu" in parts else None
