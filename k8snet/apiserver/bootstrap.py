"""What exists from the start: system namespaces, the `kubernetes` Service and Endpoints.
(Terminating namespaces are emptied and finalized by the controller-manager's namespace
controller, k8snet.kcm.namespace.)"""

from __future__ import annotations

import json

from k8snet.apiserver import alloc
from k8snet.apiserver.context import Ctx
from k8snet.apiserver.deletion import SYSTEM_NAMESPACES
from k8snet.apiserver.registry import Registry
from k8snet.apiserver.status import ApiStatusError
from k8snet.machinery import resources as kinds


def kubernetes_service(cluster_ip: str, port: int) -> dict:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kubernetes", "namespace": "default",
                         "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"type": "ClusterIP", "clusterIP": cluster_ip,
                     "ports": [{"name": "https", "port": 443, "protocol": "TCP",
                                "targetPort": port}]}}


def kubernetes_endpoints(ip: str, port: int) -> dict:
    return {"apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": "kubernetes", "namespace": "default",
                         "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
            "subsets": [{"addresses": [{"ip": ip}],
                         "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}]}


def bootstrap(reg: Registry, advertise_ip: str, port: int) -> None:
    """Idempotent start-up: repair address reservations, then ensure the defaults."""
    svc_info = kinds.RESOURCES["services"]
    items, _ = reg.store.list("/registry/services/")
    reg.ipam.repair([json.loads(v) for _, v, _ in items])
    ns_info = kinds.RESOURCES["namespaces"]
    for ns in SYSTEM_NAMESPACES:
        if reg.read(ns_info, None, ns) is None:
            try:
                reg.create(ns_info, None, {"metadata": {"name": ns}}, Ctx())
            except ApiStatusError as e:
                if e.code != 409:
                    raise
    if reg.read(svc_info, "default", "kubernetes") is None:
        try:
            reg.create(svc_info, "default",
                       kubernetes_service(alloc.reserved_cluster_ip(reg.ipam.cidr), port), Ctx())
        except ApiStatusError as e:
            if e.code != 409:
                raise
    ep_info = kinds.RESOURCES["endpoints"]
    want = kubernetes_endpoints(advertise_ip, port)
    cur = reg.read(ep_info, "default", "kubernetes")
    if cur is None or cur.get("subsets") != want["subsets"]:
        reg.update(ep_info, "default", "kubernetes", want, Ctx())
