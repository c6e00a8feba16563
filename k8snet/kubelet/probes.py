"""Probe state machines: when a probe is due and what its results mean.

A container has up to three probes (startup, liveness, readiness). Each one
is a `ProbeSpec` (from the Pod spec, with Kubernetes' defaults) and a
`ProbeState` (counters and the current result). Everything here is pure: the
caller runs a probe when `due_probes` says so and feeds the outcome to
`record`; `verdict` then says whether the container is started, ready, or
must be killed. As in Kubernetes, a startup probe holds back liveness and
readiness until it has succeeded; liveness starts as success, readiness as
failure, startup as unknown.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Dict, List, Mapping, Optional

KINDS = ("startup", "liveness", "readiness")
HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")


@dataclass(frozen=True)
class ProbeSpec:
    """One probe of one container, defaults applied."""

    kind: str                      # startup | liveness | readiness
    handler: str                   # exec | httpGet | tcpSocket | grpc
    action: Mapping[str, Any]      # the handler's dict from the Pod spec
    initial_delay: float = 0.0
    period: float = 10.0
    timeout: float = 1.0
    success_threshold: int = 1
    failure_threshold: int = 3


@dataclass(frozen=True)
class ProbeState:
    """Where a probe stands. result: True success, False failure, None unknown."""

    result: Optional[bool]
    successes: int = 0
    failures: int = 0
    last_run: Optional[float] = None
    message: str = ""


@dataclass(frozen=True)
class Verdict:
    """What the probes of one running container say now."""

    started: bool
    ready: bool
    kill: Optional[str] = None     # "liveness" | "startup" when it must be restarted
    message: str = ""


def spec_from_container(container: Mapping[str, Any], kind: str) -> Optional[ProbeSpec]:
    """The `kind` probe of a container (None if absent); raises ValueError if malformed."""
    probe = container.get(f"{kind}Probe")
    if not probe:
        return None
    handler = next((h for h in HANDLERS if probe.get(h) is not None), None)
    if handler is None:
        raise ValueError(f"{kind}Probe of container {container.get('name')!r} has no handler")
    success = int(probe.get("successThreshold") or 1)
    if kind in ("liveness", "startup"):
        success = 1  # the API requires 1 for these
    return ProbeSpec(
        kind=kind,
        handler=handler,
        action=dict(probe[handler]),
        initial_delay=float(probe.get("initialDelaySeconds") or 0),
        period=float(probe.get("periodSeconds") or 10),
        timeout=float(probe.get("timeoutSeconds") or 1),
        success_threshold=success,
        failure_threshold=int(probe.get("failureThreshold") or 3),
    )


def specs_for(container: Mapping[str, Any]) -> Dict[str, ProbeSpec]:
    """All probes of a container, by kind."""
    out = {}
    for kind in KINDS:
        spec = spec_from_container(container, kind)
        if spec is not None:
            out[kind] = spec
    return out


def initial_state(kind: str) -> ProbeState:
    """Kubernetes' initial results: liveness success, readiness failure, startup unknown."""
    return ProbeState(result={"liveness": True, "readiness": False}.get(kind))


def initial_states(specs: Mapping[str, ProbeSpec]) -> Dict[str, ProbeState]:
    return {kind: initial_state(kind) for kind in specs}


def is_due(spec: ProbeSpec, state: ProbeState, started_at: float, now: float) -> bool:
    """Has the initial delay passed and a period gone by since the last run?"""
    if now < started_at + spec.initial_delay:
        return False
    return state.last_run is None or now - state.last_run >= spec.period


def record(spec: ProbeSpec, state: ProbeState, ok: bool, now: float,
           message: str = "") -> ProbeState:
    """Fold one probe outcome into the state (thresholds decide when the result flips)."""
    if ok:
        successes, failures = state.successes + 1, 0
    else:
        successes, failures = 0, state.failures + 1
    result = state.result
    if ok and successes >= spec.success_threshold:
        result = True
    elif not ok and failures >= spec.failure_threshold:
        result = False
    return replace(state, result=result, successes=successes, failures=failures,
                   last_run=now, message=message if not ok else "")


def due_probes(specs: Mapping[str, ProbeSpec], states: Mapping[str, ProbeState],
               started_at: float, now: float) -> List[str]:
    """Kinds to run now; liveness and readiness wait for the startup probe to succeed."""
    startup = specs.get("startup")
    if startup is not None and states["startup"].result is not True:
        return ["startup"] if is_due(startup, states["startup"], started_at, now) else []
    return [kind for kind in ("liveness", "readiness")
            if kind in specs and is_due(specs[kind], states[kind], started_at, now)]


def verdict(specs: Mapping[str, ProbeSpec], states: Mapping[str, ProbeState]) -> Verdict:
    """Started / ready / must-be-killed, from the probe results of a running container."""
    if "startup" in specs:
        st = states["startup"]
        if st.result is False:
            return Verdict(started=False, ready=False, kill="startup",
                           message=f"Startup probe failed: {st.message}".rstrip(": "))
        if st.result is not True:
            return Verdict(started=False, ready=False)
    if "liveness" in specs and states["liveness"].result is False:
        return Verdict(started=True, ready=False, kill="liveness",
                       message=f"Liveness probe failed: {states['liveness'].message}".rstrip(": "))
    ready = states["readiness"].result is True if "readiness" in specs else True
    return Verdict(started=True, ready=ready)


def resolve_port(port: Any, container: Mapping[str, Any]) -> int:
    """A probe's port: a number, or the name of one of the container's ports."""
    if isinstance(port, int):
        return port
    text = str(port)
    if text.isdigit():
        return int(text)
    for p in container.get("ports") or []:
        if p.get("name") == text:
            return int(p["containerPort"])
    raise ValueError(f"container {container.get('name')!r} has no port named {text!r}")


def http_target(action: Mapping[str, Any], container: Mapping[str, Any],
                pod_ip: str) -> Dict[str, Any]:
    """Where an httpGet probe goes: scheme, host, port, path and headers."""
    path = action.get("path") or "/"
    if not path.startswith("/"):
        path = "/" + path
    headers = {h["name"]: h.get("value", "") for h in action.get("httpHeaders") or []}
    return {
        "scheme": (action.get("scheme") or "HTTP").upper(),
        "host": action.get("host") or pod_ip,
        "port": resolve_port(action.get("port"), container),
        "path": path,
        "headers": headers,
    }


def http_ok(code: int) -> bool:
    """Kubernetes counts 200-399 as success."""
    return 200 <= code < 400
