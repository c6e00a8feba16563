"""Finding a running cluster and its Pods' namespaces (effects).

Reads the testbed's state file, asks each node's runtime (CRI
PodSandboxStatus) for a Pod's network namespace, and runs small commands
(`ip`, `cat /proc/net/snmp`) inside namespaces.
"""

from __future__ import annotations

import os
import subprocess
from typing import Dict, List, Optional, Sequence

from k8snet.errors import K8snetError, UsageError
from k8snet.probe.agents import netns_argv, pod_netns_path
from k8snet.testbed import components
from k8snet.testbed import state as st


def load_state(name: Optional[str]) -> Dict:
    """The state of cluster ``name``, or of the only running cluster."""
    names = [name] if name else st.cluster_names()
    states = [s for s in (st.read_state(n) for n in names) if s]
    if not states:
        raise UsageError(f"no k8snet cluster {name!r} is running" if name else
                         "no k8snet cluster is running: start one with 'k8snet up --detach'")
    if len(states) > 1:
        raise UsageError("several clusters run ("
                         + ", ".join(s["name"] for s in states) + "): add --name")
    state = states[0]
    if not state.get("kubeconfig"):
        raise UsageError(f"cluster {state['name']} runs no control plane (--network-only?)")
    return state


def nodes_by_name(state: Dict) -> Dict[str, Dict]:
    return {n["name"]: n for n in state["nodes"]}


def runtime_socket(state: Dict, node: str) -> str:
    return os.path.join(components.node_dir(state["dir"], node), "runtime.sock")


def pod_netns(state: Dict, node: str, uid: str) -> Optional[str]:
    """The path of the netns of the Ready sandbox of Pod ``uid`` on ``node``."""
    from k8snet.machinery.cri import RuntimeClient

    with RuntimeClient(runtime_socket(state, node), timeout=10) as runtime:
        for sb in runtime.list_pod_sandboxes({"io.kubernetes.pod.uid": uid}, ready_only=True):
            netns = runtime.pod_sandbox_status(sb["id"]).get("netns")
            if netns:
                return pod_netns_path(nodes_by_name(state)[node], netns)
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


def exec_in_container(state: Dict, pod: Dict, container: str, cmd: Sequence[str],
                      timeout: int = 15):
    """ExecSync in a Pod's container; the CRI ExecResult."""
    from k8snet.machinery.cri import RuntimeClient
    from k8snet.testbed.cmd_exec import container_id

    cid = container_id(pod, container)
    with RuntimeClient(runtime_socket(state, pod["spec"]["nodeName"])) as runtime:
        return runtime.exec_sync(cid, list(cmd), timeout=timeout)
