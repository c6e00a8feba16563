"""What a Pod's volumes hold and where containers see them (pure).

`volume_plan` turns one entry of ``spec.volumes`` into a plan the effects
layer carries out (k8snet.kubelet.volumesetup):

- `EmptyDir`: a fresh directory for the Pod's life (medium Memory: a tmpfs);
- `HostPath`: a node path, checked or created by its ``type``;
- `Files`: a payload of files (relative path -> bytes and mode) written with
  the atomic writer: configMap, secret, downwardAPI and projected volumes.

ConfigMaps and Secrets come from a lookup function, service account tokens
from a `TokenSource`, so both can be faked. A missing object or key that is
not optional raises `VolumeError` with the kubelet's words; the Pod then
stays in ContainerCreating with a FailedMount event.

`container_mounts` maps a container's ``volumeMounts`` (subPath,
subPathExpr, readOnly) onto host paths, in the CRI Mount shape.
"""

from __future__ import annotations

import base64
import os
import posixpath
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Union

from k8snet.kubelet.envvars import Lookup, expand, field_value, resource_value

DEFAULT_MODE = 0o644
DEFAULT_TOKEN_SECONDS = 3600

# (namespace, service account, audience, expirationSeconds, pod) -> token
TokenSource = Callable[[str, str, str, int, Mapping[str, Any]], str]

HOST_PATH_TYPES = ("", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket",
                   "CharDevice", "BlockDevice")


class VolumeError(Exception):
    """A volume cannot be set up (yet): the message follows the kubelet's."""


def no_tokens(namespace: str, account: str, _audience: str, _seconds: int,
              _pod: Mapping[str, Any]) -> str:
    """A TokenSource that cannot issue tokens."""
    raise VolumeError(f'failed to fetch token: serviceaccounts "{account}" is forbidden: '
                      f"no token source in namespace {namespace}")


@dataclass(frozen=True)
class EmptyDir:
    memory: bool = False
    size_limit: str = ""


@dataclass(frozen=True)
class HostPath:
    path: str
    type: str = ""


@dataclass(frozen=True)
class FileData:
    data: bytes
    mode: int = DEFAULT_MODE


@dataclass
class Files:
    """A payload: relative path -> content and mode (configMap, secret, downwardAPI...)."""

    plugin: str
    files: Dict[str, FileData] = field(default_factory=dict)


Plan = Union[EmptyDir, HostPath, Files]


def plugin_name(volume: Mapping[str, Any]) -> str:
    """The volume's plugin, as in the kubelet's directory names (kubernetes.io~<plugin>)."""
    for key, name in (("emptyDir", "empty-dir"), ("hostPath", "host-path"),
                      ("configMap", "configmap"), ("secret", "secret"),
                      ("downwardAPI", "downward-api"), ("projected", "projected"),
                      ("persistentVolumeClaim", "pvc")):
        if key in volume:
            return name
    return "unsupported"


def _check_path(path: str) -> str:
    """A payload path must be relative, without '..' elements, and not start with '..'."""
    parts = path.split("/")
    if not path or path.startswith("/") or ".." in parts or path.startswith(".."):
        raise VolumeError(f"invalid path {path!r} in volume payload")
    return posixpath.normpath(path)


def _object_data(kind: str, obj: Mapping[str, Any]) -> Dict[str, bytes]:
    out: Dict[str, bytes] = {}
    if kind == "Secret":
        for k, v in (obj.get("data") or {}).items():
            out[k] = base64.b64decode(v)
        return out
    for k, v in (obj.get("data") or {}).items():
        out[k] = str(v).encode()
    for k, v in (obj.get("binaryData") or {}).items():
        out[k] = base64.b64decode(v)
    return out


