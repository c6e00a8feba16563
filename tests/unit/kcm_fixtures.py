"""Builders of Deployment, ReplicaSet and Pod dicts for controller-manager unit tests."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Optional

from k8snet.machinery.timefmt import format_time

T0 = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.timezone.utc)


stamp = format_time


def template(image: str = "nginx:1", labels: Optional[dict] = None) -> dict:
    return {"metadata": {"labels": labels or {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": image}]}}


def deployment(replicas: int = 5, image: str = "nginx:1", surge="25%", unavailable="25%",
               strategy: str = "RollingUpdate", generation: int = 1, **spec_extra) -> dict:
    spec = {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
            "template": template(image),
            "strategy": {"type": strategy}}
    if strategy == "RollingUpdate":
        spec["strategy"]["rollingUpdate"] = {"maxSurge": surge, "maxUnavailable": unavailable}
    spec.update(spec_extra)
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "uid": "dep-uid",
                         "generation": generation, "annotations": {}},
            "spec": spec, "status": {}}


def replicaset(name: str, replicas: int, image: str = "nginx:1", available: Optional[int] = None,
               rev: int = 1, created: dt.datetime = T0, owner: str = "dep-uid",
               pod_hash: str = "h") -> dict:
    t = template(image)
    t["metadata"]["labels"]["pod-template-hash"] = pod_hash
    avail = replicas if available is None else available
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}",
                         "creationTimestamp": stamp(created), "generation": 1,
                         "annotations": {"deployment.kubernetes.io/revision": str(rev)},
                         "ownerReferences": [{"kind": "Deployment", "uid": owner,
                                              "controller": True, "name": "web"}]},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": t},
            "status": {"replicas": replicas, "availableReplicas": avail, "readyReplicas": avail}}


def rs_pod(name: str, rs: str = "rs1", ready: bool = True, node: Optional[str] = "n1",
           phase: str = "Running", created: dt.datetime = T0,
           ready_since: dt.datetime = T0, labels: Optional[dict] = None, ip: str = "") -> dict:
    conditions = [{"type": "Ready", "status": "True" if ready else "False",
                   "lastTransitionTime": stamp(ready_since)}]
    spec: dict = {"containers": [{"name": "c", "image": "nginx:1",
                                  "ports": [{"name": "http", "containerPort": 8080}]}]}
    if node:
        spec["nodeName"] = node
    status = {"phase": phase, "conditions": conditions}
    if ip:
        status["podIP"] = ip
    return {"metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}",
                         "labels": labels if labels is not None else {"app": "web",
                                                                         "pod-template-hash": "h"},
                         "creationTimestamp": stamp(created),
                         "ownerReferences": [{"kind": "ReplicaSet", "uid": f"uid-{rs}",
                                              "controller": True, "name": rs}]},
            "spec": spec, "status": status}


def copy_of(obj: dict) -> dict:
    return copy.deepcopy(obj)
