"""How k8snet names what it makes. Written down once, here.

Everything k8snet creates carries a prefix so that `k8snet clean` can find it
and leave everything else alone:

- cluster names: 1-6 characters, ``[a-z][a-z0-9]*`` (they end up inside
  interface names, which Linux caps at 15 characters);
- OVS bridges (fabric switches): ``kn<cluster>-<r><i>`` where ``r`` is ``s``
  (spine), ``l`` (leaf) or ``x`` (a single switch), e.g. ``knk8s-l2``;
- switch ports (root namespace): ``<bridge>p<port>``, e.g. ``knk8s-l2p3``;
- node hosts: ``m1..`` (masters), ``w1..`` (workers), ``ext1..`` (outside the
  cluster); each node's interface to the fabric is ``eth0`` inside it;
- node network namespaces, visible to ``ip netns``: ``k8snet-<cluster>-<node>``;
- per-cluster state and logs: ``/run/k8snet/<cluster>/``.
"""

from __future__ import annotations

import re

from k8snet.errors import UsageError

IFNAMSIZ = 15  # usable characters in a Linux interface name
NETNS_PREFIX = "k8snet-"
BRIDGE_PREFIX = "kn"
STATE_ROOT = "/run/k8snet"
CLUSTER_NAME_RE = re.compile(r"^[a-z][a-z0-9]{0,5}$")
BRIDGE_RE = re.compile(r"^kn([a-z][a-z0-9]{0,5})-([slx])(\d{1,3})$")
SWITCH_ROLES = {"spine": "s", "leaf": "l", "single": "x"}
MAX_SWITCH_PORT = 99
DEFAULT_CLUSTER = "k8s"


def check_cluster_name(name: str) -> str:
    """Return ``name`` if it can name a cluster, else raise a UsageError."""
    if not CLUSTER_NAME_RE.match(name or ""):
        raise UsageError(
            f"cluster name {name!r} is not valid: use 1-6 characters, a lowercase letter "
            "first, then lowercase letters or digits (e.g. --name lab1)")
    return name


def bridge_name(cluster: str, role: str, index: int) -> str:
    """The OVS bridge name of a fabric switch, e.g. ``knk8s-s1``."""
    if role not in SWITCH_ROLES:
        raise ValueError(f"unknown switch role {role!r}")
    name = f"{BRIDGE_PREFIX}{cluster}-{SWITCH_ROLES[role]}{index}"
    if len(name) + len(f"p{MAX_SWITCH_PORT}") > IFNAMSIZ:
        raise UsageError(f"switch name {name} leaves no room for port names; "
                         "use a shorter cluster name")
    return name


def parse_bridge_name(name: str):
    """``(cluster, role letter, index)`` for a k8snet bridge name, else None."""
    m = BRIDGE_RE.match(name)
    return (m.group(1), m.group(2), int(m.group(3))) if m else None


def switch_port_name(bridge: str, port: int) -> str:
    """Name of port ``port`` of switch ``bridge`` (root namespace)."""
    name = f"{bridge}p{port}"
    if len(name) > IFNAMSIZ:
        raise UsageError(f"switch {bridge} has too many ports for a 15-character name "
                         f"(port {port}); use fewer nodes per switch")
    return name


def host_link_name(cluster: str, node: str, index: int) -> str:
    """Temporary root-namespace name of a node's link end before it moves
    into the node and is renamed ``eth<index>``."""
    name = f"{BRIDGE_PREFIX}{cluster}-{node}e{index}"
    if len(name) > IFNAMSIZ:
        raise UsageError(f"node name {node!r} is too long for cluster {cluster!r}: "
                         "keep cluster + node names within 9 characters")
    return name


def node_netns(cluster: str, node: str) -> str:
    """The ``ip netns`` name of a node's network namespace."""
    return f"{NETNS_PREFIX}{cluster}-{node}"


def cluster_of_netns(netns: str):
    """The cluster a k8snet namespace belongs to, or None if not k8snet's."""
    if not netns.startswith(NETNS_PREFIX):
        return None
    rest = netns[len(NETNS_PREFIX):]
    cluster = rest.split("-", 1)[0]
    return cluster if CLUSTER_NAME_RE.match(cluster) else None


def state_dir(cluster: str, root: str = STATE_ROOT) -> str:
    return f"{root}/{cluster}"
