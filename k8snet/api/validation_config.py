"""Validation of configuration, network, storage, scheduling and RBAC kinds (pure):
ConfigMap, Secret, PersistentVolumeClaim, PersistentVolume, StorageClass, PriorityClass,
Role/ClusterRole and their bindings, Ingress, NetworkPolicy, EndpointSlice, ResourceQuota;
messages as the Kubernetes 1.32 apiserver's.

Public names:

    VALIDATORS: (group, kind) -> function(errs, obj)
    UPDATE_VALIDATORS: (group, kind) -> function(errs, obj, old)
    config_key_problems(key) -> list[str]     why a ConfigMap/Secret key is invalid
"""

from __future__ import annotations

import re
from typing import Any, Callable

from k8snet.api.fielderrors import Errors, dns1123_subdomain
from k8snet.api.podvalidation import validate_label_selector, validate_port_number
from k8snet.api.validation import _canon, _get, _is_ip, _valid_cidr
from k8snet.machinery.quantities import parse_quantity

IMMUTABLE = "field is immutable"
IMMUTABLE_SET = "field is immutable when `immutable` is set"
MAX_DATA = 1024 * 1024
_KEY_RE = re.compile(r"^[-._a-zA-Z0-9]+$")
RBAC = "rbac.authorization.k8s.io"
SECRET_KEYS = {
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
    "kubernetes.io/dockercfg": (".dockercfg",),
    "kubernetes.io/ssh-auth": ("ssh-privatekey",),
    "kubernetes.io/tls": ("tls.crt", "tls.key"),
}
ACCESS_MODES = ("ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod")


def config_key_problems(key: str) -> list[str]:
    out = []
    if len(key) > 253:
        out.append("must be no more than 253 characters")
    if not _KEY_RE.match(key):
        out.append("a valid config key must consist of alphanumeric characters, '-', '_' or "
                   "'.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for "
                   "validation is '[-._a-zA-Z0-9]+')")
    if key == ".":
        out.append("must not be '.'")
    elif key == "..":
        out.append("must not be '..'")
    elif key.startswith(".."):
        out.append("must not start with '..'")
    return out


def _data_keys(errs: Errors, obj: dict, fields: tuple[str, ...]) -> None:
    seen: dict[str, str] = {}
    total = 0
    for field in fields:
        data = errs.dict_at(obj, field, field) or {}
        for key, value in data.items():
            errs.names(field, key, config_key_problems(str(key)))
            if key in seen:
                errs.invalid(field, key, f"duplicate of key present in {seen[key]}")
            seen[key] = field
            total += len(str(value))
    if total > MAX_DATA:
        errs.too_long("data", MAX_DATA)


def _configmap(errs: Errors, obj: dict) -> None:
    _data_keys(errs, obj, ("data", "binaryData"))


def _immutable_data(errs: Errors, obj: dict, old: dict, fields: tuple[str, ...]) -> None:
    if old.get("immutable") is not True:
        return
    if obj.get("immutable") is not True:
        errs.forbidden("immutable", IMMUTABLE_SET)
    for field in fields:
        if _canon(obj.get(field) or {}) != _canon(old.get(field) or {}):
            errs.forbidden(field, IMMUTABLE_SET)


def _update_configmap(errs: Errors, obj: dict, old: dict) -> None:
    _immutable_data(errs, obj, old, ("data", "binaryData"))


def _secret(errs: Errors, obj: dict) -> None:
    _data_keys(errs, obj, ("data",))
    data = obj.get("data") if isinstance(obj.get("data"), dict) else {}
    stype = obj.get("type") or "Opaque"
    for key in SECRET_KEYS.get(stype, ()):
        if key not in data:
            errs.required(f"data[{key}]")
    if stype == "kubernetes.io/service-account-token":
        if not _get(obj, "metadata", "annotations", "kubernetes.io/service-account.name"):
            errs.required("metadata.annotations[kubernetes.io/service-account.name]")
    if stype == "kubernetes.io/basic-auth" and not ("username" in data or "password" in data):
        errs.required("data[username]")


