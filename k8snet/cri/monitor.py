"""Containers under conmon and crun: start, attach, resize, exit status, delete (effects).

What is decided (the OCI bundle, conmon's command line, what its files say)
is in k8snet.cri.oci. Starting a container:

1. write ``config.json`` from spec.json in the container's directory;
2. start conmon, which forks away from the runtime (a runtime restart does
   not touch it), runs ``crun create`` through oci.runtime_command and
   reports the first process's PID on a pipe (the process waits in crun's
   init, before exec);
3. move that PID into the container's cgroups, then ``crun start`` (the
   exec of the container's command);
4. the caller records started.json: PIDs and start times of the first
   process and of conmon, the namespaces it got.

conmon then copies the container's output into its CRI log file and to
attach sessions, feeds its stdin from them, and writes ``exit`` when the
first process ends.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import termios
import time
from dataclasses import dataclass
from typing import Optional

from k8snet.cri import host, oci
from k8snet.errors import K8snetError

START_DEADLINE = 15.0
CRUN_DEADLINE = 20.0
RESIZE_DEADLINE = 1.0
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def missing_tools() -> list[str]:
    return [t for t in ("conmon", "crun", "unshare") if not shutil.which(t)]


def supported_namespaces() -> tuple:
    """The namespaces of oci.NAMESPACES this kernel lets the runtime unshare."""
    probes = {"pid": ["--pid", "--fork"], "mnt": ["--mount"], "uts": ["--uts"]}

    def works(flags: list) -> bool:
        try:
            return subprocess.run(["unshare", *flags, "true"], capture_output=True,
                                  timeout=10, check=False).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            return False

    if works([f for name in oci.NAMESPACES for f in probes[name]]):
        return oci.NAMESPACES
    return tuple(name for name in oci.NAMESPACES if works(probes[name]))


def own_capabilities() -> tuple[int, int]:
    """(effective, bounding) capability masks of this process."""
    with open("/proc/self/status", encoding="ascii") as fh:
        masks = oci.proc_status_masks(fh.read())
    return masks.get("CapEff", 0), masks.get("CapBnd", 0)


@dataclass(frozen=True)
class Monitor:
    """conmon + crun for one runtime's containers (state under root_dir)."""

    root_dir: str
    conmon: str = "conmon"
    crun: str = "crun"
    namespaces: tuple = oci.NAMESPACES
    cap_effective: int = 0
    cap_bounding: int = 0
    unshare: str = "unshare"
    shell: tuple = ("/bin/sh",)

    @classmethod
    def prepare(cls, root_dir: str) -> Monitor:
        """Find conmon, crun and a shell for the runtime command, probe the kernel."""
        missing = missing_tools()
        if missing:
            raise K8snetError(f"the runtime needs {', '.join(missing)}: run 'sudo make setup' "
                              "(apt-get install conmon crun)")
        eff, bnd = own_capabilities()
        busybox = shutil.which("busybox")
        mon = cls(root_dir, shutil.which("conmon") or "", shutil.which("crun") or "",
                  supported_namespaces(), eff, bnd, shutil.which("unshare") or "",
                  (busybox, "sh") if busybox else ("/bin/sh",))
        os.makedirs(mon.rootfs, exist_ok=True)
        os.makedirs(mon.crun_root, exist_ok=True)
        return mon

    @property
    def rootfs(self) -> str:
        return os.path.join(self.root_dir, "rootfs")

    @property
    def crun_root(self) -> str:
        return os.path.join(self.root_dir, "crun")

    @property
    def runtime(self) -> tuple[str, list[str]]:
        """What conmon runs to create a container (oci.runtime_command)."""
        return oci.runtime_command(self.unshare, self.shell, self.crun, self.rootfs,
                                   self.crun_root)

    # ------------------------------------------------------------ start

    def start(self, cid: str, cdir: str, spec: dict, name: str,
              cgroup_procs: list) -> dict:
        """Run the container; started.json's record ({pid, ...} or {error})."""
        try:
            config, got, notes = oci.bundle_config(spec, self.rootfs, self.cap_effective,
                                                   self.cap_bounding, self.namespaces)
        except ValueError as exc:
            return {"error": str(exc), "started_at": time.time_ns()}
        host.write_json(os.path.join(cdir, "config.json"), config)
        log_path = spec["log_path"]
        os.makedirs(os.path.dirname(log_path) or ".", exist_ok=True)
        # conmon makes the log file as it starts, before crun has created the container:
        # the file takes its name once the container runs, so the newest attempt's log
        # (what `kubectl logs` reads) is never one of a container not started yet
        pending = log_path if os.path.exists(log_path) else f"{log_path}.starting"
        try:
            return self._start(cid, cdir, dict(spec, log_path=pending), name, cgroup_procs,
                               got, notes)
        finally:
            if pending != log_path and os.path.exists(pending):
                os.replace(pending, log_path)

    def _start(self, cid: str, cdir: str, spec: dict, name: str, cgroup_procs: list,
               got: list, notes: list) -> dict:
        pid, error = self._create(cid, cdir, spec, name)
        if error:
            return {"error": error, "started_at": time.time_ns()}
        for procs in cgroup_procs:
            try:
                with open(procs, "w", encoding="ascii") as fh:
                    fh.write(str(pid))
            except OSError as exc:
                notes.append(f"not placed in {procs}: {exc}")
        try:
            starttime = host.proc_starttime(pid)
        except (OSError, ValueError, IndexError):
            starttime = 0
        done = self._crun("start", cid)
        if done.returncode != 0:
            host.signal_process(pid, signal.SIGKILL)
            return {"error": f"crun start: {done.stderr.decode(errors='replace').strip()}",
                    "pid": pid, "started_at": time.time_ns()}
        record = {"pid": pid, "starttime": starttime, "started_at": time.time_ns(),
                  "namespaces": got, "notes": notes}
        conmon_pid = read_pid(os.path.join(cdir, "conmon.pid"))
        if conmon_pid:
            try:
                record.update(shim_pid=conmon_pid,
                              shim_starttime=host.proc_starttime(conmon_pid))
            except (OSError, ValueError, IndexError):
                pass   # conmon is already gone: the container was quicker still
        return record

    def _create(self, cid: str, cdir: str, spec: dict, name: str) -> tuple[int, str]:
        """Start conmon (crun create): (first process's PID, "") or (-1, why not)."""
        argv = oci.conmon_argv(self.conmon, self.runtime, cid,
                               name, cdir, spec["log_path"], spec)
        sync_r, sync_w = os.pipe2(os.O_CLOEXEC)
        try:
            with open(os.path.join(cdir, "conmon.log"), "ab") as log:
                proc = subprocess.Popen(
                    argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
                    pass_fds=(sync_w,), cwd=cdir, start_new_session=True,
                    env={**oci.crun_env(os.environ.get("PATH") or PATH),
                         "_OCI_SYNCPIPE": str(sync_w)})
            os.close(sync_w)
            sync_w = -1
            proc.wait(timeout=START_DEADLINE)   # conmon forks: this is its first half
            return oci.sync_message(read_line(sync_r, START_DEADLINE))
        except (OSError, subprocess.TimeoutExpired) as exc:
            return -1, f"conmon: {exc}"
        finally:
            os.close(sync_r)
            if sync_w >= 0:
                os.close(sync_w)

    def _crun(self, *args: str) -> subprocess.CompletedProcess:
        try:
            return subprocess.run([self.crun, f"--root={self.crun_root}",
                                   "--cgroup-manager=disabled", *args], capture_output=True,
                                  timeout=CRUN_DEADLINE, check=False,
                                  env=oci.crun_env(os.environ.get("PATH") or PATH))
        except subprocess.TimeoutExpired as exc:
            raise K8snetError(f"crun {args[0]}: no answer within {CRUN_DEADLINE:g}s") from exc

    # ------------------------------------------------------------- exit

    def delete(self, cid: str) -> None:
        """Forget crun's record of a container (its processes are gone or go now)."""
        state = os.path.join(self.crun_root, cid)
        if not os.path.lexists(state):
            return
        done = self._crun("delete", "--force", cid)
        if done.returncode != 0:
            shutil.rmtree(state, ignore_errors=True)


