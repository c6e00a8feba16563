"""Effects on the machine the runtime needs: netns, offloads, processes, files."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import threading
import time
from typing import Callable, Dict, Optional, Sequence, Tuple

from k8snet import linuxns
from k8snet.errors import K8snetError

LOG = logging.getLogger(__name__)
NETNS_DIR = linuxns.NETNS_DIR
CMD_TIMEOUT = 20.0


def run(argv: Sequence[str], timeout: float = CMD_TIMEOUT, check: bool = True
        ) -> subprocess.CompletedProcess:
    try:
        proc = subprocess.run(list(argv), capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise K8snetError(f"{' '.join(argv)}: no answer within {timeout:g}s") from exc
    if check and proc.returncode != 0:
        raise K8snetError(f"{' '.join(argv)} failed: "
                          f"{proc.stderr.decode(errors='replace').strip()}")
    return proc


def netns_path(name: str) -> str:
    return os.path.join(NETNS_DIR, name)


def netns_exists(name: str) -> bool:
    return os.path.exists(netns_path(name))


def netns_add(name: str, loopback_up: bool = True) -> None:
    """A fresh named network namespace, with its loopback up unless the caller brings
    it up itself (the CNI loopback plugin does, for a sandbox)."""
    try:
        linuxns.netns_add(netns_path(name), loopback_up)
    except OSError as exc:
        raise K8snetError(f"network namespace {name}: {exc.strerror or exc}") from exc


def netns_delete(name: str) -> None:
    try:
        linuxns.netns_delete(netns_path(name))
    except OSError as exc:
        raise K8snetError(f"removing network namespace {name}: {exc.strerror or exc}") from exc


def tx_offload_off(ifname: str, netns: Optional[str] = None) -> None:
    """Turn off transmit checksum offload (a userspace OVS datapath needs it)."""
    try:
        linuxns.run_in(lambda: linuxns.set_tx_checksum(ifname, False),
                       netns_path(netns) if netns else None, name="tx-offload")
    except (OSError, ValueError) as exc:
        LOG.warning("ethtool -K %s tx off%s failed: %s", ifname, f" in {netns}" if netns else "",
                    exc)


def read_json(path: str) -> Optional[dict]:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (FileNotFoundError, ValueError):
        return None


class JsonFiles:
    """Parsed JSON files, read again only when a file's stat changes: a relist of
    the runtime every second reads a few records per container, nearly all of them
    unchanged. A file changed within the last ``settle`` seconds is always read (a
    rewrite inside the file system's timestamp granularity, with the same size and
    a reused inode, would look unchanged). Values are shared: callers must not
    change them."""

    def __init__(self, settle: float = 1.0, clock: Callable[[], float] = time.time):
        self.settle, self.clock = settle, clock
        self._lock = threading.Lock()
        self._cache: Dict[str, Tuple[Tuple[int, int, int], Optional[dict]]] = {}

    def read(self, path: str) -> Optional[dict]:
        try:
            st = os.stat(path)
        except OSError:
            with self._lock:
                self._cache.pop(path, None)
            return None
        key = (st.st_mtime_ns, st.st_size, st.st_ino)
        with self._lock:
            hit = self._cache.get(path)
        if hit is not None and hit[0] == key:
            return hit[1]
        value = read_json(path)
        if st.st_mtime_ns < (self.clock() - self.settle) * 1e9:
            with self._lock:
                self._cache[path] = (key, value)
        return value

    def forget(self, prefix: str) -> None:
        """Drop the entries under a removed directory."""
        with self._lock:
            for path in [p for p in self._cache if p.startswith(prefix)]:
                del self._cache[path]


def write_json(path: str, data: dict) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
    os.replace(tmp, path)


def stat_fields(text: str) -> list[str]:
    """The fields of a /proc/PID/stat line after the command name (which may hold
    spaces and parentheses): [0] state, [2] process group, [19] start time (pure)."""
    return text.rsplit(")", 1)[1].split() if ")" in text else []


def proc_stat(pid: int) -> list[str]:
    """stat_fields of a process ([] once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return stat_fields(fh.read())
    except OSError:
        return []


def proc_starttime(pid: int) -> int:
    """Field 22 of /proc/PID/stat: tells a process apart from a later one with its PID
    (OSError once it is gone)."""
    with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
        return int(stat_fields(fh.read())[19])


def same_process(pid: int, starttime: int) -> bool:
    """Whether PID still names the process that had this start time (not a zombie)."""
    fields = proc_stat(pid)
    return len(fields) > 19 and fields[0] != "Z" and int(fields[19]) == starttime


def signal_process(pid: int, sig: int, group: bool = False) -> None:
    try:
        if group:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass


def busybox_applets(busybox: str) -> list[str]:
    proc = run([busybox, "--list"], check=False)
    return proc.stdout.decode().split() if proc.returncode == 0 else []


def ensure_applet_dir(path: str, busybox: str, applets: Sequence[str]) -> None:
    """A directory of links named after applets (what busybox images put on PATH)."""
    os.makedirs(path, exist_ok=True)
    for name in applets:
        link = os.path.join(path, name)
        if not os.path.lexists(link):
            os.symlink(busybox, link)


def which_busybox() -> str:
    return shutil.which("busybox") or "/bin/busybox"


def kill_tree(pid: int, settle: float = 1.0) -> None:
    """SIGKILL the process group ``pid`` leads: an exec, that is nsenter and the
    command it forked into a container's namespaces. The other members go first and
    the leader last, so that nsenter reaps its child itself: killed together, the
    child would be orphaned outside its PID namespace, left to a reaper out there,
    and until that one reaps it the container's PID 1 cannot finish exiting (a
    SIGKILL to the container then seems to do nothing)."""
    for member in group_members(pid):
        signal_process(member, signal.SIGKILL)
    deadline = time.monotonic() + settle
    while children_of(pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    signal_process(pid, signal.SIGKILL, group=True)


def group_members(pgid: int) -> list[int]:
    """The processes of process group ``pgid`` but its leader."""
    pids = (int(name) for name in os.listdir("/proc") if name.isdigit())
    return [pid for pid in pids
            if pid != pgid and proc_stat(pid)[2:3] == [str(pgid)]]


def children_of(pid: int) -> list[int]:
    """The children of ``pid``'s main thread ([] once it is gone)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as fh:
            return [int(p) for p in fh.read().split()]
    except (OSError, ValueError):
        return []
