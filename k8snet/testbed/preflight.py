"""Checks made before `up` builds anything; each failure is one clear line."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess

from k8snet import naming
from k8snet.errors import UsageError

OVS_CTL = "/usr/share/openvswitch/scripts/ovs-ctl"


def require_root(command: str) -> None:
    if os.geteuid() != 0:
        raise UsageError(f"'k8snet {command}' must run as root: try 'sudo k8snet {command} ...'")


def ovs_running() -> bool:
    try:
        out = subprocess.run(["ovs-vsctl", "--timeout=3", "show"], capture_output=True,
                             timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0


def require_ovs() -> None:
    if not shutil.which("ovs-vsctl"):
        raise UsageError("Open vSwitch is not installed: run 'sudo make setup' "
                         "(or 'apt-get install openvswitch-switch')")
    if not ovs_running():
        raise UsageError(f"Open vSwitch is not running: start it with '{OVS_CTL} start'")


def require_mininet() -> None:
    if not shutil.which("mnexec"):
        raise UsageError("Mininet's mnexec is missing: run 'sudo make setup' "
                         "(or 'apt-get install mininet')")


def lock_path(cluster: str, root: str = naming.STATE_ROOT) -> str:
    return os.path.join(root, f"{cluster}.lock")


def take_cluster_lock(cluster: str, root: str = naming.STATE_ROOT) -> int:
    """Hold the cluster's name: an fd with an exclusive lock, kept by whoever
    runs the cluster. Raises UsageError when the name is in use."""
    os.makedirs(root, exist_ok=True)
    fd = os.open(lock_path(cluster, root), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise UsageError(f"a cluster named {cluster!r} is already running: pick another "
                         f"--name or stop it with 'k8snet down --name {cluster}'") from None
    return fd


def release_cluster_lock(cluster: str, fd: int = -1, root: str = naming.STATE_ROOT) -> None:
    """Called by the lock's holder once its cluster is gone: the lock file goes
    while the lock is still held (so no one else can be mid-``up``), then the fd."""
    try:
        os.unlink(lock_path(cluster, root))
    except FileNotFoundError:
        pass
    if fd >= 0:
        os.close(fd)


def cluster_running(cluster: str, root: str = naming.STATE_ROOT) -> bool:
    """True while some process holds the cluster's lock."""
    try:
        fd = os.open(lock_path(cluster, root), os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
