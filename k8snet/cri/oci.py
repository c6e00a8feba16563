"""What the runtime hands conmon and crun, decided from a container's spec.json (pure).

A running container is watched by Debian's ``conmon`` (CRI-O's container
monitor, about 0.4 MB PSS) and created by Debian's ``crun`` (an OCI runtime
that exits once the container runs). Per container, in its directory
``containers/<id>/`` (the OCI bundle)::

    config.json    the OCI runtime spec (bundle_config)
    conmon.pid     conmon's PID;  pid: the container's first process (crun's pid file)
    attach         conmon's attach socket (SOCK_SEQPACKET, see attach_packets)
    ctl, winsz     conmon's control fifo and its resize fifo (resize_message)
    exit           the exit status conmon writes when the first process ends (exit_record)

There is no image root filesystem: every container sees the node's files,
with a mount namespace of its own (its own /proc, the Pod's volumes), as
before. OCI needs a root to pivot into, so crun runs through a short command
(runtime_command) that binds the node's / on the node's ``rootfs`` directory
in a mount namespace of its own, and hides /sys/fs/cgroup from crun there
(crun runs with its cgroup manager disabled: the runtime places containers
in their cgroups itself, between crun's create and start).
"""

from __future__ import annotations

import json
import os
from typing import Optional, Sequence

# capability(7) numbers 0..40, in order (CAP_CHECKPOINT_RESTORE is the last crun 1.8 knows)
CAPABILITIES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE")
NAMESPACES = ("pid", "mnt", "uts")     # what isolation adds to the Pod's network namespace
STDOUT, STDERR = 2, 3                  # conmon's tag byte on what the attach socket sends
ATTACH_INPUT_MAX = 32767               # conmon reads one packet of input into 32 KiB - 1
SIGNAL_MAX = 64


def capability_names(mask: int) -> list[str]:
    """The capabilities set in a CapEff/CapBnd mask of /proc/PID/status."""
    return [name for bit, name in enumerate(CAPABILITIES) if mask >> bit & 1]


def proc_status_masks(text: str) -> dict:
    """{"CapEff": int, "CapBnd": int, ...} from /proc/PID/status text."""
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.startswith("Cap"):
            out[key] = int(value.strip(), 16)
    return out


def process_args(spec: dict) -> list[str]:
    """The first process's argv.

    A busybox applet runs as a link named after it in the runtime's applet
    directory (busybox dispatches on argv[0]). A non-root user may not reach
    that directory (it can live under a 0700 one), so for it the applet is
    named to busybox itself: ``busybox sleep 5``.
    """
    argv = list(spec["argv"])
    exe = spec.get("exe") or argv[0]
    uid = spec.get("uid")
    if exe != argv[0] and exe.startswith("/") and uid not in (None, 0):
        return [exe, os.path.basename(argv[0]), *argv[1:]]
    return argv


def namespaces(spec: dict, supported: Sequence[str] = NAMESPACES) -> tuple[list[dict], list[str],
                                                                           list[str]]:
    """(OCI linux.namespaces, names the container gets, notes on what it does not get).

    The Pod's network namespace, or the node's (hostNetwork); then, with
    isolation on, a PID namespace (new, the Pod's shared one or a target
    container's; none with hostPID), a mount and a UTS namespace, each as far
    as the kernel allows (`supported`).
    """
    out, got, notes = [], [], []
    if spec.get("netns_path"):
        out.append({"type": "network", "path": spec["netns_path"]})
        got.append("net")
    if not spec.get("isolate", True):
        return out, got, ["isolation turned off"]
    if spec.get("host_pid"):
        pass
    elif spec.get("pidns_path"):
        out.append({"type": "pid", "path": spec["pidns_path"]})
        got.append("pid")
    elif "pid" in supported:
        out.append({"type": "pid"})
        got.append("pid")
    else:
        notes.append("pid namespace not available")
    for name, oci in (("mnt", "mount"), ("uts", "uts")):
        if name in supported:
            out.append({"type": oci})
            got.append(name)
        else:
            notes.append(f"{name} namespace not available")
    return out, got, notes


