"""Starting a cluster's os-ken fabric controller: at ``up``, and again after it died.

The controller holds no state the switches need: they keep their flows (secure
fail mode, no timeouts) and answer ARP themselves, and a controller started
over them reads their tables and changes only what differs (warm start,
``k8snet.fabric.warmstart``). So restarting it is just starting it again with
the same facts, port, mode and kubeconfig: :func:`start_controller` does that
for ``up`` (``LiveCluster``), for the supervisor's restarts and for tests.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import List, Optional

from k8snet.testbed import state as st
from k8snet.testbed.spec import ClusterSpec
from k8snet.testbed.state import Controller

LOG_NAME = "controller.log"
FACTS_NAME = "fabric.json"


def controller_command(spec: ClusterSpec, cluster_dir: str, port: int,
                       facts_path: Optional[str] = None) -> List[str]:
    """The controller's command line for a cluster (pure)."""
    cmd = [sys.executable, "-m", "controllers.launcher",
           "--facts", facts_path or os.path.join(cluster_dir, FACTS_NAME),
           "--ofp-port", str(port), "--log", os.path.join(cluster_dir, LOG_NAME),
           "--mode", spec.mode]
    if not spec.network_only:
        # The controller watches Nodes (and Pods in macvlan mode) through the user
        # kubeconfig, which appears once the apiserver is up (the controller waits).
        cmd += ["--kubeconfig", os.path.join(cluster_dir, "kubeconfig")]
    return cmd


def start_controller(spec: ClusterSpec, cluster_dir: str, port: int,
                     facts_path: Optional[str] = None) -> Controller:
    """Start the controller in its own session, its output appended to the cluster's
    controller log; the record to keep in the cluster's state."""
    cmd = controller_command(spec, cluster_dir, port, facts_path)
    log_path = os.path.join(cluster_dir, LOG_NAME)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    return Controller(process=st.record_process(proc.pid, "controller", log=log_path),
                      port=port, facts=cmd[cmd.index("--facts") + 1])


def restart_controller(state: st.ClusterState) -> Controller:
    """Start a cluster's controller again, as it was started (same port and facts);
    the caller makes sure the old one is gone and records the new one."""
    if state.controller is None:
        raise ValueError(f"cluster {state.name} has no fabric controller")
    return start_controller(state.spec, state.dir, state.controller.port,
                            state.controller.facts)
