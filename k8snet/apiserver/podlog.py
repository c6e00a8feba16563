"""pods/log: the apiserver proxies to the kubelet of the Pod's node.

Design (agreed with the kubelet): the kubelet serves
``GET http(s)://<node InternalIP>:<port>/containerLogs/<ns>/<pod>/<container>``
with query ``tailLines``, ``follow``, ``timestamps``, ``sinceSeconds``, ``limitBytes``,
``previous`` and answers ``text/plain`` (streamed when follow=true). The port is
``status.daemonEndpoints.kubeletEndpoint.Port`` (default 10250); the scheme is
``http`` unless the Node carries the annotation ``k8snet.io/kubelet-scheme: https``
(then TLS without verification: the kubelet's certificate is self-signed).
"""

from __future__ import annotations

import http.client
import ssl
from typing import Optional
from urllib.parse import quote, urlencode

from k8snet.apiserver.status import ApiStatusError, bad_request

PASS_PARAMS = ("tailLines", "follow", "timestamps", "sinceSeconds", "sinceTime",
               "limitBytes", "previous")
SCHEME_ANNOTATION = "k8snet.io/kubelet-scheme"


def pick_container(pod: dict, requested: Optional[str]) -> str:
    """The container whose log is wanted (the only one, or the requested one)."""
    name = (pod.get("metadata") or {}).get("name")
    spec = pod.get("spec") or {}
    names = [c.get("name") for c in (spec.get("containers") or []) if isinstance(c, dict)]
    inits = [c.get("name") for c in (spec.get("initContainers") or []) +
             (spec.get("ephemeralContainers") or []) if isinstance(c, dict)]
    if requested:
        if requested not in names + inits:
            raise bad_request(f"container {requested} is not valid for pod {name}")
        return requested
    default = ((pod.get("metadata") or {}).get("annotations") or {}).get(
        "kubectl.kubernetes.io/default-container")
    if default in names:
        return default
    if len(names) == 1:
        return names[0]
    raise bad_request(f"a container name must be specified for pod {name}, choose one of: "
                      f"[{' '.join(str(n) for n in names)}]")


def kubelet_base(pod: dict, node: Optional[dict], what: str) -> str:
    """scheme://ip:port of the kubelet of the Pod's node (ApiStatusError when unknown);
    `what` names the request in messages ("get logs of", "exec into")."""
    meta = pod.get("metadata") or {}
    node_name = (pod.get("spec") or {}).get("nodeName")
    if not node_name:
        raise bad_request(f'cannot {what} pod "{meta.get("name")}": the pod is not '
                          "scheduled to a node yet")
    if node is None:
        raise ApiStatusError(503, f'cannot {what} pod "{meta.get("name")}": its node '
                             f'"{node_name}" is not registered', "ServiceUnavailable")
    status = node.get("status") or {}
    ip = next((a.get("address") for a in status.get("addresses") or []
               if isinstance(a, dict) and a.get("type") == "InternalIP"), None)
    if not ip:
        raise ApiStatusError(503, f'cannot {what} pod "{meta.get("name")}": node '
                             f'"{node_name}" reports no InternalIP', "ServiceUnavailable")
    port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port") \
        or 10250
    scheme = ((node.get("metadata") or {}).get("annotations") or {}).get(
        SCHEME_ANNOTATION, "http")
    scheme = "https" if scheme == "https" else "http"
    host = f"[{ip}]" if ":" in str(ip) else ip
    return f"{scheme}://{host}:{port}"


def _kubelet_path(verb: str, pod: dict, container: str) -> str:
    meta = pod.get("metadata") or {}
    return f"/{verb}/" + "/".join(quote(str(x), safe="") for x in
                                  (meta.get("namespace"), meta.get("name"), container))


def kubelet_url(pod: dict, node: Optional[dict], container: str, params: dict) -> str:
    """The kubelet URL for this log request (ApiStatusError when it cannot be known)."""
    if not (pod.get("spec") or {}).get("nodeName"):
        raise bad_request(f'container "{container}" in pod '
                          f'"{(pod.get("metadata") or {}).get("name")}" is waiting to start: '
                          "the pod is not scheduled to a node yet")
    base = kubelet_base(pod, node, "get logs of")
    query = urlencode({k: v for k, v in params.items() if k in PASS_PARAMS})
    return base + _kubelet_path("containerLogs", pod, container) + (f"?{query}" if query else "")


def stream_url(pod: dict, node: Optional[dict], verb: str, container: str, query: str) -> str:
    """The kubelet URL for exec or attach; the client's query (command repeated) as is.

    Refuses, as upstream does, a Pod that has finished or a container not running.
    """
    meta = pod.get("metadata") or {}
    phase = (pod.get("status") or {}).get("phase")
    if phase in ("Succeeded", "Failed"):
        raise bad_request(f"cannot {verb} into a container in a completed pod; current phase "
                          f"is {phase}")
    statuses = [s for s in ((pod.get("status") or {}).get("containerStatuses") or [])
                + ((pod.get("status") or {}).get("ephemeralContainerStatuses") or [])
                if isinstance(s, dict) and s.get("name") == container]
    if statuses and "running" not in (statuses[0].get("state") or {}):
        raise bad_request(f'container {container} is not running in pod {meta.get("name")}: '
                          f"its state is {', '.join(statuses[0].get('state') or {}) or 'unknown'}")
    base = kubelet_base(pod, node, f"{verb} into")
    return base + _kubelet_path(verb, pod, container) + (f"?{query}" if query else "")


def open_kubelet(url: str, timeout: float = 10.0,
                 tls: Optional[ssl.SSLContext] = None) -> http.client.HTTPResponse:
    """GET the kubelet URL (https with `tls`, the apiserver's kubelet-client context);
    503 Status with a clear message when unreachable."""
    from urllib.parse import urlsplit
    u = urlsplit(url)
    try:
        if u.scheme == "https":
            ctx = tls
            if ctx is None:
                ctx = ssl.create_default_context()
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                u.hostname, u.port, timeout=timeout, context=ctx)
        else:
            conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
        conn.request("GET", u.path + (f"?{u.query}" if u.query else ""))
        resp = conn.getresponse()
    except (OSError, http.client.HTTPException) as e:
        raise ApiStatusError(503, f"cannot reach the kubelet at {url}: {e} (is the kubelet "
                             "running on that node?)", "ServiceUnavailable") from None
    if resp.status >= 400:
        body = resp.read(4096).decode("utf-8", "replace").strip()
        conn.close()
        raise ApiStatusError(resp.status if resp.status in (400, 404) else 502,
                             f"the kubelet answered {resp.status}: {body}",
                             "NotFound" if resp.status == 404 else "BadRequest"
                             if resp.status == 400 else "InternalError")
    return resp


def portforward_url(pod: dict, node: Optional[dict], query: str) -> str:
    """The kubelet URL for port-forward (/portForward/<ns>/<pod>); a running Pod only."""
    meta = pod.get("metadata") or {}
    phase = (pod.get("status") or {}).get("phase")
    if phase != "Running":
        raise bad_request(f"unable to forward port because pod is not running. Current "
                          f"status={phase or 'Pending'}")
    base = kubelet_base(pod, node, "forward ports of")
    path = "/portForward/" + "/".join(quote(str(x), safe="") for x in
                                      (meta.get("namespace"), meta.get("name")))
    return base + path + (f"?{query}" if query else "")
