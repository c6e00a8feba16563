"""Tests for k8snet.api.defaults and k8snet.machinery.quantities."""

import pytest

from k8snet.api.defaults import apply_defaults, image_pull_policy, qos_class
from k8snet.machinery.quantities import int_value, is_quantity, milli_value, parse_quantity


def _pod(**container):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "image": "nginx:1.27", **container}]}}


def test_pod_defaults_like_the_apiserver():
    out = apply_defaults("Pod", _pod(ports=[{"containerPort": 80}],
                                     readinessProbe={"httpGet": {"port": 80}}))
    spec = out["spec"]
    assert spec["restartPolicy"] == "Always"
    assert spec["terminationGracePeriodSeconds"] == 30
    assert spec["dnsPolicy"] == "ClusterFirst"
    assert spec["schedulerName"] == "default-scheduler"
    assert spec["serviceAccountName"] == "default"
    assert spec["enableServiceLinks"] is True and spec["priority"] == 0
    assert {t["key"] for t in spec["tolerations"]} == {"node.kubernetes.io/not-ready",
                                                       "node.kubernetes.io/unreachable"}
    c = spec["containers"][0]
    assert c["imagePullPolicy"] == "IfNotPresent"
    assert c["terminationMessagePath"] == "/dev/termination-log"
    assert c["terminationMessagePolicy"] == "File"
    assert c["ports"][0]["protocol"] == "TCP"
    probe = c["readinessProbe"]
    assert (probe["timeoutSeconds"], probe["periodSeconds"], probe["successThreshold"],
            probe["failureThreshold"]) == (1, 10, 1, 3)
    assert probe["httpGet"]["path"] == "/" and probe["httpGet"]["scheme"] == "HTTP"
    assert out["status"] == {"phase": "Pending", "qosClass": "BestEffort"}


def test_defaults_do_not_mutate_input_and_are_idempotent():
    pod = _pod()
    out = apply_defaults("Pod", pod)
    assert "restartPolicy" not in pod["spec"]
    assert apply_defaults("Pod", out) == out


def test_explicit_values_win_and_tolerations_not_duplicated():
    pod = _pod(imagePullPolicy="Never")
    pod["spec"].update(restartPolicy="Never", tolerations=[{"operator": "Exists"}])
    spec = apply_defaults("Pod", pod)["spec"]
    assert spec["restartPolicy"] == "Never"
    assert spec["containers"][0]["imagePullPolicy"] == "Never"
    assert spec["tolerations"] == [{"operator": "Exists"}]


@pytest.mark.parametrize("image,policy", [
    ("nginx", "Always"), ("nginx:latest", "Always"), ("nginx:1.27", "IfNotPresent"),
    ("localhost:5000/app", "Always"), ("localhost:5000/app:v1", "IfNotPresent"),
    ("busybox@sha256:abc", "IfNotPresent"),
])
def test_image_pull_policy(image, policy):
    assert image_pull_policy(image) == policy


def test_qos_classes_and_requests_from_limits():
    limits = {"cpu": "500m", "memory": "128Mi"}
    out = apply_defaults("Pod", _pod(resources={"limits": limits}))
    assert out["spec"]["containers"][0]["resources"]["requests"] == limits
    assert out["status"]["qosClass"] == "Guaranteed"
    burst = _pod(resources={"requests": {"cpu": "100m"}})
    assert qos_class(burst["spec"]) == "Burstable"
    unequal = _pod(resources={"requests": {"cpu": "0.5", "memory": "64Mi"},
                              "limits": {"cpu": "500m", "memory": "128Mi"}})
    assert qos_class(unequal["spec"]) == "Burstable"
    equal = _pod(resources={"requests": {"cpu": "0.5", "memory": "128Mi"},
                            "limits": {"cpu": "500m", "memory": "128Mi"}})
    assert qos_class(equal["spec"]) == "Guaranteed"


def test_deployment_defaults():
    dep = {"kind": "Deployment", "spec": {"selector": {"matchLabels": {"app": "x"}},
           "template": {"metadata": {"labels": {"app": "x"}},
                        "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}
    spec = apply_defaults("Deployment", dep)["spec"]
    assert spec["replicas"] == 1 and spec["revisionHistoryLimit"] == 10
    assert spec["progressDeadlineSeconds"] == 600
    assert spec["strategy"] == {"type": "RollingUpdate",
                                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}
    tmpl = spec["template"]
    assert tmpl["spec"]["restartPolicy"] == "Always"
    assert "tolerations" not in tmpl["spec"] and "serviceAccountName" not in tmpl["spec"]
    assert tmpl["spec"]["containers"][0]["imagePullPolicy"] == "Always"
    recreate = {"kind": "Deployment", "spec": {"strategy": {"type": "Recreate"}}}
    assert apply_defaults("Deployment", recreate)["spec"]["strategy"] == {"type": "Recreate"}
    assert apply_defaults("ReplicaSet", {"spec": {}})["spec"]["replicas"] == 1


def test_service_namespace_endpoints_defaults():
    svc = apply_defaults("Service", {"spec": {"type": "NodePort", "ports": [{"port": 80}]}})
    spec = svc["spec"]
    assert spec["ports"][0] == {"port": 80, "protocol": "TCP", "targetPort": 80}
    assert spec["sessionAffinity"] == "None" and spec["externalTrafficPolicy"] == "Cluster"
    assert spec["ipFamilies"] == ["IPv4"] and spec["internalTrafficPolicy"] == "Cluster"
    assert apply_defaults("Service", {"spec": {}})["spec"]["type"] == "ClusterIP"
    ns = apply_defaults("Namespace", {"metadata": {"name": "team"}})
    assert ns["metadata"]["labels"]["kubernetes.io/metadata.name"] == "team"
    assert ns["status"]["phase"] == "Active" and ns["spec"]["finalizers"] == ["kubernetes"]
    ep = apply_defaults("Endpoints", {"subsets": [{"ports": [{"port": 80}]}]})
    assert ep["subsets"][0]["ports"][0]["protocol"] == "TCP"


def test_malformed_input_is_left_for_validation():
    assert apply_defaults("Pod", {"spec": "nope"})["spec"] == "nope"
    assert apply_defaults("Deployment", {"spec": {"template": 3}})["spec"]["template"] == 3
    assert apply_defaults("Unknown", {"a": 1}) == {"a": 1}


def test_quantities():
    assert parse_quantity("100m") == parse_quantity("0.1")
    assert parse_quantity("1Gi") == parse_quantity("1024Mi")
    assert int_value("1e3") == 1000 and int_value("2k") == 2000
    assert milli_value("1") == 1000 and milli_value(0.25) == 250 and milli_value("1u") == 1
    for bad in ("", "abc", "1.2.3", "5KiB", "Mi", True, None, "1e99"):
        assert not is_quantity(bad)
