"""The runtime's behaviour, in plain Python (the gRPC layer is k8snet.cri.servicer).

Layout under ``root_dir``::

    sandboxes/<id>.json          sandbox record (netns, CNI config and result, state)
    containers/<id>/container.json   record written at CreateContainer
    containers/<id>/spec.json    what the container runs; started.json: its PIDs (written
                                 at StartContainer); the OCI bundle and conmon's files
                                 (config.json, exit, attach, ...: see k8snet.cri.oci)
    images.json                  pulled references -> image IDs
    busybox-bin/, www/<page>/    busybox applet links; the pages HTTP server images serve
    crun/, rootfs                crun's state; the containers' root

Everything is read back from disk, so a restarted runtime keeps managing the
sandboxes and containers (whose conmon monitors survive it) it had before.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import Optional, Sequence

from k8snet import cni
from k8snet.cri import host, monitor
from k8snet.cri.cgroups import Cgroups
from k8snet.cri.names import new_id, sandbox_netns_name
from k8snet.cri.status import CREATED, EXITED, RUNNING, container_phase, labels_match
from k8snet.errors import K8snetError
from k8snet.images import catalogue

LOG = logging.getLogger(__name__)
TMPFS_ANNOTATION = "k8snet.io/tmpfs"   # JSON {host path: size}: memory volumes to mount
RUNTIME_NAME = "k8snet"
RUNTIME_VERSION = "0.1.0"
EXEC_OUTPUT_CAP = 16 << 20
START_DEADLINE = 15.0
KILL_DEADLINE = 10.0
PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class NotFound(K8snetError):
    """No such sandbox, container or image."""


class FailedPrecondition(K8snetError):
    """The object is not in a state that allows the call."""


class ExecTimeout(K8snetError):
    """ExecSync's command ran past its timeout."""


@dataclass(frozen=True)
class ExecPlan:
    """A command to run in a container: argv (through nsenter), env, cgroups to join."""

    argv: list
    env: Optional[dict]
    cgroup_procs: list


@dataclass(frozen=True)
class RuntimeConfig:
    root_dir: str
    netns_prefix: str
    cni_conf_dir: str
    cni_bin_dirs: tuple = ("/usr/lib/cni",)
    cgroup_parent: str = "k8snet"
    cni_timeout: float = cni.DEFAULT_TIMEOUT
    isolate: bool = True
    image_dirs: tuple = catalogue.USER_DIRS   # more image files (see k8snet.images.catalogue)


def mount_order(mounts: Sequence[dict]) -> list[dict]:
    """Mounts with outer paths first (/data before /data/logs), else in the given order."""
    return sorted((dict(m) for m in mounts),
                  key=lambda m: len(os.path.normpath(m["container_path"]).split("/")))


def with_image_mounts(image_mounts: Sequence[dict], mounts: Sequence[dict]) -> list[dict]:
    """The image's own mounts, except where the Pod mounts a volume on the same path."""
    taken = {os.path.normpath(m["container_path"]) for m in mounts}
    return [m for m in image_mounts if os.path.normpath(m["container_path"]) not in taken] + \
        list(mounts)