def _update_secret(errs: Errors, obj: dict, old: dict) -> None:
    if (obj.get("type") or "Opaque") != (old.get("type") or "Opaque"):
        errs.invalid("type", obj.get("type"), IMMUTABLE)
    _immutable_data(errs, obj, old, ("data",))


def _quantity(errs: Errors, value: Any, path: str) -> None:
    try:
        q = parse_quantity(value)
    except (ValueError, TypeError) as e:
        errs.invalid(path, value, str(e))
        return
    if q < 0:
        errs.invalid(path, value, "must be greater than or equal to 0")


def _access_modes(errs: Errors, spec: dict, path: str) -> None:
    modes = errs.list_at(spec, "accessModes", f"{path}.accessModes") or []
    if not modes:
        errs.required(f"{path}.accessModes", "at least 1 access mode is required")
    for mode in modes:
        if mode not in ACCESS_MODES:
            errs.not_supported(f"{path}.accessModes", mode, ACCESS_MODES)


def _pvc(errs: Errors, obj: dict) -> None:
    spec = errs.dict_at(obj, "spec", "spec")
    if spec is None:
        errs.required("spec")
        return
    _access_modes(errs, spec, "spec")
    storage = _get(spec, "resources", "requests", "storage")
    if storage is None:
        errs.required("spec.resources[storage]")
    else:
        _quantity(errs, storage, "spec.resources[storage]")
    mode = spec.get("volumeMode", "Filesystem")
    if mode not in ("Block", "Filesystem"):
        errs.not_supported("spec.volumeMode", mode, ("Block", "Filesystem"))


def _update_pvc(errs: Errors, obj: dict, old: dict) -> None:
    new_spec = dict(_get(obj, "spec") or {})
    old_spec = dict(_get(old, "spec") or {})
    for spec in (new_spec, old_spec):
        spec.pop("volumeAttributesClassName", None)
        if isinstance(spec.get("resources"), dict):
            spec["resources"] = {k: v for k, v in spec["resources"].items()
                                 if k != "requests"}
    if not old_spec.get("volumeName"):
        new_spec.pop("volumeName", None)
        old_spec.pop("volumeName", None)
    if _canon(new_spec) != _canon(old_spec):
        errs.forbidden("spec", "spec is immutable after creation except resources.requests "
                               "and volumeAttributesClassName for bound claims")


_PV_SOURCES = ("hostPath", "local", "nfs", "csi", "iscsi", "fc", "rbd", "cephfs", "cinder",
               "flexVolume", "glusterfs", "azureDisk", "azureFile", "gcePersistentDisk",
               "awsElasticBlockStore", "vsphereVolume", "portworxVolume", "scaleIO",
               "storageos", "quobyte", "photonPersistentDisk", "flocker")


def _pv(errs: Errors, obj: dict) -> None:
    spec = errs.dict_at(obj, "spec", "spec")
    if spec is None:
        errs.required("spec")
        return
    _access_modes(errs, spec, "spec")
    storage = _get(spec, "capacity", "storage")
    if storage is None:
        errs.required("spec.capacity", "must specify a capacity")
    else:
        _quantity(errs, storage, "spec.capacity[storage]")
    sources = [s for s in _PV_SOURCES if spec.get(s) is not None]
    if not sources:
        errs.required("spec", "must specify a volume type")
    elif len(sources) > 1:
        errs.forbidden(f"spec.{sources[1]}", "may not specify more than 1 volume type")
    policy = spec.get("persistentVolumeReclaimPolicy", "Retain")
    if policy not in ("Delete", "Recycle", "Retain"):
        errs.not_supported("spec.persistentVolumeReclaimPolicy", policy,
                           ("Delete", "Recycle", "Retain"))


def _storage_class(errs: Errors, obj: dict) -> None:
    provisioner = errs.str_at(obj, "provisioner", "provisioner")
    if not provisioner:
        errs.required("provisioner")
    elif len(provisioner) > 63 or dns1123_subdomain(provisioner.lower()):
        errs.names("provisioner", provisioner, dns1123_subdomain(provisioner.lower())[:1] or
                   ["must be no more than 63 characters"])
    policy = obj.get("reclaimPolicy", "Delete")
    if policy not in ("Delete", "Retain"):
        errs.not_supported("reclaimPolicy", policy, ("Delete", "Retain"))
    mode = obj.get("volumeBindingMode", "Immediate")
    if mode not in ("Immediate", "WaitForFirstConsumer"):
        errs.not_supported("volumeBindingMode", mode, ("Immediate", "WaitForFirstConsumer"))


