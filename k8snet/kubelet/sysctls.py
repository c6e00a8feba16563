"""The node's network settings the kubelet makes before the Node reports Ready.

A node forwards Pod and Service traffic: a NodePort packet DNATed to a Pod on
another node is routed onward, so ``net.ipv4.ip_forward`` must be 1 from the
start, not only once the CNI plugin has wired the node's first Pod (the
bridge and ptp plugins turn it on then). Reverse-path filtering is loose, not
strict: a DNATed reply or a Pod address seen on the uplink has no route back
through the interface it came in on. bridge-nf-call-iptables, which the
overlay mode's bridge needs, is the overlay agent's to set (see
k8snet.overlay). Every value here is the node's own: the kubelet runs in the
node's network namespace and these files are per namespace.
"""

from __future__ import annotations

import os
from typing import Dict, List

PROC_SYS = "/proc/sys"


def node_sysctls() -> Dict[str, str]:
    """The settings (``/proc/sys`` paths -> values) of a node of any mode."""
    return {
        "net/ipv4/ip_forward": "1",
        # The kernel takes the larger of conf/all and conf/<interface>: 2 (loose)
        # in all and default makes every interface loose, existing or to come.
        "net/ipv4/conf/all/rp_filter": "2",
        "net/ipv4/conf/default/rp_filter": "2",
    }


def in_own_netns() -> bool:
    """True when this process is not in the machine's root network namespace,
    so the root namespace's forwarding is never switched on. The root one is
    PID 1's, or kthreadd's (PID 2) where PID 1's cannot be read; when neither
    can be, nothing is changed."""
    own = os.stat("/proc/self/ns/net").st_ino
    for pid in (1, 2):
        try:
            return own != os.stat(f"/proc/{pid}/ns/net").st_ino
        except OSError:
            continue
    return False


def apply(settings: Dict[str, str], root: str = PROC_SYS) -> List[str]:
    """Write each setting that differs; return ``path=value`` for those changed."""
    changed = []
    for path, value in sorted(settings.items()):
        full = os.path.join(root, path)
        with open(full, encoding="ascii") as fh:
            if fh.read().strip() == value:
                continue
        with open(full, "w", encoding="ascii") as fh:
            fh.write(value + "\n")
        changed.append(f"{path.replace('/', '.')}={value}")
    return changed
