"""Building the emulated network with Mininet: the effect layer.

Mininet is imported here and in ``topo.py`` only. Naming follows
``k8snet.naming``: nodes' fabric interfaces are ``eth<n>`` inside the node,
switch ports ``<bridge>p<port>`` in the root namespace.
"""

from __future__ import annotations

import json
import os
import subprocess
from functools import partial
from typing import Dict, List

from mininet.net import Mininet
from mininet.node import Host, OVSSwitch, RemoteController, Switch

from k8snet import naming
from k8snet.testbed.facts import describe_link, fabric_facts


def kernel_datapath_available() -> bool:
    """True when the openvswitch kernel module is loaded (or built in)."""
    return os.path.isdir("/sys/module/openvswitch")


def datapath() -> str:
    """The OVS datapath ``up`` uses: the kernel's where it exists."""
    return "kernel" if kernel_datapath_available() else "user"


class K8sNode(Host):
    """A Kubernetes node (or an external host) as a Mininet host.

    Extra options from the topology: ``role``, ``gateway`` (the fabric
    gateway's address), ``labels``, ``cpu``, ``memory``, ``pods``.
    """

    def config(self, gateway=None, role=None, **params):
        result = super().config(**params)
        if gateway:
            # Everything off the node's subnet goes to the fabric's gateway, which
            # the SDN controller answers and routes (or drops): the outside
            # subnet, other nodes' Pod CIDRs in routed mode, Service addresses
            # without endpoints (so kube-proxy's REJECT answers them).
            self.cmd(f"ip route replace default via {gateway}")
        return result


class FabricSwitch(OVSSwitch):
    """An OVS bridge of the fabric: OpenFlow 1.3, secure fail mode, the
    kernel datapath where it exists.

    A class rather than a ``partial``: Mininet uses OVS batch start-up only
    for classes with ``batchStartup``, and that runs ovs-vsctl as a
    subprocess. Without it each bridge's ports are added through the
    switch's shell, whose terminal line limit (4095 bytes) cuts the
    command short at about 47 ports.
    """

    def __init__(self, name, **params):
        params.setdefault("datapath", datapath())
        params.setdefault("protocols", "OpenFlow13")
        params.setdefault("failMode", "secure")
        super().__init__(name, **params)


class FabricController(RemoteController):
    """The os-ken controller that k8snet starts itself (see cluster.py)."""

    def checkListening(self):
        # k8snet waits for switches to connect with a deadline instead.
        return


class K8sMininet(Mininet):
    """Mininet with k8snet's interface names (15-character safe)."""

    def addLink(self, node1, node2, port1=None, port2=None, cls=None, **params):
        node1 = self[node1] if isinstance(node1, str) else node1
        node2 = self[node2] if isinstance(node2, str) else node2
        port1 = node1.newPort() if port1 is None else port1
        port2 = node2.newPort() if port2 is None else port2
        params.setdefault("intfName1", intf_name(node1, port1))
        params.setdefault("intfName2", intf_name(node2, port2))
        return super().addLink(node1, node2, port1, port2, cls, **params)


def intf_name(node, port: int) -> str:
    if isinstance(node, Switch):
        return naming.switch_port_name(node.name, port)
    return f"eth{port}"


def make_network(topo, ofp_port: int) -> K8sMininet:
    """A Mininet network for ``topo`` (not yet built) whose switches talk
    OpenFlow 1.3 to a controller on loopback port ``ofp_port``."""
    controller = partial(FabricController, ip="127.0.0.1", port=ofp_port)
    return K8sMininet(topo=topo, switch=FabricSwitch, host=K8sNode, controller=controller,
                      build=False, autoSetMacs=False, waitConnected=False)