def _update_storage_class(errs: Errors, obj: dict, old: dict) -> None:
    for field in ("parameters", "provisioner", "reclaimPolicy"):
        if _canon(obj.get(field)) != _canon(old.get(field)):
            errs.forbidden(field, f"updates to {field} are forbidden.")
    if _canon(obj.get("volumeBindingMode")) != _canon(old.get("volumeBindingMode")):
        errs.invalid("volumeBindingMode", obj.get("volumeBindingMode"), IMMUTABLE)


SYSTEM_PRIORITY_CLASSES = {"system-node-critical": 2000001000,
                           "system-cluster-critical": 2000000000}
HIGHEST_USER_PRIORITY = 1000000000


def _priority_class(errs: Errors, obj: dict) -> None:
    name = _get(obj, "metadata", "name")
    value = errs.int_at(obj, "value", "value")
    if isinstance(name, str) and name.startswith("system-"):
        if name not in SYSTEM_PRIORITY_CLASSES:
            errs.forbidden("metadata.name", "priority class names with 'system-' prefix are "
                                            "reserved")
        elif value != SYSTEM_PRIORITY_CLASSES[name]:
            errs.forbidden("value", f"value of system priority class {name} must be "
                                    f"{SYSTEM_PRIORITY_CLASSES[name]}")
    elif value is not None and value > HIGHEST_USER_PRIORITY:
        errs.forbidden("value", f"maximum allowed value of a user defined priority is "
                                f"{HIGHEST_USER_PRIORITY}")
    policy = obj.get("preemptionPolicy", "PreemptLowerPriority")
    if policy not in ("Never", "PreemptLowerPriority"):
        errs.not_supported("preemptionPolicy", policy, ("Never", "PreemptLowerPriority"))


def _update_priority_class(errs: Errors, obj: dict, old: dict) -> None:
    if obj.get("value") != old.get("value"):
        errs.forbidden("value", "may not be changed in an update.")
    if obj.get("preemptionPolicy") != old.get("preemptionPolicy"):
        errs.invalid("preemptionPolicy", obj.get("preemptionPolicy"), IMMUTABLE)


# -- rbac ---------------------------------------------------------------------------------
def _rules(errs: Errors, obj: dict, namespaced: bool) -> None:
    rules = errs.list_at(obj, "rules", "rules")
    for i, rule in errs.dict_items(rules, "rules"):
        p = f"rules[{i}]"
        if not rule.get("verbs"):
            errs.required(f"{p}.verbs", "verbs must contain at least one value")
        urls = rule.get("nonResourceURLs") or []
        if urls:
            if namespaced:
                errs.invalid(f"{p}.nonResourceURLs", urls,
                             "namespaced rules cannot apply to non-resource URLs")
            if rule.get("apiGroups") or rule.get("resources") or rule.get("resourceNames"):
                errs.invalid(f"{p}.nonResourceURLs", urls, "rules cannot apply to both "
                                                           "regular resources and non-resource "
                                                           "URLs")
            continue
        if not rule.get("apiGroups"):
            errs.required(f"{p}.apiGroups", "resource rules must supply at least one api "
                                            "group")
        if not rule.get("resources"):
            errs.required(f"{p}.resources", "resource rules must supply at least one "
                                            "resource")


def _role(errs: Errors, obj: dict) -> None:
    _rules(errs, obj, namespaced=True)


def _cluster_role(errs: Errors, obj: dict) -> None:
    if obj.get("aggregationRule") is None:
        _rules(errs, obj, namespaced=False)


