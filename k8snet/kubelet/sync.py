"""What to do with one Pod: desired (the Pod object) versus actual (the runtime).

`decide` is pure: it takes the Pod, what the runtime has for it, the
kubelet's memory of it, the probe verdicts and the clock, and returns a
`Plan`: an ordered list of actions for the effects layer, the waiting
reasons to report for containers it holds back, and back-off entries to
remember. It follows the kubelet's computePodActions: a sandbox first (a new
one if the last is gone, restarting every container), init containers one
at a time in order, then every app container; restartPolicy with back-off
(the first restart is immediate, then 10s doubling up to a cap); liveness or
startup failures kill the container; graceful deletion kills containers
with the grace period, removes the sandbox and confirms.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

from k8snet.kubelet.model import (
    CREATED,
    EXITED,
    RUNNING,
    UNKNOWN,
    Backoff,
    BackoffPolicy,
    ContainerInfo,
    PodActual,
    PodMemory,
    in_backoff,
    next_backoff,
)
from k8snet.kubelet.probes import Verdict


@dataclass(frozen=True)
class RunSandbox:
    attempt: int


@dataclass(frozen=True)
class StopSandbox:
    sandbox_id: str


@dataclass(frozen=True)
class RemoveSandbox:
    sandbox_id: str


@dataclass(frozen=True)
class StartContainer:
    """Pull the image if needed, create and start; in the sandbox just run or the latest."""

    name: str
    attempt: int
    init: bool = False
    ephemeral: bool = False


@dataclass(frozen=True)
class KillContainer:
    container_id: str
    name: str
    grace: int
    reason: str = ""       # event message ("Stopping container x", "failed liveness probe")


@dataclass(frozen=True)
class RemoveContainer:
    container_id: str


@dataclass(frozen=True)
class ConfirmDeletion:
    pass


Action = Union[RunSandbox, StopSandbox, RemoveSandbox, StartContainer, KillContainer,
               RemoveContainer, ConfirmDeletion]

CRASH_LOOP = "CrashLoopBackOff"
PULL_BACKOFF = "ImagePullBackOff"


@dataclass
class Plan:
    actions: List[Action] = field(default_factory=list)
    waiting: Dict[str, Tuple[str, str]] = field(default_factory=dict)
    backoffs: Dict[str, Backoff] = field(default_factory=dict)


def settled(plan: Plan, probing: bool, deleting: bool, reported: bool) -> bool:
    """May this Pod wait for a change (or the slow resync) before its next sync?
    Not while the plan acts or holds a container back (a back-off ends by the
    clock), a container has probes to run, the Pod is being deleted, or its status
    could not be written."""
    return not plan.actions and not plan.waiting and not probing and not deleting \
        and reported


def is_live(c: ContainerInfo) -> bool:
    """Does this container still hold processes (or might)?"""
    return c.state in (RUNNING, CREATED, UNKNOWN)


def should_restart(policy: str, exit_code: int) -> bool:
    if policy == "Always":
        return True
    if policy == "OnFailure":
        return exit_code != 0
    return False


def grace_seconds(pod: Mapping[str, Any]) -> int:
    """The deletion's grace period, else the spec's terminationGracePeriodSeconds (30)."""
    meta = pod.get("metadata", {})
    if meta.get("deletionGracePeriodSeconds") is not None:
        return int(meta["deletionGracePeriodSeconds"])
    value = pod.get("spec", {}).get("terminationGracePeriodSeconds")
    return 30 if value is None else int(value)


def pod_name(pod: Mapping[str, Any]) -> str:
    meta = pod.get("metadata", {})
    return f"{meta.get('name')}_{meta.get('namespace')}({meta.get('uid')})"


def is_sidecar(container: Mapping[str, Any]) -> bool:
    """An init container with restartPolicy Always: a sidecar that keeps running."""
    return container.get("restartPolicy") == "Always"


def init_done(pod: Mapping[str, Any], actual: PodActual, sandbox_id: str) -> Tuple[bool, bool]:
    """(all init containers succeeded, or started for sidecars, in this sandbox; one failed
    for good)."""
    policy = pod.get("spec", {}).get("restartPolicy", "Always")
    for ic in pod.get("spec", {}).get("initContainers") or []:
        inst = actual.instances(ic["name"], sandbox_id)
        if is_sidecar(ic):
            if not inst or (inst[0].state != RUNNING and not _app_started(pod, actual,
                                                                             sandbox_id)):
                return False, False
            continue
        if not inst or inst[0].state != EXITED:
            return False, False
        if inst[0].exit_code != 0:
            return False, policy == "Never"
    return True, False


def _app_started(pod: Mapping[str, Any], actual: PodActual, sandbox_id: str) -> bool:
    """Has any app container been created in this sandbox (the init phase is over)?"""
    return any(actual.instances(c["name"], sandbox_id)
               for c in pod.get("spec", {}).get("containers") or [])


def pod_finished(pod: Mapping[str, Any], actual: PodActual) -> bool:
    """Has the Pod run to completion (nothing will ever be restarted)?"""
    spec = pod.get("spec", {})
    policy = spec.get("restartPolicy", "Always")
    sb = actual.sandbox
    if policy == "Always" or sb is None:
        return False
    _, init_failed = init_done(pod, actual, sb.id)
    if init_failed:
        return True
    for c in spec.get("containers") or []:
        inst = actual.instances(c["name"], sb.id)
        if not inst or inst[0].state != EXITED or should_restart(policy, inst[0].exit_code):
            return False
    return True


def _teardown(actual: PodActual, grace: int, why: str) -> List[Action]:
    """Kill every live container, stop and remove every sandbox and container."""
    actions: List[Action] = [KillContainer(c.id, c.name, grace, why)
                             for c in actual.containers if is_live(c)]
    actions += [StopSandbox(s.id) for s in actual.sandboxes]
    actions += [RemoveContainer(c.id) for c in actual.containers]
    actions += [RemoveSandbox(s.id) for s in actual.sandboxes]
    return actions


def _gc(actual: PodActual, current: str) -> List[Action]:
    """Remove old sandboxes and all but the two newest instances of each container."""
    actions: List[Action] = []
    for sb in actual.sandboxes:
        if sb.id == current:
            continue
        if any(is_live(c) for c in actual.containers if c.sandbox_id == sb.id):
            continue  # their kill is planned elsewhere; collect next time
        actions += [RemoveContainer(c.id) for c in actual.containers if c.sandbox_id == sb.id]
        actions.append(RemoveSandbox(sb.id))
    seen: Dict[str, int] = {}
    for c in actual.containers:
        if c.sandbox_id != current:
            continue
        seen[c.name] = seen.get(c.name, 0) + 1
        if seen[c.name] > 2 and not is_live(c):
            actions.append(RemoveContainer(c.id))
    return actions


def _next_attempt(actual: PodActual, name: str) -> int:
    inst = actual.instances(name)
    return inst[0].attempt + 1 if inst else 0


def _start_or_hold(plan: Plan, pod: Mapping[str, Any], actual: PodActual, mem: PodMemory,
                   name: str, image: str, init: bool, now: float, policy: BackoffPolicy) -> None:
    """Start a container that has no instance yet, unless its image pull is backing off."""
    pb = mem.pull_backoffs.get(name)
    if pb is not None and in_backoff(pb, pb.last_update, now, policy):
        detail = mem.pull_errors.get(name, "")
        msg = f'Back-off pulling image "{image}"' + (f": ErrImagePull: {detail}" if detail else "")
        plan.waiting[name] = (PULL_BACKOFF, msg)
        return
    plan.actions.append(StartContainer(name, _next_attempt(actual, name), init))


def _restart_or_hold(plan: Plan, pod: Mapping[str, Any], actual: PodActual, mem: PodMemory,
                     latest: ContainerInfo, init: bool, now: float,
                     policy: BackoffPolicy) -> None:
    """Restart an exited container, or hold it in CrashLoopBackOff while backing off."""
    entry = plan.backoffs.get(latest.name, mem.backoffs.get(latest.name))
    since = latest.finished_at if latest.finished_at is not None else now
    if in_backoff(entry, since, now, policy):
        delay = int(entry.delay) if entry else 0
        plan.waiting[latest.name] = (
            CRASH_LOOP,
            f"back-off {delay}s restarting failed container={latest.name} pod={pod_name(pod)}")
        return
    plan.backoffs[latest.name] = next_backoff(entry, now, policy)
    plan.actions.append(StartContainer(latest.name, latest.attempt + 1, init))


def _sidecar(plan: Plan, pod: Mapping[str, Any], actual: PodActual, mem: PodMemory,
             ic: Mapping[str, Any], inst: List[ContainerInfo], now: float,
             policy: BackoffPolicy, verdicts: Mapping[str, Verdict]) -> bool:
    """Keep a sidecar running (restarted whatever the Pod's policy); is it running now?"""
    if not inst:
        _start_or_hold(plan, pod, actual, mem, ic["name"], ic.get("image", ""), True, now,
                       policy)
        return False
    latest = inst[0]
    if latest.state == RUNNING:
        v = verdicts.get(latest.id)
        if v is not None and v.kill:
            plan.actions.append(KillContainer(latest.id, ic["name"], grace_seconds(pod),
                                              f"Container {ic['name']} failed {v.kill} probe,"
                                              " will be restarted"))
        return True
    if latest.state == CREATED:
        plan.actions += [RemoveContainer(latest.id),
                         StartContainer(ic["name"], latest.attempt + 1, True)]
        return False
    if latest.state == UNKNOWN:
        plan.actions.append(KillContainer(latest.id, ic["name"], 0, "state unknown"))
    _restart_or_hold(plan, pod, actual, mem, latest, True, now, policy)
    return False


def decide(pod: Mapping[str, Any], actual: PodActual, mem: PodMemory,
           verdicts: Mapping[str, Verdict], now: float,
           policy: Optional[BackoffPolicy] = None) -> Plan:
    """The actions that bring the runtime to what the Pod asks for, in order."""
    plan = Plan()
    policy = policy or BackoffPolicy()
    spec = pod.get("spec", {})
    restart = spec.get("restartPolicy", "Always")
    if pod.get("metadata", {}).get("deletionTimestamp"):
        plan.actions = _teardown(actual, grace_seconds(pod), "Stopping container")
        plan.actions.append(ConfirmDeletion())
        return plan
    if pod_finished(pod, actual):
        sb = actual.sandbox
        if sb is not None and sb.ready:
            plan.actions.append(StopSandbox(sb.id))
        return plan

    sb = actual.sandbox
    if sb is None or not sb.ready:
        if sb is not None and restart == "Never" and actual.containers:
            # the sandbox died after the containers ran: never restarted
            plan.actions += [KillContainer(c.id, c.name, grace_seconds(pod), "Sandbox gone")
                             for c in actual.containers if is_live(c)]
            return plan
        plan.actions += [KillContainer(c.id, c.name, grace_seconds(pod),
                                       "Pod sandbox changed, it will be killed and re-created")
                         for c in actual.containers if is_live(c)]
        plan.actions += [StopSandbox(s.id) for s in actual.sandboxes if s.ready]
        plan.actions.append(RunSandbox(sb.attempt + 1 if sb else 0))
        inits = spec.get("initContainers") or []
        if inits:
            plan.actions.append(StartContainer(inits[0]["name"],
                                               _next_attempt(actual, inits[0]["name"]), True))
        else:
            plan.actions += [StartContainer(c["name"], _next_attempt(actual, c["name"]))
                             for c in spec.get("containers") or []]
        return plan

    plan.actions += _gc(actual, sb.id)
    app_started = _app_started(pod, actual, sb.id)
    for ic in spec.get("initContainers") or []:
        inst = actual.instances(ic["name"], sb.id)
        if is_sidecar(ic):
            if not _sidecar(plan, pod, actual, mem, ic, inst, now, policy, verdicts):
                if not app_started:
                    return plan
            continue
        if app_started:
            continue  # init phase over: completed init containers are not run again
        if not inst:
            _start_or_hold(plan, pod, actual, mem, ic["name"], ic.get("image", ""), True, now,
                           policy)
            return plan
        latest = inst[0]
        if latest.state == CREATED:
            plan.actions += [RemoveContainer(latest.id),
                             StartContainer(ic["name"], latest.attempt + 1, True)]
            return plan
        if latest.state != EXITED:
            return plan
        if latest.exit_code == 0:
            continue
        if restart != "Never":
            _restart_or_hold(plan, pod, actual, mem, latest, True, now, policy)
        return plan

    for c in spec.get("containers") or []:
        inst = actual.instances(c["name"], sb.id)
        if not inst:
            _start_or_hold(plan, pod, actual, mem, c["name"], c.get("image", ""), False, now,
                           policy)
            continue
        latest = inst[0]
        if latest.state == RUNNING:
            v = verdicts.get(latest.id)
            if v is not None and v.kill:
                why = (f"Container {c['name']} failed {v.kill} probe, will be restarted"
                       if should_restart(restart, 1) else
                       f"Container {c['name']} failed {v.kill} probe")
                grace = int(c.get(f"{v.kill}Probe", {}).get("terminationGracePeriodSeconds")
                            or grace_seconds(pod))
                plan.actions.append(KillContainer(latest.id, c["name"], grace, why))
        elif latest.state == CREATED:
            plan.actions += [RemoveContainer(latest.id),
                             StartContainer(c["name"], latest.attempt + 1)]
        elif latest.state in (EXITED, UNKNOWN):
            if latest.state == UNKNOWN:
                plan.actions.append(KillContainer(latest.id, c["name"], 0, "state unknown"))
            if should_restart(restart, latest.exit_code if latest.state == EXITED else 1):
                _restart_or_hold(plan, pod, actual, mem, latest, False, now, policy)
    # ephemeral containers (kubectl debug): started once, in the running sandbox, never
    # restarted, whatever the Pod's restartPolicy
    plan.actions += [StartContainer(ec["name"], 0, ephemeral=True)
                     for ec in spec.get("ephemeralContainers") or []
                     if isinstance(ec, dict) and not actual.instances(ec["name"])]
    return plan
