"""The per-container shim: `python -m k8snet.cri.shim CONTAINER_DIR`.

Like containerd's shim or CRI-O's conmon, one small process per running
container, detached from the runtime so that a runtime restart neither
kills containers nor loses their output or exit status. It:

1. joins the sandbox's network namespace and unshares a PID namespace;
2. forks the container's first process (PID 1 of the new PID namespace),
   moves it into the container's cgroups; that process unshares mount and
   UTS namespaces, mounts its own /proc, sets the Pod's hostname and execs
   the command (a namespace the kernel refuses is recorded, not fatal);
3. writes ``started.json`` ({pid, starttime, started_at, isolation} or
   {error}), copies stdout/stderr into the CRI log file, and on exit writes
   ``exit.json`` ({exit_code, signal, finished_at});
4. keeps the container's stdin (``stdin: true``: a pipe; ``tty: true``: the
   master side of its terminal) and serves attach sessions on the abstract
   socket of k8snet.cri.shimio: their input goes to that stdin, the output
   goes to each of them as well as to the log, as containerd's shim does.

It imports only the standard library and k8snet.cri.logs/shimio, to stay small.
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import pty
import select
import signal
import socket
import struct
import sys
import termios
import time

from k8snet.cri import shimio
from k8snet.cri.logs import MAX_RECORD, format_records, split_lines

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_NOSUID, MS_NODEV, MS_NOEXEC = 2, 4, 8
MS_RDONLY, MS_REMOUNT, MS_BIND = 1, 32, 4096
MS_REC, MS_PRIVATE = 16384, 1 << 18


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def write_json(path: str, data: dict) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
    os.replace(tmp, path)


def proc_starttime(pid: int) -> int:
    """Field 22 of /proc/PID/stat: tells a process apart from a later one with its PID."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        return int(fh.read().rsplit(")", 1)[1].split()[19])


def join_netns_and_pidns(libc: ctypes.CDLL, spec: dict) -> tuple[list[str], list[str]]:
    """In the shim: join the sandbox netns; unshare a PID namespace for the child."""
    got, notes = [], []
    if spec.get("netns_path"):   # else: the node's network namespace (hostNetwork)
        fd = os.open(spec["netns_path"], os.O_RDONLY)
        try:
            _check(libc.setns(fd, CLONE_NEWNET), f"setns {spec['netns_path']}")
        finally:
            os.close(fd)
        got.append("net")
    if not spec.get("isolate", True):
        return got, ["isolation turned off"]
    if spec.get("host_pid"):     # hostPID: the node's PID namespace, and its /proc
        return got, notes
    if spec.get("pidns_path"):   # the Pod's, or a target container's, PID namespace
        fd = os.open(spec["pidns_path"], os.O_RDONLY)
        try:
            _check(libc.setns(fd, CLONE_NEWPID), f"setns {spec['pidns_path']}")
        finally:
            os.close(fd)
        got.append("pid")
    elif libc.unshare(CLONE_NEWPID) == 0:
        got.append("pid")
    else:
        notes.append(f"pid namespace not available: {os.strerror(ctypes.get_errno())}")
    return got, notes


def bind_mount(libc: ctypes.CDLL, source: str, target: str, readonly: bool) -> None:
    """Bind source onto target in this mount namespace (the target is made if missing).

    There is no image root filesystem: a missing mount point is created on
    the node's filesystem (an empty directory or file), as a runtime creates
    it in an image's rootfs.
    """
    if os.path.isdir(source):
        os.makedirs(target, exist_ok=True)
    elif not os.path.exists(target):
        os.makedirs(os.path.dirname(target) or "/", exist_ok=True)
        with open(target, "a", encoding="utf-8"):
            pass
    _check(libc.mount(source.encode(), target.encode(), None, MS_BIND | MS_REC, None),
           f"bind {source} on {target}")
    if readonly:
        _check(libc.mount(None, target.encode(), None, MS_BIND | MS_REMOUNT | MS_RDONLY,
                          None), f"read-only remount of {target}")


