"""Starting a cluster's os-ken fabric controller: at ``up``, and again after it died.

The controller holds no state the switches need: they keep their flows (secure
fail mode, no timeouts) and answer ARP themselves, and a controller started
over them reads their tables and changes only what differs (warm start,
``k8snet.fabric.warmstart``). So restarting it is just starting it again with
the same facts, port, mode and kubeconfig: the supervisor runs
:func:`controller_command` at ``up`` and after each crash
(``k8snet fault stop controller`` holds it down for as long as a user wants).
"""

from __future__ import annotations

import os
import sys
from typing import List, Optional

from k8snet.testbed.spec import ClusterSpec

LOG_NAME = "controller.log"
FACTS_NAME = "fabric.json"


def controller_command(spec: ClusterSpec, cluster_dir: str, port: int,
                       facts_path: Optional[str] = None, facts_wait: float = 0.0) -> List[str]:
    """The controller's command line for a cluster (pure). With ``facts_wait``
    it may start before the facts exist (at ``up``, while the network builds)."""
    cmd = [sys.executable, "-m", "controllers.launcher",
           "--facts", facts_path or os.path.join(cluster_dir, FACTS_NAME),
           "--ofp-port", str(port), "--log", os.path.join(cluster_dir, LOG_NAME),
           "--mode", spec.mode]
    if facts_wait > 0:
        cmd += ["--facts-wait", f"{facts_wait:g}"]
    if not spec.network_only:
        # The controller watches Nodes (and Pods in macvlan mode) through the user
        # kubeconfig, which appears once the apiserver is up (the controller waits).
        cmd += ["--kubeconfig", os.path.join(cluster_dir, "kubeconfig")]
    return cmd
