"""Object validation as the Kubernetes apiserver does it (create and update).

Public names:

    validate(kind, obj, old=None, *, group=None, namespaced=None) -> list[Cause]
        (group None: the built-in kind of that name; the kinds beyond Pod, Service,
        Deployment, ReplicaSet, Node, Namespace, Endpoints, Event and Lease are checked
        by k8snet.api.validation_more and validation_config)
        Cause = {"field": "spec.containers[0].image", "reason": "FieldValueRequired",
                 "message": "Required value"}; reasons are Kubernetes' (FieldValueRequired,
        FieldValueInvalid, FieldValueNotSupported, FieldValueDuplicate, FieldValueForbidden,
        FieldValueNotFound, FieldValueTooLong, FieldValueTypeInvalid). [] means valid.
        Call it on the defaulted object (after apply_defaults) with metadata.name and
        namespace filled in. With `old`, update rules apply too (immutable fields). For
        Service updates, carry the old clusterIP/clusterIPs over when the new object leaves
        them empty (as Kubernetes does) before calling. Never raises for any JSON input.
    unknown_fields(kind, obj) -> list[str]      (from k8snet.api.schema)
    invalid_message(kind, name, causes) -> str  (from k8snet.api.fielderrors)
    NAME_RULES: kind -> "subdomain" | "label" | "dns1035"
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any, Callable, Optional

from k8snet.api.fielderrors import (
    Errors,
    dns1035_label,
    dns1123_label,
    dns1123_subdomain,
    invalid_message,
    qualified_name,
)
from k8snet.api.podvalidation import (
    PROTOCOLS,
    TOLERATION_EFFECTS,
    validate_int_or_port_name,
    validate_label_selector,
    validate_labels,
    validate_pod_spec,
    validate_port_number,
)
from k8snet.api.schema import unknown_fields
from k8snet.api.selectors import label_selector_from_dict, validate_label_value
from k8snet.machinery import resources as kinds

__all__ = ["validate", "unknown_fields", "invalid_message", "NAME_RULES"]

NAME_RULES = {"Namespace": "label", "Service": "dns1035", "StatefulSet": "label",
              **{k: "path" for k in ("Role", "ClusterRole", "RoleBinding",
                                     "ClusterRoleBinding", "PersistentVolume",
                                     "CertificateSigningRequest")}}


def path_segment_name(value: str) -> list[str]:
    """Problems of a name that only has to be a path segment (RBAC objects, PVs, CSRs)."""
    if value in (".", ".."):
        return [f"may not be '{value}'"]
    return [f"may not contain '{c}'" for c in ("/", "%") if c in value]


_NAME_CHECKS = {"label": dns1123_label, "dns1035": dns1035_label,
                "subdomain": dns1123_subdomain, "path": path_segment_name}
SERVICE_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")
NODE_PORT_RANGE = (30000, 32767)
_ANNOTATIONS_MAX = 256 * 1024
_IMMUTABLE = "field is immutable"


def _metadata(errs: Errors, kind: str, obj: dict, namespaced: Optional[bool] = None,
              group: Optional[str] = None) -> None:
    meta = errs.dict_at(obj, "metadata", "metadata")
    if meta is None:
        errs.required("metadata.name", "name or generateName is required")
        return
    name = errs.str_at(meta, "name", "metadata.name")
    if not name:
        errs.required("metadata.name", "name or generateName is required")
    else:
        rule = NAME_RULES.get(kind, "subdomain") if group in (None, _builtin_group(kind)) \
            else "subdomain"
        check = _NAME_CHECKS[rule]
        errs.names("metadata.name", name, check(name))
    if namespaced is None:
        info = kinds.KINDS.get(kind)
        namespaced = info.namespaced if info is not None else None
    ns = errs.str_at(meta, "namespace", "metadata.namespace")
    if namespaced:
        if not ns:
            errs.required("metadata.namespace")
        else:
            errs.names("metadata.namespace", ns, dns1123_label(ns))
    elif namespaced is not None and ns:
        errs.forbidden("metadata.namespace", "not allowed on this type")
    validate_labels(errs, meta, "labels", "metadata.labels")
    annotations = errs.string_map(meta, "annotations", "metadata.annotations")
    total = 0
    for k, v in annotations.items():
        errs.names("metadata.annotations", k, qualified_name(k.lower()))
        total += len(k) + len(v.encode())
    if total > _ANNOTATIONS_MAX:
        errs.too_long("metadata.annotations", _ANNOTATIONS_MAX)
    refs = errs.list_at(meta, "ownerReferences", "metadata.ownerReferences")
    controllers = 0
    for i, ref in errs.dict_items(refs, "metadata.ownerReferences"):
        for field in ("apiVersion", "kind", "name", "uid"):
            if not ref.get(field):
                errs.required(f"metadata.ownerReferences[{i}].{field}")
        controllers += ref.get("controller") is True
    if controllers > 1:
        errs.invalid("metadata.ownerReferences", refs,
                     "Only one reference can have Controller set to true")
    fins = errs.list_at(meta, "finalizers", "metadata.finalizers")
    for i, fin in enumerate(fins or []):
        if not isinstance(fin, str):
            errs.type_invalid(f"metadata.finalizers[{i}]", fin, "string")
        else:
            errs.names(f"metadata.finalizers[{i}]", fin, qualified_name(fin))
    for field in ("generation", "deletionGracePeriodSeconds"):
        errs.int_at(meta, field, f"metadata.{field}")


def _spec(errs: Errors, obj: dict, required: bool = True) -> dict:
    spec = errs.dict_at(obj, "spec", "spec")
    if spec is None:
        if required and obj.get("spec") is None:
            errs.required("spec")
        return {}
    return spec


def _pod(errs: Errors, obj: dict) -> None:
    validate_pod_spec(errs, obj.get("spec"), "spec")


def _int_or_percent(errs: Errors, value: Any, path: str, max_percent: bool) -> Optional[float]:
    """An IntOrString like maxSurge; returns its magnitude for the both-zero check."""
    if isinstance(value, bool):
        errs.type_invalid(path, value, "integer or string")
        return None
    if isinstance(value, int):
        if value < 0:
            errs.invalid(path, value, "must be greater than or equal to 0")
        return float(value)
    if isinstance(value, str):
        m = re.fullmatch(r"(\d+)%", value)
        if not m:
            errs.invalid(path, value, "a valid percent string must be a numeric string "
                                      "followed by an ending '%' (e.g. '1%',  or '93%', regex "
                                      "used for validation is '[0-9]+%')")
            return None
        pct = int(m.group(1))
        if max_percent and pct > 100:
            errs.invalid(path, value, "must not be greater than 100%")
        return float(pct)
    errs.type_invalid(path, value, "integer or string")
    return None


def _workload(errs: Errors, obj: dict, word: str) -> None:
    spec = _spec(errs, obj)
    replicas = errs.int_at(spec, "replicas", "spec.replicas")
    if replicas is not None and replicas < 0:
        errs.invalid("spec.replicas", replicas, "must be greater than or equal to 0")
    for field in ("minReadySeconds", "revisionHistoryLimit"):
        value = errs.int_at(spec, field, f"spec.{field}")
        if value is not None and value < 0:
            errs.invalid(f"spec.{field}", value, "must be greater than or equal to 0")
    selector = errs.dict_at(spec, "selector", "spec.selector")
    parsed = None
    if selector is None:
        errs.required("spec.selector")
    elif not selector.get("matchLabels") and not selector.get("matchExpressions"):
        errs.invalid("spec.selector", selector, f"empty selector is invalid for {word}")
    else:
        before = len(errs.causes)
        validate_label_selector(errs, selector, "spec.selector")
        if len(errs.causes) == before:
            try:
                parsed = label_selector_from_dict(selector)
            except ValueError as exc:
                errs.invalid("spec.selector", selector, str(exc))
    template = errs.dict_at(spec, "template", "spec.template")
    if template is None:
        errs.required("spec.template")
        return
    tmeta = errs.dict_at(template, "metadata", "spec.template.metadata") or {}
    validate_labels(errs, tmeta, "labels", "spec.template.metadata.labels")
    labels = tmeta.get("labels") if isinstance(tmeta.get("labels"), dict) else {}
    if parsed is not None and not parsed.matches(labels):
        errs.invalid("spec.template.metadata.labels", labels,
                     "`selector` does not match template `labels`")
    tspec = template.get("spec")
    validate_pod_spec(errs, tspec, "spec.template.spec")
    if isinstance(tspec, dict):
        policy = tspec.get("restartPolicy", "Always")
        if policy != "Always":
            errs.not_supported("spec.template.spec.restartPolicy", policy, ("Always",))
        if tspec.get("activeDeadlineSeconds") is not None:
            errs.forbidden("spec.template.spec.activeDeadlineSeconds",
                           "activeDeadlineSeconds in ReplicaSet is not Supported")


def _deployment(errs: Errors, obj: dict) -> None:
    _workload(errs, obj, "deployment")
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    strategy = errs.dict_at(spec, "strategy", "spec.strategy") or {}
    stype = strategy.get("type", "RollingUpdate")
    ru = errs.dict_at(strategy, "rollingUpdate", "spec.strategy.rollingUpdate")
    if stype == "Recreate":
        if ru is not None:
            errs.forbidden("spec.strategy.rollingUpdate",
                           "may not be specified when strategy `type` is 'Recreate'")
    elif stype == "RollingUpdate":
        if ru is not None:
            base = "spec.strategy.rollingUpdate"
            surge = _int_or_percent(errs, ru.get("maxSurge", "25%"), f"{base}.maxSurge", False)
            unavail = _int_or_percent(errs, ru.get("maxUnavailable", "25%"),
                                      f"{base}.maxUnavailable", True)
            if surge == 0 and unavail == 0:
                errs.invalid(f"{base}.maxUnavailable", ru.get("maxUnavailable"),
                             "may not be 0 when `maxSurge` is 0")
    else:
        errs.not_supported("spec.strategy.type", stype, ("Recreate", "RollingUpdate"))
    pds = errs.int_at(spec, "progressDeadlineSeconds", "spec.progressDeadlineSeconds")
    mrs = spec.get("minReadySeconds") if isinstance(spec.get("minReadySeconds"), int) else 0
    if pds is not None and pds <= mrs:
        errs.invalid("spec.progressDeadlineSeconds", pds, "must be greater than "
                                                          "minReadySeconds")


def _replicaset(errs: Errors, obj: dict) -> None:
    _workload(errs, obj, "replicaset")


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


_IP_HINT = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"


def _service(errs: Errors, obj: dict) -> None:
    spec = _spec(errs, obj)
    stype = spec.get("type", "ClusterIP")
    if stype not in SERVICE_TYPES:
        errs.not_supported("spec.type", stype, SERVICE_TYPES)
    cluster_ip = errs.str_at(spec, "clusterIP", "spec.clusterIP") or ""
    headless = cluster_ip == "None"
    if stype == "ExternalName":
        name = errs.str_at(spec, "externalName", "spec.externalName")
        if not name:
            errs.required("spec.externalName")
        else:
            errs.names("spec.externalName", name, dns1123_subdomain(name.rstrip(".")))
        if cluster_ip:
            errs.forbidden("spec.clusterIP", "may not be set for ExternalName services")
    elif cluster_ip and not headless and not _is_ip(cluster_ip):
        errs.invalid("spec.clusterIP", cluster_ip, _IP_HINT)
    if headless and stype != "ClusterIP":
        errs.invalid("spec.clusterIP", cluster_ip, f"may not be set to 'None' for {stype} "
                                                   "services")
    ports = errs.list_at(spec, "ports", "spec.ports")
    if not ports and not headless and stype != "ExternalName":
        errs.required("spec.ports")
    names: set[str] = set()
    pairs: set[tuple] = set()
    items = errs.dict_items(ports, "spec.ports")
    for i, port in items:
        p = f"spec.ports[{i}]"
        name = errs.str_at(port, "name", f"{p}.name")
        if len(ports or []) > 1 and not name:
            errs.required(f"{p}.name")
        if name:
            errs.names(f"{p}.name", name, dns1123_label(name))
            if name in names:
                errs.duplicate(f"{p}.name", name)
            names.add(name)
        if port.get("port") is None:
            errs.required(f"{p}.port")
        else:
            validate_port_number(errs, port["port"], f"{p}.port")
        proto = port.get("protocol", "TCP")
        if proto not in PROTOCOLS:
            errs.not_supported(f"{p}.protocol", proto, PROTOCOLS)
        key = (port.get("port"), proto)
        if isinstance(port.get("port"), int) and key in pairs:
            errs.duplicate(p, {"port": port.get("port"), "protocol": proto})
        pairs.add(key)
        if port.get("targetPort") not in (None, 0, ""):
            validate_int_or_port_name(errs, port["targetPort"], f"{p}.targetPort")
        node_port = port.get("nodePort")
        if node_port not in (None, 0):
            if stype in ("ClusterIP", "ExternalName"):
                errs.forbidden(f"{p}.nodePort", f"may not be used when `type` is '{stype}'")
            elif isinstance(node_port, bool) or not isinstance(node_port, int):
                errs.type_invalid(f"{p}.nodePort", node_port, "integer")
            elif not NODE_PORT_RANGE[0] <= node_port <= NODE_PORT_RANGE[1]:
                errs.invalid(f"{p}.nodePort", node_port,
                             "provided port is not in the valid range. The range of valid "
                             f"ports is {NODE_PORT_RANGE[0]}-{NODE_PORT_RANGE[1]}")
    validate_labels(errs, spec, "selector", "spec.selector")
    affinity = spec.get("sessionAffinity", "None")
    if affinity not in ("ClientIP", "None"):
        errs.not_supported("spec.sessionAffinity", affinity, ("ClientIP", "None"))
    for field in ("externalTrafficPolicy", "internalTrafficPolicy"):
        value = spec.get(field)
        if value is not None and value not in ("Cluster", "Local"):
            errs.not_supported(f"spec.{field}", value, ("Cluster", "Local"))
    for i, ip in enumerate(errs.list_at(spec, "externalIPs", "spec.externalIPs") or []):
        if not isinstance(ip, str) or not _is_ip(ip):
            errs.invalid(f"spec.externalIPs[{i}]", ip, _IP_HINT)


def _valid_cidr(value: str) -> bool:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return "/" in value


_CIDR_HINT = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"


def _node(errs: Errors, obj: dict) -> None:
    spec = _spec(errs, obj, required=False)
    cidr = errs.str_at(spec, "podCIDR", "spec.podCIDR")
    if cidr and not _valid_cidr(cidr):
        errs.invalid("spec.podCIDR", cidr, _CIDR_HINT)
    cidrs = errs.list_at(spec, "podCIDRs", "spec.podCIDRs") or []
    for i, c in enumerate(cidrs):
        if not isinstance(c, str) or not _valid_cidr(c):
            errs.invalid(f"spec.podCIDRs[{i}]", c, _CIDR_HINT)
    if len(cidrs) > 2:
        errs.invalid("spec.podCIDRs", cidrs, "may specify no more than one CIDR for each IP "
                                             "family")
    if cidr and cidrs and cidrs[0] != cidr:
        errs.invalid("spec.podCIDRs", cidrs, "first entry must match spec.podCIDR")
    errs.bool_at(spec, "unschedulable", "spec.unschedulable")
    seen: set[tuple] = set()
    for i, taint in errs.dict_items(errs.list_at(spec, "taints", "spec.taints"), "spec.taints"):
        p = f"spec.taints[{i}]"
        key = errs.str_at(taint, "key", f"{p}.key")
        if not key:
            errs.required(f"{p}.key")
        else:
            errs.names(f"{p}.key", key, qualified_name(key))
        value = taint.get("value")
        if isinstance(value, str) and validate_label_value(value):
            errs.invalid(f"{p}.value", value, validate_label_value(value) or "")
        effect = taint.get("effect")
        if not effect:
            errs.required(f"{p}.effect")
        elif effect not in TOLERATION_EFFECTS:
            errs.not_supported(f"{p}.effect", effect, TOLERATION_EFFECTS)
        if (key, effect) in seen:
            errs.duplicate(p, {"key": key, "effect": effect})
        seen.add((key, effect))


def _namespace(errs: Errors, obj: dict) -> None:
    spec = _spec(errs, obj, required=False)
    for i, fin in enumerate(errs.list_at(spec, "finalizers", "spec.finalizers") or []):
        if not isinstance(fin, str):
            errs.type_invalid(f"spec.finalizers[{i}]", fin, "string")
        else:
            errs.names(f"spec.finalizers[{i}]", fin, qualified_name(fin))


def _endpoints(errs: Errors, obj: dict) -> None:
    subsets = errs.list_at(obj, "subsets", "subsets")
    for i, subset in errs.dict_items(subsets, "subsets"):
        base = f"subsets[{i}]"
        for field in ("addresses", "notReadyAddresses"):
            addrs = errs.list_at(subset, field, f"{base}.{field}")
            for j, addr in errs.dict_items(addrs, f"{base}.{field}"):
                ip = addr.get("ip")
                if not ip:
                    errs.required(f"{base}.{field}[{j}].ip")
                elif not isinstance(ip, str) or not _is_ip(ip):
                    errs.invalid(f"{base}.{field}[{j}].ip", ip, _IP_HINT)
        ports = errs.list_at(subset, "ports", f"{base}.ports")
        names: set[str] = set()
        for j, port in errs.dict_items(ports, f"{base}.ports"):
            p = f"{base}.ports[{j}]"
            name = port.get("name")
            if len(ports or []) > 1 and not name:
                errs.required(f"{p}.name")
            if isinstance(name, str) and name:
                errs.names(f"{p}.name", name, dns1123_label(name))
                if name in names:
                    errs.duplicate(f"{p}.name", name)
                names.add(name)
            validate_port_number(errs, port.get("port"), f"{p}.port")
            proto = port.get("protocol", "TCP")
            if proto not in PROTOCOLS:
                errs.not_supported(f"{p}.protocol", proto, PROTOCOLS)


def _event(errs: Errors, obj: dict) -> None:
    involved = errs.dict_at(obj, "involvedObject", "involvedObject") or {}
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    ns = involved.get("namespace")
    if ns and ns != meta.get("namespace"):
        errs.invalid("involvedObject.namespace", ns, "does not match event.namespace")
    count = errs.int_at(obj, "count", "count")
    if count is not None and count < 0:
        errs.invalid("count", count, "must be greater than or equal to 0")
    etype = obj.get("type")
    if etype not in (None, "", "Normal", "Warning"):
        errs.not_supported("type", etype, ("Normal", "Warning"))


def _lease(errs: Errors, obj: dict) -> None:
    spec = _spec(errs, obj, required=False)
    duration = errs.int_at(spec, "leaseDurationSeconds", "spec.leaseDurationSeconds")
    if duration is not None and duration <= 0:
        errs.invalid("spec.leaseDurationSeconds", duration, "must be greater than 0")
    transitions = errs.int_at(spec, "leaseTransitions", "spec.leaseTransitions")
    if transitions is not None and transitions < 0:
        errs.invalid("spec.leaseTransitions", transitions, "must be greater than or equal "
                                                           "to 0")
    errs.str_at(spec, "holderIdentity", "spec.holderIdentity")


def _binding(errs: Errors, obj: dict) -> None:
    target = errs.dict_at(obj, "target", "target")
    if target is None:
        errs.required("target")
        return
    kind = target.get("kind")
    if kind not in (None, "", "Node"):
        errs.not_supported("target.kind", kind, ("Node",))
    name = errs.str_at(target, "name", "target.name")
    if not name:
        errs.required("target.name")


def _scale(errs: Errors, obj: dict) -> None:
    spec = _spec(errs, obj, required=False)
    replicas = errs.int_at(spec, "replicas", "spec.replicas")
    if replicas is not None and replicas < 0:
        errs.invalid("spec.replicas", replicas, "must be greater than or equal to 0")


_VALIDATORS: dict[str, Callable[[Errors, dict], None]] = {
    "Pod": _pod, "Deployment": _deployment, "ReplicaSet": _replicaset, "Service": _service,
    "Node": _node, "Namespace": _namespace, "Endpoints": _endpoints, "Event": _event,
    "Lease": _lease, "Binding": _binding, "Scale": _scale,
}


# ------------------------------------------------------------------------------ updates

def _get(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _update_metadata(errs: Errors, obj: dict, old: dict) -> None:
    for field in ("name", "namespace", "uid"):
        new_v, old_v = _get(obj, "metadata", field), _get(old, "metadata", field)
        if field == "uid" and not new_v:
            continue
        if (new_v or "") != (old_v or ""):
            errs.invalid(f"metadata.{field}", new_v, _IMMUTABLE)


_POD_UPDATE_MESSAGE = (
    "pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` "
    "(only additions to existing tolerations),`spec.terminationGracePeriodSeconds` "
    "(allow it to be set to 1 if it was previously negative)")


def _pod_spec_mutable_stripped(spec: Any) -> Any:
    if not isinstance(spec, dict):
        return spec
    out = dict(spec)
    for field in ("containers", "initContainers"):
        if isinstance(out.get(field), list):
            out[field] = [{**c, "image": None} if isinstance(c, dict) else c
                          for c in out[field]]
    out.pop("activeDeadlineSeconds", None)
    out.pop("tolerations", None)
    return out


def _update_pod(errs: Errors, obj: dict, old: dict) -> None:
    new_spec, old_spec = _get(obj, "spec"), _get(old, "spec")
    if _canon(_pod_spec_mutable_stripped(new_spec)) != \
            _canon(_pod_spec_mutable_stripped(old_spec)):
        errs.forbidden("spec", _POD_UPDATE_MESSAGE)
    old_tol = _get(old_spec, "tolerations") or []
    new_tol = _get(new_spec, "tolerations") or []
    if isinstance(old_tol, list) and isinstance(new_tol, list):
        new_canon = [_canon(t) for t in new_tol]
        if any(_canon(t) not in new_canon for t in old_tol):
            errs.forbidden("spec.tolerations", "existing toleration can not be modified except "
                                               "its tolerationSeconds")
    old_ads = _get(old_spec, "activeDeadlineSeconds")
    new_ads = _get(new_spec, "activeDeadlineSeconds")
    if isinstance(old_ads, int) and (new_ads is None or
                                     (isinstance(new_ads, int) and new_ads > old_ads)):
        errs.invalid("spec.activeDeadlineSeconds", new_ads,
                     "must be less than or equal to previous value")


def _update_selector(errs: Errors, obj: dict, old: dict) -> None:
    new_sel, old_sel = _get(obj, "spec", "selector"), _get(old, "spec", "selector")
    if old_sel is not None and _canon(new_sel) != _canon(old_sel):
        errs.invalid("spec.selector", new_sel, _IMMUTABLE)


def _update_service(errs: Errors, obj: dict, old: dict) -> None:
    if _get(old, "spec", "type") == "ExternalName" or _get(obj, "spec", "type") == \
            "ExternalName":
        return
    old_ip, new_ip = _get(old, "spec", "clusterIP"), _get(obj, "spec", "clusterIP")
    if old_ip and new_ip != old_ip:
        errs.invalid("spec.clusterIP", new_ip, _IMMUTABLE)


def _update_node(errs: Errors, obj: dict, old: dict) -> None:
    old_cidr, new_cidr = _get(old, "spec", "podCIDR"), _get(obj, "spec", "podCIDR")
    if old_cidr and new_cidr != old_cidr:
        errs.forbidden("spec.podCIDRs", 'node updates may not change podCIDR except from "" '
                                        "to valid")


_UPDATE_VALIDATORS: dict[str, Callable[[Errors, dict, dict], None]] = {
    "Pod": _update_pod, "Deployment": _update_selector, "ReplicaSet": _update_selector,
    "Service": _update_service, "Node": _update_node,
}


def _builtin_group(kind: str) -> Optional[str]:
    info = kinds.KINDS.get(kind)
    return info.group if info is not None else None


def validate(kind: str, obj: Any, old: Optional[dict] = None, *, group: Optional[str] = None,
             namespaced: Optional[bool] = None) -> list[dict]:
    """Causes that make obj invalid as a `kind` (and as an update of `old`); [] if valid.

    `group` None means the built-in kind of that name; `namespaced` None takes the scope
    from the built-in table (a kind it does not know is checked as either).
    """
    from k8snet.api import validation_more  # the other kinds; imported on use (uses us)

    errs = Errors()
    if not isinstance(obj, dict):
        errs.type_invalid("", obj, "object")
        return errs.causes
    if group is None:
        group = _builtin_group(kind)
    core = group == _builtin_group(kind)  # this module's checks are the built-in kinds'
    if kind not in ("Binding", "Scale"):
        _metadata(errs, kind, obj, namespaced, group)
    fn = _VALIDATORS.get(kind) if core else None
    more = validation_more.VALIDATORS.get((group or "", kind))
    for check in (fn, more):
        if check is not None:
            check(errs, obj)
    if isinstance(old, dict):
        _update_metadata(errs, obj, old)
        upd = _UPDATE_VALIDATORS.get(kind) if core else None
        upd_more = validation_more.UPDATE_VALIDATORS.get((group or "", kind))
        for check_update in (upd, upd_more):
            if check_update is not None:
                check_update(errs, obj, old)
    return errs.causes