class Runtime:
    def __init__(self, config: RuntimeConfig):
        self.cfg = config
        self.cni = cni.CniRunner(tuple(config.cni_bin_dirs), config.cni_timeout)
        self.cgroups = Cgroups(config.cgroup_parent)
        self._lock = threading.RLock()
        self._locks: dict = {}
        self._records = host.JsonFiles()    # what the lists read (shared: not changed)
        self._host_ctx: Optional[catalogue.HostContext] = None
        self._monitor: Optional[monitor.Monitor] = None
        self.images = catalogue.load(config.image_dirs)

    # ------------------------------------------------------------ setup

    def prepare(self) -> None:
        """Create the state directories and the images' helpers (at startup)."""
        for sub in ("sandboxes", "containers"):
            os.makedirs(os.path.join(self.cfg.root_dir, sub), exist_ok=True)
        busybox = host.which_busybox()
        applets = host.busybox_applets(busybox)
        applet_dir = os.path.join(self.cfg.root_dir, "busybox-bin")
        host.ensure_applet_dir(applet_dir, busybox, applets)
        www = os.path.join(self.cfg.root_dir, "www")
        for image in self.images:
            for page, text in image.pages:
                os.makedirs(os.path.join(www, page), exist_ok=True)
                with open(os.path.join(www, page, "index.html"), "w", encoding="utf-8") as fh:
                    fh.write(text)
        self._host_ctx = catalogue.HostContext(sys.executable, busybox, applet_dir,
                                               frozenset(applets), www)
        self._monitor = monitor.Monitor.prepare(self.cfg.root_dir)

    @property
    def host_ctx(self) -> catalogue.HostContext:
        if self._host_ctx is None:
            self.prepare()
        assert self._host_ctx is not None
        return self._host_ctx

    @property
    def monitor(self) -> monitor.Monitor:
        if self._monitor is None:
            self.prepare()
        assert self._monitor is not None
        return self._monitor

    def _id_lock(self, obj_id: str) -> threading.Lock:
        with self._lock:
            return self._locks.setdefault(obj_id, threading.Lock())

    def _path(self, *parts: str) -> str:
        return os.path.join(self.cfg.root_dir, *parts)

    # ---------------------------------------------------------- version

    def version(self) -> dict:
        return {"version": "0.1.0", "runtime_name": RUNTIME_NAME,
                "runtime_version": RUNTIME_VERSION, "runtime_api_version": "v1"}

    def status(self) -> list[dict]:
        conf = cni.load_conflist(self.cfg.cni_conf_dir)
        net = {"type": "NetworkReady", "status": conf is not None, "reason": "", "message": ""}
        if conf is None:
            net.update(reason="NetworkPluginNotReady",
                       message=f"no CNI network configuration in {self.cfg.cni_conf_dir}")
        return [{"type": "RuntimeReady", "status": True, "reason": "", "message": ""}, net]

    # -------------------------------------------------------- sandboxes

    def _sandbox_file(self, sid: str) -> str:
        return self._path("sandboxes", f"{sid}.json")

    def sandbox(self, sid: str) -> dict:
        rec = host.read_json(self._sandbox_file(sid))
        if rec is None:
            raise NotFound(f"pod sandbox {sid!r} not found")
        return rec

    def sandboxes(self) -> list[dict]:
        out = []
        for name in sorted(os.listdir(self._path("sandboxes"))):
            if name.endswith(".json"):
                rec = self._records.read(self._path("sandboxes", name))
                if rec:
                    out.append(rec)
        return out

    def run_pod_sandbox(self, config: dict) -> str:
        """Create the Pod's netns, run CNI ADD (lo, then the node's list): its ID."""
        meta = config.get("metadata") or {}
        if not meta.get("name") or not meta.get("namespace"):
            raise K8snetError("sandbox config needs metadata.name and metadata.namespace")
        if config.get("host_network"):
            return self._host_network_sandbox(config)
        conflist = cni.load_conflist(self.cfg.cni_conf_dir)
        if conflist is None:
            raise FailedPrecondition(f"network not ready: no CNI network configuration in "
                                     f"{self.cfg.cni_conf_dir}")
        sid = new_id()
        with self._lock:
            taken = {s["netns"] for s in self.sandboxes()}
            netns = sandbox_netns_name(self.cfg.netns_prefix, meta["namespace"], meta["name"],
                                       int(meta.get("attempt", 0)), taken)
            if host.netns_exists(netns):
                netns = sandbox_netns_name(self.cfg.netns_prefix, meta["namespace"],
                                           meta["name"], int(meta.get("attempt", 0)),
                                           taken | {netns})
            rec = {"id": sid, "metadata": meta, "hostname": config.get("hostname") or
                   meta["name"], "log_directory": config.get("log_directory", ""),
                   "labels": config.get("labels", {}), "annotations": config.get(
                       "annotations", {}), "created_at": time.time_ns(), "netns": netns,
                   "state": "notready", "conflist": conflist, "cni_result": None, "ip": "",
                   "runtime_handler": config.get("runtime_handler", "")}
            host.write_json(self._sandbox_file(sid), rec)
        with self._id_lock(sid):
            made = False
            try:
                host.netns_add(netns, loopback_up=False)   # the loopback plugin does it
                made = True
                inv = self._invocation(rec)
                self.cni.add(cni.render_loopback(), cni.Invocation(sid, inv.netns, "lo"))
                result = self.cni.add(conflist, inv)
                rec.update(cni_result=result, ip=(cni.result_ips(result) or [""])[0],
                           state="ready")
                host.write_json(self._sandbox_file(sid), rec)
                host.tx_offload_off("eth0", netns)
                for ifname in cni.host_interfaces(result):
                    host.tx_offload_off(ifname)
            except Exception:
                if made:   # not a namespace of that name someone else made meanwhile
                    self._teardown_network(rec, quiet=True)
                    host.netns_delete(netns)
                os.unlink(self._sandbox_file(sid))
                raise
        LOG.info("sandbox %s (%s/%s) ready: netns %s ip %s", sid[:12], meta["namespace"],
                 meta["name"], netns, rec["ip"])
        return sid

    def _host_network_sandbox(self, config: dict) -> str:
        """A sandbox in the node's own network namespace: no netns, no CNI."""
        meta = config["metadata"]
        sid = new_id()
        rec = {"id": sid, "metadata": meta, "hostname": config.get("hostname") or "",
               "log_directory": config.get("log_directory", ""),
               "labels": config.get("labels", {}), "annotations": config.get("annotations", {}),
               "created_at": time.time_ns(), "netns": "", "host_network": True,
               "state": "ready", "conflist": None, "cni_result": None, "ip": "",
               "runtime_handler": config.get("runtime_handler", "")}
        host.write_json(self._sandbox_file(sid), rec)
        LOG.info("sandbox %s (%s/%s) ready in the node's network namespace", sid[:12],
                 meta["namespace"], meta["name"])
        return sid

    def _invocation(self, rec: dict) -> cni.Invocation:
        meta = rec["metadata"]
        return cni.Invocation(rec["id"], host.netns_path(rec["netns"]), "eth0",
                              cni.cni_args(meta["namespace"], meta["name"],
                                           meta.get("uid", ""), rec["id"]))

    def _teardown_network(self, rec: dict, quiet: bool = False) -> None:
        try:
            self.cni.delete(rec["conflist"], self._invocation(rec), rec.get("cni_result"))
        except K8snetError:
            if not quiet:
                raise

    def stop_pod_sandbox(self, sid: str) -> None:
        """Kill the sandbox's containers and release its network (idempotent)."""
        rec = host.read_json(self._sandbox_file(sid))
        if rec is None:
            return
        for c in self.containers(sandbox_id=sid):
            self.stop_container(c["id"], 0)
        with self._id_lock(sid):
            rec = self.sandbox(sid)
            holder = rec.get("pid_holder") or {}
            if holder and host.same_process(holder["pid"], holder["starttime"]):
                host.signal_process(holder["pid"], signal.SIGKILL)
            if rec.get("network_released"):
                return
            if not rec.get("host_network"):
                self._teardown_network(rec)
            rec.update(state="notready", network_released=True)
            host.write_json(self._sandbox_file(sid), rec)

    def remove_pod_sandbox(self, sid: str) -> None:
        """Remove containers, the netns and the record (idempotent)."""
        rec = host.read_json(self._sandbox_file(sid))
        if rec is None:
            return
        self.stop_pod_sandbox(sid)
        for c in self.containers(sandbox_id=sid):
            self.remove_container(c["id"])
        with self._id_lock(sid):
            for path in rec.get("tmpfs") or []:
                if os.path.ismount(path):
                    host.run(["umount", "-l", path], check=False)
            if rec.get("netns"):
                host.netns_delete(rec["netns"])
            try:
                os.unlink(self._sandbox_file(sid))
            except FileNotFoundError:
                pass
            self._records.forget(self._sandbox_file(sid))
        with self._lock:
            self._locks.pop(sid, None)

    def sandbox_ready(self, rec: dict) -> bool:
        if rec.get("host_network"):
            return rec.get("state") == "ready"
        return rec.get("state") == "ready" and host.netns_exists(rec["netns"])

    def list_pod_sandboxes(self, sid: str = "", state: Optional[str] = None,
                           labels: Optional[dict] = None) -> list[dict]:
        out = []
        for rec in self.sandboxes():
            ready = self.sandbox_ready(rec)
            if sid and not rec["id"].startswith(sid):
                continue
            if state is not None and state != ("ready" if ready else "notready"):
                continue
            if labels and not labels_match(rec.get("labels", {}), labels):
                continue
            out.append(dict(rec, state="ready" if ready else "notready"))
        return out

    # ------------------------------------------------------- containers

    def _cdir(self, cid: str) -> str:
        return self._path("containers", cid)

    def container(self, cid: str) -> dict:
        rec = host.read_json(os.path.join(self._cdir(cid), "container.json"))
        if rec is None:
            raise NotFound(f"container {cid!r} not found")
        return rec

    def containers(self, sandbox_id: str = "") -> list[dict]:
        out = []
        for cid in sorted(os.listdir(self._path("containers"))):
            rec = self._records.read(os.path.join(self._cdir(cid), "container.json"))
            if rec and (not sandbox_id or rec["sandbox_id"] == sandbox_id):
                out.append(rec)
        return out

    def create_container(self, sandbox_id: str, config: dict) -> str:
        sb = self.sandbox(sandbox_id)
        if not self.sandbox_ready(sb):
            raise FailedPrecondition(f"pod sandbox {sandbox_id[:12]} is not ready")
        ref = (config.get("image") or {}).get("image", "")
        image = catalogue.lookup(ref, self.images)
        if image is None:
            raise NotFound(catalogue.pull_error(ref, self.images))
        ctx = self.host_ctx
        try:
            argv = catalogue.host_argv(image, catalogue.container_argv(
                image, config.get("command", []), config.get("args", [])), ctx)
        except ValueError as exc:
            raise K8snetError(f"failed to create containerd task: {exc}") from exc
        env = catalogue.default_env(ctx)
        env["HOSTNAME"] = sb["hostname"] or socket.gethostname()
        if argv[0] == ctx.python:
            env["PYTHONPATH"] = PACKAGE_PARENT
        env.update({kv["key"]: kv["value"] for kv in config.get("envs", [])})
        self._mount_tmpfs(sandbox_id, config.get("annotations") or {})
        pidns = self._pod_pidns(sandbox_id) if config.get("share_pid") else ""
        if config.get("target_id"):
            pidns = self._target_pidns(sandbox_id, config["target_id"])
        cid = new_id()
        meta = config.get("metadata") or {}
        log_path = config.get("log_path", "")
        if log_path and sb.get("log_directory"):
            log_path = os.path.join(sb["log_directory"], log_path)
        elif not log_path or not os.path.isabs(log_path):
            log_path = os.path.join(self._cdir(cid), "container.log")
        resources = config.get("resources") or {}
        cdir = self._cdir(cid)
        os.makedirs(cdir)
        procs, notes = self.cgroups.create(cid, resources)
        rec = {"id": cid, "sandbox_id": sandbox_id, "metadata": meta, "image": ref,
               "image_id": catalogue.image_id(image), "labels": config.get("labels", {}),
               "annotations": config.get("annotations", {}), "log_path": log_path,
               "created_at": time.time_ns(), "argv": argv, "resources": resources,
               "cgroup_notes": notes, "start_requested": False}
        spec = {"argv": argv, "env": env, "cwd": config.get("working_dir", ""),
                "netns_path": host.netns_path(sb["netns"]) if sb["netns"] else "",
                "pidns_path": pidns,
                "hostname": sb["hostname"],
                "log_path": log_path, "cgroup_procs": procs, "isolate": self.cfg.isolate,
                "mounts": mount_order(with_image_mounts(
                    catalogue.image_mounts(image, catalogue.container_argv(
                        image, config.get("command", []), config.get("args", [])), ctx),
                    config.get("mounts") or [])),
                "exe": (ctx.busybox if ctx.applet_dir and
                        os.path.dirname(argv[0]) == ctx.applet_dir else argv[0]),
                "uid": config.get("run_as_user"), "gid": config.get("run_as_group"),
                "groups": list(config.get("supplemental_groups") or []),
                "stdin": bool(config.get("stdin")), "stdin_once": bool(config.get("stdin_once")),
                "tty": bool(config.get("tty")), "host_pid": bool(config.get("host_pid"))}
        host.write_json(os.path.join(cdir, "spec.json"), spec)
        host.write_json(os.path.join(cdir, "container.json"), rec)
        return cid

    def _mount_tmpfs(self, sandbox_id: str, annotations: dict) -> None:
        """Mount the memory-backed volumes a container asks for (once per sandbox).

        They are mounted in the runtime's own mount namespace, which every
        container's root is bound from, so all containers of the Pod share them.
        """
        try:
            wanted = json.loads(annotations.get(TMPFS_ANNOTATION) or "{}")
        except ValueError:
            wanted = {}
        if not wanted:
            return
        with self._id_lock(sandbox_id):
            rec = self.sandbox(sandbox_id)
            mounted = rec.setdefault("tmpfs", [])
            for path, size in sorted(wanted.items()):
                if path in mounted and os.path.ismount(path):
                    continue
                os.makedirs(path, exist_ok=True)
                host.run(["mount", "-t", "tmpfs", "-o",
                          "mode=1777" + (f",size={size}" if size else ""), "tmpfs", path])
                mounted.append(path)
            host.write_json(self._sandbox_file(sandbox_id), rec)

    def _target_pidns(self, sandbox_id: str, target_id: str) -> str:
        """The PID namespace of a running container of the sandbox (NamespaceMode TARGET,
        an ephemeral container's targetContainerName)."""
        status = self.container_status(target_id)   # NotFound for an unknown one
        if status["sandbox_id"] != sandbox_id:
            raise FailedPrecondition(f"target container {target_id[:12]} is not in pod "
                                     f"sandbox {sandbox_id[:12]}")
        if status["state"] != RUNNING or not status["pid"]:
            raise FailedPrecondition(f"target container {target_id[:12]} is not running")
        return f"/proc/{status['pid']}/ns/pid"

    def _pod_pidns(self, sandbox_id: str) -> str:
        """The Pod's shared PID namespace (shareProcessNamespace): its holder's, started once.

        The holder is the pause program as PID 1 of a new PID namespace,
        like the sandbox's pause container elsewhere; it goes with the sandbox.
        """
        with self._id_lock(sandbox_id):
            rec = self.sandbox(sandbox_id)
            holder = rec.get("pid_holder") or {}
            if holder and host.same_process(holder["pid"], holder["starttime"]):
                return f"/proc/{holder['pid']}/ns/pid"
            proc = subprocess.Popen(
                ["unshare", "--pid", "--fork", "--kill-child", sys.executable, "-m",
                 "k8snet.images.pause"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True,
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                     "PYTHONPATH": PACKAGE_PARENT})
            deadline = time.monotonic() + START_DEADLINE
            pid = 0
            while time.monotonic() < deadline and not pid:
                pid = (host.children_of(proc.pid) or [0])[0]
                if not pid:
                    time.sleep(0.01)
            if not pid:
                raise K8snetError(f"sandbox {sandbox_id[:12]}: the shared PID namespace's "
                                  f"holder did not start within {START_DEADLINE:g}s")
            rec["pid_holder"] = {"pid": pid, "starttime": host.proc_starttime(pid),
                                 "unshare_pid": proc.pid}
            host.write_json(self._sandbox_file(sandbox_id), rec)
            return f"/proc/{pid}/ns/pid"

    def _files(self, cid: str) -> tuple[Optional[dict], Optional[dict]]:
        """started.json, and the exit status conmon wrote (exit.json: a container an
        earlier version's shim started)."""
        cdir = self._cdir(cid)
        started = self._records.read(os.path.join(cdir, "started.json"))
        if started is None:
            return None, None
        return started, monitor.exit_status(cdir) or monitor.legacy_record(cdir)

    def container_dir(self, cid: str) -> str:
        """Where a container's bundle, and conmon's attach socket and ctl fifo, are."""
        return self._cdir(cid)

    def _alive(self, started: Optional[dict]) -> bool:
        """The first process runs, or its conmon does (and will write the exit status)."""
        if not started:
            return False
        return any(host.same_process(started[p], started[t])
                   for p, t in (("pid", "starttime"), ("shim_pid", "shim_starttime"))
                   if p in started and t in started)

    def container_status(self, cid: str, rec: Optional[dict] = None) -> dict:
        """The container's state now (``rec``: its record, if just read)."""
        rec = rec if rec is not None else self.container(cid)
        started, exited = self._files(cid)
        alive = self._alive(started)
        oom = bool(exited and exited.get("signal") == 9 and self.cgroups.oom_killed(cid))
        starting = time.time_ns() - int(rec.get("start_requested_at", 0)) < \
            (START_DEADLINE + 5) * 1e9
        phase = container_phase(started, exited, alive, oom, rec.get("start_requested", False),
                                starting)
        return dict(rec, state=phase.state, exit_code=phase.exit_code, reason=phase.reason,
                    message=phase.message, started_at=phase.started_at,
                    finished_at=phase.finished_at,
                    pid=(started or {}).get("pid", 0) if phase.state == RUNNING else 0)

    def start_container(self, cid: str) -> None:
        with self._id_lock(cid):
            rec = self.container(cid)
            status = self.container_status(cid)
            if status["state"] != CREATED or rec.get("start_requested"):
                raise FailedPrecondition(f"container {cid[:12]} is {status['state']}, "
                                         "not created")
            rec.update(start_requested=True, start_requested_at=time.time_ns())
            cdir = self._cdir(cid)
            host.write_json(os.path.join(cdir, "container.json"), rec)
            spec = host.read_json(os.path.join(cdir, "spec.json")) or {}
            procs = spec.get("cgroup_procs") or []
            started = self.monitor.start(cid, cdir, spec, rec["metadata"].get("name") or cid,
                                         procs)
            host.write_json(os.path.join(cdir, "started.json"), started)
        if "error" in started:
            raise K8snetError(f"failed to start container {rec['metadata'].get('name', cid)}: "
                              f"{started['error']}")

    def stop_container(self, cid: str, timeout: int) -> None:
        """SIGTERM, up to timeout seconds, then SIGKILL (idempotent)."""
        status = self.container_status(cid)
        if status["state"] != RUNNING:
            return
        started, _ = self._files(cid)
        deadline = time.monotonic() + START_DEADLINE
        while started is None and time.monotonic() < deadline:  # it is still starting
            time.sleep(0.05)
            started, _ = self._files(cid)
        if started is None or "pid" not in started:
            return
        pid, own_pidns = started["pid"], "pid" in started.get("namespaces", [])
        if timeout > 0:
            host.signal_process(pid, signal.SIGTERM, group=not own_pidns)
            if self._wait_exit(cid, timeout):
                return
        host.signal_process(pid, signal.SIGKILL, group=not own_pidns)
        if not self._wait_exit(cid, KILL_DEADLINE):
            raise K8snetError(f"container {cid[:12]} (pid {pid}) did not exit within "
                              f"{KILL_DEADLINE:g}s of SIGKILL: "
                              f"{self._stuck(cid, started)}")

    def _stuck(self, cid: str, started: dict) -> str:
        """What a container that does not end looks like: its first process's and
        conmon's states, and the end of conmon's log."""
        def state(pid: int) -> str:
            try:
                with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
                    return next((line.split(":", 1)[1].strip() for line in fh
                                 if line.startswith("State:")), "?")
            except OSError:
                return "gone"
        try:
            with open(os.path.join(self._cdir(cid), "conmon.log"), "rb") as fh:
                tail = fh.read()[-300:].decode(errors="replace").strip()
        except OSError:
            tail = ""
        return (f"process {state(started['pid'])}, conmon "
                f"{state(started.get('shim_pid', 0)) if started.get('shim_pid') else 'unknown'}"
                f", exit file {'present' if self._files(cid)[1] else 'absent'}"
                + (f"; conmon.log: {tail}" if tail else ""))

    def _wait_exit(self, cid: str, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.container_status(cid)["state"] == EXITED:
                return True
            time.sleep(0.05)
        return False

    def remove_container(self, cid: str) -> None:
        try:
            self.container(cid)
        except NotFound:
            return
        self.stop_container(cid, 0)
        with self._id_lock(cid):
            self.monitor.delete(cid)
            self.cgroups.remove(cid)
            shutil.rmtree(self._cdir(cid), ignore_errors=True)
            self._records.forget(self._cdir(cid) + os.sep)
        with self._lock:
            self._locks.pop(cid, None)

    def list_containers(self, cid: str = "", sandbox_id: str = "", state: Optional[str] = None,
                        labels: Optional[dict] = None) -> list[dict]:
        out = []
        for rec in self.containers(sandbox_id):
            if cid and not rec["id"].startswith(cid):
                continue
            if labels and not labels_match(rec.get("labels", {}), labels):
                continue
            status = self.container_status(rec["id"], rec)
            if state is not None and status["state"] != state:
                continue
            out.append(status)
        return out

    def sandbox_netns_path(self, sid: str) -> str:
        """Where a sandbox's network namespace is ("": the node's, for hostNetwork)."""
        netns = self.sandbox(sid).get("netns") or ""
        return host.netns_path(netns) if netns else ""

    def exec_plan(self, cid: str, cmd: Sequence[str]) -> ExecPlan:
        """How to run cmd inside a running container: its namespaces (nsenter), the
        container's environment and the cgroup.procs files of its cgroups.

        ValueError when the image has no such executable.
        """
        status = self.container_status(cid)
        if status["state"] != RUNNING:
            raise FailedPrecondition(f"container {cid[:12]} is not running")
        image = catalogue.lookup(status["image"], self.images) or \
            catalogue.lookup("busybox", self.images)
        argv = catalogue.host_argv(image, list(cmd), self.host_ctx)
        spec = host.read_json(os.path.join(self._cdir(cid), "spec.json")) or {}
        started, _ = self._files(cid)
        namespaces = (started or {}).get("namespaces", ["net"])
        flags = [f for ns, f in (("net", "-n"), ("mnt", "-m"), ("uts", "-u"), ("pid", "-p"))
                 if ns in namespaces]
        pid = str(status["pid"])
        return ExecPlan(argv=["nsenter", "-t", pid, *flags, "--", *argv],
                        env=spec.get("env"), cgroup_procs=self.cgroups.procs_of(int(pid)))

    def exec_sync(self, cid: str, cmd: Sequence[str], timeout: int) -> tuple[bytes, bytes, int]:
        """Run cmd in the container's namespaces: (stdout, stderr, exit code)."""
        try:
            plan = self.exec_plan(cid, cmd)
        except ValueError as exc:
            return b"", str(exc).encode() + b"\n", 126
        proc = subprocess.Popen(plan.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=plan.env,
                                start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout if timeout > 0 else None)
        except subprocess.TimeoutExpired as exc:
            host.kill_tree(proc.pid)
            proc.communicate()
            raise ExecTimeout(f"command {list(cmd)!r} timed out after {timeout}s") from exc
        return out[:EXEC_OUTPUT_CAP], err[:EXEC_OUTPUT_CAP], proc.returncode

    # ----------------------------------------------------------- images

    def _images(self) -> dict:
        return host.read_json(self._path("images.json")) or {}

    def pull_image(self, ref: str) -> str:
        image = catalogue.lookup(ref, self.images)
        if image is None:
            raise NotFound(catalogue.pull_error(ref, self.images))
        with self._lock:
            images = self._images()
            images[ref] = catalogue.image_id(image)
            host.write_json(self._path("images.json"), images)
        return catalogue.image_id(image)

    def image_status(self, ref: str) -> Optional[dict]:
        image = catalogue.lookup(ref, self.images)
        if image is None:
            return None
        iid = catalogue.image_id(image)
        tags = sorted(r for r, i in self._images().items() if i == iid)
        if not tags:
            return None
        return {"id": iid, "repo_tags": tags, "size": image.size, "name": image.name}

    def list_images(self) -> list[dict]:
        ids = sorted(set(self._images().values()))
        out = []
        for iid in ids:
            image = catalogue.lookup(iid, self.images)
            if image is not None:
                status = self.image_status(iid)
                if status:
                    out.append(status)
        return out

    def remove_image(self, ref: str) -> None:
        image = catalogue.lookup(ref, self.images)
        if image is None:
            return
        iid = catalogue.image_id(image)
        with self._lock:
            images = {r: i for r, i in self._images().items() if i != iid}
            host.write_json(self._path("images.json"), images)
