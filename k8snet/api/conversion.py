"""Conversion between API versions of one resource (pure), as the apiserver converts
between the version a client speaks and the version the store keeps.

Public names:

    convert(obj, to_api_version) -> dict   a converted deep copy; objects already in that
                                           version, and pairs without a converter, come
                                           back as a copy with apiVersion set
    CONVERTERS: (kind, from apiVersion, to apiVersion) -> function

Pairs handled (both directions):
    HorizontalPodAutoscaler autoscaling/v1 <-> autoscaling/v2: targetCPUUtilizationPercentage
        is the v2 Resource metric "cpu" with an Utilization target; what v1 cannot say
        (other metrics, behavior, conditions, other current metrics) travels in the
        annotations upstream uses, so a v2 object survives a v1 round trip.
    Event v1 <-> events.k8s.io/v1: involvedObject/regarding, message/note, source,
        first/lastTimestamp, count and reportingComponent under their events.k8s.io names.
"""

from __future__ import annotations

import copy
import json
from typing import Any, Callable

HPA = "HorizontalPodAutoscaler"
METRICS_ANN = "autoscaling.alpha.kubernetes.io/metrics"
CURRENT_METRICS_ANN = "autoscaling.alpha.kubernetes.io/current-metrics"
CONDITIONS_ANN = "autoscaling.alpha.kubernetes.io/conditions"
BEHAVIOR_ANN = "autoscaling.alpha.kubernetes.io/behavior"
DEFAULT_CPU_UTILIZATION = 80


def _is_cpu_utilization(metric: Any) -> bool:
    if not isinstance(metric, dict) or metric.get("type") != "Resource":
        return False
    res = metric.get("resource")
    return (isinstance(res, dict) and res.get("name") == "cpu"
            and isinstance(res.get("target"), dict)
            and res["target"].get("type") == "Utilization")


def _is_cpu_current(metric: Any) -> bool:
    if not isinstance(metric, dict) or metric.get("type") != "Resource":
        return False
    res = metric.get("resource")
    return isinstance(res, dict) and res.get("name") == "cpu" and \
        isinstance(res.get("current"), dict)


def cpu_metric(percent: int) -> dict:
    """The v2 metric equal to v1's targetCPUUtilizationPercentage."""
    return {"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": percent}}}


def _annotations(obj: dict) -> dict:
    meta = obj.setdefault("metadata", {})
    if not isinstance(meta.get("annotations"), dict):
        meta["annotations"] = {}
    return meta["annotations"]


def _drop_empty_annotations(obj: dict) -> None:
    meta = obj.get("metadata")
    if isinstance(meta, dict) and meta.get("annotations") == {}:
        del meta["annotations"]


def hpa_v2_to_v1(obj: dict) -> dict:
    """autoscaling/v2 -> autoscaling/v1 (lossless through annotations)."""
    out = copy.deepcopy(obj)
    out["apiVersion"] = "autoscaling/v1"
    spec = out.get("spec") if isinstance(out.get("spec"), dict) else {}
    metrics = spec.pop("metrics", None) or []
    behavior = spec.pop("behavior", None)
    cpu = next((m for m in metrics if _is_cpu_utilization(m)), None)
    rest = [m for m in metrics if m is not cpu]
    if cpu is not None:
        spec["targetCPUUtilizationPercentage"] = cpu["resource"]["target"].get(
            "averageUtilization")
    if rest:
        _annotations(out)[METRICS_ANN] = json.dumps(rest, separators=(",", ":"))
    if behavior:
        _annotations(out)[BEHAVIOR_ANN] = json.dumps(behavior, separators=(",", ":"))
    status = out.get("status")
    if isinstance(status, dict):
        current = status.pop("currentMetrics", None) or []
        conditions = status.pop("conditions", None)
        cur_cpu = next((m for m in current if _is_cpu_current(m)), None)
        if cur_cpu is not None:
            util = cur_cpu["resource"]["current"].get("averageUtilization")
            if util is not None:
                status["currentCPUUtilizationPercentage"] = util
        other = [m for m in current if m is not cur_cpu]
        if other:
            _annotations(out)[CURRENT_METRICS_ANN] = json.dumps(other, separators=(",", ":"))
        if conditions:
            _annotations(out)[CONDITIONS_ANN] = json.dumps(conditions, separators=(",", ":"))
    _drop_empty_annotations(out)
    return out


