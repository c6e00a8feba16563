"""One sync of one Pod: decide, act through CRI, probe, report status.

`PodSyncer.sync` is what a pod worker runs: it asks `sync.decide` what to do,
applies the plan action by action (events as Kubernetes records them), runs
the probes that are due, and patches pods/status when the status changed.
The decisions are elsewhere; this module only applies them.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional

from k8snet.api.defaults import image_pull_policy
from k8snet.kubelet import (
    crispec,
    envvars,
    hooks,
    probes,
    status,
    sync,
    volumesetup,
)
from k8snet.kubelet.logs import pod_log_dir
from k8snet.kubelet.model import (
    RUNNING,
    BackoffPolicy,
    PodActual,
    PodMemory,
    next_backoff,
)
from k8snet.kubelet.podinputs import PodInputs
from k8snet.kubelet.prober import run_probe
from k8snet.kubelet.runtimeview import ensure_image
from k8snet.kubelet.volumes import TokenSource, VolumeError
from k8snet.machinery.client import ApiClient, ApiError, NotFound
from k8snet.machinery.cri import CriError, RuntimeClient
from k8snet.machinery.events import NORMAL, WARNING, EventRecorder, container_field_path

# seconds after which the status is compared with the apiserver's copy again
STATUS_RESYNC = 10.0
# seconds between refreshes of a running Pod's configMap/secret/projected volumes
VOLUME_RESYNC = 10.0


@dataclass
class SyncContext:
    """What one plan's actions share: the sandbox they act in."""

    sandbox_id: Optional[str]
    sandbox_config: Dict[str, Any]
    pod_ip: str


