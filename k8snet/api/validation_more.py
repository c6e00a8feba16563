"""Validation of workload and scaling kinds beyond Deployment/ReplicaSet (pure): DaemonSet,
StatefulSet, Job, CronJob, ReplicationController, ControllerRevision,
HorizontalPodAutoscaler, PodDisruptionBudget; messages as the Kubernetes 1.32 apiserver's.

Public names:

    VALIDATORS: (group, kind) -> function(errs, obj)               create and update
    UPDATE_VALIDATORS: (group, kind) -> function(errs, obj, old)   update only
    (both include the config, network, storage and RBAC kinds of validation_config)
"""

from __future__ import annotations

import copy
from typing import Any, Callable, Optional

from k8snet.api import cron
from k8snet.api.fielderrors import Errors
from k8snet.api.podvalidation import (
    validate_label_selector,
    validate_labels,
    validate_pod_spec,
)
from k8snet.api.selectors import label_selector_from_dict
from k8snet.api.validation import (
    _canon,
    _get,
    _int_or_percent,
    _update_selector,
    _workload,
)
from k8snet.api.validation_config import UPDATE_VALIDATORS as CONFIG_UPDATE_VALIDATORS
from k8snet.api.validation_config import VALIDATORS as CONFIG_VALIDATORS

IMMUTABLE = "field is immutable"
CRONJOB_NAME_MAX = 52
JOB_RESTART_POLICIES = ("OnFailure", "Never")


def _spec(obj: dict) -> dict:
    spec = obj.get("spec")
    return spec if isinstance(spec, dict) else {}


def _nonneg(errs: Errors, parent: Any, key: str, path: str) -> Optional[int]:
    value = errs.int_at(parent, key, path)
    if value is not None and value < 0:
        errs.invalid(path, value, "must be greater than or equal to 0")
    return value


def _update_strategy(errs: Errors, spec: dict, types: tuple[str, ...]) -> Optional[dict]:
    strategy = errs.dict_at(spec, "updateStrategy", "spec.updateStrategy") or {}
    stype = strategy.get("type", "RollingUpdate")
    if stype not in types:
        errs.not_supported("spec.updateStrategy.type", stype, types)
    ru = errs.dict_at(strategy, "rollingUpdate", "spec.updateStrategy.rollingUpdate")
    if ru is not None and stype != "RollingUpdate":
        errs.invalid("spec.updateStrategy.rollingUpdate", ru,
                     "only allowed for updateStrategy 'RollingUpdate'")
    return ru


# -- apps -------------------------------------------------------------------------------
def _daemonset(errs: Errors, obj: dict) -> None:
    _workload(errs, obj, "daemonset")
    ru = _update_strategy(errs, _spec(obj), ("OnDelete", "RollingUpdate"))
    if ru is not None:
        base = "spec.updateStrategy.rollingUpdate"
        unavail = _int_or_percent(errs, ru.get("maxUnavailable", 1), f"{base}.maxUnavailable",
                                  True)
        surge = _int_or_percent(errs, ru.get("maxSurge", 0), f"{base}.maxSurge", True)
        if unavail == 0 and surge == 0:
            errs.invalid(f"{base}.maxUnavailable", ru.get("maxUnavailable"),
                         "may not be 0 when `maxSurge` is 0")


def _with_claim_volumes(obj: dict) -> dict:
    """obj with each volumeClaimTemplate as a template volume, so mounts may name them."""
    spec = _spec(obj)
    claims = [c for c in spec.get("volumeClaimTemplates") or [] if isinstance(c, dict)]
    pod = _get(spec, "template", "spec")
    if not claims or not isinstance(pod, dict):
        return obj
    out = copy.deepcopy(obj)
    pod = out["spec"]["template"]["spec"]
    vols = pod.get("volumes") if isinstance(pod.get("volumes"), list) else []
    names = {v.get("name") for v in vols if isinstance(v, dict)}
    pod["volumes"] = vols + [
        {"name": n, "persistentVolumeClaim": {"claimName": n}}
        for n in (_get(c, "metadata", "name") for c in claims)
        if isinstance(n, str) and n and n not in names]
    return out


