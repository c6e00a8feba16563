"""CRI request bodies built from a Pod (pure; dicts in runtime.v1 JSON field names).

`sandbox_config` and `container_config` return dicts shaped like
PodSandboxConfig and ContainerConfig (proto field names), which the effects
layer turns into messages with json_format.ParseDict. Labels are the ones
the real kubelet sets (io.kubernetes.pod.*), so another CRI client such as
crictl would recognise the Pods.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional

from k8snet.kubelet import envvars, etcfiles
from k8snet.kubelet.envvars import expand
from k8snet.machinery.podresources import linux_resources

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
        "hostname": "" if spec.get("hostNetwork") else etcfiles.hostname_file(pod).strip(),
        "log_directory": log_dir,
        "labels": pod_labels(pod),
        "annotations": {k: str(v) for k, v in (meta.get("annotations") or {}).items()},
    }
    if ports:
        cfg["port_mappings"] = ports
    if spec.get("hostNetwork"):
        cfg["linux"] = {"security_context": {"namespace_options": {"network": "NODE"}}}
    return cfg


def container_config(pod: Mapping[str, Any], container: Mapping[str, Any], attempt: int,
                     pod_ip: str = "", host_ip: str = "",
                     image_ref: Optional[str] = None,
                     env_map: Optional[Mapping[str, str]] = None,
                     target_id: str = "") -> Dict[str, Any]:
    """ContainerConfig: metadata, image, command/args (with $(VAR) expanded), env, log path.

    `env_map` is the resolved environment (k8snet.kubelet.envvars); without it
    the environment is resolved with no ConfigMaps or Secrets in existence.
    `target_id`: the running container an ephemeral container's targetContainerName
    names, whose PID namespace it joins (NamespaceMode TARGET).
    """
    if env_map is None:
        env_map = envvars.container_env(pod, container, pod_ip, host_ip).env
    env = [{"key": k, "value": v} for k, v in env_map.items()]
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
        "stdin_once": bool(container.get("stdinOnce")),
        "tty": bool(container.get("tty")),
    }
    cfg["linux"] = {"resources": linux_resources(container.get("resources"))}
    sec = security_context(pod, container)
    namespaces = namespace_options(pod.get("spec", {}), target_id)
    if namespaces:
        sec["namespace_options"] = namespaces
    if sec:
        cfg["linux"]["security_context"] = sec
    return cfg


def namespace_options(spec: Mapping[str, Any], target_id: str = "") -> Dict[str, Any]:
    """NamespaceOption for a container ({}: the defaults, its own PID namespace).

    hostPID: the node's; shareProcessNamespace: the Pod's; an ephemeral container's
    target: that container's. hostIPC asks for the node's IPC namespace. PID mode is
    always spelled out, as its zero value in runtime.v1 is POD.
    """
    out: Dict[str, Any] = {}
    if spec.get("hostPID"):
        out["pid"] = "NODE"
    elif spec.get("shareProcessNamespace"):
        out["pid"] = "POD"
    elif target_id:
        out.update(pid="TARGET", target_id=target_id)
    if spec.get("hostIPC"):
        out["ipc"] = "NODE"
        out.setdefault("pid", "CONTAINER")
    return out


def security_context(pod: Mapping[str, Any], container: Mapping[str, Any]) -> Dict[str, Any]:
    """LinuxContainerSecurityContext: runAsUser/runAsGroup (the container's over the Pod's),
    supplemental groups with fsGroup first."""
    pod_sc = pod.get("spec", {}).get("securityContext") or {}
    c_sc = container.get("securityContext") or {}
    out: Dict[str, Any] = {}
    for field, key in (("runAsUser", "run_as_user"), ("runAsGroup", "run_as_group")):
        value = c_sc.get(field, pod_sc.get(field))
        if value is not None:
            out[key] = {"value": int(value)}
    groups = ([int(pod_sc["fsGroup"])] if pod_sc.get("fsGroup") is not None else []) + \
        [int(g) for g in pod_sc.get("supplementalGroups") or []]
    if groups:
        out["supplemental_groups"] = list(dict.fromkeys(groups))
    return out