class PodSyncer:
    """Applies sync plans for the Pods of one node."""

    def __init__(self, api: ApiClient, runtime: RuntimeClient, recorder: EventRecorder,
                 node_ip: str, root_dir: str, observe: Callable[[str], PodActual],
                 backoff: BackoffPolicy, clock: Callable[[], float] = time.time,
                 log: Optional[logging.Logger] = None, tokens: Optional[TokenSource] = None,
                 inputs: Optional[PodInputs] = None):
        self.api, self.runtime, self.recorder = api, runtime, recorder
        self.inputs = inputs or PodInputs(api, root_dir, node_ip, tokens)
        self.node_ip, self.root_dir, self.observe = node_ip, root_dir, observe
        self.backoff, self.clock = backoff, clock
        self.log = log or logging.getLogger("k8snet.kubelet")

    def _event(self, pod: Mapping[str, Any], event_type: str, reason: str, message: str,
               container: str = "", init: bool = False) -> None:
        meta = pod.get("metadata", {})
        self.log.info("event %s %s/%s %s: %s", event_type, meta.get("namespace"),
                      meta.get("name"), reason, message)
        self.recorder.event(dict(pod, kind="Pod", apiVersion="v1"), event_type, reason, message,
                            container_field_path(container, init))

    # -- one sync -------------------------------------------------------------

    def sync(self, pod: Optional[Mapping[str, Any]], uid: str, actual: PodActual,
             mem: PodMemory) -> bool:
        """Sync one Pod; returns True when the kubelet is done with it (forget it)."""
        if pod is None:
            return self._orphan(uid, actual)
        now = self.clock()
        if mem.start_time is None:
            mem.start_time = now
        terminal = (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")
        verdicts = self._verdicts(pod, actual, mem)
        plan = sync.decide(pod, actual, mem, verdicts, now, self.backoff)
        if terminal and not pod["metadata"].get("deletionTimestamp"):
            plan.actions = [a for a in plan.actions
                            if isinstance(a, (sync.StopSandbox, sync.KillContainer))]
        self._note_waiting(pod, mem, plan.waiting)
        mem.backoffs.update(plan.backoffs)
        if plan.actions:
            confirmed = self._apply(pod, actual, mem, plan.actions)
            if confirmed:
                return True
            actual = self.observe(uid)
        if not terminal and mem.volumes_refreshed_at + VOLUME_RESYNC <= self.clock():
            mem.volumes_refreshed_at = self.clock()
            sb = actual.sandbox
            if sb is not None and sb.ready:
                try:
                    self.inputs.refresh(pod, self._pod_ip(pod, sb.ip))
                except VolumeError as exc:
                    self.log.info("pod %s: volume refresh: %s", pod["metadata"].get("name"),
                                  exc)
        probing = self._probe(pod, actual, mem)
        reported = terminal or self._report(pod, actual, mem)
        mem.settled = sync.settled(plan, probing, bool(pod["metadata"].get("deletionTimestamp")),
                                   reported)
        return False

    def stop_containers(self, pod: Optional[Mapping[str, Any]], uid: str, actual: PodActual,
                        mem: PodMemory) -> None:
        """Only the container kills a teardown begins with (a Pod being deleted, or one
        the apiserver no longer has), grace periods and preStop hooks included; the
        sync that follows stops the sandbox, removes and confirms."""
        if pod is None:
            for action in sync._teardown(actual, 2, "orphaned"):
                if isinstance(action, sync.KillContainer):
                    try:
                        self._act_simple(action)
                    except CriError as exc:
                        self.log.warning("stopping orphan pod %s: %s", uid, exc)
            return
        plan = sync.decide(pod, actual, mem, {}, self.clock(), self.backoff)
        kills = [a for a in plan.actions if isinstance(a, sync.KillContainer)]
        if kills:
            self._kill_all(pod, kills, mem)

    def _orphan(self, uid: str, actual: PodActual) -> bool:
        """A Pod the apiserver no longer has: kill and remove what is left of it."""
        if actual.is_empty():
            self.inputs.cleanup(uid)
            return True
        self.log.info("removing pod %s: gone from the apiserver", uid)
        for action in sync._teardown(actual, 2, "orphaned"):
            try:
                self._act_simple(action)
            except CriError as exc:
                self.log.warning("cleaning orphan pod %s: %s", uid, exc)
        self.recorder.forget(uid)
        self.inputs.cleanup(uid)
        return True

    # -- actions --------------------------------------------------------------

    def _apply(self, pod: Mapping[str, Any], actual: PodActual, mem: PodMemory,
               actions: List[sync.Action]) -> bool:
        meta = pod["metadata"]
        sb = actual.sandbox
        log_dir = pod_log_dir(self.root_dir, meta["namespace"], meta["name"], meta["uid"])
        ctx = SyncContext(sb.id if sb and sb.ready else None,
                          crispec.sandbox_config(pod, sb.attempt if sb else 0, log_dir),
                          self._pod_ip(pod, sb.ip) if sb and sb.ready else "")
        for action in _batched(actions):
            try:
                if isinstance(action, list):
                    self._kill_all(pod, action, mem)
                elif isinstance(action, sync.RunSandbox):
                    if not self._run_sandbox(pod, action, ctx, log_dir):
                        return False
                elif isinstance(action, sync.StartContainer):
                    self._start(pod, action, ctx, mem)
                elif isinstance(action, sync.KillContainer):
                    self._kill(pod, action, mem)
                elif isinstance(action, sync.ConfirmDeletion):
                    return self._confirm(pod)
                else:
                    self._act_simple(action)
            except CriError as exc:
                self.log.warning("pod %s/%s: %s failed: %s", meta["namespace"], meta["name"],
                                 type(action).__name__, exc)
                return False
        return False

    def _act_simple(self, action: sync.Action) -> None:
        try:
            if isinstance(action, sync.StopSandbox):
                self.runtime.stop_pod_sandbox(action.sandbox_id)
            elif isinstance(action, sync.RemoveSandbox):
                self.runtime.remove_pod_sandbox(action.sandbox_id)
            elif isinstance(action, sync.RemoveContainer):
                self.runtime.remove_container(action.container_id)
            elif isinstance(action, sync.KillContainer):
                self.runtime.stop_container(action.container_id, action.grace)
        except CriError as exc:
            if exc.code != "NOT_FOUND":
                raise

    def _run_sandbox(self, pod: Mapping[str, Any], action: sync.RunSandbox, ctx: SyncContext,
                     log_dir: str) -> bool:
        ctx.sandbox_config = crispec.sandbox_config(pod, action.attempt, log_dir)
        try:
            ctx.sandbox_id = self.runtime.run_pod_sandbox(ctx.sandbox_config)
            ctx.pod_ip = self._pod_ip(pod, self.runtime.pod_sandbox_status(ctx.sandbox_id)["ip"])
        except CriError as exc:
            self._event(pod, WARNING, "FailedCreatePodSandBox",
                                f"Failed to create pod sandbox: {exc.message}")
            return False
        return True

    def _pod_ip(self, pod: Mapping[str, Any], sandbox_ip: str) -> str:
        """The Pod's IP: its sandbox's, or the node's for a hostNetwork Pod."""
        return self.node_ip if pod.get("spec", {}).get("hostNetwork") else sandbox_ip

    def _start(self, pod: Mapping[str, Any], action: sync.StartContainer, ctx: SyncContext,
               mem: PodMemory) -> None:
        key = "ephemeralContainers" if action.ephemeral else \
            "initContainers" if action.init else "containers"
        spec = next(c for c in pod["spec"].get(key) or [] if c["name"] == action.name)
        name, image = action.name, spec.get("image", "")
        if ctx.sandbox_id is None:
            return
        policy = spec.get("imagePullPolicy") or image_pull_policy(image)
        started = self.clock()
        try:
            _ref, pulled = ensure_image(
                self.runtime, image, policy, ctx.sandbox_config,
                lambda: self._event(pod, NORMAL, "Pulling", f'Pulling image "{image}"', name,
                                    action.init))
        except CriError as exc:
            mem.pull_backoffs[name] = next_backoff(mem.pull_backoffs.get(name), self.clock(),
                                                   self.backoff)
            mem.pull_errors[name] = exc.message
            mem.waiting[name] = ("ErrImagePull", exc.message)
            self._event(pod, WARNING, "Failed",
                                f'Failed to pull image "{image}": {exc.message}', name,
                                action.init)
            self._event(pod, WARNING, "Failed", "Error: ErrImagePull", name, action.init)
            return
        mem.pull_backoffs.pop(name, None)
        mem.pull_errors.pop(name, None)
        if pulled:
            ms = int((self.clock() - started) * 1000)
            msg = f'Successfully pulled image "{image}" in {ms}ms'
        else:
            msg = f'Container image "{image}" already present on machine'
        self._event(pod, NORMAL, "Pulled", msg, name, action.init)
        try:
            resolved = self.inputs.env(pod, spec, ctx.pod_ip)
        except envvars.ContainerConfigError as exc:
            mem.waiting[name] = ("CreateContainerConfigError", str(exc))
            self._event(pod, WARNING, "Failed", f"Error: {exc}", name, action.init)
            return
        for warning in resolved.warnings:
            self._event(pod, WARNING, "InvalidEnvironmentVariableNames", warning, name,
                        action.init)
        try:
            mounts, tmpfs = self.inputs.mounts(pod, spec, ctx.pod_ip, resolved.env)
        except VolumeError as exc:
            mem.waiting[name] = ("ContainerCreating", "")
            self._event(pod, WARNING, "FailedMount", str(exc))
            return
        config = crispec.container_config(pod, spec, action.attempt, ctx.pod_ip, self.node_ip,
                                          image_ref=None, env_map=resolved.env,
                                          target_id=self._target(pod, spec, ctx))
        config["mounts"] = mounts
        if tmpfs:
            config["annotations"][volumesetup.TMPFS_ANNOTATION] = json.dumps(tmpfs)
        try:
            cid = self.runtime.create_container(ctx.sandbox_id, config, ctx.sandbox_config)
        except CriError as exc:
            mem.waiting[name] = ("CreateContainerError", exc.message)
            self._event(pod, WARNING, "Failed", f"Error: {exc.message}", name,
                                action.init)
            return
        self._event(pod, NORMAL, "Created", f"Created container {name}", name,
                            action.init)
        try:
            self.runtime.start_container(cid)
        except CriError as exc:
            mem.waiting[name] = ("RunContainerError", exc.message)
            self._event(pod, WARNING, "Failed", f"Error: {exc.message}", name,
                                action.init)
            return
        mem.waiting.pop(name, None)
        self._event(pod, NORMAL, "Started", f"Started container {name}", name,
                            action.init)
        failure = hooks.run_hook(self.runtime, spec, "postStart", cid, ctx.pod_ip,
                                 sync.pod_name(pod))
        if failure:
            self._event(pod, WARNING, "FailedPostStartHook", failure, name, action.init)
            self._act_simple(sync.KillContainer(cid, name, sync.grace_seconds(pod),
                                                "FailedPostStartHook"))

    def _target(self, pod: Mapping[str, Any], spec: Mapping[str, Any],
                ctx: SyncContext) -> str:
        """The running container whose PID namespace an ephemeral container's
        targetContainerName names ("": none, or it is not running)."""
        target = spec.get("targetContainerName")
        if not target or ctx.sandbox_id is None:
            return ""
        found = self.runtime.list_containers(ctx.sandbox_id, {crispec.CONTAINER_NAME: target},
                                             "CONTAINER_RUNNING")
        return max(found, key=lambda c: c["created_at"])["id"] if found else ""

    def _kill(self, pod: Mapping[str, Any], action: sync.KillContainer, mem: PodMemory) -> None:
        message = action.reason if "probe" in action.reason else \
            f"Stopping container {action.name}"
        self._event(pod, NORMAL, "Killing", message, action.name)
        spec = next((c for key in ("containers", "initContainers", "ephemeralContainers")
                     for c in pod.get("spec", {}).get(key) or [] if c["name"] == action.name),
                    None)
        grace = action.grace
        if spec is not None and grace > 0 and hooks.hook_of(spec, "preStop"):
            started = self.clock()
            failure = hooks.run_hook(self.runtime, spec, "preStop", action.container_id,
                                     (pod.get("status") or {}).get("podIP", ""),
                                     sync.pod_name(pod), timeout=grace)
            if failure:
                self._event(pod, WARNING, "FailedPreStopHook", failure, action.name)
            grace = max(2, grace - int(self.clock() - started))  # as the kubelet: 2s minimum
            action = sync.KillContainer(action.container_id, action.name, grace, action.reason)
        self._act_simple(action)
        mem.probes.pop(action.container_id, None)

    def _kill_all(self, pod: Mapping[str, Any], kills: List[sync.KillContainer],
                  mem: PodMemory) -> None:
        """Stop several containers at once, as the kubelet does (grace periods overlap)."""
        if len(kills) == 1:
            self._kill(pod, kills[0], mem)
            return
        errors: List[CriError] = []

        def one(k: sync.KillContainer) -> None:
            try:
                self._kill(pod, k, mem)
            except CriError as exc:
                errors.append(exc)

        threads = [threading.Thread(target=one, args=(k,), daemon=True) for k in kills]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]

    def _confirm(self, pod: Mapping[str, Any]) -> bool:
        meta = pod["metadata"]
        try:
            self.api.delete("pods", meta["name"], meta["namespace"], grace_period_seconds=0)
        except NotFound:
            pass
        except ApiError as exc:
            self.log.warning("confirming deletion of %s/%s: %s", meta["namespace"],
                             meta["name"], exc)
            return False
        self.recorder.forget(meta["uid"])
        self.inputs.cleanup(meta["uid"])
        return True

    # -- probes and status ----------------------------------------------------

    def _specs(self, pod: Mapping[str, Any]) -> Dict[str, Dict[str, probes.ProbeSpec]]:
        out = {}
        for c in pod.get("spec", {}).get("containers") or []:
            try:
                out[c["name"]] = probes.specs_for(c)
            except ValueError as exc:
                self.log.warning("pod %s: %s", pod["metadata"]["name"], exc)
        return out

    def _verdicts(self, pod: Mapping[str, Any], actual: PodActual,
                  mem: PodMemory) -> Dict[str, probes.Verdict]:
        specs = self._specs(pod)
        out = {}
        for c in actual.containers:
            if c.state == RUNNING and c.name in specs:
                states = mem.probes.get(c.id) or probes.initial_states(specs[c.name])
                out[c.id] = probes.verdict(specs[c.name], states)
        return out

    def _probe(self, pod: Mapping[str, Any], actual: PodActual, mem: PodMemory) -> bool:
        """Run the probes that are due; True if a running container has probes."""
        specs = self._specs(pod)
        sb = actual.sandbox
        live = {c.id for c in actual.containers}
        for cid in [k for k in mem.probes if k not in live]:
            del mem.probes[cid]
        if sb is None or not sb.ready:
            return False
        cspecs = {c["name"]: c for c in pod["spec"].get("containers") or []}
        probing = False
        for c in [c for c in actual.containers if c.sandbox_id == sb.id]:
            if c.state != RUNNING or not specs.get(c.name):
                continue
            probing = True
            states = mem.probes.setdefault(c.id, probes.initial_states(specs[c.name]))
            now = self.clock()
            for kind in probes.due_probes(specs[c.name], states, c.started_at or now, now):
                spec = specs[c.name][kind]
                ok, msg = run_probe(self.runtime, spec, cspecs[c.name], c.id, sb.ip)
                states[kind] = probes.record(spec, states[kind], ok, self.clock(), msg)
                if not ok:
                    self._event(pod, WARNING, "Unhealthy",
                                        f"{kind.capitalize()} probe failed: {msg}", c.name)
        return probing

    def _note_waiting(self, pod: Mapping[str, Any], mem: PodMemory,
                      waiting: Mapping[str, tuple]) -> None:
        for name, (reason, _msg) in waiting.items():
            if mem.waiting.get(name, ("",))[0] != reason and reason == sync.CRASH_LOOP:
                self._event(pod, WARNING, "BackOff",
                                    f"Back-off restarting failed container {name} in pod "
                                    f"{sync.pod_name(pod)}", name)
            if reason == sync.PULL_BACKOFF and mem.waiting.get(name, ("",))[0] != reason:
                image = next((c.get("image", "") for c in pod["spec"].get("containers") or []
                              if c["name"] == name), "")
                self._event(pod, NORMAL, "BackOff", f'Back-off pulling image "{image}"',
                                    name)
        mem.waiting = dict(waiting)

    def _report(self, pod: Mapping[str, Any], actual: PodActual, mem: PodMemory) -> bool:
        """Write the Pod's status if it changed; False if that failed."""
        verdicts = self._verdicts(pod, actual, mem)
        new = status.pod_status(pod, actual, mem, verdicts, self.node_ip, self.clock())
        now = self.clock()
        if mem.last_status is not None and status.status_patch(mem.last_status, new) is None \
                and now - mem.last_sent_at < STATUS_RESYNC:
            return True
        body = status.status_patch(pod.get("status") or {}, new)
        mem.last_sent_at = now
        if body is None:
            mem.last_status = new
            return True
        meta = pod["metadata"]
        try:
            self.api.patch("pods", meta["name"], body, namespace=meta["namespace"],
                           subresource="status")
            mem.last_status = new
        except NotFound:
            pass
        except ApiError as exc:
            self.log.warning("pod %s/%s: status update failed: %s", meta["namespace"],
                             meta["name"], exc)
            return False
        return True


def _batched(actions: List[sync.Action]) -> List[Any]:
    """Actions in order, runs of KillContainer grouped into one list each."""
    out: List[Any] = []
    for action in actions:
        if isinstance(action, sync.KillContainer):
            if out and isinstance(out[-1], list):
                out[-1].append(action)
            else:
                out.append([action])
        else:
            out.append(action)
    return out
