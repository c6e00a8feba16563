"""Macvlan (underlay) mode, node side: the Pods' CNI plugin config and the node's shim.

Pods sit directly on the fabric: the reference ``macvlan`` plugin (mode bridge)
makes each Pod's ``eth0`` a macvlan child of the node's fabric interface, and the
os-ken app routes every Pod as a /32 (:mod:`k8snet.fabric.pods`). Addresses in the
node's podCIDR (``host-local``), e.g. for 10.244.3.0/24:

- ``10.244.3.1``: the Pod gateway. No device has it: the controller answers ARP
  for it with the fabric gateway's MAC, so a Pod's default route leads straight
  into the fabric's router tables (other nodes' Pods, other nodes, the outside).
- ``10.244.3.254``: the node's macvlan shim ``k8s-mvl0`` (same parent, mode
  bridge). A macvlan child never talks to its parent, so node <-> local Pod
  traffic (kubelet probes, kube-proxy's DNAT to a local endpoint, NodePorts)
  needs a sibling on the node: the node routes its podCIDR through the shim
  (``src`` = node IP, so Pods see probes from the node's address), and Pods route
  the Service range and the node's own address through the shim's address.
  Chosen over hairpinning on the switch: node <-> local Pod traffic then never
  depends on the controller having learned the Pod, and stays off the (slow,
  userspace) fabric, as it would with a veth.
- ``.2`` .. ``.253``: Pods.

Services: a Pod's Service traffic enters the node through the shim, where
kube-proxy's DNAT applies. The endpoint's reply, though, goes straight to the
client Pod over the fabric (its /32), never back through the node that did the
DNAT, so that node masquerades what its Pods send to a Service (chain
``K8SNET-MACVLAN``: source in the podCIDR and DNATed). Endpoints see the node's
address for Service traffic (like kube-proxy's masquerade-all); direct
Pod-to-Pod traffic is never translated. Pure functions render; ``prepare_node``
acts (in the node's network namespace, where the kubelet runs).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import subprocess
from typing import Sequence

from k8snet.errors import K8snetError

SHIM = "k8s-mvl0"
CHAIN = "K8SNET-MACVLAN"
SERVICE_CIDR = "10.96.0.0/12"
CMD_TIMEOUT = 20.0
LOG = logging.getLogger(__name__)


def addresses(pod_cidr: str) -> dict[str, str]:
    """The plan above for one block: gateway, shim, first and last Pod address."""
    net = ipaddress.IPv4Network(pod_cidr)
    if net.num_addresses < 8:
        raise ValueError(f"podCIDR {pod_cidr} is too small for macvlan mode (/29 at least)")
    base, last = net.network_address, net.broadcast_address
    return {"gateway": str(base + 1), "shim": str(last - 1), "first": str(base + 2),
            "last": str(last - 2)}


def cni_plugin(pod_cidr: str, master: str, node_ip: str, mtu: int, data_dir: str,
               service_cidr: str = SERVICE_CIDR) -> dict:
    """The ``macvlan`` plugin entry of the node's conflist (host-local IPAM, Pod routes)."""
    a = addresses(pod_cidr)
    rng = {"subnet": str(ipaddress.IPv4Network(pod_cidr)), "gateway": a["gateway"],
           "rangeStart": a["first"], "rangeEnd": a["last"]}
    routes = [{"dst": "0.0.0.0/0"},
              {"dst": str(ipaddress.IPv4Network(service_cidr)), "gw": a["shim"]},
              {"dst": f"{node_ip}/32", "gw": a["shim"]}]
    return {"type": "macvlan", "master": master, "mode": "bridge", "mtu": mtu,
            "ipam": {"type": "host-local", "ranges": [[rng]], "routes": routes,
                     "dataDir": data_dir}}


def fabric_interface(ip_addr_json: str, node_ip: str) -> str:
    """The interface holding ``node_ip``, from ``ip -j -4 addr show`` output."""
    for link in json.loads(ip_addr_json or "[]"):
        for addr in link.get("addr_info") or []:
            if addr.get("local") == node_ip:
                return str(link["ifname"])
    raise K8snetError(f"no interface of this node holds {node_ip}: macvlan mode needs the "
                      "node's fabric interface (is --node-ip right?)")


def node_commands(pod_cidr: str, master: str, node_ip: str) -> list[list[str]]:
    """Idempotent commands that set up the shim, its route and the Service masquerade.
    (Creating the shim itself is conditional: see :func:`prepare_node`.)"""
    a = addresses(pod_cidr)
    net = str(ipaddress.IPv4Network(pod_cidr))
    nat = ["iptables", "-w", "5", "-t", "nat"]
    return [
        ["ip", "addr", "replace", f"{a['shim']}/32", "dev", SHIM],
        ["ip", "link", "set", SHIM, "up"],
        ["ethtool", "-K", SHIM, "tx", "off"],  # it sends into a userspace OVS datapath
        ["ip", "route", "replace", net, "dev", SHIM, "src", node_ip],
        [*nat, "-F", CHAIN],
        [*nat, "-A", CHAIN, "-s", net, "-m", "conntrack", "--ctstate", "DNAT",
         "-m", "comment", "--comment", "macvlan Pods' Service traffic: replies must return "
         "through this node", "-j", "MASQUERADE"],
    ]


def _run(argv: Sequence[str], check: bool = True) -> subprocess.CompletedProcess:
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=CMD_TIMEOUT,
                              check=False)
    except subprocess.TimeoutExpired as exc:
        raise K8snetError(f"{' '.join(argv)}: no answer within {CMD_TIMEOUT:g}s") from exc
    if check and proc.returncode != 0:
        raise K8snetError(f"{' '.join(argv)} failed: {proc.stderr.strip()}")
    return proc


def prepare_node(pod_cidr: str, node_ip: str) -> dict[str, str]:
    """Set up this node (its network namespace) for macvlan Pods; returns the
    ``master`` and ``node_ip`` arguments for :func:`k8snet.cni.render_conflist`."""
    master = fabric_interface(_run(["ip", "-j", "-4", "addr", "show"]).stdout, node_ip)
    if _run(["ip", "link", "show", SHIM], check=False).returncode != 0:
        _run(["ip", "link", "add", SHIM, "link", master, "type", "macvlan", "mode", "bridge"])
    with open("/proc/sys/net/ipv4/ip_forward", "w", encoding="ascii") as fh:
        fh.write("1\n")  # this namespace's: Pods' Service and node traffic is routed here
    _run(["iptables", "-w", "5", "-t", "nat", "-N", CHAIN], check=False)  # may exist
    for argv in node_commands(pod_cidr, master, node_ip):
        _run(argv, check=argv[0] != "ethtool")
    jump = ["POSTROUTING", "-j", CHAIN]
    if _run(["iptables", "-w", "5", "-t", "nat", "-C", *jump], check=False).returncode != 0:
        _run(["iptables", "-w", "5", "-t", "nat", "-I", *jump])
    LOG.info("macvlan: shim %s on %s, %s routed through it", SHIM, master, pod_cidr)
    return {"master": master, "node_ip": node_ip}
