"""Server-side Tables (``meta.k8s.io/v1 Table``) with kubectl's usual columns (pure)."""

from __future__ import annotations

import datetime
from typing import Any, Callable, Optional

Col = tuple[str, str, int, str]  # name, type, priority, description
NOW = Callable[[], float]


def parse_time(ts: Optional[str]) -> Optional[float]:
    """RFC 3339 timestamp -> epoch seconds (None when absent or malformed)."""
    if not ts or not isinstance(ts, str):
        return None
    try:
        return datetime.datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def human_duration(seconds: float) -> str:
    """Kubernetes' short duration (5s, 3m20s, 2h15m, 3d4h, 1y20d)."""
    s = int(max(seconds, 0))
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    h = m // 60
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    d = h // 24
    if h < 192:
        return f"{d}d{h % 24}h" if h % 24 else f"{d}d"
    if d < 730:
        return f"{d}d"
    y = d // 365
    return f"{y}y{d % 365}d" if y < 8 and d % 365 else f"{y}y"


def age(obj: dict, now: float) -> str:
    t = parse_time((obj.get("metadata") or {}).get("creationTimestamp"))
    return "<unknown>" if t is None else human_duration(now - t)


def _d(obj: Any, *path: str) -> Any:
    for p in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(p)
    return obj


def pod_status_text(pod: dict) -> str:
    """The STATUS column of `kubectl get pods`."""
    status = pod.get("status") or {}
    reason = status.get("reason") or status.get("phase") or "Pending"
    for cs in status.get("containerStatuses") or []:
        state = cs.get("state") or {}
        if (state.get("waiting") or {}).get("reason"):
            reason = state["waiting"]["reason"]
        elif state.get("terminated"):
            t = state["terminated"]
            reason = t.get("reason") or (f"Signal:{t['signal']}" if t.get("signal")
                                         else f"ExitCode:{t.get('exitCode', 0)}")
    if _d(pod, "metadata", "deletionTimestamp"):
        reason = "Terminating"
    return reason


def _pod_row(pod: dict, now: float) -> list:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    css = status.get("containerStatuses") or []
    ready = sum(1 for c in css if c.get("ready"))
    restarts = sum(int(c.get("restartCount") or 0) for c in css)
    return [_d(pod, "metadata", "name"), f"{ready}/{len(spec.get('containers') or [])}",
            pod_status_text(pod), restarts, age(pod, now),
            status.get("podIP") or "<none>", spec.get("nodeName") or "<none>"]


def _node_row(node: dict, now: float) -> list:
    conds = {c.get("type"): c.get("status") for c in _d(node, "status", "conditions") or []}
    st = "Ready" if conds.get("Ready") == "True" else \
        ("NotReady" if "Ready" in conds else "Unknown")
    if _d(node, "spec", "unschedulable"):
        st += ",SchedulingDisabled"
    labels = _d(node, "metadata", "labels") or {}
    roles = sorted(k.split("/", 1)[1] for k in labels
                   if k.startswith("node-role.kubernetes.io/") and "/" in k)
    roles = [r for r in roles if r]
    ips = {a.get("type"): a.get("address") for a in _d(node, "status", "addresses") or []}
    info = _d(node, "status", "nodeInfo") or {}
    return [_d(node, "metadata", "name"), st, ",".join(roles) or "<none>", age(node, now),
            info.get("kubeletVersion") or "", ips.get("InternalIP") or "<none>",
            ips.get("ExternalIP") or "<none>", info.get("osImage") or "<unknown>",
            info.get("kernelVersion") or "<unknown>",
            info.get("containerRuntimeVersion") or "<unknown>"]


def service_ports_text(svc: dict) -> str:
    parts = []
    for p in _d(svc, "spec", "ports") or []:
        if not isinstance(p, dict):
            continue
        text = str(p.get("port"))
        if p.get("nodePort"):
            text += f":{p['nodePort']}"
        parts.append(f"{text}/{p.get('protocol') or 'TCP'}")
    return ",".join(parts) or "<none>"


def _selector_text(sel: Any) -> str:
    if not isinstance(sel, dict) or not sel:
        return "<none>"
    if "matchLabels" in sel or "matchExpressions" in sel:
        parts = [f"{k}={v}" for k, v in sorted((sel.get("matchLabels") or {}).items())]
        for e in sel.get("matchExpressions") or []:
            vals = ",".join(e.get("values") or [])
            parts.append(f"{e.get('key')} {str(e.get('operator', '')).lower()} ({vals})")
        return ",".join(parts) or "<none>"
    return ",".join(f"{k}={v}" for k, v in sorted(sel.items()))