def mounts(spec: dict, got: Sequence[str]) -> list[dict]:
    """OCI mounts: a /proc of the container's PID namespace, then the volumes (outer
    paths first, as the runtime ordered them), read-only where asked."""
    out = []
    if "pid" in got and "mnt" in got:
        out.append({"destination": "/proc", "type": "proc", "source": "proc",
                    "options": ["nosuid", "nodev", "noexec"]})
    for m in spec.get("mounts") or []:
        opts = ["rbind", "rprivate"] + (["ro"] if m.get("readonly") else [])
        out.append({"destination": m["container_path"], "type": "bind",
                    "source": m["host_path"], "options": opts})
    return out


def user(spec: dict) -> dict:
    """The first process's user: runAsUser (else root), runAsGroup (else 0), groups."""
    uid, gid = spec.get("uid"), spec.get("gid")
    out = {"uid": int(uid or 0), "gid": int(gid or 0)}
    groups = [int(g) for g in spec.get("groups") or []]
    if groups:
        out["additionalGids"] = groups
    return out


def capabilities(spec: dict, effective_mask: int, bounding_mask: int) -> dict:
    """What the runtime has, for root; a non-root user keeps only the bounding set, as
    after setuid(2) (no file capabilities inherited, none ambient)."""
    bounding = capability_names(bounding_mask)
    if spec.get("uid") not in (None, 0):
        return {"bounding": bounding, "effective": [], "permitted": [], "inheritable": []}
    own = capability_names(effective_mask)
    return {"bounding": bounding, "effective": own, "permitted": own, "inheritable": []}


def bundle_config(spec: dict, rootfs: str, effective_mask: int, bounding_mask: int,
                  supported: Sequence[str] = NAMESPACES) -> tuple[dict, list[str], list[str]]:
    """(config.json, namespaces the container gets, notes) for a container's spec.json.

    spec keys (written by Runtime.create_container): argv, exe, env, cwd,
    netns_path, pidns_path, hostname, mounts, isolate, uid, gid, groups, tty,
    host_pid.
    """
    linux_ns, got, notes = namespaces(spec, supported)
    if spec.get("mounts") and "mnt" not in got:
        raise ValueError(f"cannot mount volumes: {'; '.join(notes) or 'no mount namespace'}")
    env = [f"{k}={v}" for k, v in (spec.get("env") or {}).items()]
    process = {"terminal": bool(spec.get("tty")), "user": user(spec),
               "args": process_args(spec), "env": env, "cwd": spec.get("cwd") or "/",
               "capabilities": capabilities(spec, effective_mask, bounding_mask),
               "noNewPrivileges": False}
    config = {"ociVersion": "1.0.2", "process": process,
              "root": {"path": rootfs, "readonly": False},
              "mounts": mounts(spec, got),
              "linux": {"namespaces": linux_ns, "rootfsPropagation": "rprivate"}}
    if "uts" in got and spec.get("hostname"):
        config["hostname"] = spec["hostname"]
    return config, got, notes


# crun runs from a sealed copy of itself (CVE-2019-5736). It first tries a read-only bind
# mount of its binary on a temporary file in $_LIBCONTAINER_STATEDIR (/tmp by default):
# three changes to the node's mount table a call, and a file and a mount left in /tmp
# whenever crun is killed in between (one 50-worker run left 75 and 14). Where that
# directory does not exist it copies itself into a memfd at once: 2.8 ms of CPU a call
# against 3.4 ms, with no mount and nothing left on disk.
CRUN_STATEDIR = "/nonexistent/k8snet-crun-copies-itself-to-a-memfd"


def crun_env(path: str) -> dict:
    """The environment conmon and crun run with."""
    return {"PATH": path, "_LIBCONTAINER_STATEDIR": CRUN_STATEDIR}


