"""Table columns of the kinds beyond the core workflow, as kubectl 1.32 prints them from a
real apiserver (the printers of pkg/printers/internalversion), pure.

Public names:

    COLUMNS: plural -> (column list, row function(obj, now) -> cells)   merged into
                                                                         tables.COLUMNS
"""

from __future__ import annotations

import datetime
from typing import Any, Callable

from k8snet.apiserver.tables import (
    AGE,
    NAME,
    Col,
    _containers,
    _d,
    _selector_text,
    age,
    human_duration,
    parse_time,
)

_WIDE_CONTAINERS: list[Col] = [
    ("Containers", "string", 1, "Names of each container in the template."),
    ("Images", "string", 1, "Images referenced by each container in the template."),
    ("Selector", "string", 1, "Selector is a label query over pods that should match the "
                              "replica count.")]
_ACCESS = {"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX",
           "ReadWriteOncePod": "RWOP"}


def _name(obj: dict) -> Any:
    return _d(obj, "metadata", "name")


def _created_at(obj: dict) -> str:
    t = parse_time(_d(obj, "metadata", "creationTimestamp"))
    if t is None:
        return "<unknown>"
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def _more(items: list[str], total: int, limit: int = 3, empty: str = "<none>") -> str:
    if not items:
        return empty
    text = ",".join(items[:limit])
    return text + (f" + {total - limit} more..." if total > limit else "")


def _labels_text(labels: Any) -> str:
    if not isinstance(labels, dict) or not labels:
        return "<none>"
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def _has_condition(obj: dict, ctype: str) -> bool:
    return any(isinstance(c, dict) and c.get("type") == ctype and c.get("status") == "True"
               for c in _d(obj, "status", "conditions") or [])


# -- core ---------------------------------------------------------------------------------
def _configmap_row(obj: dict, now: float) -> list:
    n = len(obj.get("data") or {}) + len(obj.get("binaryData") or {})
    return [_name(obj), n, age(obj, now)]


def _secret_row(obj: dict, now: float) -> list:
    return [_name(obj), obj.get("type") or "Opaque", len(obj.get("data") or {}),
            age(obj, now)]


def _serviceaccount_row(obj: dict, now: float) -> list:
    return [_name(obj), len(obj.get("secrets") or []), age(obj, now)]


def _access_modes(modes: Any) -> str:
    return ",".join(_ACCESS.get(m, str(m)) for m in modes or []) or ""


def _pvc_row(obj: dict, now: float) -> list:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    phase = status.get("phase") or "Pending"
    if _d(obj, "metadata", "deletionTimestamp"):
        phase = "Terminating"
    bound = spec.get("volumeName") or ""
    capacity = (status.get("capacity") or {}).get("storage", "") if bound else ""
    return [_name(obj), phase, bound, capacity,
            _access_modes(status.get("accessModes")) if bound else "",
            spec.get("storageClassName") or "<unset>",
            spec.get("volumeAttributesClassName") or "<unset>", age(obj, now),
            spec.get("volumeMode") or "Filesystem"]


def _pv_row(obj: dict, now: float) -> list:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    ref = spec.get("claimRef") or {}
    claim = f"{ref.get('namespace')}/{ref.get('name')}" if ref.get("name") else ""
    phase = status.get("phase") or "Pending"
    if _d(obj, "metadata", "deletionTimestamp"):
        phase = "Terminating"
    return [_name(obj), (spec.get("capacity") or {}).get("storage", ""),
            _access_modes(spec.get("accessModes")),
            spec.get("persistentVolumeReclaimPolicy") or "", phase, claim,
            spec.get("storageClassName") or "", spec.get("volumeAttributesClassName") or
            "<unset>", status.get("reason") or "", age(obj, now),
            spec.get("volumeMode") or "Filesystem"]


def _rc_row(obj: dict, now: float) -> list:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    names, images = _containers(obj)
    want = spec.get("replicas")
    return [_name(obj), 1 if want is None else want, status.get("replicas") or 0,
            status.get("readyReplicas") or 0, age(obj, now), names, images,
            _labels_text(spec.get("selector"))]


def _component_row(obj: dict, now: float) -> list:
    cond = next((c for c in obj.get("conditions") or [] if c.get("type") == "Healthy"), {})
    status = {"True": "Healthy", "False": "Unhealthy"}.get(cond.get("status"), "Unknown")
    return [_name(obj), status, cond.get("message") or "", cond.get("error") or ""]


