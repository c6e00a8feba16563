"""The Pod status the kubelet reports: phase, conditions, container statuses.

Pure: computed from the Pod, what the runtime has (`PodActual`), the
kubelet's memory (waiting reasons, start time) and the probe verdicts, with
the clock passed in. Shapes and reasons are Kubernetes' own (waiting
ContainerCreating / PodInitializing / CrashLoopBackOff / ErrImagePull /
ImagePullBackOff, terminated Completed / Error, conditions
PodReadyToStartContainers, Initialized, ContainersReady, Ready, PodScheduled),
so kubectl's READY, STATUS and RESTARTS columns read as usual.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional

from k8snet.kubelet.model import CREATED, EXITED, RUNNING, ContainerInfo, PodActual, PodMemory
from k8snet.kubelet.probes import Verdict
from k8snet.kubelet.sync import init_done, is_sidecar
from k8snet.machinery.podresources import pod_qos_class
from k8snet.machinery.timefmt import format_time

ID_PREFIX = "k8snet://"
# status keys the kubelet owns and may remove (others, like nominatedNodeName, are not ours)
MANAGED = ("podIP", "podIPs", "initContainerStatuses", "containerStatuses")


def _terminated(c: ContainerInfo) -> Dict[str, Any]:
    reason = c.reason or ("Completed" if c.exit_code == 0 else "Error")
    out: Dict[str, Any] = {"exitCode": c.exit_code, "reason": reason,
                           "containerID": ID_PREFIX + c.id}
    if c.message:
        out["message"] = c.message
    if c.started_at:
        out["startedAt"] = format_time(c.started_at)
    if c.finished_at:
        out["finishedAt"] = format_time(c.finished_at)
    return out


def container_status(cspec: Mapping[str, Any], instances: List[ContainerInfo],
                     waiting: Optional[tuple], verdict: Optional[Verdict],
                     default_waiting: str) -> Dict[str, Any]:
    """One entry of containerStatuses; `instances` newest first (any sandbox)."""
    name = cspec["name"]
    out: Dict[str, Any] = {"name": name, "image": cspec.get("image", ""), "imageID": "",
                           "ready": False, "started": False, "restartCount": 0,
                           "state": {}, "lastState": {}}
    if not instances:
        reason, msg = waiting or (default_waiting, "")
        out["state"] = {"waiting": {"reason": reason, **({"message": msg} if msg else {})}}
        return out
    latest = instances[0]
    out["restartCount"] = latest.attempt
    out["containerID"] = ID_PREFIX + latest.id
    out["imageID"] = latest.image_ref
    previous = instances[1] if len(instances) > 1 else None
    if previous is not None and previous.state == EXITED:
        out["lastState"] = {"terminated": _terminated(previous)}
    if latest.state == RUNNING:
        started = latest.started_at or latest.created_at
        out["state"] = {"running": {"startedAt": format_time(started)}}
        v = verdict or Verdict(started=True, ready=True)
        out["started"], out["ready"] = v.started, v.ready
    elif latest.state == EXITED and waiting is not None:
        reason, msg = waiting
        out["state"] = {"waiting": {"reason": reason, **({"message": msg} if msg else {})}}
        out["lastState"] = {"terminated": _terminated(latest)}
    elif latest.state == EXITED:
        out["state"] = {"terminated": _terminated(latest)}
    elif latest.state == CREATED:
        reason, msg = waiting or ("ContainerCreating", "")
        out["state"] = {"waiting": {"reason": reason, **({"message": msg} if msg else {})}}
    else:
        out["state"] = {"waiting": {"reason": "ContainerStatusUnknown"}}
    return out


def statuses_started(statuses: List[dict]) -> bool:
    """Has any app container left the waiting state (the init phase is over)?"""
    return any("waiting" not in s["state"] or s["lastState"] for s in statuses)


def phase(pod: Mapping[str, Any], init_statuses: List[dict], statuses: List[dict]) -> str:
    """Kubernetes' getPhase over the computed container statuses."""
    policy = pod.get("spec", {}).get("restartPolicy", "Always")
    sidecars = {c["name"] for c in pod.get("spec", {}).get("initContainers") or []
                if is_sidecar(c)}
    for st in init_statuses:
        if st["name"] in sidecars and ("running" in st["state"] or statuses_started(statuses)):
            continue
        term = st["state"].get("terminated")
        if term and term["exitCode"] == 0:
            continue
        failed = (term is not None) or bool(st["lastState"].get("terminated"))
        if failed and policy == "Never":
            return "Failed"
        return "Pending"
    running = waiting = stopped = succeeded = 0
    for st in statuses:
        state = st["state"]
        if "running" in state:
            running += 1
        elif "terminated" in state:
            stopped += 1
            succeeded += state["terminated"]["exitCode"] == 0
        elif st["lastState"].get("terminated"):
            stopped += 1
        else:
            waiting += 1
    if waiting:
        return "Pending"
    if running:
        return "Running"
    if stopped:
        if policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        return "Running" if policy == "OnFailure" else "Failed"
    return "Pending"


