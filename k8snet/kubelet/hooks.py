"""Container lifecycle hooks: postStart after a start, preStop before a stop.

`hook_of` picks the handler (exec, httpGet, sleep) from the container spec
(pure); `run_hook` runs it with the prober's exec and HTTP functions and
returns an error message in the kubelet's words, or "" when it succeeded.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Mapping, Optional, Tuple

from k8snet.kubelet import probes
from k8snet.kubelet.prober import run_exec, run_http
from k8snet.machinery.cri import RuntimeClient

HOOK_TIMEOUT = 30.0  # seconds a postStart may take (preStop: the grace period)


def hook_of(container: Mapping[str, Any], which: str) -> Optional[Tuple[str, Mapping]]:
    """(handler, action) of lifecycle.<which> (postStart/preStop), or None."""
    hook = (container.get("lifecycle") or {}).get(which) or {}
    for handler in ("exec", "httpGet", "sleep", "tcpSocket"):
        if handler in hook:
            return handler, hook[handler] or {}
    return None


def run_hook(runtime: RuntimeClient, container: Mapping[str, Any], which: str,
             container_id: str, pod_ip: str, pod_desc: str, timeout: float = HOOK_TIMEOUT,
             sleep: Callable[[float], None] = time.sleep) -> str:
    """Run the hook; "" on success (or no hook), else the failure message."""
    found = hook_of(container, which)
    if found is None:
        return ""
    handler, action = found
    name = container.get("name", "")
    if handler == "sleep":
        sleep(min(float(action.get("seconds") or 0), timeout))
        return ""
    if handler == "exec":
        ok, msg = run_exec(runtime, container_id, action, timeout)
        cmd = [str(a) for a in action.get("command") or []]
        return "" if ok else (f"Exec lifecycle hook ({cmd}) for Container \"{name}\" in Pod "
                              f"\"{pod_desc}\" failed - error: {msg}")
    if handler == "httpGet":
        try:
            ok, msg = run_http(probes.http_target(action, container, pod_ip), timeout)
        except ValueError as exc:
            ok, msg = False, str(exc)
        return "" if ok else (f"HTTP lifecycle hook ({action.get('path', '/')}) for Container "
                              f"\"{name}\" in Pod \"{pod_desc}\" failed - error: {msg}")
    return f"{handler} lifecycle hooks are not supported (tcpSocket is deprecated upstream)"