def _pod_template_row(obj: dict, now: float) -> list:
    cs = _d(obj, "template", "spec", "containers") or []
    return [_name(obj), ",".join(str(c.get("name")) for c in cs if isinstance(c, dict)),
            ",".join(str(c.get("image")) for c in cs if isinstance(c, dict)),
            _labels_text(_d(obj, "template", "metadata", "labels"))]


def _created_row(obj: dict, now: float) -> list:
    return [_name(obj), _created_at(obj)]


# -- apps, batch --------------------------------------------------------------------------
def _daemonset_row(obj: dict, now: float) -> list:
    st = obj.get("status") or {}
    names, images = _containers(obj)
    return [_name(obj), st.get("desiredNumberScheduled") or 0,
            st.get("currentNumberScheduled") or 0, st.get("numberReady") or 0,
            st.get("updatedNumberScheduled") or 0, st.get("numberAvailable") or 0,
            _labels_text(_d(obj, "spec", "template", "spec", "nodeSelector")), age(obj, now),
            names, images, _selector_text(_d(obj, "spec", "selector"))]


def _statefulset_row(obj: dict, now: float) -> list:
    want = _d(obj, "spec", "replicas")
    names, images = _containers(obj)
    return [_name(obj), f"{_d(obj, 'status', 'readyReplicas') or 0}/"
                        f"{1 if want is None else want}", age(obj, now), names, images]


def job_status_text(job: dict) -> str:
    """The STATUS column of `kubectl get jobs`."""
    if _has_condition(job, "Complete"):
        return "Complete"
    if _has_condition(job, "Failed"):
        return "Failed"
    if _d(job, "metadata", "deletionTimestamp"):
        return "Terminating"
    if _has_condition(job, "Suspended"):
        return "Suspended"
    if _has_condition(job, "FailureTarget"):
        return "FailureTarget"
    return "Running"


def _job_row(obj: dict, now: float) -> list:
    spec, st = obj.get("spec") or {}, obj.get("status") or {}
    done = st.get("succeeded") or 0
    if spec.get("completions") is not None:
        completions = f"{done}/{spec['completions']}"
    elif isinstance(spec.get("parallelism"), int) and spec["parallelism"] > 1:
        completions = f"{done}/1 of {spec['parallelism']}"
    else:
        completions = f"{done}/1"
    start, end = parse_time(st.get("startTime")), parse_time(st.get("completionTime"))
    duration = "" if start is None else human_duration((end if end is not None else now)
                                                       - start)
    names, images = _containers(obj)
    return [_name(obj), job_status_text(obj), completions, duration, age(obj, now), names,
            images, _selector_text(spec.get("selector"))]


def _cronjob_row(obj: dict, now: float) -> list:
    spec, st = obj.get("spec") or {}, obj.get("status") or {}
    last = parse_time(st.get("lastScheduleTime"))
    cs = _d(spec, "jobTemplate", "spec", "template", "spec", "containers") or []
    return [_name(obj), spec.get("schedule") or "", spec.get("timeZone") or "<none>",
            str(bool(spec.get("suspend"))), len(st.get("active") or []),
            "<none>" if last is None else human_duration(now - last), age(obj, now),
            ",".join(str(c.get("name")) for c in cs if isinstance(c, dict)),
            ",".join(str(c.get("image")) for c in cs if isinstance(c, dict)),
            _selector_text(_d(spec, "jobTemplate", "spec", "selector"))]


def _controller_revision_row(obj: dict, now: float) -> list:
    owner = next((r for r in _d(obj, "metadata", "ownerReferences") or []
                  if isinstance(r, dict) and r.get("controller")), None)
    controller = "<none>"
    if owner:
        group = str(owner.get("apiVersion", "")).split("/")[0] \
            if "/" in str(owner.get("apiVersion", "")) else ""
        kind = str(owner.get("kind", "")).lower() + (f".{group}" if group else "")
        controller = f"{kind}/{owner.get('name')}"
    return [_name(obj), controller, obj.get("revision") or 0, age(obj, now)]


# -- autoscaling, policy, scheduling, storage ----------------------------------------------
def _hpa_targets(obj: dict) -> str:
    specs = _d(obj, "spec", "metrics") or []
    current = _d(obj, "status", "currentMetrics") or []
    parts = []
    for i, m in enumerate(specs):
        if not isinstance(m, dict):
            continue
        if m.get("type") == "Resource" and isinstance(m.get("resource"), dict):
            res = m["resource"]
            target = res.get("target") or {}
            cur = current[i].get("resource", {}).get("current", {}) \
                if i < len(current) and isinstance(current[i], dict) else {}
            if target.get("type") == "Utilization":
                have = f"{cur['averageUtilization']}%" if "averageUtilization" in cur \
                    else "<unknown>"
                parts.append(f"{res.get('name')}: {have}/{target.get('averageUtilization')}%")
            else:
                want = target.get("averageValue") or target.get("value")
                have = cur.get("averageValue") or cur.get("value") or "<unknown>"
                parts.append(f"{res.get('name')}: {have}/{want}")
        else:
            parts.append(f"<unknown>/{m.get('type')}")
    if not parts:
        return "<none>"
    text = ", ".join(parts[:2])
    return text + (f" + {len(parts) - 2} more..." if len(parts) > 2 else "")


