"""Builders of Node and Pod dicts for scheduler and controller-manager unit tests."""

from __future__ import annotations

from typing import Optional


def node(name: str, cpu: str = "4", memory: str = "8Gi", pods: str = "110",
         labels: Optional[dict] = None, taints: Optional[list] = None, ready: str = "True",
         unschedulable: bool = False) -> dict:
    spec: dict = {}
    if taints:
        spec["taints"] = taints
    if unschedulable:
        spec["unschedulable"] = True
    all_labels = {"kubernetes.io/hostname": name}
    all_labels.update(labels or {})
    return {
        "metadata": {"name": name, "labels": all_labels},
        "spec": spec,
        "status": {"allocatable": {"cpu": cpu, "memory": memory, "pods": pods},
                   "conditions": [{"type": "Ready", "status": ready}]},
    }


def pod(name: str, cpu: Optional[str] = None, memory: Optional[str] = None,
        node_name: Optional[str] = None, labels: Optional[dict] = None, ns: str = "default",
        owner: Optional[str] = None, phase: str = "Pending", **spec_extra) -> dict:
    requests = {}
    if cpu:
        requests["cpu"] = cpu
    if memory:
        requests["memory"] = memory
    container = {"name": "c", "image": "busybox", "resources": {"requests": requests}}
    spec = {"containers": [container], "schedulerName": "default-scheduler"}
    if node_name:
        spec["nodeName"] = node_name
    spec.update(spec_extra)
    meta: dict = {"name": name, "namespace": ns, "labels": labels or {}, "uid": f"uid-{name}"}
    if owner:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                    "name": owner, "uid": f"uid-{owner}", "controller": True}]
    return {"metadata": meta, "spec": spec, "status": {"phase": phase}}