def _key_files(kind: str, src: Mapping[str, Any], namespace: str, lookup: Lookup,
               default_mode: int) -> Dict[str, FileData]:
    """Files of a configMap or secret source (volume or projection)."""
    name = src.get("name") or src.get("secretName") or ""
    optional = bool(src.get("optional"))
    obj = lookup(kind, namespace, name)
    if obj is None:
        if optional:
            return {}
        raise VolumeError(f'{"configmap" if kind == "ConfigMap" else "secret"} "{name}" '
                          "not found")
    data = _object_data(kind, obj)
    items = src.get("items")
    if not items:
        return {_check_path(k): FileData(v, default_mode) for k, v in data.items()}
    out = {}
    for item in items:
        key = item.get("key", "")
        if key not in data:
            if optional:
                continue
            raise VolumeError("configmap references non-existent config key: " + key
                              if kind == "ConfigMap"
                              else "references non-existent secret key: " + key)
        mode = item.get("mode")
        out[_check_path(item.get("path") or key)] = FileData(
            data[key], default_mode if mode is None else int(mode))
    return out


def _downward_files(items: List[Mapping[str, Any]], pod: Mapping[str, Any], pod_ip: str,
                    host_ip: str, default_mode: int) -> Dict[str, FileData]:
    containers = {c["name"]: c for c in pod.get("spec", {}).get("containers") or []}
    out = {}
    for item in items:
        if "fieldRef" in item:
            value = field_value(item["fieldRef"].get("fieldPath", ""), pod, pod_ip, host_ip)
        else:
            ref = item.get("resourceFieldRef") or {}
            container = containers.get(ref.get("containerName", ""), {})
            value = resource_value(ref, container)
        mode = item.get("mode")
        out[_check_path(item["path"])] = FileData(value.encode(),
                                                  default_mode if mode is None else int(mode))
    return out


def volume_plan(volume: Mapping[str, Any], pod: Mapping[str, Any], lookup: Lookup,
                tokens: TokenSource = no_tokens, pod_ip: str = "",
                host_ip: str = "") -> Plan:
    """What the volume is; VolumeError when a required source is missing."""
    ns = pod.get("metadata", {}).get("namespace", "")
    if "emptyDir" in volume:
        ed = volume.get("emptyDir") or {}
        return EmptyDir(ed.get("medium") == "Memory", str(ed.get("sizeLimit") or ""))
    if "hostPath" in volume:
        hp = volume["hostPath"]
        kind = hp.get("type") or ""
        if kind not in HOST_PATH_TYPES:
            raise VolumeError(f"hostPath type {kind!r} is not supported")
        return HostPath(hp["path"], kind)
    if "configMap" in volume or "secret" in volume:
        kind, src = (("ConfigMap", volume["configMap"]) if "configMap" in volume
                     else ("Secret", volume["secret"]))
        mode = src.get("defaultMode")
        return Files(plugin_name(volume), _key_files(
            kind, src, ns, lookup, DEFAULT_MODE if mode is None else int(mode)))
    if "downwardAPI" in volume:
        src = volume["downwardAPI"] or {}
        mode = src.get("defaultMode")
        return Files("downward-api", _downward_files(
            src.get("items") or [], pod, pod_ip, host_ip,
            DEFAULT_MODE if mode is None else int(mode)))
    if "persistentVolumeClaim" in volume:
        return _claim(volume["persistentVolumeClaim"], ns, lookup)
    if "projected" in volume:
        return Files("projected", _projected(volume["projected"] or {}, pod, lookup, tokens,
                                             pod_ip, host_ip))
    kinds = ", ".join(k for k in volume if k != "name")
    raise VolumeError(f"volume {volume.get('name')!r}: unsupported volume type ({kinds})")