def _service_row(svc: dict, now: float) -> list:
    spec = svc.get("spec") or {}
    typ = spec.get("type") or "ClusterIP"
    ext = list(spec.get("externalIPs") or [])
    if typ == "LoadBalancer":
        ing = [i.get("ip") or i.get("hostname") for i in
               _d(svc, "status", "loadBalancer", "ingress") or []]
        ext = [x for x in ing if x] + ext or ["<pending>"]
    elif typ == "ExternalName":
        ext = [spec.get("externalName") or ""]
    return [_d(svc, "metadata", "name"), typ, spec.get("clusterIP") or "<none>",
            ",".join(ext) or "<none>", service_ports_text(svc), age(svc, now),
            _selector_text(spec.get("selector"))]


def _containers(obj: dict) -> tuple[str, str]:
    cs = _d(obj, "spec", "template", "spec", "containers") or []
    return (",".join(str(c.get("name")) for c in cs if isinstance(c, dict)),
            ",".join(str(c.get("image")) for c in cs if isinstance(c, dict)))


def _deployment_row(d: dict, now: float) -> list:
    st = d.get("status") or {}
    names, images = _containers(d)
    want = _d(d, "spec", "replicas")
    want = 1 if want is None else want
    return [_d(d, "metadata", "name"), f"{st.get('readyReplicas') or 0}/{want}",
            st.get("updatedReplicas") or 0, st.get("availableReplicas") or 0, age(d, now),
            names, images, _selector_text(_d(d, "spec", "selector"))]


def _replicaset_row(rs: dict, now: float) -> list:
    st = rs.get("status") or {}
    names, images = _containers(rs)
    want = _d(rs, "spec", "replicas")
    return [_d(rs, "metadata", "name"), 1 if want is None else want, st.get("replicas") or 0,
            st.get("readyReplicas") or 0, age(rs, now), names, images,
            _selector_text(_d(rs, "spec", "selector"))]


def _endpoints_row(ep: dict, now: float) -> list:
    addrs = []
    for sub in ep.get("subsets") or []:
        ports = [p.get("port") for p in sub.get("ports") or []] or [None]
        for a in sub.get("addresses") or []:
            for p in ports:
                addrs.append(f"{a.get('ip')}:{p}" if p else str(a.get("ip")))
    text = ",".join(addrs[:3]) + (f" + {len(addrs) - 3} more..." if len(addrs) > 3 else "")
    return [_d(ep, "metadata", "name"), text or "<none>", age(ep, now)]


def _event_row(ev: dict, now: float) -> list:
    # core v1 names, or events.k8s.io/v1's (deprecatedLastTimestamp, regarding, note)
    last = parse_time(ev.get("lastTimestamp") or ev.get("deprecatedLastTimestamp")
                      or ev.get("eventTime") or _d(ev, "metadata", "creationTimestamp"))
    io = ev.get("involvedObject") or ev.get("regarding") or {}
    obj = f"{str(io.get('kind', '')).lower()}/{io.get('name', '')}"
    return [human_duration(now - last) if last else "<unknown>", ev.get("type") or "",
            ev.get("reason") or "", obj, ev.get("message") or ev.get("note") or ""]


def _namespace_row(ns: dict, now: float) -> list:
    return [_d(ns, "metadata", "name"), _d(ns, "status", "phase") or "Active", age(ns, now)]


def _lease_row(lease: dict, now: float) -> list:
    return [_d(lease, "metadata", "name"), _d(lease, "spec", "holderIdentity") or "",
            age(lease, now)]


def _generic_row(obj: dict, now: float) -> list:
    return [_d(obj, "metadata", "name"), age(obj, now)]


NAME: Col = ("Name", "string", 0, "Name must be unique within a namespace.")
AGE: Col = ("Age", "string", 0, "CreationTimestamp is the time the object was created.")

