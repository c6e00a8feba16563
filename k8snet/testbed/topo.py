"""ClusterTopo: the base of every k8snet topology.

A topology is plain data, as in Mininet: ``build()`` records nodes, switches
and links with their Kubernetes facts as options; nothing touches the kernel.
Subclasses implement ``build(self, ..., **_opts)`` with ``addK8sNode`` and
``addFabricSwitch``; topology files export them in a ``TOPOS`` dict.

Node options the testbed reads: ``role`` (master, worker, external), ``ip``
(with prefix length), ``mac``, ``gateway`` (ip of the fabric gateway),
``labels`` (Kubernetes node labels), ``cpu``, ``memory`` and ``pods`` (the
node's size).
"""

from __future__ import annotations

from typing import Dict, Optional

from mininet.topo import Topo

from k8snet import naming
from k8snet.testbed import addressing

ROLES = ("master", "worker", "external")
ROLE_PREFIX = {"master": "m", "worker": "w", "external": "ext"}
SWITCH_ROLE_CODE = {"single": 1, "spine": 2, "leaf": 3}


class ClusterTopo(Topo):
    """A Mininet topology whose hosts are Kubernetes nodes."""

    def __init__(self, *args, cluster: str = naming.DEFAULT_CLUSTER, **params):
        self.cluster = naming.check_cluster_name(cluster)
        self._counts: Dict[str, int] = {role: 0 for role in ROLES}
        self._node_number = 0
        super().__init__(*args, **params)

    def addK8sNode(self, role: str, labels: Optional[Dict[str, str]] = None,
                cpu: str = "2", memory: str = "4Gi", pods: int = 110, **opts) -> str:
        """Add the next node of ``role``; name and address follow the plan."""
        if role not in ROLES:
            raise ValueError(f"node role must be one of {ROLES}, not {role!r}")
        self._counts[role] += 1
        name = f"{ROLE_PREFIX[role]}{self._counts[role]}"
        if role == "external":
            ip = addressing.external_ip(self._counts[role])
            gateway = addressing.EXTERNAL_GATEWAY
        else:
            self._node_number += 1
            ip = addressing.node_ip(self._node_number)
            gateway = addressing.NODE_GATEWAY
        node_labels = {"kubernetes.io/hostname": name, **(labels or {})}
        if role == "master":
            node_labels["node-role.kubernetes.io/control-plane"] = ""
        return self.addHost(
            name, role=role, ip=f"{ip}/{gateway.prefixlen}", mac=addressing.mac_for(ip),
            gateway=gateway.ip, labels=node_labels, cpu=cpu, memory=memory, pods=pods, **opts)

    def addFabricSwitch(self, role: str, index: int, **opts) -> str:
        """Add fabric switch ``index`` (1-based) of ``role`` (single, spine, leaf)."""
        name = naming.bridge_name(self.cluster, role, index)
        dpid = SWITCH_ROLE_CODE[role] * 0x1000 + index
        return self.addSwitch(name, dpid=f"{dpid:016x}", role=role, **opts)

    def nodes_of(self, role: str):
        return [h for h in self.hosts() if self.nodeInfo(h).get("role") == role]