def _loads(text: Any) -> Any:
    try:
        return json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return None


def hpa_v1_to_v2(obj: dict) -> dict:
    """autoscaling/v1 -> autoscaling/v2 (annotations written by hpa_v2_to_v1 read back)."""
    out = copy.deepcopy(obj)
    out["apiVersion"] = "autoscaling/v2"
    anns = _annotations(out)
    spec = out.get("spec") if isinstance(out.get("spec"), dict) else None
    if spec is not None:
        percent = spec.pop("targetCPUUtilizationPercentage", None)
        extra = _loads(anns.get(METRICS_ANN))
        metrics = [m for m in extra if isinstance(m, dict)] if isinstance(extra, list) else []
        if percent is not None:
            metrics.insert(0, cpu_metric(percent))
        elif not metrics:
            metrics = [cpu_metric(DEFAULT_CPU_UTILIZATION)]
        spec["metrics"] = metrics
        behavior = _loads(anns.get(BEHAVIOR_ANN))
        if isinstance(behavior, dict):
            spec["behavior"] = behavior
    status = out.get("status")
    if isinstance(status, dict):
        util = status.pop("currentCPUUtilizationPercentage", None)
        current = _loads(anns.get(CURRENT_METRICS_ANN))
        current = [m for m in current if isinstance(m, dict)] if isinstance(current,
                                                                              list) else []
        if util is not None:
            current.insert(0, {"type": "Resource", "resource": {
                "name": "cpu", "current": {"averageUtilization": util}}})
        if current:
            status["currentMetrics"] = current
        conditions = _loads(anns.get(CONDITIONS_ANN))
        if isinstance(conditions, list):
            status["conditions"] = conditions
    for key in (METRICS_ANN, CURRENT_METRICS_ANN, CONDITIONS_ANN, BEHAVIOR_ANN):
        anns.pop(key, None)
    _drop_empty_annotations(out)
    return out


# core v1 Event field -> events.k8s.io/v1 Event field
EVENT_FIELDS = {
    "involvedObject": "regarding", "message": "note", "source": "deprecatedSource",
    "firstTimestamp": "deprecatedFirstTimestamp", "lastTimestamp": "deprecatedLastTimestamp",
    "count": "deprecatedCount", "reportingComponent": "reportingController",
}


def event_core_to_events(obj: dict) -> dict:
    out = {}
    for k, v in obj.items():
        out[EVENT_FIELDS.get(k, k)] = copy.deepcopy(v)
    out["apiVersion"] = "events.k8s.io/v1"
    return out


def event_events_to_core(obj: dict) -> dict:
    back = {v: k for k, v in EVENT_FIELDS.items()}
    out = {}
    for k, v in obj.items():
        out[back.get(k, k)] = copy.deepcopy(v)
    out["apiVersion"] = "v1"
    return out


CONVERTERS: dict[tuple[str, str, str], Callable[[dict], dict]] = {
    (HPA, "autoscaling/v2", "autoscaling/v1"): hpa_v2_to_v1,
    (HPA, "autoscaling/v1", "autoscaling/v2"): hpa_v1_to_v2,
    ("Event", "v1", "events.k8s.io/v1"): event_core_to_events,
    ("Event", "events.k8s.io/v1", "v1"): event_events_to_core,
}


def convert(obj: dict, to_api_version: str) -> dict:
    """obj (carrying its kind and apiVersion) in `to_api_version`."""
    src = obj.get("apiVersion")
    fn = CONVERTERS.get((str(obj.get("kind")), str(src), to_api_version))
    if fn is not None:
        return fn(obj)
    out = copy.deepcopy(obj)
    out["apiVersion"] = to_api_version
    return out
