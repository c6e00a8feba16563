"""The zygote: one process that imports k8snet's components once, then forks
each component of a cluster from there into its node's network namespace.

A component started as ``nsenter --net=NS python -m k8snet.cli kubelet ...``
spends most of its start-up importing (gRPC, cryptography, PyYAML, the API
schemas: 0.3-1 s of CPU each, 30+ times per cluster on two cores), and every
copy of those modules costs its own memory. Forked from a process that
already imported them, a component starts at once, and the imported modules'
pages stay shared copy-on-write between every component of the cluster
(``gc.freeze`` keeps the collector from writing to them).

Each component is still the ``k8snet`` command it would be on its own: the
forked process runs ``k8snet.cli.main(argv)`` with the same arguments and
environment, output appended to its log, in its own session, in the node's
network namespace (the mount namespace stays the root's, as with nsenter).

Protocol (unix stream socket ``zygote.sock`` in the cluster's directory, mode
0600): one request per connection, a JSON line ``{"name", "argv", "env",
"log", "netns"}``; the reply is a JSON line ``{"pid": N}`` or ``{"error":
TEXT}``. The component is forked twice, so it is not the zygote's child:
when the middle process exits the kernel hands it to the nearest ancestor
that declared itself a subreaper, the supervisor (`become_subreaper`), which
then waits for it, sees its exit status and restarts it as any other process.
The supervisor falls back to starting the command itself when the zygote
does not answer.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import importlib
import json
import os
import signal
import socket
import sys
import threading
import time
from typing import Dict, List, Optional

SOCKET_NAME = "zygote.sock"
CLONE_NEWNET = 0x40000000
PR_SET_NAME = 15
PR_SET_CHILD_SUBREAPER = 36
PR_GET_CHILD_SUBREAPER = 37
M_ARENA_MAX = -8

# What the components import, at start or in their run(): importing it here once
# is what makes their start cheap and their pages shared.
PRELOAD = (
    "k8snet.cli", "yaml", "grpc", "k8snet.machinery.client", "k8snet.machinery.informer",
    "k8snet.machinery.cri", "k8snet.components",
    "k8snet.apiserver.main", "k8snet.store", "k8snet.store.sqlite",
    "k8snet.kcm.main", "k8snet.scheduler.main",
    "k8snet.cri.main", "k8snet.cri.runtime", "k8snet.cri.servicer", "k8snet.cri.streaming",
    "k8snet.kubelet.main", "k8snet.kubelet.servingtls", "k8snet.kubelet.loop",
    "k8snet.kubelet.model", "k8snet.kubelet.statscollector", "k8snet.kubelet.streamserver",
    "k8snet.kubelet.sysctls", "k8snet.proxy.main", "k8snet.policy.main",
    "k8snet.overlay.main", "k8snet.overlay.observe", "k8snet.overlay.agent",
    "k8snet.nodeagent",
    # imported on first use (a request, a gRPC server or channel, a serving
    # certificate): measured as the modules new in each forked component after start
    "k8snet.machinery.builtin", "encodings.idna", "encodings.ascii", "stringprep",
    "unicodedata", "grpc._server", "grpc._interceptor", "grpc._channel",
    "grpc._simple_stubs", "grpc.experimental", "google.protobuf.descriptor_pb2",
    "google.protobuf.json_format", "cryptography.hazmat.bindings.openssl.binding",
    "cryptography.hazmat.backends.openssl",
)

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def become_subreaper(on: bool = True) -> bool:
    """Make this process adopt the orphans of its descendants (prctl
    PR_SET_CHILD_SUBREAPER), so components the zygote forks become its
    children; False where the kernel refuses. ``on=False`` stops adopting."""
    return _libc.prctl(PR_SET_CHILD_SUBREAPER, 1 if on else 0, 0, 0, 0) == 0


def is_subreaper() -> bool:
    """Whether this process adopts its descendants' orphans (PR_GET_CHILD_SUBREAPER)."""
    flag = ctypes.c_int(0)
    return _libc.prctl(PR_GET_CHILD_SUBREAPER, ctypes.byref(flag), 0, 0, 0) == 0 and \
        flag.value != 0


def enter_netns(name: str) -> None:
    """Move this (single-threaded) process into network namespace ``name``."""
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY | os.O_CLOEXEC)
    try:
        _check(_libc.setns(fd, CLONE_NEWNET), f"setns {name}")
    finally:
        os.close(fd)