def _binding(errs: Errors, obj: dict, cluster: bool) -> None:
    ref = errs.dict_at(obj, "roleRef", "roleRef")
    if ref is None:
        errs.required("roleRef")
    else:
        if ref.get("apiGroup") != RBAC:
            errs.not_supported("roleRef.apiGroup", ref.get("apiGroup"), (RBAC,))
        kinds = ("ClusterRole",) if cluster else ("Role", "ClusterRole")
        if ref.get("kind") not in kinds:
            errs.not_supported("roleRef.kind", ref.get("kind"), kinds)
        if not ref.get("name"):
            errs.required("roleRef.name")
    subjects = errs.list_at(obj, "subjects", "subjects")
    for i, subject in errs.dict_items(subjects, "subjects"):
        p = f"subjects[{i}]"
        if not subject.get("name"):
            errs.required(f"{p}.name")
        kind = subject.get("kind")
        if kind == "ServiceAccount":
            if subject.get("apiGroup"):
                errs.not_supported(f"{p}.apiGroup", subject.get("apiGroup"), ("",))
            if cluster and not subject.get("namespace"):
                errs.required(f"{p}.namespace")
        elif kind in ("User", "Group"):
            if subject.get("apiGroup") != RBAC:
                errs.not_supported(f"{p}.apiGroup", subject.get("apiGroup"), (RBAC,))
        else:
            errs.not_supported(f"{p}.kind", kind, ("ServiceAccount", "User", "Group"))


def _update_binding(errs: Errors, obj: dict, old: dict) -> None:
    if _canon(obj.get("roleRef")) != _canon(old.get("roleRef")):
        errs.invalid("roleRef", obj.get("roleRef"), "cannot change roleRef")


# -- networking, discovery ----------------------------------------------------------------
_PATH_TYPES = ("Exact", "ImplementationSpecific", "Prefix")


def _ingress_backend(errs: Errors, backend: dict, path: str) -> None:
    svc, res = backend.get("service"), backend.get("resource")
    if svc is not None and res is not None:
        errs.invalid(path, backend, "cannot set both resource and service backends")
    elif svc is None and res is None:
        errs.invalid(path, backend, "must specify a resource or service")
    if isinstance(svc, dict):
        if not svc.get("name"):
            errs.required(f"{path}.service.name")
        port = svc.get("port") if isinstance(svc.get("port"), dict) else {}
        if port.get("name") and port.get("number"):
            errs.invalid(f"{path}.service.port", port, "cannot set both port name & port "
                                                       "number")
        elif port.get("number") is not None:
            validate_port_number(errs, port["number"], f"{path}.service.port.number")
        elif not port.get("name"):
            errs.required(f"{path}.service.port", "port name or number is required")


def _ingress(errs: Errors, obj: dict) -> None:
    spec = errs.dict_at(obj, "spec", "spec") or {}
    rules = errs.list_at(spec, "rules", "spec.rules") or []
    default = errs.dict_at(spec, "defaultBackend", "spec.defaultBackend")
    if not rules and default is None:
        errs.invalid("spec", spec, "either `defaultBackend` or `rules` must be specified")
    if default is not None:
        _ingress_backend(errs, default, "spec.defaultBackend")
    for i, rule in errs.dict_items(rules, "spec.rules"):
        host = rule.get("host")
        if isinstance(host, str) and host:
            check = host[2:] if host.startswith("*.") else host
            if _is_ip(host):
                errs.invalid(f"spec.rules[{i}].host", host, "must be a DNS name, not an IP "
                                                            "address")
            else:
                errs.names(f"spec.rules[{i}].host", host, dns1123_subdomain(check))
        http = rule.get("http")
        if not isinstance(http, dict):
            continue
        paths = http.get("paths")
        if not paths:
            errs.required(f"spec.rules[{i}].http.paths")
        for j, item in errs.dict_items(paths if isinstance(paths, list) else [],
                                       f"spec.rules[{i}].http.paths"):
            p = f"spec.rules[{i}].http.paths[{j}]"
            ptype = item.get("pathType")
            if not ptype:
                errs.required(f"{p}.pathType", "pathType must be specified")
            elif ptype not in _PATH_TYPES:
                errs.not_supported(f"{p}.pathType", ptype, _PATH_TYPES)
            value = item.get("path")
            if ptype in ("Exact", "Prefix"):
                if not isinstance(value, str) or not value.startswith("/"):
                    errs.invalid(f"{p}.path", value, "must be an absolute path")
                elif "//" in value:
                    errs.invalid(f"{p}.path", value, "must not contain '//'")
            elif isinstance(value, str) and value and not value.startswith("/"):
                errs.invalid(f"{p}.path", value, "must be an absolute path")
            backend = item.get("backend")
            if not isinstance(backend, dict):
                errs.required(f"{p}.backend")
            else:
                _ingress_backend(errs, backend, f"{p}.backend")