def read_pid(path: str) -> int:
    try:
        with open(path, encoding="ascii") as fh:
            return int(fh.read().strip() or 0)
    except (OSError, ValueError):
        return 0


def read_line(fd: int, seconds: float) -> bytes:
    """What fd gives up to its first newline or its end, within seconds."""
    deadline = time.monotonic() + seconds
    data = b""
    while b"\n" not in data:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise OSError(f"conmon did not report the container within {seconds:g}s")
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
    return data


def exit_status(cdir: str) -> Optional[dict]:
    """exit.json's fields from conmon's exit file (None while the container runs)."""
    path = os.path.join(cdir, "exit")
    try:
        with open(path, encoding="ascii") as fh:
            text = fh.read()
        finished = os.stat(path).st_mtime_ns
    except OSError:
        return None
    return oci.exit_record(text, finished)


def connect_attach(cdir: str) -> Optional[socket.socket]:
    """A session on conmon's attach socket (None: no conmon serves this container).

    The socket's path can be longer than a sockaddr holds: it is reached through
    /proc/self/fd of its directory."""
    try:
        dfd = os.open(cdir, os.O_PATH | os.O_DIRECTORY)
    except OSError:
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        sock.connect(f"/proc/self/fd/{dfd}/attach")
    except OSError:
        sock.close()
        return None
    finally:
        os.close(dfd)
    return sock


def resize(cdir: str, width: int, height: int, seconds: float = RESIZE_DEADLINE) -> None:
    """Tell conmon the client's terminal size (it resizes the container's terminal).

    Written once conmon has read the size before (`kubectl attach -t` sends the size
    plus one, then the size, to make the shell redraw: both in one read, conmon would
    apply the first twice). A fifo nobody drains (no terminal) takes no more."""
    if width <= 0 or height <= 0:
        return
    try:
        fd = os.open(os.path.join(cdir, "winsz"), os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        return   # conmon is gone (ENXIO: nobody reads the fifo)
    try:
        if fifo_drained(fd, seconds):
            os.write(fd, oci.resize_message(width, height))
    except OSError:
        pass
    finally:
        os.close(fd)


def fifo_drained(fd: int, seconds: float) -> bool:
    """Whether what was written to a fifo has been read, waiting up to seconds."""
    deadline = time.monotonic() + seconds
    buf = bytearray(4)
    while True:
        fcntl.ioctl(fd, termios.FIONREAD, buf)
        if int.from_bytes(buf, sys.byteorder) == 0:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)


def legacy_record(cdir: str) -> Optional[dict]:
    """exit.json, as the Python shim of earlier versions wrote it (containers it started
    before an upgrade)."""
    path = os.path.join(cdir, "exit.json")
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None
