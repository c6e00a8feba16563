"""Validation of PodSpecs (Pods and Pod templates), with Kubernetes' paths and wording.

Public names:

    validate_pod_spec(errs: Errors, spec: dict, path: str = "spec") -> None
    validate_labels(errs, labels_parent: dict, key: str, path: str) -> None
    validate_label_selector(errs, sel: dict, path: str) -> None   metav1.LabelSelector
    validate_port_number(errs, value, path) ; validate_int_or_port_name(errs, value, path)
    PROTOCOLS, RESTART_POLICIES, DNS_POLICIES, PULL_POLICIES, TOLERATION_EFFECTS
"""

from __future__ import annotations

from typing import Any, Optional

from k8snet.api.fielderrors import (
    Errors,
    dns1123_label,
    dns1123_subdomain,
    iana_svc_name,
    qualified_name,
)
from k8snet.api.selectors import validate_label_value
from k8snet.machinery.quantities import parse_quantity

PROTOCOLS = ("SCTP", "TCP", "UDP")
RESTART_POLICIES = ("Always", "Never", "OnFailure")
DNS_POLICIES = ("ClusterFirst", "ClusterFirstWithHostNet", "Default", "None")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
TOLERATION_EFFECTS = ("NoExecute", "NoSchedule", "PreferNoSchedule")
NODE_SELECTOR_OPS = ("DoesNotExist", "Exists", "Gt", "In", "Lt", "NotIn")
_PROBE_HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")
_LIFECYCLE_HANDLERS = ("exec", "httpGet", "tcpSocket", "sleep")
_VOLUME_SOURCES = ("hostPath", "emptyDir", "configMap", "secret", "persistentVolumeClaim",
                   "nfs", "image", "projected", "downwardAPI", "ephemeral", "csi", "iscsi",
                   "gcePersistentDisk", "awsElasticBlockStore", "azureDisk", "azureFile",
                   "cephfs", "cinder", "fc", "flexVolume", "flocker", "gitRepo", "glusterfs",
                   "photonPersistentDisk", "portworxVolume", "quobyte", "rbd", "scaleIO",
                   "storageos", "vsphereVolume")
_RANGE = "must be between 1 and 65535, inclusive"


def validate_labels(errs: Errors, parent: Any, key: str, path: str) -> None:
    """Label keys must be qualified names and values label values."""
    for k, v in errs.string_map(parent, key, path).items():
        errs.names(path, k, qualified_name(k))
        reason = validate_label_value(v)
        if reason:
            errs.invalid(path, v, reason)


def validate_label_selector(errs: Errors, sel: Any, path: str) -> None:
    """A metav1.LabelSelector: matchLabels and matchExpressions."""
    if not isinstance(sel, dict):
        return
    validate_labels(errs, sel, "matchLabels", f"{path}.matchLabels")
    exprs = errs.list_at(sel, "matchExpressions", f"{path}.matchExpressions")
    for i, expr in errs.dict_items(exprs, f"{path}.matchExpressions"):
        p = f"{path}.matchExpressions[{i}]"
        key = errs.str_at(expr, "key", f"{p}.key")
        if not key:
            errs.required(f"{p}.key")
        else:
            errs.names(f"{p}.key", key, qualified_name(key))
        op = expr.get("operator")
        values = errs.list_at(expr, "values", f"{p}.values") or []
        if op in ("In", "NotIn"):
            if not values:
                errs.required(f"{p}.values", "must be specified when `operator` is 'In' or "
                                             "'NotIn'")
        elif op in ("Exists", "DoesNotExist"):
            if values:
                errs.forbidden(f"{p}.values", "may not be specified when `operator` is "
                                              "'Exists' or 'DoesNotExist'")
        else:
            errs.not_supported(f"{p}.operator", op, ("DoesNotExist", "Exists", "In", "NotIn"))
        for j, v in enumerate(values):
            if not isinstance(v, str):
                errs.type_invalid(f"{p}.values[{j}]", v, "string")
            elif validate_label_value(v):
                errs.invalid(f"{p}.values[{j}]", v, validate_label_value(v) or "")