def _ingress_class(errs: Errors, obj: dict) -> None:
    controller = _get(obj, "spec", "controller")
    if not controller:
        errs.required("spec.controller")


def _update_ingress_class(errs: Errors, obj: dict, old: dict) -> None:
    if _get(obj, "spec", "controller") != _get(old, "spec", "controller"):
        errs.invalid("spec.controller", _get(obj, "spec", "controller"), IMMUTABLE)


def _netpol_ports(errs: Errors, rule: dict, path: str) -> None:
    for k, port in errs.dict_items(errs.list_at(rule, "ports", f"{path}.ports"),
                                   f"{path}.ports"):
        p = f"{path}.ports[{k}]"
        proto = port.get("protocol", "TCP")
        if proto not in ("TCP", "UDP", "SCTP"):
            errs.not_supported(f"{p}.protocol", proto, ("SCTP", "TCP", "UDP"))
        number = port.get("port")
        if isinstance(number, int) and not isinstance(number, bool):
            validate_port_number(errs, number, f"{p}.port")
        end = port.get("endPort")
        if end is not None:
            if not isinstance(number, int) or isinstance(number, bool):
                errs.required(f"{p}.port", "must specify port when endPort is specified")
            elif isinstance(end, int) and end < number:
                errs.invalid(f"{p}.endPort", end, "must be greater than or equal to `port`")


def _netpol_peers(errs: Errors, rule: dict, key: str, path: str) -> None:
    for k, peer in errs.dict_items(errs.list_at(rule, key, f"{path}.{key}"), f"{path}.{key}"):
        p = f"{path}.{key}[{k}]"
        block = peer.get("ipBlock")
        selectors = [s for s in ("podSelector", "namespaceSelector") if peer.get(s) is not None]
        if block is None and not selectors:
            errs.required(p, "must specify a peer")
        if block is not None and selectors:
            errs.forbidden(p, "may not specify more than 1 peer type")
        for s in selectors:
            validate_label_selector(errs, peer[s], f"{p}.{s}")
        if isinstance(block, dict):
            cidr = block.get("cidr")
            if not cidr:
                errs.required(f"{p}.ipBlock.cidr")
            elif not isinstance(cidr, str) or not _valid_cidr(cidr):
                errs.invalid(f"{p}.ipBlock.cidr", cidr, "must be a valid CIDR value, (e.g. "
                                                        "10.9.8.0/24 or 2001:db8::/64)")
            for m, exc in enumerate(block.get("except") or []):
                if not isinstance(exc, str) or not _valid_cidr(exc):
                    errs.invalid(f"{p}.ipBlock.except[{m}]", exc, "must be a valid CIDR "
                                                                  "value")


def _network_policy(errs: Errors, obj: dict) -> None:
    spec = errs.dict_at(obj, "spec", "spec") or {}
    validate_label_selector(errs, spec.get("podSelector"), "spec.podSelector")
    for i, rule in errs.dict_items(errs.list_at(spec, "ingress", "spec.ingress"),
                                   "spec.ingress"):
        _netpol_ports(errs, rule, f"spec.ingress[{i}]")
        _netpol_peers(errs, rule, "from", f"spec.ingress[{i}]")
    for i, rule in errs.dict_items(errs.list_at(spec, "egress", "spec.egress"),
                                   "spec.egress"):
        _netpol_ports(errs, rule, f"spec.egress[{i}]")
        _netpol_peers(errs, rule, "to", f"spec.egress[{i}]")
    types = spec.get("policyTypes") or []
    for i, ptype in enumerate(types):
        if ptype not in ("Ingress", "Egress"):
            errs.not_supported(f"spec.policyTypes[{i}]", ptype, ("Egress", "Ingress"))
    if len(types) > 2:
        errs.invalid("spec.policyTypes", types, "may not specify more than two policyTypes")


