"""EndpointSlice controllers' decisions (discovery.k8s.io/v1), pure.

- The EndpointSlice controller: for every Service with a selector, slices of at most
  100 endpoints holding the selected Pods that have an IP and have not finished,
  grouped by the ports they resolve. Each endpoint has conditions ready (serving and
  not terminating; always true with publishNotReadyAddresses), serving (the Pod is
  Ready) and terminating (the Pod is being deleted), its nodeName, zone and a
  targetRef to the Pod. A Service selecting nothing keeps one empty slice.
- The EndpointSlice mirroring controller: for a Service without a selector, slices
  mirroring the Endpoints someone wrote for it (addresses ready, notReadyAddresses
  not ready).

Slices carry the labels kubernetes.io/service-name and
endpointslice.kubernetes.io/managed-by (plus the Service's own labels, and
service.kubernetes.io/headless for a headless Service) and are owned by the Service.
Existing slices are reused in place (the same names) when their ports match.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Optional

from k8snet.kcm.endpoints import resolve_target_port
from k8snet.kcm.objects import is_terminating, meta, name_of, uid_of
from k8snet.machinery.conditions import is_ready

MAX_ENDPOINTS = 100
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
CONTROLLER = "endpointslice-controller.k8s.io"
MIRROR_CONTROLLER = "endpointslicemirroring-controller.k8s.io"
HEADLESS_LABEL = "service.kubernetes.io/headless"
ZONE_LABEL = "topology.kubernetes.io/zone"


@dataclass
class SlicePlan:
    """Slices to `create` (full objects), to `update` (full objects with their names and
    resourceVersions) and to `delete` (names)."""

    create: list[dict] = field(default_factory=list)
    update: list[dict] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)


def _address_type(ip: str) -> str:
    try:
        return "IPv6" if ipaddress.ip_address(ip).version == 6 else "IPv4"
    except ValueError:
        return "FQDN"


def pod_endpoint(service: dict, pod: dict, zones: dict[str, str]) -> dict:
    """One endpoint for a selected Pod."""
    status, m = pod.get("status") or {}, meta(pod)
    terminating = is_terminating(pod)
    serving = is_ready(pod)
    if (service.get("spec") or {}).get("publishNotReadyAddresses"):
        serving, ready = True, True
    else:
        ready = serving and not terminating
    endpoint: dict = {"addresses": [status["podIP"]],
                      "conditions": {"ready": ready, "serving": serving,
                                     "terminating": terminating},
                      "targetRef": {"kind": "Pod", "namespace": m.get("namespace"),
                                    "name": m.get("name"), "uid": m.get("uid")}}
    node = (pod.get("spec") or {}).get("nodeName")
    if node:
        endpoint["nodeName"] = node
        if zones.get(node):
            endpoint["zone"] = zones[node]
    return endpoint


def _selects(service: dict, pod: dict) -> bool:
    selector = (service.get("spec") or {}).get("selector") or {}
    labels = meta(pod).get("labels") or {}
    return meta(pod).get("namespace") == meta(service).get("namespace") and \
        all(labels.get(k) == v for k, v in selector.items())


def _pod_ports(service: dict, pod: dict) -> Optional[list[dict]]:
    """The slice ports for one Pod (None: it resolves none of the Service's ports)."""
    spec = service.get("spec") or {}
    ports = []
    for sp in spec.get("ports") or []:
        number = resolve_target_port(sp, pod)
        if number is None:
            continue
        port = {"name": sp.get("name") or "", "port": number,
                "protocol": sp.get("protocol") or "TCP"}
        if sp.get("appProtocol"):
            port["appProtocol"] = sp["appProtocol"]
        ports.append(port)
    if spec.get("ports") and not ports:
        return None
    return sorted(ports, key=lambda p: (p["name"], p["port"], p["protocol"]))


def _endpoint_key(endpoint: dict) -> tuple:
    return endpoint["addresses"][0], (endpoint.get("targetRef") or {}).get("name", "")


def desired_groups(service: dict, pods: list[dict], zones: dict[str, str]
                   ) -> dict[tuple, tuple[list[dict], list[dict]]]:
    """Port-set key -> (ports, endpoints) for a Service with a selector."""
    groups: dict[tuple, tuple[list[dict], list[dict]]] = {}
    for pod in pods:
        status = pod.get("status") or {}
        if not _selects(service, pod) or not status.get("podIP") or \
                status.get("phase") in ("Succeeded", "Failed"):
            continue
        ports = _pod_ports(service, pod)
        if ports is None:
            continue
        key = _ports_key(ports)
        groups.setdefault(key, (ports, []))[1].append(pod_endpoint(service, pod, zones))
    return groups


def mirrored_groups(endpoints: Optional[dict]) -> dict[tuple, tuple[list[dict], list[dict]]]:
    """Port-set key -> (ports, endpoints) mirroring a custom Endpoints object."""
    groups: dict[tuple, tuple[list[dict], list[dict]]] = {}
    for subset in (endpoints or {}).get("subsets") or []:
        ports = sorted(({"name": p.get("name") or "", "port": int(p["port"]),
                         "protocol": p.get("protocol") or "TCP"}
                        for p in subset.get("ports") or [] if p.get("port")),
                       key=lambda p: (p["name"], p["port"], p["protocol"]))
        key = _ports_key(ports)
        for field_name, ready in (("addresses", True), ("notReadyAddresses", False)):
            for address in subset.get(field_name) or []:
                if not address.get("ip"):
                    continue
                endpoint: dict = {"addresses": [address["ip"]],
                                  "conditions": {"ready": ready, "serving": ready,
                                                 "terminating": False}}
                for k in ("nodeName", "hostname", "targetRef"):
                    if address.get(k):
                        endpoint[k] = address[k]
                groups.setdefault(key, (ports, []))[1].append(endpoint)
    return groups


def _ports_key(ports: list[dict]) -> tuple:
    return tuple((p["name"], p["port"], p["protocol"]) for p in ports)


def _slice_labels(service: dict, managed_by: str) -> dict:
    labels = dict(meta(service).get("labels") or {})
    labels[SERVICE_NAME_LABEL] = name_of(service)
    labels[MANAGED_BY_LABEL] = managed_by
    if (service.get("spec") or {}).get("clusterIP") == "None":
        labels[HEADLESS_LABEL] = ""
    return labels


def new_slice(service: dict, managed_by: str, address_type: str, ports: list[dict],
              endpoints: list[dict]) -> dict:
    """A slice for the Service (name generated by the server)."""
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"generateName": name_of(service) + "-",
                         "namespace": meta(service).get("namespace"),
                         "labels": _slice_labels(service, managed_by),
                         "ownerReferences": [{"apiVersion": "v1", "kind": "Service",
                                              "name": name_of(service),
                                              "uid": uid_of(service), "controller": True,
                                              "blockOwnerDeletion": True}]},
            "addressType": address_type, "ports": ports, "endpoints": endpoints}