def _statefulset(errs: Errors, obj: dict) -> None:
    _workload(errs, _with_claim_volumes(obj), "statefulset")
    spec = _spec(obj)
    policy = spec.get("podManagementPolicy", "OrderedReady")
    if policy not in ("OrderedReady", "Parallel"):
        errs.not_supported("spec.podManagementPolicy", policy, ("OrderedReady", "Parallel"))
    ru = _update_strategy(errs, spec, ("OnDelete", "RollingUpdate"))
    if ru is not None:
        _nonneg(errs, ru, "partition", "spec.updateStrategy.rollingUpdate.partition")
    retention = errs.dict_at(spec, "persistentVolumeClaimRetentionPolicy",
                             "spec.persistentVolumeClaimRetentionPolicy") or {}
    for field in ("whenDeleted", "whenScaled"):
        value = retention.get(field, "Retain")
        if value not in ("Retain", "Delete"):
            errs.not_supported(f"spec.persistentVolumeClaimRetentionPolicy.{field}", value,
                               ("Retain", "Delete"))
    claims = errs.list_at(spec, "volumeClaimTemplates", "spec.volumeClaimTemplates")
    for i, claim in errs.dict_items(claims, "spec.volumeClaimTemplates"):
        name = (claim.get("metadata") or {}).get("name") if isinstance(
            claim.get("metadata"), dict) else None
        if not name:
            errs.required(f"spec.volumeClaimTemplates[{i}].metadata.name")
        cspec = errs.dict_at(claim, "spec", f"spec.volumeClaimTemplates[{i}].spec")
        if cspec is not None and not cspec.get("accessModes"):
            errs.required(f"spec.volumeClaimTemplates[{i}].spec.accessModes",
                          "at least 1 access mode is required")


_STS_MUTABLE = ("replicas", "ordinals", "template", "updateStrategy", "revisionHistoryLimit",
                "persistentVolumeClaimRetentionPolicy", "minReadySeconds")


def _update_statefulset(errs: Errors, obj: dict, old: dict) -> None:
    new_spec, old_spec = copy.deepcopy(_spec(obj)), copy.deepcopy(_spec(old))
    for field in _STS_MUTABLE:
        new_spec.pop(field, None)
        old_spec.pop(field, None)
    if _canon(new_spec) != _canon(old_spec):
        errs.forbidden("spec", "updates to statefulset spec for fields other than 'replicas',"
                               " 'ordinals', 'template', 'updateStrategy', "
                               "'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy'"
                               " and 'minReadySeconds' are forbidden")


def _controller_revision(errs: Errors, obj: dict) -> None:
    revision = errs.int_at(obj, "revision", "revision")
    if revision is None:
        errs.required("revision")
    elif revision < 0:
        errs.invalid("revision", revision, "must be greater than or equal to 0")


def _update_controller_revision(errs: Errors, obj: dict, old: dict) -> None:
    if _canon(obj.get("data")) != _canon(old.get("data")):
        errs.invalid("data", obj.get("data"), IMMUTABLE)


def _replication_controller(errs: Errors, obj: dict) -> None:
    spec = _spec(obj)
    if not spec:
        errs.required("spec")
        return
    _nonneg(errs, spec, "replicas", "spec.replicas")
    _nonneg(errs, spec, "minReadySeconds", "spec.minReadySeconds")
    selector = errs.string_map(spec, "selector", "spec.selector")
    if not selector:
        errs.required("spec.selector")
    validate_labels(errs, spec, "selector", "spec.selector")
    template = errs.dict_at(spec, "template", "spec.template")
    if template is None:
        errs.required("spec.template")
        return
    labels = _get(template, "metadata", "labels")
    labels = labels if isinstance(labels, dict) else {}
    if selector and any(labels.get(k) != v for k, v in selector.items()):
        errs.invalid("spec.template.metadata.labels", labels,
                     "`selector` does not match template `labels`")
    validate_pod_spec(errs, template.get("spec"), "spec.template.spec")
    policy = _get(template, "spec", "restartPolicy") or "Always"
    if policy != "Always":
        errs.not_supported("spec.template.spec.restartPolicy", policy, ("Always",))


# -- batch ------------------------------------------------------------------------------
def _job_template(errs: Errors, spec: dict, path: str) -> None:
    template = errs.dict_at(spec, "template", f"{path}.template")
    if template is None:
        errs.required(f"{path}.template")
        return
    tmeta = errs.dict_at(template, "metadata", f"{path}.template.metadata") or {}
    validate_labels(errs, tmeta, "labels", f"{path}.template.metadata.labels")
    validate_pod_spec(errs, template.get("spec"), f"{path}.template.spec")
    policy = _get(template, "spec", "restartPolicy")
    if policy not in JOB_RESTART_POLICIES:
        if policy in (None, ""):
            errs.required(f"{path}.template.spec.restartPolicy",
                          'valid values: "OnFailure", "Never"')
        else:
            errs.not_supported(f"{path}.template.spec.restartPolicy", policy,
                               JOB_RESTART_POLICIES)


