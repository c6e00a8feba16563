"""What the user asked for, checked before anything is built.

A `ClusterSpec` is plain data: what ``up`` takes, written into the cluster's
state. ``check_spec`` is pure and raises a `UsageError` that says, in one
line, what was wrong and how to fix it; ``validate_spec`` also loads the
topology and builds it (plain data too), so a topology that cannot be built
with these options is refused before anything touches the machine.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple, Type

from k8snet import naming
from k8snet.cni import MODES
from k8snet.errors import K8snetError, UsageError
from k8snet.proxy import MODES as PROXY_MODES
from k8snet.testbed import typed

BUILTIN_TOPOLOGIES = ("single", "leaf-spine")
STORES = ("sqlite", "etcd")


@dataclass
class ClusterSpec:
    """A cluster to build: plain data, written into the cluster's state.

    ``workers``, ``spines``, ``leaves`` and ``extra`` go to the topology's
    ``build`` (None keeps its default); ``mode`` is the Pod network (routed,
    overlay, macvlan); ``proxy_mode`` how every worker's kube-proxy programs
    Services (iptables, nftables); ``network_only`` builds the fabric and
    nodes without Kubernetes; ``node_agent`` runs each worker's components in
    one process; ``timeout`` bounds the whole bring-up.
    """

    __pydantic_config__ = typed.STRICT

    name: str = naming.DEFAULT_CLUSTER
    topology: str = "single"
    workers: Optional[int] = None
    masters: int = 1
    spines: Optional[int] = None
    leaves: Optional[int] = None
    mode: str = "routed"
    store: str = "sqlite"
    proxy_mode: str = "iptables"
    network_only: bool = False
    # One node-agent process per worker hosting its runtime, policy agent,
    # kubelet, (overlay agent) and kube-proxy (k8snet.nodeagent); False: one
    # process each, which `k8snet fault` can kill one at a time.
    node_agent: bool = True
    timeout: float = 180.0
    extra: Dict[str, Any] = field(default_factory=dict)

    def topo_params(self) -> Dict[str, object]:
        """Keyword arguments for the topology's ``build``; unset ones keep its defaults."""
        params = {"masters": self.masters, **self.extra}
        for key in ("workers", "spines", "leaves"):
            value = getattr(self, key)
            if value is not None:
                params[key] = value
        return params

    def to_dict(self) -> Dict[str, Any]:
        return typed.to_doc(self)

    @classmethod
    def from_dict(cls, doc: Any) -> ClusterSpec:
        """A spec from its ``to_dict`` form; ValueError naming a bad or unknown field."""
        return typed.from_doc(cls, doc, "cluster spec")


def check_spec(spec: ClusterSpec) -> ClusterSpec:
    """Raise UsageError for anything that cannot be built."""
    naming.check_cluster_name(spec.name)
    for key, least in (("workers", 1), ("masters", 1), ("spines", 1), ("leaves", 1)):
        value = getattr(spec, key)
        if value is not None and value < least:
            raise UsageError(f"--{key} must be at least {least}, not {value}")
    if spec.workers is not None and spec.workers > 500:
        raise UsageError(f"--workers {spec.workers} is more than this testbed handles (500)")
    if spec.mode not in MODES:
        raise UsageError(f"--mode must be one of {', '.join(MODES)}, not {spec.mode!r}")
    if spec.store not in STORES:
        raise UsageError(f"--store must be one of {', '.join(STORES)}, not {spec.store!r}")
    if spec.proxy_mode not in PROXY_MODES:
        raise UsageError(f"--proxy-mode must be one of {', '.join(PROXY_MODES)}, "
                         f"not {spec.proxy_mode!r}")
    if spec.topology not in BUILTIN_TOPOLOGIES and not spec.topology.endswith(".py"):
        raise UsageError(
            f"unknown topology {spec.topology!r}: use one of {', '.join(BUILTIN_TOPOLOGIES)} "
            "or the path of a .py file that defines TOPOS")
    if spec.timeout <= 0:
        raise UsageError("--timeout must be positive")
    check_masters(spec.masters, spec.store)
    return spec


def check_masters(masters: int, store: str) -> None:
    if masters > 1 and store != "etcd":
        raise UsageError(f"--masters {masters} needs '--store etcd': the SQLite store is one "
                         "file on one master, etcd replicates across masters")


def validate_spec(spec: ClusterSpec) -> ClusterSpec:
    """`check_spec`, then load the topology and build it (plain data: nothing
    touches the machine) so that options it cannot take are refused now."""
    check_spec(spec)
    topo_cls = load_topology(spec.topology)
    try:
        topo = topo_cls(cluster=spec.name, **spec.topo_params())
    except K8snetError:
        raise
    except Exception as exc:  # a topology's own complaint about its options
        raise UsageError(f"topology {spec.topology} cannot be built with these options: "
                         f"{type(exc).__name__}: {exc}") from exc
    if not topo.hosts():
        raise UsageError(f"topology {spec.topology} has no nodes")
    return spec


def split_topology(topology: str) -> Tuple[str, Optional[str]]:
    """``path.py:Name`` -> (path, Name); ``path.py`` -> (path, None)."""
    if ".py:" in topology:
        path, _, name = topology.rpartition(":")
        return path, name
    return topology, None


def load_topology(topology: str) -> Type:
    """The Topo class for a built-in name or a user's ``PATH.py[:NAME]``."""
    if topology in BUILTIN_TOPOLOGIES:
        from topologies import TOPOS

        return TOPOS[topology]
    path, wanted = split_topology(topology)
    if not os.path.isfile(path):
        raise UsageError(f"topology file {path} does not exist")
    module_spec = importlib.util.spec_from_file_location("k8snet_user_topology", path)
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except Exception as exc:  # a user's file: any error is theirs to fix
        raise UsageError(f"topology file {path} failed to load: "
                         f"{type(exc).__name__}: {exc}") from exc
    topos = getattr(module, "TOPOS", None)
    if not isinstance(topos, dict) or not topos:
        raise UsageError(f"topology file {path} has no TOPOS dict; add one mapping a name "
                         "to your Topo class, e.g. TOPOS = {'mine': MyTopo}")
    if wanted is None:
        return next(iter(topos.values()))
    if wanted not in topos:
        raise UsageError(f"topology file {path} has no {wanted!r} in TOPOS "
                         f"(it has: {', '.join(topos)})")
    return topos[wanted]
