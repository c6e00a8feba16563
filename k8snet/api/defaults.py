"""Defaults the Kubernetes apiserver fills in on create/update (plus the admission
plugins a default cluster runs for Pods: ServiceAccount, DefaultTolerationSeconds,
Priority), so `kubectl get -o yaml` looks familiar.

Public names:

    apply_defaults(kind, obj, group=None) -> dict   a defaulted deep copy; idempotent;
                                          unknown kinds and malformed parts are left alone
                                          (validation reports them); group None means the
                                          built-in kind of that name
    defaulter(kind, group=None) -> function | None  (the other kinds: api.defaults_more)
    default_pod_spec(spec, admission=True) -> dict  (in place; returns spec) used for Pods
                                          and, with admission=False, for Pod templates
    image_pull_policy(image) -> str       "Always" for :latest or untagged, else "IfNotPresent"
    qos_class(spec) -> str                "Guaranteed" | "Burstable" | "BestEffort" (the one in
                                          k8snet.machinery.podresources, shared with the kubelet)

Not done here (the apiserver's job): metadata.uid, creationTimestamp, resourceVersion,
generation, namespace, Service clusterIP / nodePort allocation.
"""

from __future__ import annotations

import copy
from typing import Any, Callable, Optional

from k8snet.machinery.podresources import qos_class


def image_pull_policy(image: str) -> str:
    """Kubernetes' default pull policy for an image reference."""
    if not isinstance(image, str) or "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else ""
    return "Always" if tag in ("", "latest") else "IfNotPresent"


def _is_dict(x: Any) -> bool:
    return isinstance(x, dict)


def _dicts(items: Any) -> list[dict]:
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def _default_probe(probe: Any) -> None:
    if not _is_dict(probe):
        return
    probe.setdefault("timeoutSeconds", 1)
    probe.setdefault("periodSeconds", 10)
    probe.setdefault("successThreshold", 1)
    probe.setdefault("failureThreshold", 3)
    http = probe.get("httpGet")
    if _is_dict(http):
        http.setdefault("path", "/")
        http.setdefault("scheme", "HTTP")
    grpc = probe.get("grpc")
    if _is_dict(grpc):
        grpc.setdefault("service", "")


def _default_env(env: Any) -> None:
    for var in _dicts(env):
        src = var.get("valueFrom")
        if _is_dict(src) and _is_dict(src.get("fieldRef")):
            src["fieldRef"].setdefault("apiVersion", "v1")


def _default_container(c: dict, host_network: bool) -> None:
    if isinstance(c.get("image"), str):
        c.setdefault("imagePullPolicy", image_pull_policy(c["image"]))
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    res = c.setdefault("resources", {})
    if _is_dict(res) and _is_dict(res.get("limits")):
        requests = res.setdefault("requests", {})
        if _is_dict(requests):
            for name, value in res["limits"].items():
                requests.setdefault(name, value)
    for port in _dicts(c.get("ports")):
        port.setdefault("protocol", "TCP")
        if host_network and "containerPort" in port:
            port.setdefault("hostPort", port["containerPort"])
    _default_env(c.get("env"))
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        _default_probe(c.get(probe))


def _default_volume(v: dict) -> None:
    for source in ("configMap", "secret"):
        if _is_dict(v.get(source)):
            v[source].setdefault("defaultMode", 420)
    if _is_dict(v.get("hostPath")):
        v["hostPath"].setdefault("type", "")
    if not any(k != "name" for k in v):
        v["emptyDir"] = {}


_NOT_READY_TOLERATIONS = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
     "tolerationSeconds": 300},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
     "tolerationSeconds": 300},
]


def _tolerates(have: dict, taint: dict) -> bool:
    """Whether toleration `have` already covers the not-ready/unreachable `taint`."""
    if have.get("effect") not in (None, "", taint["effect"]):
        return False
    if not have.get("key"):
        return have.get("operator") == "Exists"
    return have.get("key") == taint["key"]


def default_pod_spec(spec: dict, admission: bool = True) -> dict:
    """Default a PodSpec in place; admission adds what Pod admission plugins add."""
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    host_network = spec.get("hostNetwork") is True
    for key in ("containers", "initContainers"):
        for c in _dicts(spec.get(key)):
            _default_container(c, host_network)
    for v in _dicts(spec.get("volumes")):
        _default_volume(v)
    if admission:
        spec.setdefault("enableServiceLinks", True)
        spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
        spec.setdefault("priority", 0)
        account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
        spec.setdefault("serviceAccountName", account)
        spec.setdefault("serviceAccount", account)
        tolerations = spec.setdefault("tolerations", [])
        if isinstance(tolerations, list):
            for t in _NOT_READY_TOLERATIONS:
                if not any(_tolerates(have, t) for have in _dicts(tolerations)):
                    tolerations.append(dict(t))
    return spec