def child_namespaces(libc: ctypes.CDLL, spec: dict, pidns: bool) -> list[str]:
    """In the first process: private mount namespace with its own /proc, own hostname.

    Returns notes on what was not possible.
    """
    notes = []
    if not spec.get("isolate", True):
        return notes
    if libc.unshare(CLONE_NEWNS) == 0:
        _check(libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "make / private")
        if pidns:
            _check(libc.mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                              None), "mount /proc")
        for m in spec.get("mounts") or []:
            bind_mount(libc, m["host_path"], m["container_path"], bool(m.get("readonly")))
    else:
        notes.append(f"mnt namespace not available: {os.strerror(ctypes.get_errno())}")
        if spec.get("mounts"):
            raise OSError(f"cannot mount volumes: {notes[-1]}")
    if libc.unshare(CLONE_NEWUTS) == 0:
        host = (spec.get("hostname") or "").encode()
        if host:
            _check(libc.sethostname(host, len(host)), "sethostname")
    else:
        notes.append(f"uts namespace not available: {os.strerror(ctypes.get_errno())}")
    return notes


def child(libc: ctypes.CDLL, spec: dict, got: list[str], sync_r: int, err_w: int,
          fds: tuple[int, int, int]) -> None:
    """In the forked first process: wait for the cgroup move, isolate, then exec.

    fds become its stdin, stdout and stderr (with a TTY, its controlling
    terminal). Reports on err_w (close-on-exec): "N<note>" lines, or
    "E<error>" on failure.
    """
    try:
        os.setsid()
        os.read(sync_r, 1)
        for note in child_namespaces(libc, spec, "pid" in got):
            os.write(err_w, f"N{note}\n".encode())
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        if spec.get("tty"):
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)
        if spec.get("cwd"):
            os.makedirs(spec["cwd"], exist_ok=True)  # as runtimes make it in the rootfs
            os.chdir(spec["cwd"])
        drop_privileges(spec)
        if spec.get("exe", "").startswith("/"):
            # busybox applets run as the busybox binary itself (it dispatches on argv[0]),
            # so a non-root user needs no access to the runtime's applet directory
            os.execve(spec["exe"], spec["argv"], spec["env"])
        os.execvpe(spec["argv"][0], spec["argv"], spec["env"])
    except BaseException as exc:  # noqa: BLE001 - everything must reach the parent
        os.write(err_w, f"E{type(exc).__name__}: {exc}".encode()[:4000])
    finally:
        os._exit(127)


def drop_privileges(spec: dict) -> None:
    """Become the container's user: supplemental groups, then group, then user.

    With runAsUser but no runAsGroup the group is 0, as runtimes do for an
    image without a passwd entry.
    """
    uid, gid = spec.get("uid"), spec.get("gid")
    groups = spec.get("groups") or []
    if uid is None and gid is None and not groups:
        return
    os.setgroups([int(g) for g in groups])
    if gid is not None or uid is not None:
        os.setgid(int(gid if gid is not None else 0))
    if uid is not None:
        os.setuid(int(uid))


class LogWriter:
    """Turns a stream's bytes into CRI log records (see k8snet.cri.logs)."""

    def __init__(self, fh, stream: str):
        self.fh, self.stream, self.pending = fh, stream, b""

    def feed(self, data: bytes) -> None:
        lines, self.pending = split_lines(self.pending + data)
        for line in lines:
            self.fh.write(format_records(time.time_ns(), self.stream, line))
        while len(self.pending) >= MAX_RECORD:
            piece, self.pending = self.pending[:MAX_RECORD], self.pending[MAX_RECORD:]
            self.fh.write(format_records(time.time_ns(), self.stream, piece, complete=False))
        self.fh.flush()

    def close(self) -> None:
        if self.pending:
            self.fh.write(format_records(time.time_ns(), self.stream, self.pending))
            self.pending = b""
            self.fh.flush()


