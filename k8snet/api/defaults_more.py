"""Defaults of the kinds beyond Pod/Service/Deployment (pure, in place), as the Kubernetes
1.32 apiserver fills them (the versioned SetDefaults_* functions plus the conversions that
act like defaults, such as Secret stringData).

Public names:

    DEFAULTERS: (group, kind) -> function(obj) -> None     used by defaults.apply_defaults
    base64_error(value) -> str | None    why a Secret/ConfigMap value is not base64 (Go's
                                         wording), None when it decodes
    zero_status(group, kind, obj)        the status fields the API always serializes (Go
                                         ints without omitempty), as 0 when absent
    prepare_create(group, kind, obj)     what upstream's PrepareForCreate adds once the
                                         object has its name and uid (a Job's selector)
    decode_problem(group, kind, obj) -> str | None   why the body cannot be decoded as
                                         that kind (base64 fields), as a 400 says it
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any, Callable, Optional

from k8snet.api.conversion import DEFAULT_CPU_UTILIZATION, cpu_metric
from k8snet.api.defaults import default_template

_B64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")


def _d(x: Any) -> bool:
    return isinstance(x, dict)


def _dicts(items: Any) -> list[dict]:
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def _spec(obj: dict) -> Optional[dict]:
    spec = obj.setdefault("spec", {})
    return spec if _d(spec) else None


def base64_error(value: Any) -> Optional[str]:
    """Why `value` is not standard base64, in Go's words; None when it decodes."""
    if not isinstance(value, str):
        return "the value must be a base64 string"
    for i, ch in enumerate(value):
        if not (ch.isascii() and (ch.isalnum() or ch in "+/=")):
            return f"illegal base64 data at input byte {i}"
    if not _B64.fullmatch(value) or len(value) % 4:
        return f"illegal base64 data at input byte {len(value) - len(value) % 4}"
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return f"illegal base64 data at input byte {len(value) - 4 if value else 0}"
    return None


# (group, kind) -> status fields upstream always serializes (no omitempty): a fresh
# object's status carries them as 0, and clients' models require them
STATUS_ZERO: dict[tuple[str, str], tuple[str, ...]] = {
    ("apps", "DaemonSet"): ("currentNumberScheduled", "numberMisscheduled",
                            "desiredNumberScheduled", "numberReady"),
    ("apps", "StatefulSet"): ("replicas", "availableReplicas"),
    ("apps", "ReplicaSet"): ("replicas",),
    ("", "ReplicationController"): ("replicas",),
    ("policy", "PodDisruptionBudget"): ("disruptionsAllowed", "currentHealthy",
                                        "desiredHealthy", "expectedPods"),
    ("autoscaling", "HorizontalPodAutoscaler"): ("desiredReplicas",),
}
HPA_V1_STATUS_ZERO = ("currentReplicas", "desiredReplicas")


def zero_status(group: str, kind: str, obj: dict) -> None:
    """Fill the always-serialized status counters with 0 (in place)."""
    fields = STATUS_ZERO.get((group, kind), ())
    if (group, kind) == ("autoscaling", "HorizontalPodAutoscaler") and \
            obj.get("apiVersion") == "autoscaling/v1":
        fields = HPA_V1_STATUS_ZERO
    if not fields:
        return
    status = obj.setdefault("status", {})
    if _d(status):
        for field in fields:
            status.setdefault(field, 0)


# (group, kind) -> the fields holding maps of base64 values
BASE64_MAPS = {("", "Secret"): ("data",), ("", "ConfigMap"): ("binaryData",)}


def decode_problem(group: str, kind: str, obj: Any) -> Optional[str]:
    """The decoding error of a body whose byte fields are not base64, else None."""
    for field in BASE64_MAPS.get((group, kind), ()):
        values = obj.get(field) if _d(obj) else None
        for value in values.values() if _d(values) else []:
            problem = base64_error(value)
            if problem:
                return problem
    return None


# -- core ---------------------------------------------------------------------------
def _secret(obj: dict) -> None:
    obj.setdefault("type", "Opaque")
    string_data = obj.pop("stringData", None)
    if _d(string_data):
        data = obj.setdefault("data", {})
        if _d(data):
            for k, v in string_data.items():
                if isinstance(v, str):
                    data[k] = base64.b64encode(v.encode()).decode()


def _pvc_spec(spec: Any) -> None:
    if _d(spec):
        spec.setdefault("volumeMode", "Filesystem")


def _pvc(obj: dict) -> None:
    _pvc_spec(obj.get("spec"))
    status = obj.setdefault("status", {})
    if _d(status):
        status.setdefault("phase", "Pending")


def _pv(obj: dict) -> None:
    spec = _spec(obj)
    if spec is not None:
        spec.setdefault("persistentVolumeReclaimPolicy", "Retain")
        spec.setdefault("volumeMode", "Filesystem")
    status = obj.setdefault("status", {})
    if _d(status):
        status.setdefault("phase", "Pending")


