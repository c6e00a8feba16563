"""Network namespaces and interface settings by system call, in this process.

``ip netns add``, ``ip netns delete`` and ``ethtool -K IF tx off`` are one
process start each, and a Pod sandbox needed five (``ethtool`` in the Pod's
namespace went through ``nsenter``). Here they are the same system calls
those tools make, from Python:

- a named namespace is a file under /run/netns with the namespace bind-mounted
  on it, /run/netns itself a shared mount (so a namespace removed in one mount
  namespace is gone from all), as ``ip netns`` does it;
- setns(2) and unshare(2) move only the calling thread, so work inside another
  namespace runs on a throwaway thread (``run_in``); a socket keeps the
  namespace it was made in, so an ioctl on it reaches that namespace's
  interfaces;
- ``tx off`` is the ETHTOOL_STXCSUM ioctl, which the kernel turns into the same
  feature change (checksum offload off, and what depends on it).

The byte layouts are pure functions (``ifreq``, ``ethtool_value``), the rest
thin effects.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import socket
import struct
import threading
from typing import Callable, Optional, TypeVar

CLONE_NEWNET = 0x40000000
MS_NOSUID, MS_NODEV, MS_BIND, MS_REC, MS_SHARED = 0x2, 0x4, 0x1000, 0x4000, 1 << 20
MNT_DETACH = 2
SIOCGIFFLAGS, SIOCSIFFLAGS, SIOCETHTOOL = 0x8913, 0x8914, 0x8946
ETHTOOL_GTXCSUM, ETHTOOL_STXCSUM = 0x16, 0x17
IFF_UP = 0x1
IFNAMSIZ = 16
IFREQ_SIZE = 40            # struct ifreq on 64-bit Linux: the name and a 24-byte union
NETNS_DIR = "/run/netns"

T = TypeVar("T")
_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                        ctypes.c_void_p)
_libc.umount2.argtypes = (ctypes.c_char_p, ctypes.c_int)
_libc.setns.argtypes = (ctypes.c_int, ctypes.c_int)
_libc.unshare.argtypes = (ctypes.c_int,)
_netns_dir_lock = threading.Lock()   # two first namespaces would bind the directory twice


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def ifreq(ifname: str, payload: bytes = b"") -> bytes:
    """A struct ifreq: the interface name, then the union (pure)."""
    name = ifname.encode()
    if not name or len(name) >= IFNAMSIZ or b"/" in name or b"\0" in name:
        raise ValueError(f"not an interface name: {ifname!r}")
    if len(payload) > IFREQ_SIZE - IFNAMSIZ:
        raise ValueError("an ifreq union holds 24 bytes")
    return name.ljust(IFNAMSIZ, b"\0") + payload.ljust(IFREQ_SIZE - IFNAMSIZ, b"\0")


def ifreq_flags(data: bytes) -> int:
    """The flags a SIOCGIFFLAGS answer carries (pure)."""
    return struct.unpack_from("h", data, IFNAMSIZ)[0] & 0xFFFF


def ethtool_value(cmd: int, value: int = 0) -> bytes:
    """A struct ethtool_value: the command and its 32-bit value (pure)."""
    return struct.pack("II", cmd, value)


# ---------------------------------------------------------------- effects


def setns(path: str) -> None:
    """Move the calling thread into the network namespace at ``path`` (os.setns
    is Python 3.12's; Debian 12 has 3.11)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        _check(_libc.setns(fd, CLONE_NEWNET), f"setns {path}")
    finally:
        os.close(fd)


def run_in(fn: Callable[[], T], netns_path: Optional[str] = None, new: bool = False,
           name: str = "netns") -> T:
    """fn() on a thread of its own inside the namespace at ``netns_path``, or a new
    one (``new``), or on the calling thread (neither): its result, or its exception raised here.
    The thread ends with fn, so nothing else ever runs in the moved thread."""
    if not new and not netns_path:
        return fn()
    out: list = []

    def body() -> None:
        try:
            if new:
                _check(_libc.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
            elif netns_path:
                setns(netns_path)
            out.append((True, fn()))
        except BaseException as exc:  # handed to the caller, raised there
            out.append((False, exc))

    t = threading.Thread(target=body, name=name, daemon=True)
    t.start()
    t.join()
    ok, value = out[0]
    if not ok:
        raise value
    return value


def mount(source: str, target: str, flags: int, fstype: str = "none", data: str = "") -> None:
    _check(_libc.mount(source.encode(), target.encode(), fstype.encode(), flags,
                       data.encode() or None), f"mount {source} on {target}")


def umount(target: str, flags: int = 0) -> None:
    _check(_libc.umount2(target.encode(), flags), f"umount {target}")


def shared_netns_dir(path: str = NETNS_DIR) -> None:
    """Make ``path`` a shared mount, binding it on itself first if it is not a
    mount point yet (what ``ip netns add`` does before its first namespace)."""
    os.makedirs(path, mode=0o755, exist_ok=True)
    with _netns_dir_lock:
        try:
            mount("", path, MS_SHARED | MS_REC)
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
            mount(path, path, MS_BIND | MS_REC)
            mount("", path, MS_SHARED | MS_REC)


def netns_add(path: str, loopback_up: bool = True) -> None:
    """A new network namespace kept by a bind mount on ``path`` (which must not
    exist): FileExistsError if it does, OSError if the kernel refuses."""
    shared_netns_dir(os.path.dirname(path))
    os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0))

    def make() -> None:
        mount(f"/proc/self/task/{threading.get_native_id()}/ns/net", path, MS_BIND)
        if loopback_up:
            link_up("lo")

    try:
        run_in(make, new=True, name="netns-add")
    except BaseException:
        try:
            netns_delete(path)
        except OSError:
            pass   # the error that matters is the one being raised
        raise


def netns_delete(path: str) -> None:
    """Unmount and remove a named namespace's file (nothing if it is gone). The
    namespace itself ends with its last process and socket."""
    try:
        umount(path, MNT_DETACH)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOENT):
            raise
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _ioctl(request: int, arg: bytes) -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        return fcntl.ioctl(sock.fileno(), request, arg)


def link_up(ifname: str) -> None:
    """Set an interface of the calling thread's namespace up."""
    flags = ifreq_flags(_ioctl(SIOCGIFFLAGS, ifreq(ifname)))
    if not flags & IFF_UP:
        _ioctl(SIOCSIFFLAGS, ifreq(ifname, struct.pack("H", flags | IFF_UP)))


def _ethtool(ifname: str, cmd: int, value: int = 0) -> int:
    request = ethtool_value(cmd, value)
    buf = ctypes.create_string_buffer(request, len(request))
    _ioctl(SIOCETHTOOL, ifreq(ifname, struct.pack("P", ctypes.addressof(buf))))
    return struct.unpack("II", buf.raw)[1]


def tx_checksum(ifname: str) -> bool:
    """Whether transmit checksum offload is on (``ethtool -k``'s tx-checksumming)."""
    return bool(_ethtool(ifname, ETHTOOL_GTXCSUM))


def set_tx_checksum(ifname: str, on: bool) -> None:
    """``ethtool -K IFNAME tx on|off`` for the calling thread's namespace."""
    _ethtool(ifname, ETHTOOL_STXCSUM, int(on))