def container_io(spec: dict) -> tuple[tuple[int, int, int], dict, int | None]:
    """The first process's stdin/stdout/stderr, the shim's ends of its output ({fd:
    stream}) and of its stdin (None: no stdin kept, the process reads /dev/null)."""
    if spec.get("tty"):
        master, slave = pty.openpty()
        return (slave, slave, slave), {master: shimio.STDOUT}, master
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    if spec.get("stdin"):
        in_r, stdin_w = os.pipe()
    else:
        in_r, stdin_w = os.open(os.devnull, os.O_RDONLY), None
    return (in_r, out_w, err_w), {out_r: shimio.STDOUT, err_r: shimio.STDERR}, stdin_w


def listen_for_attach(cdir: str) -> socket.socket | None:
    """The attach socket (bound in the node's network namespace: call before joining
    the Pod's); None when the name is taken, which only costs attach."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(shimio.socket_name(os.path.basename(os.path.normpath(cdir))))
        sock.listen(8)
    except OSError:
        sock.close()
        return None
    return sock


def run(cdir: str) -> int:
    if os.fork() > 0:  # detach: the runtime must not have to reap the shim
        os._exit(0)
    os.setsid()
    with open(os.path.join(cdir, "spec.json"), encoding="utf-8") as fh:
        spec = json.load(fh)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)
    libc = _libc()
    started_path, exit_path = os.path.join(cdir, "started.json"), os.path.join(cdir, "exit.json")
    listener = listen_for_attach(cdir)
    try:
        got, notes = join_netns_and_pidns(libc, spec)
        os.makedirs(os.path.dirname(spec["log_path"]) or ".", exist_ok=True)
        log = open(spec["log_path"], "ab")  # noqa: SIM115 - lives as long as the shim
    except OSError as exc:
        write_json(started_path, {"error": str(exc)})
        return 1
    sync_r, sync_w = os.pipe()
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    fds, outputs, stdin_w = container_io(spec)
    pid = os.fork()
    if pid == 0:
        os.close(sync_w)
        os.close(err_r)
        child(libc, spec, got, sync_r, err_w, fds)
    for fd in {sync_r, err_w, *fds}:
        os.close(fd)
    starttime = proc_starttime(pid)
    for procs in spec.get("cgroup_procs", []):
        try:
            with open(procs, "w", encoding="ascii") as fh:
                fh.write(str(pid))
        except OSError as exc:
            notes.append(f"not placed in {procs}: {exc}")
    os.write(sync_w, b"x")
    os.close(sync_w)
    report = b""
    while True:
        chunk = os.read(err_r, 4096)
        if not chunk:
            break
        report += chunk
    os.close(err_r)
    text = report.decode("utf-8", "replace")
    failure = text[text.find("E", text.rfind("\n") + 1) + 1:] if report and not \
        report.endswith(b"\n") else ""
    notes += [line[1:] for line in text.splitlines() if line.startswith("N")]
    if "mnt namespace" not in " ".join(notes) and spec.get("isolate", True):
        got += ["mnt", "uts"]
    if failure:
        write_json(started_path, {"error": failure, "pid": pid})
    else:
        write_json(started_path, {"pid": pid, "starttime": starttime,
                                  "shim_pid": os.getpid(),
                                  "shim_starttime": proc_starttime(os.getpid()),
                                  "started_at": time.time_ns(),
                                  "namespaces": got, "notes": notes})
    attach = Attachments(listener, stdin_w, bool(spec.get("tty")),
                         bool(spec.get("stdin_once")))
    status = pump(pid, log, outputs, attach)
    attach.close()
    log.close()
    code = os.waitstatus_to_exitcode(status)
    write_json(exit_path, {"exit_code": code if code >= 0 else 128 - code,
                           "signal": -code if code < 0 else 0,
                           "finished_at": time.time_ns(), "start_failed": bool(failure)})
    return 0


def same_user(conn: socket.socket) -> bool:
    """Is the peer running as the shim's user? An abstract socket has no file mode to
    keep other users of the node from typing into a container: its peer's credentials do."""
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid == os.getuid()