def _hpa_row(obj: dict, now: float) -> list:
    spec = obj.get("spec") or {}
    ref = spec.get("scaleTargetRef") or {}
    return [_name(obj), f"{ref.get('kind')}/{ref.get('name')}", _hpa_targets(obj),
            spec.get("minReplicas") if spec.get("minReplicas") is not None else "<unset>",
            spec.get("maxReplicas") or 0, _d(obj, "status", "currentReplicas") or 0,
            age(obj, now)]


def _pdb_row(obj: dict, now: float) -> list:
    spec = obj.get("spec") or {}
    return [_name(obj), "N/A" if spec.get("minAvailable") is None else spec["minAvailable"],
            "N/A" if spec.get("maxUnavailable") is None else spec["maxUnavailable"],
            _d(obj, "status", "disruptionsAllowed") or 0, age(obj, now)]


def _priority_class_row(obj: dict, now: float) -> list:
    return [_name(obj), obj.get("value") or 0, bool(obj.get("globalDefault")), age(obj, now),
            obj.get("preemptionPolicy") or ""]


def _storage_class_row(obj: dict, now: float) -> list:
    name = _name(obj)
    anns = _d(obj, "metadata", "annotations") or {}
    if anns.get("storageclass.kubernetes.io/is-default-class") == "true" or \
            anns.get("storageclass.beta.kubernetes.io/is-default-class") == "true":
        name = f"{name} (default)"
    return [name, obj.get("provisioner") or "", obj.get("reclaimPolicy") or "Delete",
            obj.get("volumeBindingMode") or "Immediate",
            bool(obj.get("allowVolumeExpansion")), age(obj, now)]


# -- networking, discovery, rbac, node ----------------------------------------------------
def _ingress_row(obj: dict, now: float) -> list:
    spec = obj.get("spec") or {}
    hosts = [str(r.get("host") or "*") for r in spec.get("rules") or [] if isinstance(r, dict)]
    lb = [str(i.get("ip") or i.get("hostname")) for i in
          _d(obj, "status", "loadBalancer", "ingress") or [] if isinstance(i, dict)]
    ports = "80, 443" if spec.get("tls") else "80"
    return [_name(obj), spec.get("ingressClassName") or "<none>",
            _more(hosts, len(hosts), empty="*"), ",".join(lb), ports, age(obj, now)]


def _ingress_class_row(obj: dict, now: float) -> list:
    params = _d(obj, "spec", "parameters")
    text = "<none>"
    if isinstance(params, dict):
        group = params.get("apiGroup")
        text = f"{params.get('kind')}.{group}/{params.get('name')}" if group else \
            f"{params.get('kind')}/{params.get('name')}"
    return [_name(obj), _d(obj, "spec", "controller") or "", text, age(obj, now)]


def _network_policy_row(obj: dict, now: float) -> list:
    sel = _d(obj, "spec", "podSelector")
    return [_name(obj), _selector_text(sel) if sel else "<none>", age(obj, now)]


def _endpoint_slice_row(obj: dict, now: float) -> list:
    ports = []
    for p in obj.get("ports") or []:
        if isinstance(p, dict):
            ports.append(str(p["port"]) if p.get("port") is not None
                         else (p.get("name") or "*"))
    addrs = [str(a) for ep in obj.get("endpoints") or [] if isinstance(ep, dict)
             for a in ep.get("addresses") or []]
    return [_name(obj), obj.get("addressType") or "", _more(ports, len(ports), empty="<unset>"),
            _more(addrs, len(addrs), empty="<unset>"), age(obj, now)]


def _role_binding_row(obj: dict, now: float) -> list:
    ref = obj.get("roleRef") or {}
    subjects = [s for s in obj.get("subjects") or [] if isinstance(s, dict)]

    def names(kind: str) -> str:
        return ",".join((f"{s.get('namespace')}/{s.get('name')}" if kind == "ServiceAccount"
                         else str(s.get("name"))) for s in subjects if s.get("kind") == kind)
    return [_name(obj), f"{ref.get('kind')}/{ref.get('name')}", age(obj, now),
            names("User"), names("Group"), names("ServiceAccount")]