def _replication_controller(obj: dict) -> None:
    spec = _spec(obj)
    if spec is None:
        return
    spec.setdefault("replicas", 1)
    tmpl = spec.get("template")
    labels = (tmpl.get("metadata") or {}).get("labels") if _d(tmpl) and \
        _d(tmpl.get("metadata")) else None
    if _d(labels) and labels:
        if not spec.get("selector"):
            spec["selector"] = dict(labels)
        meta = obj.setdefault("metadata", {})
        if _d(meta) and not meta.get("labels"):
            meta["labels"] = dict(labels)
    default_template(spec)


def _pod_template(obj: dict) -> None:
    tmpl = obj.get("template")
    if _d(tmpl):
        default_template({"template": tmpl})


def _limit_range(obj: dict) -> None:
    # a Container limit with max but no default gets default = max, defaultRequest = default
    for item in _dicts((obj.get("spec") or {}).get("limits") if _d(obj.get("spec")) else []):
        if item.get("type") != "Container":
            continue
        for name, value in (item.get("max") or {}).items() if _d(item.get("max")) else []:
            item.setdefault("default", {}).setdefault(name, value)
        for field in ("default", "min"):
            for name, value in item[field].items() if _d(item.get(field)) else []:
                item.setdefault("defaultRequest", {}).setdefault(name, value)


# -- apps, batch ------------------------------------------------------------------------
def _daemonset(obj: dict) -> None:
    spec = _spec(obj)
    if spec is None:
        return
    strategy = spec.setdefault("updateStrategy", {})
    if _d(strategy):
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            ru = strategy.setdefault("rollingUpdate", {})
            if _d(ru):
                ru.setdefault("maxUnavailable", 1)
                ru.setdefault("maxSurge", 0)
    spec.setdefault("revisionHistoryLimit", 10)
    default_template(spec)


def _statefulset(obj: dict) -> None:
    spec = _spec(obj)
    if spec is None:
        return
    spec.setdefault("podManagementPolicy", "OrderedReady")
    strategy = spec.setdefault("updateStrategy", {})
    if _d(strategy):
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            ru = strategy.setdefault("rollingUpdate", {})
            if _d(ru):
                ru.setdefault("partition", 0)
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    policy = spec.setdefault("persistentVolumeClaimRetentionPolicy", {})
    if _d(policy):
        policy.setdefault("whenDeleted", "Retain")
        policy.setdefault("whenScaled", "Retain")
    for claim in _dicts(spec.get("volumeClaimTemplates")):
        claim.setdefault("apiVersion", "v1")
        claim.setdefault("kind", "PersistentVolumeClaim")
        meta = claim.setdefault("metadata", {})
        if _d(meta):
            meta.setdefault("creationTimestamp", None)
        _pvc(claim)
    default_template(spec)


def _job_spec(spec: dict, labels_of: Optional[dict] = None) -> None:
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
    spec.setdefault("parallelism", 1)
    if spec.get("backoffLimit") is None:
        spec["backoffLimit"] = 2147483647 if spec.get("backoffLimitPerIndex") is not None \
            else 6
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    failure = spec.get("podFailurePolicy")
    if _d(failure):
        for rule in _dicts(failure.get("rules")):
            for cond in _dicts(rule.get("onPodConditions")):
                cond.setdefault("status", "True")
    spec.setdefault("podReplacementPolicy",
                    "Failed" if _d(failure) else "TerminatingOrFailed")
    default_template(spec)


def _job(obj: dict) -> None:
    spec = _spec(obj)
    if spec is None:
        return
    _job_spec(spec)
    tmpl = spec.get("template")
    labels = tmpl["metadata"].get("labels") if _d(tmpl) and _d(tmpl.get("metadata")) \
        else None
    meta = obj.setdefault("metadata", {})
    if _d(labels) and labels and _d(meta) and not meta.get("labels"):
        meta["labels"] = dict(labels)


JOB_NAME_LABELS = ("job-name", "batch.kubernetes.io/job-name")
CONTROLLER_UID_LABELS = ("controller-uid", "batch.kubernetes.io/controller-uid")


def _generate_job_selector(obj: dict) -> None:
    """The labels and selector tying a Job to its Pods (unless spec.manualSelector)."""
    meta, spec = obj.get("metadata"), obj.get("spec")
    if not _d(meta) or not _d(spec) or spec.get("manualSelector") is True:
        return
    tmpl = spec.setdefault("template", {})
    tmeta = tmpl.setdefault("metadata", {}) if _d(tmpl) else None
    if not _d(tmeta):
        return
    labels = tmeta.get("labels")
    if not _d(labels):
        labels = tmeta["labels"] = {}
    for key in JOB_NAME_LABELS:
        labels.setdefault(key, meta.get("name"))
    for key in CONTROLLER_UID_LABELS:
        labels.setdefault(key, meta.get("uid"))
    selector = spec.get("selector")
    if not _d(selector):
        selector = spec["selector"] = {}
    match = selector.get("matchLabels")
    if not _d(match):
        match = selector["matchLabels"] = {}
    match.setdefault(CONTROLLER_UID_LABELS[1], meta.get("uid"))


def prepare_create(group: str, kind: str, obj: dict) -> None:
    """Create-time additions that need the object's name and uid (in place)."""
    if (group, kind) == ("batch", "Job"):
        _generate_job_selector(obj)