def set_title(comm: str, argv: List[str]) -> None:
    """Show the component as itself in ps/top: its name (comm) and, where the
    kernel lets root do it, its command line. Best effort."""
    _libc.prctl(PR_SET_NAME, ctypes.c_char_p(comm.encode()[:15]), 0, 0, 0)
    # The kernel shows /proc/PID/cmdline from the memory the process's argv was
    # in; Python copied its argv at start, so that memory is free to overwrite
    # (the zygote's command line leaves room: see zygote_command).
    try:
        with open("/proc/self/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        start, end = int(fields[45]), int(fields[46])
    except (OSError, IndexError, ValueError):
        return
    room = end - start
    text = b"\0".join(a.encode() for a in argv)[:room - 1]
    if room > 1 and start:
        ctypes.memmove(start, text.ljust(room, b"\0"), room)


def preload(modules=PRELOAD) -> List[str]:
    """Import what the components need; the modules that failed (a component
    then imports them itself and says what is wrong)."""
    failed = []
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - the component reports it when it runs
            failed.append(name)
    try:
        from k8snet.cri import proto

        proto.load()
    except Exception:  # noqa: BLE001
        failed.append("k8snet.cri.proto")
    failed.extend(warm())
    return failed


def warm() -> List[str]:
    """Build once what every component builds on its first request, so its
    memory is shared too: the table of built-in resources (read from
    lightkube-models' files with ast, several MiB of garbage per process) and
    OpenSSL's own tables, which the first SSLContext sets up. Measured per
    forked component, these two were 4-7 MiB of its private memory. The names
    of the steps that failed."""
    failed = []
    try:
        from k8snet.machinery import resources

        resources.RESOURCES  # noqa: B018 - builds the tables (module __getattr__)
    except Exception:  # noqa: BLE001 - the component reports it when it runs
        failed.append("resource tables")
    try:
        import ssl

        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    except Exception:  # noqa: BLE001
        failed.append("ssl")
    return failed


# -- the zygote process ----------------------------------------------------------

def serve(path: str) -> None:
    """Answer spawn requests on ``path`` until SIGTERM."""
    # At most two malloc arenas: a component's threads (informers, workers,
    # handlers) would otherwise each grow their own and keep what they freed.
    _libc.mallopt(M_ARENA_MAX, 2)
    failed = preload()
    gc.collect()
    gc.freeze()
    if threading.active_count() != 1:
        raise SystemExit(f"zygote: {threading.active_count()} threads after preloading; "
                         "cannot fork safely")
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    signal.signal(signal.SIGHUP, lambda *_: stopping.append(1))
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        server.bind(path + ".tmp")
    finally:
        os.umask(old)
    server.listen(64)
    os.replace(path + ".tmp", path)  # the path appears once it is listening
    server.settimeout(0.5)
    print(time.strftime("%H:%M:%S ") + f"zygote {os.getpid()} ready on {path}"
          + (f" (not preloaded: {', '.join(failed)})" if failed else ""), flush=True)
    while not stopping:
        try:
            conn, _ = server.accept()
        except (socket.timeout, InterruptedError):
            continue
        with conn:
            conn.settimeout(10)
            try:
                request = json.loads(_read_line(conn))
                reply = {"pid": fork_component(request, (server, conn))}
            except (OSError, ValueError, KeyError) as exc:
                reply = {"error": str(exc)}
            try:
                conn.sendall(json.dumps(reply).encode() + b"\n")
            except OSError:
                pass
    server.close()
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _read_line(conn: socket.socket, limit: int = 1 << 20) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
        if len(data) > limit:
            raise ValueError("request too long")
    return data


def fork_component(request: Dict, sockets) -> int:
    """Fork the component of ``request`` (twice: see the module's docstring);
    its PID."""
    argv = [str(a) for a in request["argv"]]
    env = {str(k): str(v) for k, v in request["env"].items()}
    log, netns, name = str(request["log"]), request.get("netns"), str(request["name"])
    # the log exists once the PID is answered, as with a Popen given an opened file
    os.close(os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644))
    read_end, write_end = os.pipe()
    middle = os.fork()
    if middle == 0:
        pid = -1
        try:
            os.close(read_end)
            pid = os.fork()
            if pid > 0:
                os.write(write_end, str(pid).encode())
        finally:
            if pid != 0:
                os._exit(0)
        os.close(write_end)
        _become(name, argv, env, log, netns, sockets)  # ends in SystemExit
    os.close(write_end)
    with os.fdopen(read_end, "rb") as fh:
        text = fh.read()
    os.waitpid(middle, 0)
    if not text:
        raise OSError(f"could not fork {name}")
    return int(text)