def runtime_command(unshare: str, shell: Sequence[str], crun: str, rootfs: str,
                    crun_root: str) -> tuple[str, list[str]]:
    """(runtime, its arguments) for conmon, which adds `create ...`: crun in a mount
    namespace of its own, where the node's / is bound on ROOTFS (the container's root;
    crun pivots into it) and an empty tmpfs hides /sys/fs/cgroup from crun.

    crun 1.8 inspects /sys/fs/cgroup even with its cgroup manager disabled: it refuses a
    "hybrid" machine (v1 controllers and a v2 hierarchy that has controllers too) and a
    /sys without cgroups (`ip netns exec` mounts a fresh sysfs). The container still sees
    the node's /sys/fs/cgroup: its root was bound before.

    conmon runs `unshare` itself (no script of our own to interpret) and ``shell`` is
    busybox's when there is one: its `mount` applets run without starting another
    program, three process starts fewer a container than /bin/sh and util-linux."""
    inner = ('mount --rbind / "$1" || exit 125\n'
             'mount -t tmpfs -o size=4k k8snet-crun /sys/fs/cgroup || exit 125\n'
             f'shift; exec {crun} "$@"')
    return unshare, ["--mount", "--propagation", "private", "--", *shell, "-c", inner, "sh",
                     rootfs, f"--root={crun_root}", "--cgroup-manager=disabled"]


def conmon_argv(conmon: str, runtime: tuple[str, Sequence[str]], cid: str, name: str,
                cdir: str, log_path: str, spec: dict) -> list[str]:
    """conmon's command line: it forks (the runtime need not reap it), runs `runtime ...
    create` with the container's stdio on its pipes or terminal, reports the first
    process's PID on the _OCI_SYNCPIPE, then logs in the CRI format, serves attach and
    writes `exit`."""
    argv = [conmon, "--api-version", "1", "--cid", cid, "--cuuid", cid, "--name", name,
            "--runtime", runtime[0]]
    for arg in runtime[1]:
        argv += ["--runtime-arg", arg]
    argv += ["--bundle", cdir, "--container-pidfile", os.path.join(cdir, "pid"),
             "--conmon-pidfile", os.path.join(cdir, "conmon.pid"),
             "--log-path", f"k8s-file:{log_path}", "--persist-dir", cdir,
             "--full-attach", "--no-sync-log"]
    if spec.get("stdin"):
        argv.append("--stdin")
        if not spec.get("stdin_once"):
            argv.append("--leave-stdin-open")  # stdinOnce: the first session's end ends it
    if spec.get("tty"):
        argv.append("--terminal")
    return argv


def sync_message(data: bytes) -> tuple[int, str]:
    """(PID, error) from what conmon wrote on the sync pipe: {"data": PID} once the
    container is created, {"data": -1, "message": ...} when creating it failed."""
    for line in data.decode("utf-8", "replace").splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        pid = int(msg.get("data", -1))
        if pid > 0:
            return pid, ""
        return -1, str(msg.get("message") or "the OCI runtime failed").strip()
    return -1, "conmon reported nothing (see conmon.log in the container's directory)"


def exit_record(text: str, finished_at: int) -> Optional[dict]:
    """exit.json's fields from conmon's exit file: its status is the exit code, or 128+N
    for a death by signal N (a code above 128 is read as a signal, as CRI-O does)."""
    try:
        code = int(text.strip())
    except ValueError:
        return None
    if code < 0:    # conmon's -1: the status was not a normal exit nor a signal
        return {"exit_code": 255, "signal": 0, "finished_at": finished_at}
    sig = code - 128 if 128 < code <= 128 + SIGNAL_MAX else 0
    return {"exit_code": code, "signal": sig, "finished_at": finished_at}


def resize_message(width: int, height: int) -> bytes:
    """A terminal size for conmon's winsz fifo ("HEIGHT WIDTH\\n"), which its ctl fifo
    forwards to. conmon 2.1 applies the first line of whatever one read() returns, so
    a size must be read before the next is written (monitor.resize waits)."""
    return f"{int(height)} {int(width)}\n".encode()


def attach_packet(packet: bytes) -> tuple[int, bytes]:
    """(stream, data) of one packet conmon sends an attach session: a tag byte, the data."""
    if not packet:
        raise ValueError("empty attach packet")
    return packet[0], packet[1:]


def input_packets(data: bytes) -> list[bytes]:
    """Input for the container, cut to what conmon reads in one packet."""
    return [data[i:i + ATTACH_INPUT_MAX] for i in range(0, len(data), ATTACH_INPUT_MAX)]