def _runtime_class_row(obj: dict, now: float) -> list:
    return [_name(obj), obj.get("handler") or "", age(obj, now)]


def _webhooks_row(obj: dict, now: float) -> list:
    return [_name(obj), len(obj.get("webhooks") or []), age(obj, now)]


def _csr_row(obj: dict, now: float) -> list:
    spec = obj.get("spec") or {}
    conds = [c.get("type") for c in _d(obj, "status", "conditions") or []
             if isinstance(c, dict) and c.get("status", "True") == "True"]
    if _d(obj, "status", "certificate") and "Approved" in conds:
        conds.append("Issued")
    secs = spec.get("expirationSeconds")
    return [_name(obj), age(obj, now), spec.get("signerName") or "",
            spec.get("username") or "",
            human_duration(secs) if isinstance(secs, int) else "<none>",
            ",".join(str(c) for c in conds) or "Pending"]


def _crd_row(obj: dict, now: float) -> list:
    return _created_row(obj, now)


ROLE_BINDING_COLS: list[Col] = [
    NAME, ("Role", "string", 0, "Role to which this binding refers."), AGE,
    ("Users", "string", 1, "Users in this binding."),
    ("Groups", "string", 1, "Groups in this binding."),
    ("ServiceAccounts", "string", 1, "ServiceAccounts in this binding.")]
CREATED: list[Col] = [NAME, ("Created At", "date", 0, "The time the object was created.")]