def _become(name: str, argv: List[str], env: Dict[str, str], log: str,
            netns: Optional[str], sockets) -> None:
    """In the forked process: become the component, run it, exit with its status."""
    code = 1
    try:
        os.setsid()  # its own session and process group, as start_new_session gives
        for sock in sockets:
            sock.detach()  # their descriptors are closed below, not by a later GC
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.closerange(3, os.sysconf("SC_OPEN_MAX") if os.sysconf("SC_OPEN_MAX") > 0 else 65536)
        sys.stdout.reconfigure(line_buffering=True)
        if netns:
            enter_netns(netns)
        os.environ.clear()
        os.environ.update(env)
        sys.argv = ["k8snet", *argv]
        set_title(name.split("@")[0], [sys.executable, "-m", "k8snet.cli", *argv])
        from k8snet import cli

        code = cli.main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException as exc:  # noqa: BLE001 - say it in the log, as Python would
        import traceback

        traceback.print_exception(exc)
        code = 1
    # Leave as an interpreter does: wait for the component's non-daemon threads,
    # run atexit handlers, flush; never return into the zygote's loop.
    raise SystemExit(code)


# -- the client (the supervisor's side) -------------------------------------------

class ZygoteClient:
    """Asks a cluster's zygote to start components."""

    def __init__(self, path: str, timeout: float = 10.0):
        self.path = path
        self.timeout = timeout

    def ready(self) -> bool:
        return os.path.exists(self.path)

    def wait_ready(self, timeout: float, alive=lambda: True) -> bool:
        """Wait up to ``timeout`` seconds for the zygote to listen (it imports first)."""
        deadline = time.monotonic() + timeout
        while not self.ready():
            if time.monotonic() > deadline or not alive():
                return False
            time.sleep(0.02)
        return True

    def spawn(self, name: str, argv: List[str], env: Dict[str, str], log: str,
              netns: Optional[str]) -> int:
        """The PID of the component started; OSError when the zygote cannot."""
        request = {"name": name, "argv": argv, "env": env, "log": log, "netns": netns}
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(self.timeout)
            sock.connect(self.path)
            sock.sendall(json.dumps(request).encode() + b"\n")
            reply = json.loads(_read_line(sock) or b"{}")
        if "pid" not in reply:
            raise OSError(f"zygote: {reply.get('error', 'no answer')}")
        return int(reply["pid"])


class ForkedProcess:
    """A component the zygote forked and this process adopted: the parts of
    subprocess.Popen the supervisor uses."""

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode: Optional[int] = None

    def poll(self) -> Optional[int]:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                # Not (or no longer) our child: gone without a status we can read.
                self.returncode = 0 if _gone(self.pid) else None
                return self.returncode
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: Optional[float] = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"pid {self.pid} still runs")
            time.sleep(0.05)
        return self.returncode


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def reap_orphans(known: set) -> List[int]:
    """Reap this subreaper's adopted children that exited and are not ours to
    wait for (``known``: PIDs some other code waits for); the PIDs reaped."""
    reaped = []
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return reaped
    children = set()
    for task in tasks:
        try:
            with open(f"/proc/self/task/{task}/children") as fh:
                children.update(int(p) for p in fh.read().split())
        except OSError:
            continue
    for pid in children - set(known):
        try:
            with open(f"/proc/{pid}/stat") as fh:
                state = fh.read().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state == "Z":
            try:
                if os.waitpid(pid, os.WNOHANG)[0]:
                    reaped.append(pid)
            except ChildProcessError:
                pass
    return reaped


TITLE_ROOM = 1536


def zygote_command(socket_path: str) -> List[str]:
    """The zygote's command line: the last argument only reserves memory in
    which each forked component writes its own command line."""
    return [sys.executable, "-m", "k8snet.testbed.zygote", "--socket", socket_path,
            "--title-room", "." * TITLE_ROOM]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m k8snet.testbed.zygote",
                                     description="fork k8snet components from one "
                                                 "process that imported them once")
    parser.add_argument("--socket", required=True, help="unix socket to listen on")
    parser.add_argument("--title-room", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    serve(args.socket)
    return 0


if __name__ == "__main__":
    sys.exit(main())