def _pod(obj: dict) -> None:
    spec = obj.setdefault("spec", {})
    if not _is_dict(spec):
        return
    default_pod_spec(spec, admission=True)
    status = obj.setdefault("status", {})
    if _is_dict(status):
        status.setdefault("phase", "Pending")
        status.setdefault("qosClass", qos_class(spec))


def default_template(spec: dict) -> None:
    """Defaults of a workload's spec.template (metadata and Pod spec), in place."""
    tmpl = spec.get("template")
    if not _is_dict(tmpl):
        return
    meta = tmpl.setdefault("metadata", {})
    if _is_dict(meta):
        meta.setdefault("creationTimestamp", None)
    pod_spec = tmpl.get("spec")
    if _is_dict(pod_spec):
        default_pod_spec(pod_spec, admission=False)


def _deployment(obj: dict) -> None:
    spec = obj.setdefault("spec", {})
    if not _is_dict(spec):
        return
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    strategy = spec.setdefault("strategy", {})
    if _is_dict(strategy):
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            ru = strategy.setdefault("rollingUpdate", {})
            if _is_dict(ru):
                ru.setdefault("maxSurge", "25%")
                ru.setdefault("maxUnavailable", "25%")
    default_template(spec)


def _replicaset(obj: dict) -> None:
    spec = obj.setdefault("spec", {})
    if _is_dict(spec):
        spec.setdefault("replicas", 1)
        default_template(spec)


def _service(obj: dict) -> None:
    spec = obj.setdefault("spec", {})
    if not _is_dict(spec):
        return
    stype = spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    for port in _dicts(spec.get("ports")):
        port.setdefault("protocol", "TCP")
        if "port" in port:
            port.setdefault("targetPort", port["port"])
    if stype == "ExternalName":
        return
    spec.setdefault("internalTrafficPolicy", "Cluster")
    spec.setdefault("ipFamilies", ["IPv4"])
    spec.setdefault("ipFamilyPolicy", "SingleStack")
    if stype in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if stype == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)
    status = obj.setdefault("status", {})
    if _is_dict(status):
        status.setdefault("loadBalancer", {})


def _namespace(obj: dict) -> None:
    meta = obj.get("metadata")
    if _is_dict(meta) and isinstance(meta.get("name"), str):
        labels = meta.setdefault("labels", {})
        if _is_dict(labels):
            labels["kubernetes.io/metadata.name"] = meta["name"]
    spec = obj.setdefault("spec", {})
    if _is_dict(spec):
        spec.setdefault("finalizers", ["kubernetes"])
    status = obj.setdefault("status", {})
    if _is_dict(status):
        status.setdefault("phase", "Active")


def _endpoints(obj: dict) -> None:
    for subset in _dicts(obj.get("subsets")):
        for port in _dicts(subset.get("ports")):
            port.setdefault("protocol", "TCP")


def _node(obj: dict) -> None:
    obj.setdefault("spec", {})


_DEFAULTERS: dict[tuple[str, str], Callable[[dict], None]] = {
    ("", "Pod"): _pod,
    ("apps", "Deployment"): _deployment,
    ("apps", "ReplicaSet"): _replicaset,
    ("", "Service"): _service,
    ("", "Namespace"): _namespace,
    ("", "Endpoints"): _endpoints,
    ("", "Node"): _node,
}


def defaulter(kind: str, group: Optional[str] = None) -> Optional[Callable[[dict], None]]:
    """The defaulting function of a kind (group None: the built-in kind of that name)."""
    from k8snet.api import defaults_more  # the other kinds; imported on use (it uses us)

    table = {**_DEFAULTERS, **defaults_more.DEFAULTERS}
    if group is not None:
        return table.get((group, kind))
    return next((fn for (g, k), fn in table.items() if k == kind), None)


def apply_defaults(kind: str, obj: dict, group: Optional[str] = None) -> dict:
    """A deep copy of obj with the apiserver's defaults for kind filled in."""
    from k8snet.api import defaults_more

    out = copy.deepcopy(obj)
    fn = defaulter(kind, group)
    if fn is not None and isinstance(out, dict):
        fn(out)
    if isinstance(out, dict):
        if group is None:
            group = next((g for g, k in defaults_more.STATUS_ZERO if k == kind), "")
        defaults_more.zero_status(group, kind, out)
    return out