def _cronjob(obj: dict) -> None:
    spec = _spec(obj)
    if spec is None:
        return
    spec.setdefault("concurrencyPolicy", "Allow")
    spec.setdefault("suspend", False)
    spec.setdefault("successfulJobsHistoryLimit", 3)
    spec.setdefault("failedJobsHistoryLimit", 1)
    jt = spec.get("jobTemplate")
    if _d(jt):
        meta = jt.setdefault("metadata", {})
        if _d(meta):
            meta.setdefault("creationTimestamp", None)
        jspec = jt.get("spec")
        if _d(jspec):
            default_template(jspec)


# -- autoscaling, policy ----------------------------------------------------------------
def _hpa_v1(obj: dict) -> None:
    spec = _spec(obj)
    if spec is not None:
        spec.setdefault("minReplicas", 1)


def _scaling_rules(rules: Any, up: bool) -> dict:
    rules = rules if _d(rules) else {}
    if up:
        rules.setdefault("stabilizationWindowSeconds", 0)
        rules.setdefault("policies", [{"type": "Pods", "value": 4, "periodSeconds": 15},
                                      {"type": "Percent", "value": 100,
                                       "periodSeconds": 15}])
    else:
        rules.setdefault("policies", [{"type": "Percent", "value": 100,
                                       "periodSeconds": 15}])
    rules.setdefault("selectPolicy", "Max")
    return rules


def _hpa_v2(obj: dict) -> None:
    spec = _spec(obj)
    if spec is None:
        return
    spec.setdefault("minReplicas", 1)
    if not spec.get("metrics"):
        spec["metrics"] = [cpu_metric(DEFAULT_CPU_UTILIZATION)]
    behavior = spec.get("behavior")
    if _d(behavior):
        behavior["scaleUp"] = _scaling_rules(behavior.get("scaleUp"), True)
        behavior["scaleDown"] = _scaling_rules(behavior.get("scaleDown"), False)


def _hpa(obj: dict) -> None:
    (_hpa_v1 if obj.get("apiVersion") == "autoscaling/v1" else _hpa_v2)(obj)


# -- networking, discovery --------------------------------------------------------------
def _network_policy(obj: dict) -> None:
    spec = _spec(obj)
    if spec is None:
        return
    if not spec.get("policyTypes"):
        spec["policyTypes"] = ["Ingress", "Egress"] if spec.get("egress") else ["Ingress"]
    for direction in ("ingress", "egress"):
        for rule in _dicts(spec.get(direction)):
            for port in _dicts(rule.get("ports")):
                port.setdefault("protocol", "TCP")


def _endpoint_slice(obj: dict) -> None:
    for port in _dicts(obj.get("ports")):
        port.setdefault("name", "")
        port.setdefault("protocol", "TCP")


# -- storage, scheduling, rbac ----------------------------------------------------------
def _storage_class(obj: dict) -> None:
    obj.setdefault("reclaimPolicy", "Delete")
    obj.setdefault("volumeBindingMode", "Immediate")


def _priority_class(obj: dict) -> None:
    obj.setdefault("preemptionPolicy", "PreemptLowerPriority")


def _binding_subjects(obj: dict) -> None:
    for subject in _dicts(obj.get("subjects")):
        if subject.get("kind") in ("User", "Group"):
            subject.setdefault("apiGroup", "rbac.authorization.k8s.io")
        elif subject.get("kind") == "ServiceAccount":
            subject.setdefault("apiGroup", "")


def _csi_driver(obj: dict) -> None:
    spec = _spec(obj)
    if spec is None:
        return
    spec.setdefault("attachRequired", True)
    spec.setdefault("podInfoOnMount", False)
    spec.setdefault("storageCapacity", False)
    spec.setdefault("fsGroupPolicy", "ReadWriteOnceWithFSType")
    spec.setdefault("requiresRepublish", False)
    spec.setdefault("volumeLifecycleModes", ["Persistent"])
    spec.setdefault("seLinuxMount", False)


DEFAULTERS: dict[tuple[str, str], Callable[[dict], None]] = {
    ("", "Secret"): _secret,
    ("", "PersistentVolumeClaim"): _pvc,
    ("", "PersistentVolume"): _pv,
    ("", "ReplicationController"): _replication_controller,
    ("", "PodTemplate"): _pod_template,
    ("", "LimitRange"): _limit_range,
    ("apps", "DaemonSet"): _daemonset,
    ("apps", "StatefulSet"): _statefulset,
    ("batch", "Job"): _job,
    ("batch", "CronJob"): _cronjob,
    ("autoscaling", "HorizontalPodAutoscaler"): _hpa,
    ("networking.k8s.io", "NetworkPolicy"): _network_policy,
    ("discovery.k8s.io", "EndpointSlice"): _endpoint_slice,
    ("storage.k8s.io", "StorageClass"): _storage_class,
    ("storage.k8s.io", "CSIDriver"): _csi_driver,
    ("scheduling.k8s.io", "PriorityClass"): _priority_class,
    ("rbac.authorization.k8s.io", "RoleBinding"): _binding_subjects,
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): _binding_subjects,
}