def _condition(ctype: str, ok: bool, old: Mapping[str, dict], now_s: str,
               reason: str = "", message: str = "") -> Dict[str, Any]:
    status = "True" if ok else "False"
    prev = old.get(ctype)
    since = prev["lastTransitionTime"] if prev and prev.get("status") == status and \
        prev.get("lastTransitionTime") else now_s
    cond: Dict[str, Any] = {"type": ctype, "status": status, "lastProbeTime": None,
                            "lastTransitionTime": since}
    if not ok and reason:
        cond["reason"] = reason
        if message:
            cond["message"] = message
    return cond


def pod_status(pod: Mapping[str, Any], actual: PodActual, mem: PodMemory,
               verdicts: Mapping[str, Verdict], host_ip: str, now: float) -> Dict[str, Any]:
    """The whole status the kubelet sends to pods/status."""
    spec = pod.get("spec", {})
    old = pod.get("status") or {}
    old_conds = {c["type"]: c for c in old.get("conditions") or []}
    now_s = format_time(now)
    sb = actual.sandbox
    sb_ready = sb is not None and sb.ready
    inits_ok = not spec.get("initContainers") or (
        sb is not None and init_done(pod, actual, sb.id)[0])
    default = "ContainerCreating" if not sb_ready else "PodInitializing"

    init_statuses = []
    started_sidecars: set = set()
    for ic in spec.get("initContainers") or []:
        inst = actual.instances(ic["name"])
        st = container_status(ic, inst, mem.waiting.get(ic["name"]),
                              verdicts.get(inst[0].id) if inst else None,
                              "ContainerCreating" if not sb_ready else "PodInitializing")
        if is_sidecar(ic):   # ready as its readiness probe says; initialized once started
            if "running" in st["state"]:
                started_sidecars.add(ic["name"])
        else:
            st["ready"] = bool(st["state"].get("terminated", {}).get("exitCode") == 0
                               and "terminated" in st["state"])
        init_statuses.append(st)
    statuses = []
    for c in spec.get("containers") or []:
        inst = actual.instances(c["name"])
        statuses.append(container_status(
            c, inst, mem.waiting.get(c["name"]), verdicts.get(inst[0].id) if inst else None,
            default if not inits_ok else "ContainerCreating"))

    ph = phase(pod, init_statuses, statuses)
    unready = [s["name"] for s in statuses if not s["ready"]]
    incomplete = [s["name"] for s in init_statuses
                  if not s["ready"] and s["name"] not in started_sidecars]
    done = ph in ("Succeeded", "Failed")
    ready_reason = "PodCompleted" if done else "ContainersNotReady"
    ready_msg = "" if done else f"containers with unready status: [{' '.join(unready)}]"
    conditions = [
        _condition("PodReadyToStartContainers", sb_ready, old_conds, now_s),
        _condition("Initialized", not incomplete, old_conds, now_s,
                   "PodCompleted" if done else "ContainersNotInitialized",
                   "" if done else f"containers with incomplete status: [{' '.join(incomplete)}]"),
        _condition("Ready", not unready and not done, old_conds, now_s, ready_reason, ready_msg),
        _condition("ContainersReady", not unready and not done, old_conds, now_s,
                   ready_reason, ready_msg),
        old_conds.get("PodScheduled") or _condition("PodScheduled", True, {}, now_s),
    ]

    status: Dict[str, Any] = {
        "phase": ph,
        "conditions": conditions,
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "qosClass": pod_qos_class(pod),
        "containerStatuses": statuses,
    }
    if init_statuses:
        status["initContainerStatuses"] = init_statuses
    ephemeral = [container_status(ec, actual.instances(ec["name"]), mem.waiting.get(ec["name"]),
                                  None, "ContainerCreating")
                 for ec in spec.get("ephemeralContainers") or [] if isinstance(ec, dict)]
    for st in ephemeral:  # never ready: no probes, not part of the Pod's readiness
        st["ready"] = False
    if ephemeral:
        status["ephemeralContainerStatuses"] = ephemeral
    start = mem.start_time
    status["startTime"] = old.get("startTime") or format_time(start if start is not None else now)
    ips = list(sb.ips) if sb_ready and sb.ips else ([sb.ip] if sb_ready and sb.ip else [])
    if sb_ready and spec.get("hostNetwork"):
        ips = [host_ip]   # the node's network namespace: the Pod has the node's address
    if ips:
        status["podIP"] = ips[0]
        status["podIPs"] = [{"ip": ip} for ip in ips]
    elif old.get("podIP"):
        status["podIP"], status["podIPs"] = old["podIP"], old.get("podIPs") or [
            {"ip": old["podIP"]}]
    return status


def status_patch(old: Mapping[str, Any], new: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
    """A JSON merge patch body turning `old` status into `new`, or None if equal.

    Top-level keys that disappeared are set to null; lists (conditions,
    containerStatuses) are replaced whole, which is what merge patch does.
    """
    if _comparable(old) == _comparable(new):
        return None
    body: Dict[str, Any] = {k: v for k, v in new.items() if old.get(k) != v}
    for k in MANAGED:
        if k in old and k not in new:
            body[k] = None
    return {"status": body}


def _comparable(status: Mapping[str, Any]) -> Dict[str, Any]:
    return {k: v for k, v in status.items() if k not in ("message", "reason")}
