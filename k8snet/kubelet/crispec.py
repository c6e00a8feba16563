"""CRI request bodies built from a Pod (pure; dicts in runtime.v1 JSON field names).

`sandbox_config` and `container_config` return dicts shaped like
PodSandboxConfig and ContainerConfig (proto field names), which the effects
layer turns into messages with json_format.ParseDict. Labels are the ones
the real kubelet sets (io.kubernetes.pod.*), so another CRI client such as
crictl would recognise the Pods.
"""

from __future__ import annotations

import math
import re
from typing import Any, Dict, List, Mapping, Optional

from k8snet.machinery.podresources import linux_resources
from k8snet.machinery.quantities import parse_quantity

POD_NAME = "io.kubernetes.pod.name"
POD_NAMESPACE = "io.kubernetes.pod.namespace"
POD_UID = "io.kubernetes.pod.uid"
CONTAINER_NAME = "io.kubernetes.container.name"


def pod_labels(pod: Mapping[str, Any]) -> Dict[str, str]:
    meta = pod.get("metadata", {})
    labels = {k: str(v) for k, v in (meta.get("labels") or {}).items()}
    labels.update({POD_NAME: meta.get("name", ""), POD_NAMESPACE: meta.get("namespace", ""),
                   POD_UID: meta.get("uid", "")})
    return labels


def sandbox_config(pod: Mapping[str, Any], attempt: int, log_dir: str) -> Dict[str, Any]:
    """PodSandboxConfig for a Pod: metadata, hostname, log directory, labels, ports."""
    meta, spec = pod.get("metadata", {}), pod.get("spec", {})
    ports = []
    for c in spec.get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("hostPort"):
                ports.append({"protocol": (p.get("protocol") or "TCP").upper(),
                              "container_port": int(p["containerPort"]),
                              "host_port": int(p["hostPort"]), "host_ip": p.get("hostIP", "")})
    cfg: Dict[str, Any] = {
        "metadata": {"name": meta.get("name", ""), "uid": meta.get("uid", ""),
                     "namespace": meta.get("namespace", ""), "attempt": attempt},
        "hostname": spec.get("hostname") or meta.get("name", ""),
        "log_directory": log_dir,
        "labels": pod_labels(pod),
        "annotations": {k: str(v) for k, v in (meta.get("annotations") or {}).items()},
    }
    if ports:
        cfg["port_mappings"] = ports
    return cfg


def _field_ref(path: str, pod: Mapping[str, Any], pod_ip: str, host_ip: str) -> str:
    meta, spec = pod.get("metadata", {}), pod.get("spec", {})
    values = {
        "metadata.name": meta.get("name", ""), "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""), "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.podIP": pod_ip, "status.hostIP": host_ip,
    }
    m = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
    if m:
        return str((meta.get(m.group(1)) or {}).get(m.group(2), ""))
    return values.get(path, "")


def _resource_ref(ref: Mapping[str, Any], container: Mapping[str, Any]) -> str:
    res = container.get("resources") or {}
    which, _, kind = str(ref.get("resource", "")).partition(".")
    value = (res.get(which) or {}).get(kind)
    if value is None:
        return "0"
    divisor = parse_quantity(ref.get("divisor") or "1")
    return str(math.ceil(parse_quantity(value) / divisor))  # ceiling, as the kubelet does


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' $(VAR) expansion: known names replaced, $$ escapes, others kept."""
    def sub(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)", sub, text)


def container_env(pod: Mapping[str, Any], container: Mapping[str, Any], pod_ip: str,
                  host_ip: str) -> List[Dict[str, str]]:
    """The container's environment: value, fieldRef and resourceFieldRef entries."""
    env: Dict[str, str] = {}
    for item in container.get("env") or []:
        name = item["name"]
        if "value" in item:
            env[name] = expand(str(item.get("value") or ""), env)
            continue
        source = item.get("valueFrom") or {}
        if "fieldRef" in source:
            env[name] = _field_ref(source["fieldRef"].get("fieldPath", ""), pod, pod_ip, host_ip)
        elif "resourceFieldRef" in source:
            env[name] = _resource_ref(source["resourceFieldRef"], container)
        else:
            env[name] = ""  # configMap/secret refs: no such objects in k8snet
    return [{"key": k, "value": v} for k, v in env.items()]


def container_config(pod: Mapping[str, Any], container: Mapping[str, Any], attempt: int,
                     pod_ip: str = "", host_ip: str = "",
                     image_ref: Optional[str] = None) -> Dict[str, Any]:
    """ContainerConfig: metadata, image, command/args (with $(VAR) expanded), env, log path."""
    env = container_env(pod, container, pod_ip, host_ip)
    env_map = {e["key"]: e["value"] for e in env}
    labels = pod_labels(pod)
    labels[CONTAINER_NAME] = container["name"]
    cfg: Dict[str, Any] = {
        "metadata": {"name": container["name"], "attempt": attempt},
        "image": {"image": image_ref or container.get("image", ""),
                  "user_specified_image": container.get("image", "")},
        "command": [expand(str(a), env_map) for a in container.get("command") or []],
        "args": [expand(str(a), env_map) for a in container.get("args") or []],
        "working_dir": container.get("workingDir", ""),
        "envs": env,
        "labels": labels,
        "annotations": {"io.kubernetes.container.restartCount": str(attempt),
                        "io.kubernetes.container.terminationMessagePath":
                            container.get("terminationMessagePath", "/dev/termination-log")},
        "log_path": f"{container['name']}/{attempt}.log",
        "stdin": bool(container.get("stdin")),
        "tty": bool(container.get("tty")),
    }
    cfg["linux"] = {"resources": linux_resources(container.get("resources"))}
    return cfg