def slices_of(service: dict, slices: list[dict], managed_by: str) -> list[dict]:
    """The slices of `service` managed by `managed_by`."""
    ns = meta(service).get("namespace")
    return [s for s in slices if meta(s).get("namespace") == ns and
            (meta(s).get("labels") or {}).get(SERVICE_NAME_LABEL) == name_of(service) and
            (meta(s).get("labels") or {}).get(MANAGED_BY_LABEL) == managed_by]


def plan_slices(service: dict, groups: dict[tuple, tuple[list[dict], list[dict]]],
                existing: list[dict], managed_by: str, placeholder: bool) -> SlicePlan:
    """Turn the wanted (ports, endpoints) groups into slice writes over `existing`."""
    wanted: list[tuple[str, list[dict], list[dict]]] = []
    for key in sorted(groups):
        ports, endpoints = groups[key]
        by_type: dict[str, list[dict]] = {}
        for ep in sorted(endpoints, key=_endpoint_key):
            by_type.setdefault(_address_type(ep["addresses"][0]), []).append(ep)
        for address_type in sorted(by_type):
            eps = by_type[address_type]
            for i in range(0, len(eps), MAX_ENDPOINTS):
                wanted.append((address_type, ports, eps[i:i + MAX_ENDPOINTS]))
    if not wanted and placeholder:
        wanted.append(("IPv4", [], []))
    plan = SlicePlan()
    free = sorted(existing, key=name_of)
    labels = _slice_labels(service, managed_by)
    for address_type, ports, endpoints in wanted:
        match = next((s for s in free if s.get("addressType") == address_type and
                      _ports_key(s.get("ports") or []) == _ports_key(ports)), None)
        if match is None:
            plan.create.append(new_slice(service, managed_by, address_type, ports, endpoints))
            continue
        free.remove(match)
        if (match.get("endpoints") or []) != endpoints or \
                (meta(match).get("labels") or {}) != labels:
            updated = dict(match, endpoints=endpoints, ports=ports)
            updated["metadata"] = dict(meta(match), labels=labels)
            plan.update.append(updated)
    plan.delete = [name_of(s) for s in free]
    return plan


def reconcile_service(service: dict, pods: list[dict], slices: list[dict],
                      zones: dict[str, str]) -> Optional[SlicePlan]:
    """The EndpointSlice controller's plan for one Service (None: not its Service)."""
    spec = service.get("spec") or {}
    if not spec.get("selector") or spec.get("type") == "ExternalName":
        return None
    return plan_slices(service, desired_groups(service, pods, zones),
                       slices_of(service, slices, CONTROLLER), CONTROLLER, placeholder=True)


def reconcile_mirror(service: dict, endpoints: Optional[dict], slices: list[dict]
                     ) -> Optional[SlicePlan]:
    """The mirroring controller's plan for one Service (None: not its Service)."""
    spec = service.get("spec") or {}
    if spec.get("selector") or spec.get("type") == "ExternalName":
        return None
    return plan_slices(service, mirrored_groups(endpoints),
                       slices_of(service, slices, MIRROR_CONTROLLER), MIRROR_CONTROLLER,
                       placeholder=False)


def orphaned_slices(services: dict[str, dict], slices: list[dict]) -> list[dict]:
    """Slices managed by either controller whose Service (namespace/name) is gone."""
    out = []
    for s in slices:
        labels = meta(s).get("labels") or {}
        if labels.get(MANAGED_BY_LABEL) not in (CONTROLLER, MIRROR_CONTROLLER):
            continue
        key = f"{meta(s).get('namespace')}/{labels.get(SERVICE_NAME_LABEL)}"
        if key not in services:
            out.append(s)
    return out