COLUMNS: dict[str, tuple[list[Col], Callable[[dict, float], list]]] = {
    "pods": ([NAME, ("Ready", "string", 0, "The aggregate readiness state of this pod"),
              ("Status", "string", 0, "The aggregate status of the containers in this pod."),
              ("Restarts", "integer", 0, "The number of times the containers restarted."),
              AGE, ("IP", "string", 1, "IP address allocated to the pod."),
              ("Node", "string", 1, "Name of the Node this pod is assigned to.")], _pod_row),
    "nodes": ([NAME, ("Status", "string", 0, "The status of the node"),
               ("Roles", "string", 0, "The roles of the node"), AGE,
               ("Version", "string", 0, "Kubelet Version reported by the node."),
               ("Internal-IP", "string", 1, "The node's internal IP"),
               ("External-IP", "string", 1, "The node's external IP"),
               ("OS-Image", "string", 1, "OS image reported by the node."),
               ("Kernel-Version", "string", 1, "Kernel version reported by the node."),
               ("Container-Runtime", "string", 1, "Container runtime reported by the node.")],
              _node_row),
    "services": ([NAME, ("Type", "string", 0, "The type of the service."),
                  ("Cluster-IP", "string", 0, "The cluster IP of the service."),
                  ("External-IP", "string", 0, "The external IPs of the service."),
                  ("Port(s)", "string", 0, "The ports of the service."), AGE,
                  ("Selector", "string", 1, "The selector of the service.")], _service_row),
    "deployments": ([NAME, ("Ready", "string", 0, "Number of ready pods / desired."),
                     ("Up-to-date", "integer", 0, "Updated replicas."),
                     ("Available", "integer", 0, "Available replicas."), AGE,
                     ("Containers", "string", 1, "Names of each container in the template."),
                     ("Images", "string", 1, "Images in the template."),
                     ("Selector", "string", 1, "Label selector for pods.")], _deployment_row),
    "replicasets": ([NAME, ("Desired", "integer", 0, "Desired replicas."),
                     ("Current", "integer", 0, "Current replicas."),
                     ("Ready", "integer", 0, "Ready replicas."), AGE,
                     ("Containers", "string", 1, "Names of each container in the template."),
                     ("Images", "string", 1, "Images in the template."),
                     ("Selector", "string", 1, "Label selector for pods.")], _replicaset_row),
    "endpoints": ([NAME, ("Endpoints", "string", 0, "Endpoints of the service."), AGE],
                  _endpoints_row),
    "events": ([("Last Seen", "string", 0, "Time since the event was last seen."),
                ("Type", "string", 0, "Normal or Warning."),
                ("Reason", "string", 0, "Why the event happened."),
                ("Object", "string", 0, "The object the event is about."),
                ("Message", "string", 0, "A human-readable description.")], _event_row),
    "namespaces": ([NAME, ("Status", "string", 0, "The phase of the namespace."), AGE],
                   _namespace_row),
    "leases": ([NAME, ("Holder", "string", 0, "The holder of the lease."), AGE],
               _lease_row),
}


def columns(plural: str) -> tuple[list[Col], Callable[[dict, float], list]]:
    """The columns and row function of a resource (NAME, AGE for those without)."""
    from k8snet.apiserver import tables_more  # the other kinds; imported on use (uses us)

    found = COLUMNS.get(plural) or tables_more.COLUMNS.get(plural)
    return found if found is not None else ([NAME, AGE], _generic_row)


def column_definitions(plural: str) -> list[dict]:
    cols, _ = columns(plural)
    return [{"name": n, "type": t, "format": "name" if n == "Name" else "",
             "description": desc, "priority": pr} for n, t, pr, desc in cols]


def partial_metadata(obj: dict) -> dict:
    """The row object kubectl uses for -A, --show-labels and names."""
    meta = dict(obj.get("metadata") or {})
    meta.pop("managedFields", None)
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": meta}


def row(plural: str, obj: dict, now: float, include: str = "Metadata") -> dict:
    _, fn = columns(plural)
    cells = fn(obj, now)
    r: dict = {"cells": cells}
    if include == "Object":
        r["object"] = obj
    elif include != "None":
        r["object"] = partial_metadata(obj)
    return r


def table(plural: str, objs: list[dict], now: float, resource_version: str = "",
          continue_token: str = "", include: str = "Metadata",
          with_columns: bool = True) -> dict:
    """A Table of `objs` (column definitions omitted for watch events after the first)."""
    meta: dict = {"resourceVersion": resource_version}
    if continue_token:
        meta["continue"] = continue_token
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta,
            "columnDefinitions": column_definitions(plural) if with_columns else [],
            "rows": [row(plural, o, now, include) for o in objs]}
