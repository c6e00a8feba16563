"""Endpoints controller decisions: a Service's Endpoints from the Pods it selects."""

from __future__ import annotations

from typing import Optional

from k8snet.kcm.objects import is_terminating, meta, name_of
from k8snet.machinery.conditions import is_ready


def resolve_target_port(service_port: dict, pod: dict) -> Optional[int]:
    """targetPort as a number, or by name from the Pod's container ports (None if absent)."""
    target = service_port.get("targetPort", service_port.get("port"))
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    protocol = service_port.get("protocol") or "TCP"
    for c in (pod.get("spec") or {}).get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("name") == target and (p.get("protocol") or "TCP") == protocol:
                return int(p["containerPort"])
    return None


def _address(pod: dict) -> dict:
    m = meta(pod)
    address = {"ip": (pod.get("status") or {}).get("podIP"),
               "targetRef": {"kind": "Pod", "namespace": m.get("namespace"),
                             "name": m.get("name"), "uid": m.get("uid")}}
    node = (pod.get("spec") or {}).get("nodeName")
    if node:
        address["nodeName"] = node
    return address


def _address_key(address: dict) -> tuple:
    return address["ip"], address["targetRef"]["name"]


def selected_pods(service: dict, pods: list[dict]) -> list[dict]:
    """Pods in the Service's namespace with every selector label, an IP, and not ending."""
    selector = (service.get("spec") or {}).get("selector") or {}
    ns = meta(service).get("namespace")
    chosen = []
    for p in pods:
        labels = meta(p).get("labels") or {}
        if meta(p).get("namespace") != ns or any(labels.get(k) != v for k, v in selector.items()):
            continue
        status = p.get("status") or {}
        if not status.get("podIP") or status.get("phase") in ("Succeeded", "Failed"):
            continue
        if is_terminating(p) and not (service.get("spec") or {}).get("publishNotReadyAddresses"):
            continue
        chosen.append(p)
    return chosen


def desired_subsets(service: dict, pods: list[dict]) -> list[dict]:
    """Subsets grouping Pods by the ports they resolve; Ready Pods in addresses,
    the others in notReadyAddresses (all in addresses with publishNotReadyAddresses)."""
    spec = service.get("spec") or {}
    publish_all = bool(spec.get("publishNotReadyAddresses"))
    groups: dict[tuple, dict] = {}
    for pod in selected_pods(service, pods):
        ports = []
        for sp in spec.get("ports") or []:
            number = resolve_target_port(sp, pod)
            if number is None:
                continue
            port = {"port": number, "protocol": sp.get("protocol") or "TCP"}
            if sp.get("name"):
                port["name"] = sp["name"]
            if sp.get("appProtocol"):
                port["appProtocol"] = sp["appProtocol"]
            ports.append(port)
        if not ports and spec.get("ports"):
            continue
        key = tuple(sorted((p.get("name", ""), p["port"], p["protocol"]) for p in ports))
        group = groups.setdefault(key, {"addresses": [], "notReadyAddresses": [],
                                        "ports": sorted(ports, key=lambda p: (
                                            p.get("name", ""), p["port"]))})
        ready = publish_all or is_ready(pod)
        group["addresses" if ready else "notReadyAddresses"].append(_address(pod))
    subsets = []
    for key in sorted(groups):
        group = groups[key]
        subset: dict = {}
        for field in ("addresses", "notReadyAddresses"):
            if group[field]:
                subset[field] = sorted(group[field], key=_address_key)
        if group["ports"]:
            subset["ports"] = group["ports"]
        subsets.append(subset)
    return subsets


def desired_endpoints(service: dict, pods: list[dict]) -> Optional[dict]:
    """The Endpoints for a Service with a selector (None: not managed by this controller)."""
    if not (service.get("spec") or {}).get("selector"):
        return None
    m = meta(service)
    endpoints = {"apiVersion": "v1", "kind": "Endpoints",
                 "metadata": {"name": name_of(service), "namespace": m.get("namespace")},
                 "subsets": desired_subsets(service, pods)}
    if m.get("labels"):
        endpoints["metadata"]["labels"] = dict(m["labels"])
    return endpoints


def endpoints_differ(current: Optional[dict], wanted: dict) -> bool:
    """Whether the stored Endpoints must be written (subsets or labels changed)."""
    if current is None:
        return True
    return ((current.get("subsets") or []) != wanted["subsets"]
            or (meta(current).get("labels") or {}) != (meta(wanted).get("labels") or {}))