def network_facts(net: K8sMininet, topo) -> Dict:
    """The controller's facts, read off a built network."""
    # The controller knows leaves, spines and edge switches; a lone switch is an edge.
    roles = {"single": "edge"}
    switches = [{"name": s.name, "dpid": int(s.dpid, 16),
                 "role": roles.get(topo.nodeInfo(s.name).get("role"),
                                   topo.nodeInfo(s.name).get("role", "edge"))}
                for s in net.switches]
    links, attachments = [], {}
    for link in net.links:
        ends = [{"node": intf.node.name, "port": intf.node.ports[intf],
                 "kind": "switch" if isinstance(intf.node, Switch) else "host"}
                for intf in (link.intf1, link.intf2)]
        kind, item = describe_link(*ends)
        if kind == "link":
            links.append(item)
        elif kind == "host":
            attachments[item["name"]] = item
    hosts = []
    for host in net.hosts:
        info = topo.nodeInfo(host.name)
        where = attachments.get(host.name)
        if where is None:
            continue
        ip, _, prefix = info["ip"].partition("/")
        hosts.append({"name": host.name, "ip": ip, "prefixlen": int(prefix or 32),
                      "mac": info["mac"], "switch": where["switch"], "port": where["port"],
                      "role": info.get("role", "worker")})
    return fabric_facts(switches, links, hosts)


def run(cmd: List[str], check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, check=check, timeout=timeout)


def attach_netns(name: str, pid: int) -> None:
    """Give a node's namespace an ``ip netns`` name (a bind mount of its ns)."""
    run(["ip", "netns", "attach", name, str(pid)])


def detach_netns(name: str) -> None:
    run(["ip", "netns", "delete", name], check=False)


def disable_tx_offload(net: K8sMininet) -> None:
    """Turn off transmit checksum offload on every interface that feeds a
    userspace switch (ENVIRONMENT.md: TCP breaks otherwise)."""
    if datapath() != "user":
        return
    for host in net.hosts:
        for intf in host.intfList():
            if intf.name != "lo":
                host.cmd(f"ethtool -K {intf.name} tx off >/dev/null 2>&1")
    for switch in net.switches:
        for intf in switch.intfList():
            if intf.name != "lo":
                run(["ethtool", "-K", intf.name, "tx", "off"], check=False)


def connected_switches(net: K8sMininet) -> List[str]:
    """Names of the switches whose controller connection is up, from one
    ovs-vsctl call for all of them."""
    names = [switch.name for switch in net.switches]
    out = run(["ovs-vsctl", "--timeout=5", "--format=json", "--columns=name,controller",
               "list", "Bridge", *names, "--", "--columns=_uuid,is_connected", "list",
               "Controller"], check=False)
    if out.returncode != 0:
        return []
    docs = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    if len(docs) != 2:
        return []
    return connected_from(docs[0], docs[1])


def connected_from(bridges: Dict, controllers: Dict) -> List[str]:
    """The bridges (ovs-vsctl's JSON of Bridge name,controller) with a connected
    controller (ovs-vsctl's JSON of Controller _uuid,is_connected)."""
    up = {row[0][1] for row in controllers.get("data", []) if row[1] is True}
    connected = []
    for name, refs in bridges.get("data", []):
        uuids = [refs[1]] if refs and refs[0] == "uuid" else \
            [ref[1] for ref in (refs[1] if refs and refs[0] == "set" else [])]
        if any(u in up for u in uuids):
            connected.append(name)
    return connected


def tcp_listening(port: int, table: str = "/proc/net/tcp") -> bool:
    """True when a socket of this network namespace listens on TCP ``port``
    (read from the kernel's table: no connection is made)."""
    try:
        with open(table) as fh:
            lines = fh.readlines()[1:]
    except OSError:
        return False
    return listening_in(lines, port)


def listening_in(lines: List[str], port: int) -> bool:
    """Whether /proc/net/tcp ``lines`` show a LISTEN socket (state 0A) on ``port``."""
    for line in lines:
        fields = line.split()
        if len(fields) > 3 and fields[3] == "0A" and \
                int(fields[1].rsplit(":", 1)[1], 16) == port:
            return True
    return False

