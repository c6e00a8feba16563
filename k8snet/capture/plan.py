"""Where `k8snet capture TARGET` listens: a pure decision over the cluster's state.

TARGET is, first match wins:

- a switch port (``knlab-l1p3``): its interface in the root namespace;
- a node (``w1``, ``m1``, ``ext1``): its fabric interface ``eth0`` in its
  namespace (``--iface`` picks another, e.g. ``vxlan.k8snet`` or a Pod's veth);
- a Pod (``name`` or ``namespace/name``): ``eth0`` inside its sandbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional

from k8snet.errors import UsageError
from k8snet.trace.path import port_of


@dataclass(frozen=True)
class Where:
    """A capture point: ``kind`` is port, node or pod; ``netns`` None is the root."""

    kind: str
    name: str
    iface: str
    node: Optional[str] = None      # the node a Pod runs on
    uid: Optional[str] = None       # the Pod's uid (its sandbox is found by it)


def locate(target: str, switches: Iterable[str], nodes: Iterable[str],
           pods: Iterable[dict], iface: Optional[str] = None,
           namespace: str = "default") -> Where:
    """The capture point for ``target``; UsageError naming what exists."""
    switches, nodes = list(switches), list(nodes)
    found = port_of(target)
    if found and found[0] in switches:
        if iface and iface != target:
            raise UsageError(f"{target} is a switch port: leave out --iface")
        return Where("port", target, target)
    if target in nodes:
        return Where("node", target, iface or "eth0", node=target)
    ns, _, name = target.rpartition("/")
    ns = ns or namespace
    for pod in pods:
        meta = pod.get("metadata", {})
        if (meta.get("namespace"), meta.get("name")) == (ns, name):
            node = pod.get("spec", {}).get("nodeName")
            if not node:
                raise UsageError(f"pod {ns}/{name} is not scheduled yet: nothing to capture")
            return Where("pod", f"{ns}/{name}", iface or "eth0", node=node,
                         uid=meta.get("uid"))
    raise UsageError(f"{target!r} is not a switch port, node or Pod of the cluster "
                     f"(nodes: {', '.join(nodes)}; switch ports look like "
                     f"{(switches or ['kn<cluster>-l1'])[0]}p1)")


def tcpdump_argv(iface: str, write: str, bpf: str = "", count: Optional[int] = None,
                 snaplen: int = 262144) -> list:
    """tcpdump writing pcap to ``write`` (``-`` for stdout), packet-buffered so a
    pipe into ``wireshark -k -i -`` sees each packet at once."""
    argv = ["tcpdump", "-i", iface, "-U", "-n", "-s", str(snaplen), "-w", write]
    if count:
        argv += ["-c", str(count)]
    if bpf:
        argv.append(bpf)
    return argv