def _job_spec(errs: Errors, spec: dict, path: str, needs_selector: bool) -> None:
    for field in ("parallelism", "completions", "backoffLimit", "activeDeadlineSeconds",
                  "ttlSecondsAfterFinished"):
        _nonneg(errs, spec, field, f"{path}.{field}")
    ads = spec.get("activeDeadlineSeconds")
    if isinstance(ads, int) and not isinstance(ads, bool) and ads == 0:
        errs.invalid(f"{path}.activeDeadlineSeconds", ads, "must be greater than 0")
    mode = spec.get("completionMode", "NonIndexed")
    if mode not in ("NonIndexed", "Indexed"):
        errs.not_supported(f"{path}.completionMode", mode, ("NonIndexed", "Indexed"))
    elif mode == "Indexed" and spec.get("completions") is None:
        errs.required(f"{path}.completions", "when completion mode is Indexed")
    if needs_selector:
        selector = errs.dict_at(spec, "selector", f"{path}.selector")
        if selector is None:
            errs.required(f"{path}.selector")
        else:
            validate_label_selector(errs, selector, f"{path}.selector")
            labels = _get(spec, "template", "metadata", "labels")
            try:
                parsed = label_selector_from_dict(selector)
            except ValueError:
                parsed = None
            if parsed is not None and not parsed.matches(labels if isinstance(labels, dict)
                                                         else {}):
                errs.invalid(f"{path}.template.metadata.labels", labels,
                             "`selector` does not match template `labels`")
    _job_template(errs, spec, path)


def _job(errs: Errors, obj: dict) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        errs.required("spec")
        return
    _job_spec(errs, spec, "spec", needs_selector=True)


_JOB_IMMUTABLE = ("selector", "completionMode", "podFailurePolicy", "backoffLimitPerIndex",
                  "manualSelector")


def _update_job(errs: Errors, obj: dict, old: dict) -> None:
    new_spec, old_spec = _spec(obj), _spec(old)
    for field in _JOB_IMMUTABLE:
        if _canon(new_spec.get(field)) != _canon(old_spec.get(field)):
            errs.invalid(f"spec.{field}", new_spec.get(field), IMMUTABLE)
    elastic = new_spec.get("completionMode") == "Indexed" and \
        new_spec.get("completions") == new_spec.get("parallelism")
    if not elastic and _canon(new_spec.get("completions")) != _canon(
            old_spec.get("completions")):
        errs.invalid("spec.completions", new_spec.get("completions"), IMMUTABLE)
    # a suspended Job that never started may change its Pods' scheduling directives
    if _canon(new_spec.get("template")) != _canon(old_spec.get("template")):
        suspended = old_spec.get("suspend") is True and not _get(old, "status", "startTime")
        if not suspended:
            errs.invalid("spec.template", new_spec.get("template"), IMMUTABLE)


def _cronjob(errs: Errors, obj: dict) -> None:
    name = _get(obj, "metadata", "name")
    if isinstance(name, str) and len(name) > CRONJOB_NAME_MAX:
        errs.invalid("metadata.name", name, f"must be no more than {CRONJOB_NAME_MAX} "
                                            "characters")
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        errs.required("spec")
        return
    schedule = errs.str_at(spec, "schedule", "spec.schedule")
    if not schedule:
        errs.required("spec.schedule")
    elif "TZ=" in schedule:
        errs.invalid("spec.schedule", schedule, "cannot use TZ or CRON_TZ in schedule, use "
                                                "timeZone field instead")
    else:
        problem = cron.schedule_error(schedule)
        if problem:
            errs.invalid("spec.schedule", schedule, problem)
    tz = errs.str_at(spec, "timeZone", "spec.timeZone")
    if tz is not None:
        problem = _time_zone_error(tz)
        if problem:
            errs.invalid("spec.timeZone", tz, problem)
    policy = spec.get("concurrencyPolicy", "Allow")
    if policy not in ("Allow", "Forbid", "Replace"):
        errs.not_supported("spec.concurrencyPolicy", policy, ("Allow", "Forbid", "Replace"))
    for field in ("startingDeadlineSeconds", "successfulJobsHistoryLimit",
                  "failedJobsHistoryLimit"):
        _nonneg(errs, spec, field, f"spec.{field}")
    jt = errs.dict_at(spec, "jobTemplate", "spec.jobTemplate")
    if jt is None:
        errs.required("spec.jobTemplate")
        return
    jspec = errs.dict_at(jt, "spec", "spec.jobTemplate.spec")
    if jspec is None:
        errs.required("spec.jobTemplate.spec")
        return
    _job_spec(errs, jspec, "spec.jobTemplate.spec", needs_selector=False)


