"""Carrying out volume plans and per-Pod /etc files on the node (the effects).

Everything for a Pod lives under ``<root>/volumes/<uid>/``: one directory per
volume (``volumes/kubernetes.io~<plugin>/<name>``, as the kubelet lays them
out) and ``etc/{hosts,hostname,resolv.conf}``. `setup_pod` makes them and
returns volume name -> host path; calling it again refreshes configMap,
secret, downwardAPI and projected volumes through the atomic writer (a no-op
when nothing changed). `cleanup_pod` unmounts memory-backed emptyDirs and
removes the lot.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from typing import Any, Dict, Mapping, Optional, Sequence

from k8snet.kubelet import atomicwriter, etcfiles, volumes
from k8snet.kubelet.envvars import Lookup
from k8snet.kubelet.volumes import EmptyDir, Files, HostPath, TokenSource, VolumeError

TMPFS_ANNOTATION = "k8snet.io/tmpfs"   # JSON {host path: size}: memory emptyDirs to mount

_HOST_PATH_CHECKS = {
    "Directory": (stat.S_ISDIR, "a directory"), "File": (stat.S_ISREG, "a file"),
    "Socket": (stat.S_ISSOCK, "a socket"), "CharDevice": (stat.S_ISCHR, "a character device"),
    "BlockDevice": (stat.S_ISBLK, "a block device"),
}


def pod_dir(root: str, uid: str) -> str:
    return os.path.join(root, "volumes", uid)


def _host_path(plan: HostPath) -> None:
    if plan.type == "DirectoryOrCreate":
        os.makedirs(plan.path, 0o755, exist_ok=True)
        return
    if plan.type == "FileOrCreate":
        if not os.path.exists(plan.path):
            with open(plan.path, "a", encoding="utf-8"):
                pass
        return
    if plan.type in _HOST_PATH_CHECKS:
        check, what = _HOST_PATH_CHECKS[plan.type]
        try:
            mode = os.stat(plan.path).st_mode
        except FileNotFoundError as exc:
            raise VolumeError(f"hostPath type check failed: {plan.path} is not {what}") from exc
        if not check(mode):
            raise VolumeError(f"hostPath type check failed: {plan.path} is not {what}")


def _is_mount(path: str) -> bool:
    return os.path.ismount(path)


def _empty_dir(path: str, plan: EmptyDir, fs_group: Optional[int]) -> None:
    os.makedirs(path, 0o777, exist_ok=True)
    os.chmod(path, 0o777)  # as the kubelet makes them: writable by any container user
    if fs_group is not None:
        os.chown(path, -1, fs_group)
        os.chmod(path, 0o2777)  # new files inherit the fsGroup


def memory_volumes(pod: Mapping[str, Any], dirs: Mapping[str, str]) -> Dict[str, str]:
    """Host path -> size limit ('' for none) of the Pod's emptyDirs with medium Memory.

    The runtime mounts the tmpfs (in the mount namespace its containers
    inherit), told through the TMPFS_ANNOTATION of each container.
    """
    out = {}
    for volume in pod.get("spec", {}).get("volumes") or []:
        ed = volume.get("emptyDir")
        if ed is not None and (ed or {}).get("medium") == "Memory" and volume["name"] in dirs:
            out[dirs[volume["name"]]] = str((ed or {}).get("sizeLimit") or "")
    return out


def setup_pod(root: str, pod: Mapping[str, Any], lookup: Lookup, tokens: TokenSource,
              pod_ip: str, host_ip: str, fs_group: Optional[int] = None) -> Dict[str, str]:
    """Make (or refresh) every volume of the Pod: volume name -> host path.

    Raises VolumeError naming the volume, in the kubelet's FailedMount words.
    """
    uid = pod["metadata"]["uid"]
    dirs: Dict[str, str] = {}
    for volume in pod.get("spec", {}).get("volumes") or []:
        name = volume["name"]
        try:
            plan = volumes.volume_plan(volume, pod, lookup, tokens, pod_ip, host_ip)
            path = volumes.volume_dir(os.path.join(root, "volumes"), uid, volume, plan)
            if isinstance(plan, HostPath):
                _host_path(plan)
            elif isinstance(plan, EmptyDir):
                _empty_dir(path, plan, fs_group)
            elif isinstance(plan, Files):
                atomicwriter.write(path, plan.files, gid=fs_group)
        except VolumeError as exc:
            raise VolumeError(f'MountVolume.SetUp failed for volume "{name}" : {exc}') from exc
        except OSError as exc:
            raise VolumeError(f'MountVolume.SetUp failed for volume "{name}" : {exc}') from exc
        dirs[name] = path
    return dirs


def ensure_sub_paths(mounts: list) -> None:
    """A subPath that does not exist yet in its volume is created as a directory."""
    for m in mounts:
        if not os.path.lexists(m["host_path"]):
            os.makedirs(m["host_path"], 0o777, exist_ok=True)


def write_etc_files(root: str, pod: Mapping[str, Any], pod_ip: str,
                    cluster_dns: Sequence[str] = etcfiles.CLUSTER_DNS,
                    cluster_domain: str = etcfiles.CLUSTER_DOMAIN,
                    node_resolv_path: str = "/etc/resolv.conf",
                    node_hosts_path: str = "/etc/hosts") -> Dict[str, str]:
    """Write the Pod's hosts, hostname and resolv.conf: name -> host path."""
    base = os.path.join(pod_dir(root, pod["metadata"]["uid"]), "etc")
    os.makedirs(base, exist_ok=True)

    def read(path: str) -> str:
        try:
            with open(path, encoding="utf-8") as fh:
                return fh.read()
        except OSError:
            return ""

    contents = {
        "hosts": etcfiles.hosts_file(pod, [pod_ip] if pod_ip else [], read(node_hosts_path),
                                     cluster_domain),
        "hostname": etcfiles.hostname_file(pod, cluster_domain),
        "resolv.conf": etcfiles.resolv_conf(pod, read(node_resolv_path), cluster_dns,
                                            cluster_domain),
    }
    out = {}
    for name, text in contents.items():
        path = os.path.join(base, name)
        if read(path) != text:
            tmp = path + ".tmp"
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        out[name] = path
    return out


def cleanup_pod(root: str, uid: str) -> None:
    """Unmount memory-backed emptyDirs and remove the Pod's volume directory."""
    base = pod_dir(root, uid)
    if not os.path.isdir(base):
        return
    ed = os.path.join(base, "volumes", "kubernetes.io~empty-dir")
    if os.path.isdir(ed):
        for name in os.listdir(ed):
            path = os.path.join(ed, name)
            if _is_mount(path):
                subprocess.run(["umount", "-l", path], capture_output=True, check=False)
    shutil.rmtree(base, ignore_errors=True)