class Attachments:
    """The attach sessions of one container: their input to its stdin, its output to them."""

    def __init__(self, listener: socket.socket | None, stdin_fd: int | None, tty: bool,
                 stdin_once: bool):
        self.listener, self.stdin_fd, self.tty = listener, stdin_fd, tty
        self.stdin_once = stdin_once
        self.clients: dict = {}   # socket -> shimio.Unpacker

    def selectables(self) -> list:
        return ([self.listener] if self.listener else []) + list(self.clients)

    def ready(self, sock: socket.socket) -> None:
        if sock is self.listener:
            conn, _ = sock.accept()
            if not same_user(conn):
                conn.close()
                return
            conn.settimeout(5.0)  # a session that stops reading is dropped, not waited for
            self.clients[conn] = shimio.Unpacker()
            return
        try:
            data = sock.recv(65536)
            records = self.clients[sock].feed(data) if data else None
        except (OSError, ValueError):
            records = None
        if records is None:
            self.drop(sock)
            return
        for kind, body in records:
            self.handle(kind, body)

    def handle(self, kind: int, body: bytes) -> None:
        try:
            if kind == shimio.STDIN and self.stdin_fd is not None and body:
                view = memoryview(body)
                while view:
                    view = view[os.write(self.stdin_fd, view):]
            elif kind == shimio.RESIZE and self.tty and self.stdin_fd is not None:
                size = json.loads(body or b"{}")
                width, height = int(size.get("Width", 0)), int(size.get("Height", 0))
                if width > 0 and height > 0:
                    fcntl.ioctl(self.stdin_fd, termios.TIOCSWINSZ,
                                struct.pack("HHHH", height, width, 0, 0))
            elif kind == shimio.CLOSE_STDIN and self.stdin_once:
                self.close_stdin()
        except (OSError, ValueError, TypeError, AttributeError):
            pass  # the container closed its input, or a bad resize: nothing to do

    def close_stdin(self) -> None:
        """stdinOnce: the first session's end is the container's end of input (not a
        terminal's: its master also carries the output)."""
        if self.stdin_fd is not None and not self.tty:
            os.close(self.stdin_fd)
            self.stdin_fd = None

    def drop(self, sock: socket.socket) -> None:
        self.clients.pop(sock, None)
        sock.close()
        if self.stdin_once:
            self.close_stdin()

    def broadcast(self, stream: int, data: bytes) -> None:
        record = shimio.pack(stream, data)
        for sock in list(self.clients):
            try:
                sock.sendall(record)
            except OSError:
                self.drop(sock)

    def close(self) -> None:
        for sock in list(self.clients):
            self.clients.pop(sock)
            sock.close()
        if self.listener:
            self.listener.close()


def pump(pid: int, log, outputs: dict, attach: Attachments) -> int:
    """Copy output into the log and to attach sessions until the first process exits;
    its wait status."""
    writers = {fd: LogWriter(log, "stderr" if stream == shimio.STDERR else "stdout")
               for fd, stream in outputs.items()}
    open_fds = set(writers)
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.set_wakeup_fd(wake_w)
    status = None
    drain_until = None
    while True:
        if status is None:
            done, st = os.waitpid(pid, os.WNOHANG)
            if done:
                status, drain_until = st, time.monotonic() + 1.0
        if not open_fds or (drain_until is not None and time.monotonic() > drain_until):
            break
        timeout = 0.2 if drain_until is not None else 5.0
        ready, _, _ = select.select([*open_fds, wake_r, *attach.selectables()], [], [],
                                    timeout)
        for fd in ready:
            if fd == wake_r:
                os.read(wake_r, 512)
                continue
            if not isinstance(fd, int):
                attach.ready(fd)
                continue
            try:
                data = os.read(fd, 65536)
            except OSError:  # EIO: the terminal's other side is closed
                data = b""
            if data:
                writers[fd].feed(data)
                attach.broadcast(outputs[fd], data)
            else:
                open_fds.discard(fd)
    for w in writers.values():
        w.close()
    if status is None:
        _, status = os.waitpid(pid, 0)
    return status


if __name__ == "__main__":
    sys.exit(run(sys.argv[1]))