def _time_zone_error(tz: str) -> Optional[str]:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if tz == "" or tz.lower() == "local" or tz.startswith("/") or ".." in tz:
        return f"unknown time zone {tz}"
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone {tz}"
    return None


# -- autoscaling, policy ----------------------------------------------------------------
def _hpa(errs: Errors, obj: dict) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        errs.required("spec")
        return
    ref = errs.dict_at(spec, "scaleTargetRef", "spec.scaleTargetRef")
    if ref is None:
        errs.required("spec.scaleTargetRef")
    else:
        for field in ("kind", "name"):
            if not ref.get(field):
                errs.required(f"spec.scaleTargetRef.{field}")
    min_r = errs.int_at(spec, "minReplicas", "spec.minReplicas")
    max_r = errs.int_at(spec, "maxReplicas", "spec.maxReplicas")
    if min_r is not None and min_r < 1:
        errs.invalid("spec.minReplicas", min_r, "must be greater than or equal to 1")
    if max_r is None:
        errs.required("spec.maxReplicas")
    elif max_r < 1:
        errs.invalid("spec.maxReplicas", max_r, "must be greater than 0")
    elif min_r is not None and max_r < min_r:
        errs.invalid("spec.maxReplicas", max_r, "must be greater than or equal to "
                                                "`minReplicas`")
    cpu = errs.int_at(spec, "targetCPUUtilizationPercentage",
                      "spec.targetCPUUtilizationPercentage")
    if cpu is not None and cpu < 1:
        errs.invalid("spec.targetCPUUtilizationPercentage", cpu,
                     "must be greater than or equal to 1")
    for i, metric in errs.dict_items(errs.list_at(spec, "metrics", "spec.metrics"),
                                     "spec.metrics"):
        mtype = metric.get("type")
        types = ("ContainerResource", "External", "Object", "Pods", "Resource")
        if not mtype:
            errs.required(f"spec.metrics[{i}].type", "must specify a metric source type")
        elif mtype not in types:
            errs.not_supported(f"spec.metrics[{i}].type", mtype, types)


def _pdb(errs: Errors, obj: dict) -> None:
    spec = _spec(obj)
    if "minAvailable" in spec and "maxUnavailable" in spec and \
            spec["minAvailable"] is not None and spec["maxUnavailable"] is not None:
        errs.invalid("spec", spec, "minAvailable and maxUnavailable cannot be both set")
    for field in ("minAvailable", "maxUnavailable"):
        if spec.get(field) is not None:
            _int_or_percent(errs, spec[field], f"spec.{field}", True)
    selector = errs.dict_at(spec, "selector", "spec.selector")
    if selector is not None:
        validate_label_selector(errs, selector, "spec.selector")
    policy = spec.get("unhealthyPodEvictionPolicy")
    if policy is not None and policy not in ("IfHealthyBudget", "AlwaysAllow"):
        errs.not_supported("spec.unhealthyPodEvictionPolicy", policy,
                           ("AlwaysAllow", "IfHealthyBudget"))


VALIDATORS: dict[tuple[str, str], Callable[[Errors, dict], None]] = {
    **CONFIG_VALIDATORS,
    ("apps", "DaemonSet"): _daemonset,
    ("apps", "StatefulSet"): _statefulset,
    ("apps", "ControllerRevision"): _controller_revision,
    ("", "ReplicationController"): _replication_controller,
    ("batch", "Job"): _job,
    ("batch", "CronJob"): _cronjob,
    ("autoscaling", "HorizontalPodAutoscaler"): _hpa,
    ("policy", "PodDisruptionBudget"): _pdb,
}

UPDATE_VALIDATORS: dict[tuple[str, str], Callable[[Errors, dict, dict], None]] = {
    **CONFIG_UPDATE_VALIDATORS,
    ("apps", "DaemonSet"): _update_selector,
    ("apps", "StatefulSet"): _update_statefulset,
    ("apps", "ControllerRevision"): _update_controller_revision,
    ("batch", "Job"): _update_job,
}
