"""Running one probe: exec through CRI ExecSync, httpGet and tcpSocket to the Pod IP.

The kubelet lives in its node's network namespace and the Pod IP is routed
to the Pod from there (Kubernetes' own model), so plain sockets to podIP
reach the container's ports. Each function returns (ok, message).
"""

from __future__ import annotations

import http.client
import socket
import ssl
from typing import Any, Mapping, Tuple

from k8snet.kubelet import probes
from k8snet.machinery.cri import CriError, RuntimeClient


def run_exec(runtime: RuntimeClient, container_id: str, action: Mapping[str, Any],
             timeout: float) -> Tuple[bool, str]:
    cmd = [str(a) for a in action.get("command") or []]
    if not cmd:
        return False, "exec probe has no command"
    try:
        result = runtime.exec_sync(container_id, cmd, timeout)
    except CriError as exc:
        return False, exc.message
    if result.exit_code == 0:
        return True, ""
    text = (result.stdout + result.stderr).decode("utf-8", "replace").strip()
    return False, f"command {cmd!r} exited with {result.exit_code}" + \
        (f": {text[:200]}" if text else "")


def run_http(target: Mapping[str, Any], timeout: float) -> Tuple[bool, str]:
    host, port, path = target["host"], target["port"], target["path"]
    url = f"{target['scheme'].lower()}://{host}:{port}{path}"
    try:
        if target["scheme"] == "HTTPS":
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE  # Kubernetes does not verify probe certificates
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                host, port, timeout=timeout, context=ctx)
        else:
            conn = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            headers = {"User-Agent": "kube-probe/1.32", "Accept": "*/*",
                       **target.get("headers", {})}
            conn.request("GET", path, headers=headers)
            resp = conn.getresponse()
            resp.read(10 * 1024)
        finally:
            conn.close()
    except socket.timeout:
        return False, f'Get "{url}": context deadline exceeded (Client.Timeout exceeded)'
    except (OSError, http.client.HTTPException) as exc:
        return False, f'Get "{url}": {exc}'
    if probes.http_ok(resp.status):
        return True, ""
    return False, f"HTTP probe failed with statuscode: {resp.status}"


def run_tcp(host: str, port: int, timeout: float) -> Tuple[bool, str]:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True, ""
    except OSError as exc:
        return False, f"dial tcp {host}:{port}: {exc.strerror or exc}"


def run_probe(runtime: RuntimeClient, spec: probes.ProbeSpec, container: Mapping[str, Any],
              container_id: str, pod_ip: str) -> Tuple[bool, str]:
    """Run the probe once; never raises for a probe that fails."""
    try:
        if spec.handler == "exec":
            return run_exec(runtime, container_id, spec.action, spec.timeout)
        if spec.handler == "httpGet":
            return run_http(probes.http_target(spec.action, container, pod_ip), spec.timeout)
        if spec.handler == "tcpSocket":
            port = probes.resolve_port(spec.action.get("port"), container)
            return run_tcp(spec.action.get("host") or pod_ip, port, spec.timeout)
    except ValueError as exc:
        return False, str(exc)
    return False, f"{spec.handler} probes are not supported by k8snet"