COLUMNS: dict[str, tuple[list[Col], Callable[[dict, float], list]]] = {
    "configmaps": ([NAME, ("Data", "string", 0, "Number of keys."), AGE], _configmap_row),
    "secrets": ([NAME, ("Type", "string", 0, "The type of the secret."),
                 ("Data", "string", 0, "Number of keys."), AGE], _secret_row),
    "serviceaccounts": ([NAME, ("Secrets", "string", 0, "Number of secrets."), AGE],
                        _serviceaccount_row),
    "persistentvolumeclaims": ([
        NAME, ("Status", "string", 0, "The phase of the claim."),
        ("Volume", "string", 0, "The volume bound to the claim."),
        ("Capacity", "string", 0, "The capacity of the bound volume."),
        ("Access Modes", "string", 0, "The access modes of the bound volume."),
        ("StorageClass", "string", 0, "The storage class of the claim."),
        ("VolumeAttributesClass", "string", 0, "The volume attributes class."), AGE,
        ("VolumeMode", "string", 1, "The volume mode.")], _pvc_row),
    "persistentvolumes": ([
        NAME, ("Capacity", "string", 0, "The capacity of the volume."),
        ("Access Modes", "string", 0, "The access modes."),
        ("Reclaim Policy", "string", 0, "The reclaim policy."),
        ("Status", "string", 0, "The phase of the volume."),
        ("Claim", "string", 0, "The claim bound to the volume."),
        ("StorageClass", "string", 0, "The storage class."),
        ("VolumeAttributesClass", "string", 0, "The volume attributes class."),
        ("Reason", "string", 0, "Why the volume is in its phase."), AGE,
        ("VolumeMode", "string", 1, "The volume mode.")], _pv_row),
    "replicationcontrollers": ([NAME, ("Desired", "integer", 0, "Desired replicas."),
                                ("Current", "integer", 0, "Current replicas."),
                                ("Ready", "integer", 0, "Ready replicas."), AGE,
                                *_WIDE_CONTAINERS], _rc_row),
    "componentstatuses": ([NAME, ("Status", "string", 0, "Status of the component."),
                           ("Message", "string", 0, "Message of the component."),
                           ("Error", "string", 0, "Error of the component.")],
                          _component_row),
    "podtemplates": ([NAME, ("Containers", "string", 0, "Containers of the template."),
                      ("Images", "string", 0, "Images of the template."),
                      ("Pod Labels", "string", 0, "Labels of the template's Pods.")],
                     _pod_template_row),
    "limitranges": (CREATED, _created_row),
    "daemonsets": ([NAME, ("Desired", "integer", 0, "Desired number of scheduled pods."),
                    ("Current", "integer", 0, "Currently scheduled pods."),
                    ("Ready", "integer", 0, "Ready pods."),
                    ("Up-to-date", "integer", 0, "Updated pods."),
                    ("Available", "integer", 0, "Available pods."),
                    ("Node Selector", "string", 0, "The node selector of the pods."), AGE,
                    *_WIDE_CONTAINERS], _daemonset_row),
    "statefulsets": ([NAME, ("Ready", "string", 0, "Ready replicas / desired."), AGE,
                      *_WIDE_CONTAINERS[:2]], _statefulset_row),
    "controllerrevisions": ([NAME, ("Controller", "string", 0, "The owning controller."),
                             ("Revision", "integer", 0, "The revision."), AGE],
                            _controller_revision_row),
    "jobs": ([NAME, ("Status", "string", 0, "Status of the job."),
              ("Completions", "string", 0, "The desired number of successfully finished "
                                           "pods the job should be run with."),
              ("Duration", "string", 0, "Time required to complete the job."), AGE,
              *_WIDE_CONTAINERS], _job_row),
    "cronjobs": ([NAME, ("Schedule", "string", 0, "The schedule in Cron format."),
                  ("Timezone", "string", 0, "The time zone of the schedule."),
                  ("Suspend", "boolean", 0, "Whether scheduling is suspended."),
                  ("Active", "integer", 0, "Number of running jobs."),
                  ("Last Schedule", "string", 0, "When the last job was scheduled."), AGE,
                  *_WIDE_CONTAINERS], _cronjob_row),
    "horizontalpodautoscalers": ([
        NAME, ("Reference", "string", 0, "The scaled resource."),
        ("Targets", "string", 0, "Current and target metric values."),
        ("MinPods", "string", 0, "Lower limit of replicas."),
        ("MaxPods", "integer", 0, "Upper limit of replicas."),
        ("Replicas", "integer", 0, "Current replicas."), AGE], _hpa_row),
    "poddisruptionbudgets": ([
        NAME, ("Min Available", "string", 0, "Pods that must be available."),
        ("Max Unavailable", "string", 0, "Pods that may be unavailable."),
        ("Allowed Disruptions", "integer", 0, "Disruptions allowed now."), AGE], _pdb_row),
    "priorityclasses": ([NAME, ("Value", "integer", 0, "The priority."),
                         ("Global-Default", "boolean", 0, "Whether it is the default."), AGE,
                         ("PreemptionPolicy", "string", 0, "The preemption policy.")],
                        _priority_class_row),
    "storageclasses": ([NAME, ("Provisioner", "string", 0, "The provisioner."),
                        ("ReclaimPolicy", "string", 0, "The reclaim policy."),
                        ("VolumeBindingMode", "string", 0, "The volume binding mode."),
                        ("AllowVolumeExpansion", "string", 0, "Whether volumes may grow."),
                        AGE], _storage_class_row),
    "ingresses": ([NAME, ("Class", "string", 0, "The ingress class."),
                   ("Hosts", "string", 0, "The hosts of the rules."),
                   ("Address", "string", 0, "The load balancer addresses."),
                   ("Ports", "string", 0, "The ports served."), AGE], _ingress_row),
    "ingressclasses": ([NAME, ("Controller", "string", 0, "The controller."),
                        ("Parameters", "string", 0, "The parameters."), AGE],
                       _ingress_class_row),
    "networkpolicies": ([NAME, ("Pod-Selector", "string", 0, "The pods selected."), AGE],
                        _network_policy_row),
    "endpointslices": ([NAME, ("AddressType", "string", 0, "The type of the addresses."),
                        ("Ports", "string", 0, "The ports of the slice."),
                        ("Endpoints", "string", 0, "The addresses of the endpoints."), AGE],
                       _endpoint_slice_row),
    "roles": (CREATED, _created_row),
    "clusterroles": (CREATED, _created_row),
    "rolebindings": (ROLE_BINDING_COLS, _role_binding_row),
    "clusterrolebindings": (ROLE_BINDING_COLS, _role_binding_row),
    "runtimeclasses": ([NAME, ("Handler", "string", 0, "The runtime handler."), AGE],
                       _runtime_class_row),
    "mutatingwebhookconfigurations": ([NAME, ("Webhooks", "integer", 0, "Webhooks."), AGE],
                                      _webhooks_row),
    "validatingwebhookconfigurations": ([NAME, ("Webhooks", "integer", 0, "Webhooks."),
                                         AGE], _webhooks_row),
    "certificatesigningrequests": ([
        NAME, AGE, ("SignerName", "string", 0, "The signer."),
        ("Requestor", "string", 0, "Who asked."),
        ("RequestedDuration", "string", 0, "The requested validity."),
        ("Condition", "string", 0, "The conditions of the request.")], _csr_row),
    "customresourcedefinitions": (CREATED, _crd_row),
}
