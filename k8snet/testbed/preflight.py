"""Checks made before `up` builds anything; each failure is one clear line."""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess

from k8snet import linuxns, naming
from k8snet.errors import UsageError

OVS_CTL = "/usr/share/openvswitch/scripts/ovs-ctl"
TMPFS_SOURCE = "k8snet-state"      # what `mount` lists for the state tmpfs


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


def mount_of(path: str, mountinfo: str, dev: str = "") -> tuple[str, str, str]:
    """(mount point, file system type, source) of the mount holding ``path``
    (absolute, normalised), from /proc/self/mountinfo text: the deepest mount point on
    the path, the later line where mounts are stacked, only among mounts of device
    ``dev`` ("major:minor", the path's st_dev) when given, so a mount hidden by a later
    one on a parent is not taken; ("", "", "") if none (pure)."""
    best, found = -1, ("", "", "")
    for line in mountinfo.splitlines():
        fields, sep, tail = line.partition(" - ")
        parts, after = fields.split(), tail.split()
        if not sep or len(parts) < 5 or len(after) < 2 or (dev and parts[2] != dev):
            continue
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), parts[4])
        inside = path == point or path.startswith(point.rstrip("/") + "/")
        depth = 0 if point == "/" else point.count("/")
        if inside and depth >= best:
            best, found = depth, (point, after[0], after[1])
    return found


def _mount_of(path: str) -> tuple[str, str, str]:
    """mount_of for a path on this machine (OSError if it is not there)."""
    real = os.path.realpath(path)
    st = os.stat(real)
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as fh:
        return mount_of(real, fh.read(), f"{os.major(st.st_dev)}:{os.minor(st.st_dev)}")


def state_on_tmpfs(root: str = naming.STATE_ROOT) -> tuple[int, bool]:
    """Keep k8snet's state directory in memory, as /run is on a standard system.

    Where /run is a disk file system instead, a tmpfs is mounted on ``root`` while it
    is empty (never over anything there) and left for later clusters. The runtime,
    crun, conmon and the CNI plugins create and remove a few dozen files a Pod; on
    these machines' ext4 (no journal) every new inode is checked against the recently
    deleted ones, and 200 Pods took 14.0 s and 26 CPU-seconds instead of 9.9 s and 18.

    Returns (an fd open on the state directory with a shared lock, -1 if there is
    none; whether a tmpfs was mounted now). The caller closes the fd once its cluster's
    lock file is made: until then `k8snet clean` can neither see the directory empty
    nor unmount it (release_state_tmpfs). The check and the mount hold the lock
    exclusively, so two first `up`s mount one."""
    mounted = False
    for _ in range(3):
        try:
            os.makedirs(root, mode=0o755, exist_ok=True)
            fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            return -1, mounted
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if not mounted and _mount_of(root)[1] != "tmpfs" and not os.listdir(root):
                linuxns.mount(TMPFS_SOURCE, root, linuxns.MS_NOSUID | linuxns.MS_NODEV,
                              fstype="tmpfs", data="mode=0755")
                mounted = True
                os.close(fd)
                continue          # hold the new mount's directory, not the one beneath
            fcntl.flock(fd, fcntl.LOCK_SH)
            here, now = os.fstat(fd), os.stat(root)
            if (here.st_dev, here.st_ino) == (now.st_dev, now.st_ino):
                return fd, mounted
        except OSError:
            pass   # the state stays where it is: slower, not wrong
        os.close(fd)              # unmounted meanwhile by `clean`: look again
    return -1, mounted


def state_tmpfs_unused(root: str = naming.STATE_ROOT) -> bool:
    """Whether ``root`` is the tmpfs state_on_tmpfs mounted, with nothing in it."""
    try:
        point, fstype, source = _mount_of(root)
        return (point == os.path.realpath(root) and (fstype, source) == ("tmpfs", TMPFS_SOURCE)
                and not os.listdir(root))
    except OSError:
        return False


def release_state_tmpfs(root: str = naming.STATE_ROOT) -> bool:
    """Unmount state_on_tmpfs's tmpfs if nothing is in it: whether it was. Not while
    an `up` is between its check and its lock file (it holds the directory with a
    shared lock), and an `up` that opened the directory since makes the unmount fail
    (busy) rather than lose its files."""
    try:
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)   # held: an `up` is under way
        unused = state_tmpfs_unused(root)
    except OSError:
        unused = False
    finally:
        os.close(fd)
    if not unused:
        return False
    try:
        linuxns.umount(root)
        return True
    except OSError:
        return False


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
