"""The controller loops: each reads informer snapshots, asks its pure module for a plan,
and applies it with the API client (conflicts are left for the next sync).

The loops live in loops_workloads (deployment, replicaset), loops_nodes (nodeipam,
nodelifecycle), loops_services (endpoints), loops_gc (garbagecollector, podgc),
loops_namespace (namespace), loops_batch (job, cronjob), loops_apps (daemonset,
statefulset), loops_slices (endpointslice), loops_policy (disruption), loops_storage
(persistentvolume-binder, storage-protection) and loops_accounts (serviceaccount,
root-ca-cert-publisher); this module is their registry (Options, their settings, is in
base).
"""

from __future__ import annotations

from k8snet.kcm.base import Options
from k8snet.kcm.loops_accounts import RootCAPublisherLoop, ServiceAccountLoop
from k8snet.kcm.loops_apps import DaemonSetLoop, StatefulSetLoop
from k8snet.kcm.loops_batch import CronJobLoop, JobLoop
from k8snet.kcm.loops_gc import GarbageCollectorLoop, PodGCLoop
from k8snet.kcm.loops_namespace import NamespaceLoop
from k8snet.kcm.loops_nodes import NodeIpamLoop, NodeLifecycleLoop
from k8snet.kcm.loops_policy import DisruptionLoop
from k8snet.kcm.loops_services import EndpointsLoop
from k8snet.kcm.loops_slices import EndpointSliceLoop
from k8snet.kcm.loops_storage import PersistentVolumeLoop, StorageProtectionLoop
from k8snet.kcm.loops_workloads import DeploymentLoop, ReplicaSetLoop

LOOPS = (DeploymentLoop, ReplicaSetLoop, EndpointsLoop, NodeIpamLoop, NodeLifecycleLoop,
         GarbageCollectorLoop, PodGCLoop, NamespaceLoop, JobLoop, DaemonSetLoop,
         EndpointSliceLoop, StatefulSetLoop, CronJobLoop, DisruptionLoop,
         PersistentVolumeLoop, StorageProtectionLoop, ServiceAccountLoop, RootCAPublisherLoop)

__all__ = ["LOOPS", "Options", "DeploymentLoop", "ReplicaSetLoop", "EndpointsLoop",
           "NodeIpamLoop", "NodeLifecycleLoop", "GarbageCollectorLoop", "PodGCLoop",
           "NamespaceLoop", "JobLoop", "DaemonSetLoop", "EndpointSliceLoop",
           "StatefulSetLoop", "CronJobLoop", "DisruptionLoop", "PersistentVolumeLoop",
           "StorageProtectionLoop", "ServiceAccountLoop", "RootCAPublisherLoop"]
