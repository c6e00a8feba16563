"""The controller loops: each reads informer snapshots, asks its pure module for a plan,
and applies it with the API client (conflicts are left for the next sync).

The loops live in loops_workloads (deployment, replicaset), loops_nodes (nodeipam,
nodelifecycle), loops_services (endpoints), loops_gc (garbagecollector, podgc) and
loops_namespace (namespace); this module is their registry (Options, their settings,
is in base).
"""

from __future__ import annotations

from k8snet.kcm.base import Options
from k8snet.kcm.loops_gc import GarbageCollectorLoop, PodGCLoop
from k8snet.kcm.loops_namespace import NamespaceLoop
from k8snet.kcm.loops_nodes import NodeIpamLoop, NodeLifecycleLoop
from k8snet.kcm.loops_services import EndpointsLoop
from k8snet.kcm.loops_workloads import DeploymentLoop, ReplicaSetLoop

LOOPS = (DeploymentLoop, ReplicaSetLoop, EndpointsLoop, NodeIpamLoop, NodeLifecycleLoop,
         GarbageCollectorLoop, PodGCLoop, NamespaceLoop)

__all__ = ["LOOPS", "Options", "DeploymentLoop", "ReplicaSetLoop", "EndpointsLoop",
           "NodeIpamLoop", "NodeLifecycleLoop", "GarbageCollectorLoop", "PodGCLoop",
           "NamespaceLoop"]
