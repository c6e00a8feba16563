"""What a Pod's resources mean, once: cgroup settings (upstream's MilliCPUToShares /
milliCPUToQuota) and the QoS class (the apiserver's and the kubelet's)."""

import pytest

from k8snet.cri import cgroups
from k8snet.kubelet import crispec
from k8snet.machinery.podresources import (
    linux_resources,
    milli_cpu_to_quota,
    milli_cpu_to_shares,
    pod_qos_class,
    qos_class,
)


def test_shares_and_quota_formulas():
    assert milli_cpu_to_shares(1000) == 1024 and milli_cpu_to_shares(250) == 256
    assert milli_cpu_to_shares(100) == 102             # integer division, as upstream
    assert milli_cpu_to_shares(1) == 2 and milli_cpu_to_shares(0) == 2
    assert milli_cpu_to_shares(1_000_000) == 262_144   # capped at MaxShares
    assert milli_cpu_to_quota(500) == 50_000 and milli_cpu_to_quota(2000) == 200_000
    assert milli_cpu_to_quota(1) == 1000               # at least 1 ms per period
    assert milli_cpu_to_quota(0) == 0                  # no limit, no quota


@pytest.mark.parametrize("resources,shares,quota,memory", [
    ({"requests": {"cpu": "250m"}, "limits": {"cpu": "500m", "memory": "128Mi"}},
     256, 50_000, 128 << 20),
    ({"limits": {"cpu": "1"}}, 1024, 100_000, 0),           # request defaults to limit
    ({"requests": {"cpu": "1"}}, 1024, 0, 0),
    (None, 2, 0, 0),                                        # BestEffort: minimum shares
    ({}, 2, 0, 0),
    ({"requests": {"cpu": "0"}, "limits": {"cpu": "1"}}, 2, 100_000, 0),
    ({"limits": {"cpu": "0"}}, 2, 0, 0),                    # a zero limit is no limit
    ({"limits": {"cpu": "1m"}}, 2, 1000, 0),
    ({"requests": {"cpu": "300"}}, 262_144, 0, 0),
    ({"requests": {"cpu": "1e0"}, "limits": {"memory": "1e3"}}, 1024, 0, 1000),
])
def test_linux_resources(resources, shares, quota, memory):
    assert linux_resources(resources) == {"cpu_shares": shares, "cpu_quota": quota,
                                          "cpu_period": 100_000,
                                          "memory_limit_in_bytes": memory}


def test_the_kubelet_request_and_the_runtime_cgroup_agree_where_the_copies_did_not():
    # The same BestEffort container: the kubelet's copy sent no cpu_shares (so the
    # kernel default, weight 100 / shares 1024, applied), the runtime's copy said 2.
    container = {"name": "c", "image": "busybox"}
    sent = crispec.container_config({"metadata": {}, "spec": {}}, container, 0)
    res = sent["linux"]["resources"]
    assert res["cpu_shares"] == 2
    assert cgroups.cgroup_files(1, res)[("cpu", "cpu.shares")] == "2"
    assert cgroups.cgroup_files(2, res)[("", "cpu.weight")] == "1"
    # and a zero CPU limit: the kubelet's copy set a 1 ms quota, upstream sets none
    zero = dict(container, resources={"limits": {"cpu": "0"}})
    res = crispec.container_config({"metadata": {}, "spec": {}}, zero, 0)["linux"]["resources"]
    assert res["cpu_quota"] == 0
    assert cgroups.cgroup_files(2, res)[("", "cpu.max")] == "max 100000"


def _spec(*containers, inits=()):
    def c(name, res):
        return {"name": name, "image": "busybox", "resources": res}
    return {"containers": [c(f"c{i}", r) for i, r in enumerate(containers)],
            "initContainers": [c(f"i{i}", r) for i, r in enumerate(inits)]}


GUARANTEED = {"requests": {"cpu": "500m", "memory": "128Mi"},
              "limits": {"cpu": "500m", "memory": "128Mi"}}


@pytest.mark.parametrize("spec,qos", [
    # quantities compare by value, not by spelling (the apiserver/kubelet disagreement)
    (_spec({"requests": {"cpu": "1", "memory": "1Gi"},
            "limits": {"cpu": "1000m", "memory": "1Gi"}}), "Guaranteed"),
    (_spec({"requests": {"cpu": "1", "memory": "1Gi"},
            "limits": {"cpu": "1", "memory": "1024Mi"}}), "Guaranteed"),
    (_spec({"requests": {"cpu": "0.5", "memory": "1e9"},
            "limits": {"cpu": "500m", "memory": "1G"}}), "Guaranteed"),
    # one limit missing, or requests below limits
    (_spec({"limits": {"cpu": "1"}}), "Burstable"),
    (_spec({"requests": {"cpu": "999m", "memory": "1Gi"},
            "limits": {"cpu": "1", "memory": "1Gi"}}), "Burstable"),
    (_spec({"requests": {"memory": "1Gi"}}), "Burstable"),
    # every container counts, init containers too
    (_spec(GUARANTEED, {}), "Burstable"),
    (_spec(GUARANTEED, GUARANTEED), "Guaranteed"),
    (_spec(GUARANTEED, inits=[GUARANTEED]), "Guaranteed"),
    (_spec(GUARANTEED, inits=[{"requests": {"cpu": "100m"}}]), "Burstable"),
    (_spec({}, inits=[{"requests": {"cpu": "100m"}}]), "Burstable"),
    # zero quantities count as unset
    (_spec({"requests": {"cpu": "0", "memory": "0"}, "limits": {"cpu": "0", "memory": "0"}}),
     "BestEffort"),
    (_spec({"requests": {"cpu": "0"}, "limits": {"cpu": "1", "memory": "1Gi"}}), "Burstable"),
    (_spec({"limits": {"cpu": "0", "memory": "1Gi"}}), "Burstable"),
    # nothing at all; only other resources
    (_spec({}), "BestEffort"),
    (_spec({"limits": {"ephemeral-storage": "1Gi"}}), "BestEffort"),
    ({}, "BestEffort"),
])
def test_qos_class(spec, qos):
    assert qos_class(spec) == qos


def test_apiserver_and_kubelet_use_the_same_function():
    from k8snet.api import defaults
    from k8snet.kubelet import status

    assert defaults.qos_class is qos_class
    assert status.pod_qos_class is pod_qos_class
    pod = {"spec": _spec({"requests": {"cpu": "1", "memory": "1Gi"},
                          "limits": {"cpu": "1000m", "memory": "1Gi"}})}
    assert pod_qos_class(pod) == "Guaranteed"
    assert pod_qos_class(dict(pod, status={"qosClass": "Burstable"})) == "Burstable"


def test_requests_omitted_are_defaulted_from_limits_first():
    from k8snet.api.defaults import apply_defaults

    spec = _spec({"limits": {"cpu": "1", "memory": "1Gi"}})
    # as upstream, the class is computed on the defaulted spec (requests := limits)
    assert qos_class(spec) == "Burstable"
    created = apply_defaults("Pod", {"metadata": {"name": "p"}, "spec": spec})
    assert created["spec"]["containers"][0]["resources"]["requests"] == \
        {"cpu": "1", "memory": "1Gi"}
    assert created["status"]["qosClass"] == "Guaranteed" == qos_class(created["spec"])
