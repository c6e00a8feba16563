"""A container's environment, as the kubelet computes it (pure).

`container_env` follows the kubelet's makeEnvironmentVariables: first every
``envFrom`` source (ConfigMap or Secret, with its prefix; keys that are not
valid variable names are skipped and reported), then every ``env`` entry in
order, later names replacing earlier ones. A ``value`` has ``$(VAR)``
references expanded against what is defined so far; ``valueFrom`` reads a
Pod field, a container resource, or a ConfigMap/Secret key.

ConfigMaps and Secrets come from a `Lookup` function (kind, namespace, name)
-> object or None, so the kubelet can fetch them and tests can fake them. A
missing object or key that is not optional raises `ContainerConfigError`
with the kubelet's own message; the container then waits in
CreateContainerConfigError.
"""

from __future__ import annotations

import base64
import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

from k8snet.machinery.quantities import parse_quantity

# (kind: "ConfigMap" | "Secret", namespace, name) -> the object, or None if it does not exist
Lookup = Callable[[str, str, str], Optional[Mapping[str, Any]]]

_ENV_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")
_NOT_FOUND_NAME = {"ConfigMap": "configmap", "Secret": "secret"}


class ContainerConfigError(Exception):
    """The container cannot be configured yet (reason CreateContainerConfigError)."""


@dataclass
class EnvResult:
    """The environment in order, and warnings the kubelet records as events."""

    env: Dict[str, str] = field(default_factory=dict)
    warnings: List[str] = field(default_factory=list)

    def as_cri(self) -> List[Dict[str, str]]:
        return [{"key": k, "value": v} for k, v in self.env.items()]