def validate_port_number(errs: Errors, value: Any, path: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        errs.type_invalid(path, value, "integer")
    elif not 1 <= value <= 65535:
        errs.invalid(path, value, _RANGE)


def validate_int_or_port_name(errs: Errors, value: Any, path: str) -> None:
    """An IntOrString port: a number 1-65535 or an IANA service name."""
    if isinstance(value, str):
        if value.isdigit():
            validate_port_number(errs, int(value), path)
        else:
            errs.names(path, value, iana_svc_name(value))
    elif value is None:
        errs.required(path)
    else:
        validate_port_number(errs, value, path)


def _nonneg(errs: Errors, parent: dict, key: str, path: str) -> Optional[int]:
    value = errs.int_at(parent, key, f"{path}.{key}")
    if value is not None and value < 0:
        errs.invalid(f"{path}.{key}", value, "must be greater than or equal to 0")
    return value


def _handler(errs: Errors, h: dict, path: str, kinds: tuple[str, ...]) -> None:
    present = [k for k in kinds if h.get(k) is not None]
    if not present:
        errs.required(path, "must specify a handler type")
        return
    if len(present) > 1:
        errs.forbidden(f"{path}.{present[1]}", "may not specify more than 1 handler type")
        return
    which = present[0]
    body = errs.dict_at(h, which, f"{path}.{which}")
    if body is None:
        return
    p = f"{path}.{which}"
    if which == "exec":
        cmd = errs.list_at(body, "command", f"{p}.command")
        if not cmd:
            errs.required(f"{p}.command")
    elif which in ("httpGet", "tcpSocket"):
        validate_int_or_port_name(errs, body.get("port"), f"{p}.port")
        if which == "httpGet":
            scheme = body.get("scheme", "HTTP")
            if scheme not in ("HTTP", "HTTPS"):
                errs.not_supported(f"{p}.scheme", scheme, ("HTTP", "HTTPS"))
    elif which == "grpc":
        validate_port_number(errs, body.get("port"), f"{p}.port")
    elif which == "sleep":
        secs = errs.int_at(body, "seconds", f"{p}.seconds")
        if secs is None or secs < 0:
            errs.invalid(f"{p}.seconds", body.get("seconds"), "must be greater than or "
                                                              "equal to 0")


def _probe(errs: Errors, probe: dict, path: str, kind: str) -> None:
    _handler(errs, probe, path, _PROBE_HANDLERS)
    for field in ("initialDelaySeconds", "timeoutSeconds", "periodSeconds",
                  "successThreshold", "failureThreshold"):
        _nonneg(errs, probe, field, path)
    success = probe.get("successThreshold")
    if kind in ("livenessProbe", "startupProbe") and isinstance(success, int) and success != 1:
        errs.invalid(f"{path}.successThreshold", success, "must be 1")
    if kind == "readinessProbe" and probe.get("terminationGracePeriodSeconds") is not None:
        errs.invalid(f"{path}.terminationGracePeriodSeconds",
                     probe["terminationGracePeriodSeconds"],
                     "must not be set for readinessProbes")


def _resources(errs: Errors, res: dict, path: str) -> None:
    parsed: dict[str, dict[str, Any]] = {}
    for part in ("limits", "requests"):
        values = errs.dict_at(res, part, f"{path}.{part}") or {}
        parsed[part] = {}
        for name, raw in values.items():
            p = f"{path}.{part}[{name}]"
            errs.names(p, name, qualified_name(name))
            try:
                q = parse_quantity(raw)
            except ValueError as exc:
                errs.invalid(p, raw, str(exc))
                continue
            if q < 0:
                errs.invalid(p, raw, "must be greater than or equal to 0")
            parsed[part][name] = (q, raw)
    for name, (req, raw) in parsed["requests"].items():
        lim = parsed["limits"].get(name)
        if lim is not None and req > lim[0]:
            errs.invalid(f"{path}.requests", raw,
                         f"must be less than or equal to {name} limit of {lim[1]}")


def _container(errs: Errors, c: dict, path: str, volumes: set[str], host_network: bool,
               init: bool) -> None:
    name = errs.str_at(c, "name", f"{path}.name")
    if not name:
        errs.required(f"{path}.name")
    else:
        errs.names(f"{path}.name", name, dns1123_label(name))
    image = errs.str_at(c, "image", f"{path}.image")
    if not image or not image.strip():
        errs.required(f"{path}.image")
    policy = c.get("imagePullPolicy")
    if policy is not None and policy not in PULL_POLICIES:
        errs.not_supported(f"{path}.imagePullPolicy", policy, PULL_POLICIES)
    for field in ("command", "args"):
        for j, item in enumerate(errs.list_at(c, field, f"{path}.{field}") or []):
            if not isinstance(item, str):
                errs.type_invalid(f"{path}.{field}[{j}]", item, "string")
    port_names: set[str] = set()
    for i, port in errs.dict_items(errs.list_at(c, "ports", f"{path}.ports"), f"{path}.ports"):
        p = f"{path}.ports[{i}]"
        pname = errs.str_at(port, "name", f"{p}.name")
        if pname:
            errs.names(f"{p}.name", pname, iana_svc_name(pname))
            if pname in port_names:
                errs.duplicate(f"{p}.name", pname)
            port_names.add(pname)
        if port.get("containerPort") is None:
            errs.required(f"{p}.containerPort")
        else:
            validate_port_number(errs, port["containerPort"], f"{p}.containerPort")
        host_port = port.get("hostPort")
        if host_port not in (None, 0):
            validate_port_number(errs, host_port, f"{p}.hostPort")
            if host_network and host_port != port.get("containerPort"):
                errs.invalid(f"{p}.containerPort", port.get("containerPort"),
                             "must match `hostPort` when `hostNetwork` is true")
        proto = port.get("protocol", "TCP")
        if proto not in PROTOCOLS:
            errs.not_supported(f"{p}.protocol", proto, PROTOCOLS)
    for i, env in errs.dict_items(errs.list_at(c, "env", f"{path}.env"), f"{path}.env"):
        ename = errs.str_at(env, "name", f"{path}.env[{i}].name")
        if not ename:
            errs.required(f"{path}.env[{i}].name")
        elif "=" in ename:
            errs.invalid(f"{path}.env[{i}].name", ename,
                         "a valid environment variable name must consist only of printable "
                         "ASCII characters other than '='")
        errs.str_at(env, "value", f"{path}.env[{i}].value")
        if env.get("value") not in (None, "") and env.get("valueFrom") is not None:
            errs.invalid(f"{path}.env[{i}].valueFrom", "",
                         "may not be specified when `value` is not empty")
    res = errs.dict_at(c, "resources", f"{path}.resources")
    if res:
        _resources(errs, res, f"{path}.resources")
    mount_paths: set[str] = set()
    mounts = errs.list_at(c, "volumeMounts", f"{path}.volumeMounts")
    for i, m in errs.dict_items(mounts, f"{path}.volumeMounts"):
        p = f"{path}.volumeMounts[{i}]"
        vname = errs.str_at(m, "name", f"{p}.name")
        if not vname:
            errs.required(f"{p}.name")
        elif vname not in volumes:
            errs.not_found(f"{p}.name", vname)
        mpath = errs.str_at(m, "mountPath", f"{p}.mountPath")
        if not mpath:
            errs.required(f"{p}.mountPath")
        elif mpath in mount_paths:
            errs.invalid(f"{p}.mountPath", mpath, "must be unique")
        else:
            mount_paths.add(mpath)
    for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = errs.dict_at(c, kind, f"{path}.{kind}")
        if probe is None:
            continue
        if init and c.get("restartPolicy") != "Always":
            errs.forbidden(f"{path}.{kind}", "may not be set for init containers without "
                                              "restartPolicy=Always")
            continue
        _probe(errs, probe, f"{path}.{kind}", kind)
    lifecycle = errs.dict_at(c, "lifecycle", f"{path}.lifecycle") or {}
    for hook in ("postStart", "preStop"):
        h = errs.dict_at(lifecycle, hook, f"{path}.lifecycle.{hook}")
        if h is not None:
            _handler(errs, h, f"{path}.lifecycle.{hook}", _LIFECYCLE_HANDLERS)
    tmp = c.get("terminationMessagePolicy")
    if tmp is not None and tmp not in ("File", "FallbackToLogsOnError"):
        errs.not_supported(f"{path}.terminationMessagePolicy", tmp,
                           ("File", "FallbackToLogsOnError"))


def _volumes(errs: Errors, spec: dict, path: str) -> set[str]:
    names: set[str] = set()
    vols = errs.list_at(spec, "volumes", f"{path}.volumes")
    for i, v in errs.dict_items(vols, f"{path}.volumes"):
        p = f"{path}.volumes[{i}]"
        name = errs.str_at(v, "name", f"{p}.name")
        if not name:
            errs.required(f"{p}.name")
        else:
            errs.names(f"{p}.name", name, dns1123_label(name))
            if name in names:
                errs.duplicate(f"{p}.name", name)
            names.add(name)
        sources = [s for s in _VOLUME_SOURCES if v.get(s) is not None]
        if not sources:
            errs.required(p, "must specify a volume type")
        elif len(sources) > 1:
            errs.forbidden(f"{p}.{sources[1]}", "may not specify more than 1 volume type")
        host_path = errs.dict_at(v, "hostPath", f"{p}.hostPath")
        if host_path is not None and not host_path.get("path"):
            errs.required(f"{p}.hostPath.path")
        cm = errs.dict_at(v, "configMap", f"{p}.configMap")
        if cm is not None and not cm.get("name"):
            errs.required(f"{p}.configMap.name")
    return names


def _tolerations(errs: Errors, spec: dict, path: str) -> None:
    items = errs.list_at(spec, "tolerations", f"{path}.tolerations")
    for i, t in errs.dict_items(items, f"{path}.tolerations"):
        p = f"{path}.tolerations[{i}]"
        key = errs.str_at(t, "key", f"{p}.key") or ""
        if key:
            errs.names(f"{p}.key", key, qualified_name(key))
        op = t.get("operator") or "Equal"
        if op not in ("Equal", "Exists"):
            errs.not_supported(f"{p}.operator", op, ("Equal", "Exists"))
        elif not key and op != "Exists":
            errs.invalid(f"{p}.operator", op, "operator must be Exists when `key` is empty, "
                                              "which means \"match all values and all keys\"")
        value = t.get("value")
        if op == "Exists" and value:
            errs.invalid(f"{p}.operator", value, "value must be empty when `operator` is "
                                                 "'Exists'")
        elif isinstance(value, str) and validate_label_value(value):
            errs.invalid(f"{p}.value", value, validate_label_value(value) or "")
        effect = t.get("effect")
        if effect not in (None, "") and effect not in TOLERATION_EFFECTS:
            errs.not_supported(f"{p}.effect", effect, TOLERATION_EFFECTS)
        if t.get("tolerationSeconds") is not None:
            errs.int_at(t, "tolerationSeconds", f"{p}.tolerationSeconds")
            if effect != "NoExecute":
                errs.invalid(f"{p}.effect", effect, "effect must be 'NoExecute' when "
                                                    "`tolerationSeconds` is set")


def _node_selector_term(errs: Errors, term: dict, path: str) -> None:
    for field in ("matchExpressions", "matchFields"):
        items = errs.list_at(term, field, f"{path}.{field}")
        for i, expr in errs.dict_items(items, f"{path}.{field}"):
            p = f"{path}.{field}[{i}]"
            key = errs.str_at(expr, "key", f"{p}.key")
            if not key:
                errs.required(f"{p}.key")
            elif field == "matchExpressions":
                errs.names(f"{p}.key", key, qualified_name(key))
            op = expr.get("operator")
            values = errs.list_at(expr, "values", f"{p}.values") or []
            if op in ("In", "NotIn"):
                if not values:
                    errs.required(f"{p}.values", "must be specified when `operator` is "
                                                 "'In' or 'NotIn'")
            elif op in ("Exists", "DoesNotExist"):
                if values:
                    errs.forbidden(f"{p}.values", "may not be specified when `operator` is "
                                                  "'Exists' or 'DoesNotExist'")
            elif op in ("Gt", "Lt"):
                if len(values) != 1 or not str(values[0]).lstrip("-").isdigit():
                    errs.required(f"{p}.values", "must be specified single value when "
                                                 "`operator` is 'Lt' or 'Gt'")
            else:
                errs.not_supported(f"{p}.operator", op, NODE_SELECTOR_OPS)


def _weight(errs: Errors, item: dict, path: str) -> None:
    w = item.get("weight")
    if isinstance(w, bool) or not isinstance(w, int) or not 1 <= w <= 100:
        errs.invalid(f"{path}.weight", w, "must be in the range 1-100")


def _pod_affinity_term(errs: Errors, term: dict, path: str) -> None:
    if not term.get("topologyKey"):
        errs.required(f"{path}.topologyKey", "can not be empty")
    elif isinstance(term["topologyKey"], str):
        errs.names(f"{path}.topologyKey", term["topologyKey"],
                   qualified_name(term["topologyKey"]))
    sel = errs.dict_at(term, "labelSelector", f"{path}.labelSelector")
    validate_label_selector(errs, sel, f"{path}.labelSelector")


def _affinity(errs: Errors, spec: dict, path: str) -> None:
    aff = errs.dict_at(spec, "affinity", f"{path}.affinity")
    if not aff:
        return
    base = f"{path}.affinity"
    req_key = "requiredDuringSchedulingIgnoredDuringExecution"
    pref_key = "preferredDuringSchedulingIgnoredDuringExecution"
    na = errs.dict_at(aff, "nodeAffinity", f"{base}.nodeAffinity") or {}
    req = errs.dict_at(na, req_key, f"{base}.nodeAffinity.{req_key}")
    if req is not None:
        p = f"{base}.nodeAffinity.{req_key}.nodeSelectorTerms"
        terms = errs.list_at(req, "nodeSelectorTerms", p)
        if not terms:
            errs.required(p, "must have at least one node selector term")
        for i, term in errs.dict_items(terms, p):
            _node_selector_term(errs, term, f"{p}[{i}]")
    p = f"{base}.nodeAffinity.{pref_key}"
    for i, item in errs.dict_items(errs.list_at(na, pref_key, p), p):
        _weight(errs, item, f"{p}[{i}]")
        pref = errs.dict_at(item, "preference", f"{p}[{i}].preference")
        if pref is not None:
            _node_selector_term(errs, pref, f"{p}[{i}].preference")
    for kind in ("podAffinity", "podAntiAffinity"):
        pa = errs.dict_at(aff, kind, f"{base}.{kind}") or {}
        p = f"{base}.{kind}.{req_key}"
        for i, term in errs.dict_items(errs.list_at(pa, req_key, p), p):
            _pod_affinity_term(errs, term, f"{p}[{i}]")
        p = f"{base}.{kind}.{pref_key}"
        for i, item in errs.dict_items(errs.list_at(pa, pref_key, p), p):
            _weight(errs, item, f"{p}[{i}]")
            term = errs.dict_at(item, "podAffinityTerm", f"{p}[{i}].podAffinityTerm")
            if term is None:
                errs.required(f"{p}[{i}].podAffinityTerm")
            else:
                _pod_affinity_term(errs, term, f"{p}[{i}].podAffinityTerm")


def _spread(errs: Errors, spec: dict, path: str) -> None:
    p = f"{path}.topologySpreadConstraints"
    for i, c in errs.dict_items(errs.list_at(spec, "topologySpreadConstraints", p), p):
        skew = c.get("maxSkew")
        if isinstance(skew, bool) or not isinstance(skew, int) or skew <= 0:
            errs.invalid(f"{p}[{i}].maxSkew", skew, "must be greater than zero")
        if not c.get("topologyKey"):
            errs.required(f"{p}[{i}].topologyKey", "can not be empty")
        when = c.get("whenUnsatisfiable")
        if when not in ("DoNotSchedule", "ScheduleAnyway"):
            errs.not_supported(f"{p}[{i}].whenUnsatisfiable", when,
                               ("DoNotSchedule", "ScheduleAnyway"))
        validate_label_selector(errs, errs.dict_at(c, "labelSelector", f"{p}[{i}].labelSelector"),
                                f"{p}[{i}].labelSelector")


def validate_pod_spec(errs: Errors, spec: Any, path: str = "spec") -> None:
    """Validate a PodSpec; causes go to errs with paths under `path`."""
    if not isinstance(spec, dict):
        if spec is None:
            errs.required(path)
        else:
            errs.type_invalid(path, spec, "object")
        return
    volumes = _volumes(errs, spec, path)
    host_network = spec.get("hostNetwork") is True
    errs.bool_at(spec, "hostNetwork", f"{path}.hostNetwork")
    containers = errs.list_at(spec, "containers", f"{path}.containers")
    if not containers:
        errs.required(f"{path}.containers")
    seen: set[str] = set()
    for field, init in (("initContainers", True), ("containers", False)):
        items = containers if field == "containers" else \
            errs.list_at(spec, field, f"{path}.{field}")
        for i, c in errs.dict_items(items, f"{path}.{field}"):
            _container(errs, c, f"{path}.{field}[{i}]", volumes, host_network, init)
            name = c.get("name")
            if isinstance(name, str) and name:
                if name in seen:
                    errs.duplicate(f"{path}.{field}[{i}].name", name)
                seen.add(name)
    policy = spec.get("restartPolicy")
    if policy is not None and policy not in RESTART_POLICIES:
        errs.not_supported(f"{path}.restartPolicy", policy, RESTART_POLICIES)
    dns = spec.get("dnsPolicy")
    if dns is not None and dns not in DNS_POLICIES:
        errs.not_supported(f"{path}.dnsPolicy", dns, DNS_POLICIES)
    _nonneg(errs, spec, "terminationGracePeriodSeconds", path)
    ads = errs.int_at(spec, "activeDeadlineSeconds", f"{path}.activeDeadlineSeconds")
    if ads is not None and ads <= 0:
        errs.invalid(f"{path}.activeDeadlineSeconds", ads, "must be between 1 and "
                                                           "2147483647, inclusive")
    validate_labels(errs, spec, "nodeSelector", f"{path}.nodeSelector")
    for field in ("nodeName", "serviceAccountName", "schedulerName", "priorityClassName"):
        value = errs.str_at(spec, field, f"{path}.{field}")
        if value:
            errs.names(f"{path}.{field}", value, dns1123_subdomain(value))
    for field in ("hostname", "subdomain"):
        value = errs.str_at(spec, field, f"{path}.{field}")
        if value:
            errs.names(f"{path}.{field}", value, dns1123_label(value))
    errs.int_at(spec, "priority", f"{path}.priority")
    _tolerations(errs, spec, path)
    _affinity(errs, spec, path)
    _spread(errs, spec, path)
    p = f"{path}.imagePullSecrets"
    for i, s in errs.dict_items(errs.list_at(spec, "imagePullSecrets", p), p):
        if not s.get("name"):
            errs.required(f"{p}[{i}].name")