_ADDRESS_TYPES = ("FQDN", "IPv4", "IPv6")


def _endpoint_slice(errs: Errors, obj: dict) -> None:
    atype = obj.get("addressType")
    if not atype:
        errs.required("addressType")
    elif atype not in _ADDRESS_TYPES:
        errs.not_supported("addressType", atype, _ADDRESS_TYPES)
    endpoints = errs.list_at(obj, "endpoints", "endpoints") or []
    if len(endpoints) > 1000:
        errs.too_long("endpoints", 1000)
    for i, ep in errs.dict_items(endpoints, "endpoints"):
        addrs = errs.list_at(ep, "addresses", f"endpoints[{i}].addresses") or []
        if not addrs or len(addrs) > 100:
            errs.invalid(f"endpoints[{i}].addresses", addrs, "must contain at least 1 address"
                         if not addrs else "must contain at most 100 addresses")
        for j, addr in enumerate(addrs):
            path = f"endpoints[{i}].addresses[{j}]"
            if atype in ("IPv4", "IPv6"):
                ok = isinstance(addr, str) and _is_ip(addr) and \
                    (":" in addr) == (atype == "IPv6")
                if not ok:
                    errs.invalid(path, addr, f"must be a valid {atype} address")
            elif atype == "FQDN" and isinstance(addr, str):
                errs.names(path, addr, dns1123_subdomain(addr))
    ports = errs.list_at(obj, "ports", "ports") or []
    names: set = set()
    for i, port in errs.dict_items(ports, "ports"):
        name = port.get("name") or ""
        if name in names:
            errs.duplicate(f"ports[{i}].name", name)
        names.add(name)
        if port.get("port") is not None:
            validate_port_number(errs, port["port"], f"ports[{i}].port")


def _update_endpoint_slice(errs: Errors, obj: dict, old: dict) -> None:
    if obj.get("addressType") != old.get("addressType"):
        errs.invalid("addressType", obj.get("addressType"), IMMUTABLE)


def _resource_quota(errs: Errors, obj: dict) -> None:
    hard = _get(obj, "spec", "hard")
    for name, value in hard.items() if isinstance(hard, dict) else []:
        _quantity(errs, value, f"spec.hard[{name}]")


VALIDATORS: dict[tuple[str, str], Callable[[Errors, dict], None]] = {
    ("", "ConfigMap"): _configmap,
    ("", "Secret"): _secret,
    ("", "PersistentVolumeClaim"): _pvc,
    ("", "PersistentVolume"): _pv,
    ("", "ResourceQuota"): _resource_quota,
    ("storage.k8s.io", "StorageClass"): _storage_class,
    ("scheduling.k8s.io", "PriorityClass"): _priority_class,
    (RBAC, "Role"): _role,
    (RBAC, "ClusterRole"): _cluster_role,
    (RBAC, "RoleBinding"): lambda errs, obj: _binding(errs, obj, cluster=False),
    (RBAC, "ClusterRoleBinding"): lambda errs, obj: _binding(errs, obj, cluster=True),
    ("networking.k8s.io", "Ingress"): _ingress,
    ("networking.k8s.io", "IngressClass"): _ingress_class,
    ("networking.k8s.io", "NetworkPolicy"): _network_policy,
    ("discovery.k8s.io", "EndpointSlice"): _endpoint_slice,
}

UPDATE_VALIDATORS: dict[tuple[str, str], Callable[[Errors, dict, dict], None]] = {
    ("", "ConfigMap"): _update_configmap,
    ("", "Secret"): _update_secret,
    ("", "PersistentVolumeClaim"): _update_pvc,
    ("storage.k8s.io", "StorageClass"): _update_storage_class,
    ("scheduling.k8s.io", "PriorityClass"): _update_priority_class,
    (RBAC, "RoleBinding"): _update_binding,
    (RBAC, "ClusterRoleBinding"): _update_binding,
    ("networking.k8s.io", "IngressClass"): _update_ingress_class,
    ("discovery.k8s.io", "EndpointSlice"): _update_endpoint_slice,
}