def no_objects(_kind: str, _namespace: str, _name: str) -> None:
    """A Lookup in which no ConfigMap or Secret exists."""
    return None


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' $(VAR) expansion.

    ``$(NAME)`` becomes NAME's value when NAME is defined and stays as written
    otherwise; ``$$`` is an escaped ``$`` (so ``$$(NAME)`` gives ``$(NAME)``);
    any other ``$``, and an unclosed ``$(``, are kept as they are.
    """
    out: List[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch != "$" or i + 1 >= n:
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "(":
            close = text.find(")", i + 2)
            if close < 0:
                out.append("$(")
                i += 2
                continue
            name = text[i + 2:close]
            out.append(env[name] if name in env else f"$({name})")
            i = close + 1
        else:
            out.append("$" + nxt)
            i += 2
    return "".join(out)


def field_value(path: str, pod: Mapping[str, Any], pod_ip: str, host_ip: str) -> str:
    """A fieldRef's value (metadata.*, spec.nodeName, spec.serviceAccountName, status.*IP*)."""
    meta, spec = pod.get("metadata", {}), pod.get("spec", {})
    m = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
    if m:
        return str((meta.get(m.group(1)) or {}).get(m.group(2), ""))
    if path in ("metadata.labels", "metadata.annotations"):
        items = meta.get(path.split(".")[1]) or {}
        return "\n".join(f'{k}="{v}"' for k, v in sorted(items.items()))
    values = {
        "metadata.name": meta.get("name", ""), "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""), "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.podIP": pod_ip, "status.podIPs": pod_ip,
        "status.hostIP": host_ip, "status.hostIPs": host_ip,
    }
    return str(values.get(path, ""))


def resource_value(ref: Mapping[str, Any], container: Mapping[str, Any],
                   allocatable: Optional[Mapping[str, Any]] = None) -> str:
    """A resourceFieldRef's value: the request or limit over the divisor, rounded up.

    An unset limit is the node's allocatable amount, as the kubelet reports it.
    """
    res = container.get("resources") or {}
    which, _, kind = str(ref.get("resource", "")).partition(".")
    value = (res.get(which) or {}).get(kind)
    if value is None and which == "limits":
        value = (allocatable or {}).get(kind)
    if value is None:
        return "0"
    divisor = parse_quantity(ref.get("divisor") or "1")
    return str(math.ceil(parse_quantity(value) / divisor))


def _data(kind: str, obj: Mapping[str, Any]) -> Dict[str, str]:
    """A ConfigMap's data (and binaryData), or a Secret's data decoded."""
    if kind == "Secret":
        out = {k: base64.b64decode(v).decode("utf-8", "replace")
               for k, v in (obj.get("data") or {}).items()}
        out.update({k: str(v) for k, v in (obj.get("stringData") or {}).items()})
        return out
    out = {k: str(v) for k, v in (obj.get("data") or {}).items()}
    for k, v in (obj.get("binaryData") or {}).items():
        out.setdefault(k, base64.b64decode(v).decode("utf-8", "replace"))
    return out


def _fetch(lookup: Lookup, kind: str, namespace: str, name: str,
           optional: bool) -> Optional[Dict[str, str]]:
    obj = lookup(kind, namespace, name)
    if obj is None:
        if optional:
            return None
        raise ContainerConfigError(f'{_NOT_FOUND_NAME[kind]} "{name}" not found')
    return _data(kind, obj)


def service_env(services: Sequence[Mapping[str, Any]], namespace: str,
                links: bool = True) -> Dict[str, str]:
    """The variables the kubelet derives from Services (FOO_SERVICE_HOST, FOO_PORT...).

    Services of the Pod's namespace (with enableServiceLinks, the default),
    and the apiserver's ``kubernetes`` Service in ``default`` always; headless
    Services and those without a cluster IP give none.
    """
    out: Dict[str, str] = {}
    chosen = [s for s in services
              if (links and s.get("metadata", {}).get("namespace") == namespace)
              or (s.get("metadata", {}).get("namespace") == "default"
                  and s.get("metadata", {}).get("name") == "kubernetes")]
    for svc in sorted(chosen, key=lambda s: s.get("metadata", {}).get("name", "")):
        spec = svc.get("spec") or {}
        ip = spec.get("clusterIP") or ""
        ports = spec.get("ports") or []
        if not ip or ip == "None" or not ports:
            continue
        prefix = svc["metadata"]["name"].upper().replace("-", "_")
        out[f"{prefix}_SERVICE_HOST"] = ip
        out[f"{prefix}_SERVICE_PORT"] = str(ports[0]["port"])
        for p in ports:
            if p.get("name"):
                out[f"{prefix}_SERVICE_PORT_{p['name'].upper().replace('-', '_')}"] = \
                    str(p["port"])
        first = ports[0]
        out[f"{prefix}_PORT"] = \
            f"{(first.get('protocol') or 'TCP').lower()}://{ip}:{first['port']}"
        for p in ports:
            proto = (p.get("protocol") or "TCP")
            base = f"{prefix}_PORT_{p['port']}_{proto.upper()}"
            out[base] = f"{proto.lower()}://{ip}:{p['port']}"
            out[f"{base}_PROTO"] = proto.lower()
            out[f"{base}_PORT"] = str(p["port"])
            out[f"{base}_ADDR"] = ip
    return out


def container_env(pod: Mapping[str, Any], container: Mapping[str, Any], pod_ip: str,
                  host_ip: str, lookup: Lookup = no_objects,
                  allocatable: Optional[Mapping[str, Any]] = None,
                  services: Sequence[Mapping[str, Any]] = ()) -> EnvResult:
    """The container's environment; ContainerConfigError when a required source is missing.

    Service variables come last and only where the Pod sets no variable of
    that name; ``$(VAR)`` in values may refer to them.
    """
    ns = pod.get("metadata", {}).get("namespace", "")
    links = pod.get("spec", {}).get("enableServiceLinks", True) is not False
    svc_env = service_env(services, ns, links)
    result = EnvResult()
    env = result.env
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix") or ""
        for kind, key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
            ref = source.get(key)
            if ref is None:
                continue
            data = _fetch(lookup, kind, ns, ref.get("name", ""), bool(ref.get("optional")))
            if data is None:
                continue
            invalid = []
            for k, v in data.items():
                if not _ENV_NAME.fullmatch(prefix + k):
                    invalid.append(prefix + k)
                    continue
                env[prefix + k] = v
            if invalid:
                word = "configMap" if kind == "ConfigMap" else "secret"
                result.warnings.append(
                    f"Keys [{', '.join(sorted(invalid))}] from the EnvFrom {word} "
                    f"{ns}/{ref.get('name', '')} were skipped since they are considered "
                    "invalid environment variable names.")
    for item in container.get("env") or []:
        name = item["name"]
        source = item.get("valueFrom")
        if item.get("value") or not source:
            env[name] = expand(str(item.get("value") or ""), {**svc_env, **env})
            continue
        if "fieldRef" in source:
            env[name] = field_value(source["fieldRef"].get("fieldPath", ""), pod, pod_ip,
                                    host_ip)
        elif "resourceFieldRef" in source:
            env[name] = resource_value(source["resourceFieldRef"], container, allocatable)
        else:
            kind, ref = (("ConfigMap", source["configMapKeyRef"]) if "configMapKeyRef" in source
                         else ("Secret", source.get("secretKeyRef") or {}))
            optional = bool(ref.get("optional"))
            data = _fetch(lookup, kind, ns, ref.get("name", ""), optional)
            if data is None:
                continue
            key = ref.get("key", "")
            if key not in data:
                if optional:
                    continue
                raise ContainerConfigError(
                    f"couldn't find key {key} in {kind} {ns}/{ref.get('name', '')}")
            env[name] = data[key]
    for k, v in svc_env.items():
        env.setdefault(k, v)
    return result