def _claim(src: Mapping[str, Any], namespace: str, lookup: Lookup) -> HostPath:
    """A bound claim's PersistentVolume, when it is node-local (hostPath or local)."""
    name = src.get("claimName", "")
    claim = lookup("PersistentVolumeClaim", namespace, name)
    if claim is None:
        raise VolumeError(f'persistentvolumeclaim "{name}" not found')
    pv_name = (claim.get("spec") or {}).get("volumeName") or ""
    if not pv_name or (claim.get("status") or {}).get("phase") not in (None, "Bound"):
        raise VolumeError(f'PVC {namespace}/{name} is not bound')
    pv = lookup("PersistentVolume", "", pv_name)
    if pv is None:
        raise VolumeError(f'persistentvolume "{pv_name}" not found')
    spec = pv.get("spec") or {}
    if "hostPath" in spec:
        return HostPath(spec["hostPath"]["path"], "DirectoryOrCreate")
    if "local" in spec:
        return HostPath(spec["local"]["path"], "Directory")
    kinds = ", ".join(k for k in spec if k not in ("capacity", "accessModes", "claimRef",
                                                  "storageClassName", "nodeAffinity",
                                                  "persistentVolumeReclaimPolicy",
                                                  "volumeMode", "mountOptions"))
    raise VolumeError(f"persistentvolume {pv_name!r}: only hostPath and local volumes can be "
                      f"mounted by k8snet (has {kinds or 'no source'})")


def _projected(src: Mapping[str, Any], pod: Mapping[str, Any], lookup: Lookup,
               tokens: TokenSource, pod_ip: str, host_ip: str) -> Dict[str, FileData]:
    ns = pod.get("metadata", {}).get("namespace", "")
    mode = src.get("defaultMode")
    default_mode = DEFAULT_MODE if mode is None else int(mode)
    out: Dict[str, FileData] = {}
    for source in src.get("sources") or []:
        if "configMap" in source:
            out.update(_key_files("ConfigMap", source["configMap"], ns, lookup, default_mode))
        elif "secret" in source:
            out.update(_key_files("Secret", source["secret"], ns, lookup, default_mode))
        elif "downwardAPI" in source:
            out.update(_downward_files((source["downwardAPI"] or {}).get("items") or [], pod,
                                       pod_ip, host_ip, default_mode))
        elif "serviceAccountToken" in source:
            tok = source["serviceAccountToken"]
            account = pod.get("spec", {}).get("serviceAccountName") or "default"
            token = tokens(ns, account, tok.get("audience") or "",
                           int(tok.get("expirationSeconds") or DEFAULT_TOKEN_SECONDS), pod)
            out[_check_path(tok["path"])] = FileData(token.encode(), default_mode)
    return out


# -------------------------------------------------------------------- mounts

def volume_dir(root: str, uid: str, volume: Mapping[str, Any],
               plan: Optional[Plan] = None) -> str:
    """Where the kubelet keeps a Pod's volume on the node (hostPath: the path itself)."""
    if isinstance(plan, HostPath):
        return plan.path
    if "hostPath" in volume:
        return volume["hostPath"]["path"]
    return os.path.join(root, uid, "volumes", f"kubernetes.io~{plugin_name(volume)}",
                        volume["name"])


def container_mounts(pod: Mapping[str, Any], container: Mapping[str, Any],
                     dirs: Mapping[str, str], env: Mapping[str, str]) -> List[Dict[str, Any]]:
    """CRI Mounts for a container's volumeMounts; `dirs` is volume name -> host path.

    subPathExpr is expanded with the container's environment. Raises
    VolumeError for a mount of an undeclared volume or a subPath leaving it.
    """
    out = []
    for vm in container.get("volumeMounts") or []:
        name = vm.get("name", "")
        if name not in dirs:
            raise VolumeError(f'unable to find volume "{name}" for container '
                              f'{container.get("name")}')
        sub = vm.get("subPath") or ""
        if vm.get("subPathExpr"):
            sub = expand(vm["subPathExpr"], env)
        host = dirs[name]
        if sub:
            if sub.startswith("/") or ".." in sub.split("/"):
                raise VolumeError(f"subPath {sub!r} must be a relative path without '..'")
            host = os.path.join(host, sub)
        out.append({"container_path": vm["mountPath"], "host_path": host,
                    "readonly": bool(vm.get("readOnly"))})
    return out
