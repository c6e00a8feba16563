"""What a Pod's requests and limits mean: its QoS class and its containers' cgroup settings.

One copy for every component: the apiserver defaults status.qosClass with
`qos_class`, the kubelet reports it with `pod_qos_class`, and the kubelet's CRI
requests (and the runtime's cgroups) take `linux_resources`.

    qos_class(spec) -> "Guaranteed" | "Burstable" | "BestEffort"
    pod_qos_class(pod) -> str          status.qosClass when set, else qos_class(spec)
    linux_resources(resources) -> dict  CRI LinuxContainerResources fields of one container
    milli_cpu_to_shares(milli) -> int   cpu.shares for a CPU request
    milli_cpu_to_quota(milli, period) -> int   CFS quota (µs) for a CPU limit

Upstream's rules (pkg/apis/core/helper/qos, pkg/kubelet/cm, kuberuntime): quantities
compare by value ("1" == "1000m"), requests and limits are summed per resource over
containers and init containers, and zero quantities count as unset.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any, Mapping, Optional

from k8snet.machinery.quantities import int_value, milli_value, parse_quantity

QOS_RESOURCES = ("cpu", "memory")
CPU_PERIOD_US = 100_000      # the CFS period the kubelet uses
MIN_QUOTA_US = 1_000         # a CPU limit never gives less than 1 ms per period
MIN_SHARES = 2
MAX_SHARES = 262_144
SHARES_PER_CPU = 1024


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _positive(values: Mapping[str, Any]) -> dict[str, Fraction]:
    """The cpu/memory entries with a quantity above zero (malformed ones are left out)."""
    out = {}
    for name in QOS_RESOURCES:
        if name not in values:
            continue
        try:
            quantity = parse_quantity(values[name])
        except ValueError:
            continue
        if quantity > 0:
            out[name] = quantity
    return out


def qos_class(spec: Optional[Mapping[str, Any]]) -> str:
    """The QoS class of a PodSpec from its containers' and init containers' resources.

    Guaranteed: every container has cpu and memory limits, and the summed requests
    equal the summed limits for each; BestEffort: no request or limit at all;
    otherwise Burstable.
    """
    spec = _dict(spec)
    containers = [c for key in ("containers", "initContainers")
                  for c in _list(spec.get(key)) if isinstance(c, Mapping)]
    requests: dict[str, Fraction] = {}
    limits: dict[str, Fraction] = {}
    guaranteed = True
    for container in containers:
        res = _dict(container.get("resources"))
        for name, value in _positive(_dict(res.get("requests"))).items():
            requests[name] = requests.get(name, Fraction(0)) + value
        found = _positive(_dict(res.get("limits")))
        for name, value in found.items():
            limits[name] = limits.get(name, Fraction(0)) + value
        if set(found) != set(QOS_RESOURCES):
            guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    if guaranteed and all(limits.get(name) == value for name, value in requests.items()) \
            and len(requests) == len(limits):
        return "Guaranteed"
    return "Burstable"


def pod_qos_class(pod: Mapping[str, Any]) -> str:
    """The Pod's QoS class as the kubelet reads it: status.qosClass, else computed."""
    recorded = _dict(pod.get("status")).get("qosClass")
    return recorded if recorded else qos_class(_dict(pod.get("spec")))


def milli_cpu_to_shares(milli: int) -> int:
    """cpu.shares for a CPU request in millicores: 1024 per CPU, within [2, 262144]."""
    if milli <= 0:
        return MIN_SHARES
    return max(MIN_SHARES, min(MAX_SHARES, milli * SHARES_PER_CPU // 1000))


def milli_cpu_to_quota(milli: int, period: int = CPU_PERIOD_US) -> int:
    """The CFS quota (µs per `period`) for a CPU limit; 0 (no quota) when there is none."""
    if milli <= 0:
        return 0
    return max(MIN_QUOTA_US, milli * period // 1000)


def linux_resources(resources: Optional[Mapping[str, Any]]) -> dict[str, int]:
    """A container's ``resources`` -> CRI LinuxContainerResources fields.

    Shares come from requests.cpu (from limits.cpu when no request is given; the
    minimum when neither is), the CFS quota from limits.cpu over a 100 ms period,
    the memory limit from limits.memory (0: none).
    """
    res = _dict(resources)
    requests, limits = _dict(res.get("requests")), _dict(res.get("limits"))
    cpu_request = requests.get("cpu", limits.get("cpu"))
    shares = milli_cpu_to_shares(milli_value(cpu_request) if cpu_request is not None else 0)
    cpu_limit = limits.get("cpu")
    quota = milli_cpu_to_quota(milli_value(cpu_limit) if cpu_limit is not None else 0)
    memory = limits.get("memory")
    return {"cpu_period": CPU_PERIOD_US, "cpu_quota": quota, "cpu_shares": shares,
            "memory_limit_in_bytes": int_value(memory) if memory is not None else 0}
