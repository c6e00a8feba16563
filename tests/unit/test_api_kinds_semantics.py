"""Defaults, validation, conversion and eviction decisions of the kinds beyond the core
workflow (pure)."""

from k8snet.api import conversion, cron
from k8snet.api.defaults import apply_defaults
from k8snet.api.defaults_more import decode_problem, prepare_create
from k8snet.api.validation import validate
from k8snet.apiserver.eviction import decide


def _meta(name="x", ns="d"):
    return {"name": name, "namespace": ns}


def _pod_template(restart="Never", labels=None):
    return {"metadata": {"labels": labels or {}},
            "spec": {"restartPolicy": restart, "containers": [{"name": "c", "image": "i"}]}}


def test_secret_string_data_and_type():
    out = apply_defaults("Secret", {"metadata": _meta(), "stringData": {"pw": "hunter2"}}, "")
    assert out["type"] == "Opaque" and "stringData" not in out
    assert out["data"] == {"pw": "aHVudGVyMg=="}
    assert decode_problem("", "Secret", {"data": {"a": "n*t"}}) == \
        "illegal base64 data at input byte 1"
    assert decode_problem("", "Secret", {"data": {"a": "aGk="}}) is None
    causes = validate("Secret", {"metadata": _meta(), "type": "kubernetes.io/tls",
                                 "data": {"tls.crt": "eA=="}}, group="")
    assert [c["field"] for c in causes] == ["data[tls.key]"]


def test_configmap_keys_and_immutable():
    causes = validate("ConfigMap", {"metadata": _meta(), "data": {"a b": "1"}}, group="")
    assert causes[0]["field"] == "data" and "a valid config key" in causes[0]["message"]
    old = {"metadata": _meta(), "immutable": True, "data": {"a": "1"}}
    new = {"metadata": _meta(), "immutable": True, "data": {"a": "2"}}
    causes = validate("ConfigMap", new, old, group="")
    assert causes == [{"field": "data", "reason": "FieldValueForbidden",
                       "message": "Forbidden: field is immutable when `immutable` is set"}]


def test_job_defaults_selector_and_immutability():
    job = {"metadata": {**_meta("pi"), "uid": "u1"}, "spec": {"template": _pod_template()}}
    prepare_create("batch", "Job", job)
    out = apply_defaults("Job", job, "batch")
    spec = out["spec"]
    assert (spec["completions"], spec["parallelism"], spec["backoffLimit"]) == (1, 1, 6)
    assert spec["completionMode"] == "NonIndexed" and spec["suspend"] is False
    assert spec["podReplacementPolicy"] == "TerminatingOrFailed"
    assert spec["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": "u1"}}
    assert out["metadata"]["labels"]["batch.kubernetes.io/job-name"] == "pi"
    assert validate("Job", out, group="batch") == []
    changed = apply_defaults("Job", out, "batch")
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = "other"
    causes = validate("Job", changed, out, group="batch")
    assert [(c["field"], c["message"].endswith("field is immutable")) for c in causes] == [
        ("spec.template", True)]
    always = apply_defaults("Job", {"metadata": _meta(), "spec": {
        "template": _pod_template(restart="Always")}}, "batch")
    prepare_create("batch", "Job", always)
    messages = [c["message"] for c in validate("Job", always, group="batch")]
    assert 'Unsupported value: "Always": supported values: "OnFailure", "Never"' in messages


def test_cronjob_schedule_and_name():
    cj = apply_defaults("CronJob", {"metadata": _meta("c" * 53), "spec": {
        "schedule": "61 * * * *", "jobTemplate": {"spec": {"template": _pod_template()}}}},
        "batch")
    assert cj["spec"]["concurrencyPolicy"] == "Allow"
    assert cj["spec"]["successfulJobsHistoryLimit"] == 3
    fields = {c["field"]: c["message"] for c in validate("CronJob", cj, group="batch")}
    assert "must be no more than 52 characters" in fields["metadata.name"]
    assert "end of range (61) above maximum (59)" in fields["spec.schedule"]
    assert cron.schedule_error("@daily") is None
    assert cron.schedule_error("* * *") == "expected exactly 5 fields, found 3: [* * *]"
    assert cron.parse("*/15 9-17 * * mon-fri").matches(30, 10, 3, 6, 2)


def test_statefulset_and_daemonset_defaults_and_updates():
    sts = apply_defaults("StatefulSet", {"metadata": _meta("web"), "spec": {
        "selector": {"matchLabels": {"a": "b"}}, "serviceName": "web",
        "template": {"metadata": {"labels": {"a": "b"}}, "spec": {
            "containers": [{"name": "c", "image": "i", "volumeMounts": [
                {"name": "www", "mountPath": "/d"}]}]}},
        "volumeClaimTemplates": [{"metadata": {"name": "www"}, "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "1Gi"}}}}]}}, "apps")
    assert sts["spec"]["updateStrategy"] == {"type": "RollingUpdate",
                                             "rollingUpdate": {"partition": 0}}
    assert sts["spec"]["volumeClaimTemplates"][0]["status"] == {"phase": "Pending"}
    assert validate("StatefulSet", sts, group="apps") == []
    moved = apply_defaults("StatefulSet", sts, "apps")
    moved["spec"]["serviceName"] = "other"
    moved["spec"]["replicas"] = 5
    causes = validate("StatefulSet", moved, sts, group="apps")
    assert [c["field"] for c in causes] == ["spec"]
    ds = apply_defaults("DaemonSet", {"metadata": _meta(), "spec": {}}, "apps")
    assert ds["spec"]["updateStrategy"]["rollingUpdate"] == {"maxUnavailable": 1,
                                                             "maxSurge": 0}
    assert ds["status"]["numberReady"] == 0


def test_network_policy_types_and_ingress_path_type():
    np = apply_defaults("NetworkPolicy", {"metadata": _meta(), "spec": {
        "podSelector": {}, "egress": [{"ports": [{"port": 53}]}]}}, "networking.k8s.io")
    assert np["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert np["spec"]["egress"][0]["ports"][0]["protocol"] == "TCP"
    only_in = apply_defaults("NetworkPolicy", {"metadata": _meta(), "spec": {
        "podSelector": {}}}, "networking.k8s.io")
    assert only_in["spec"]["policyTypes"] == ["Ingress"]
    ing = {"metadata": _meta(), "spec": {"rules": [{"http": {"paths": [
        {"path": "/x", "backend": {"service": {"name": "s", "port": {"number": 80}}}}]}}]}}
    causes = validate("Ingress", ing, group="networking.k8s.io")
    assert causes == [{"field": "spec.rules[0].http.paths[0].pathType",
                       "reason": "FieldValueRequired",
                       "message": "Required value: pathType must be specified"}]


def test_rbac_names_defaults_and_role_ref():
    crb = apply_defaults("ClusterRoleBinding", {
        "metadata": {"name": "system:basic-user"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": "view"},
        "subjects": [{"kind": "Group", "name": "devs"},
                     {"kind": "ServiceAccount", "name": "sa"}]}, "rbac.authorization.k8s.io")
    assert crb["subjects"][0]["apiGroup"] == "rbac.authorization.k8s.io"
    causes = validate("ClusterRoleBinding", crb, group="rbac.authorization.k8s.io")
    assert [c["field"] for c in causes] == ["subjects[1].namespace"]  # ':' is allowed
    moved = dict(crb, roleRef=dict(crb["roleRef"], name="edit"))
    causes = validate("ClusterRoleBinding", moved, crb, group="rbac.authorization.k8s.io")
    assert any(c["message"].endswith("cannot change roleRef") for c in causes)
    role = {"metadata": _meta(), "rules": [{"apiGroups": [""], "resources": ["pods"]}]}
    causes = validate("Role", role, group="rbac.authorization.k8s.io")
    assert causes[0]["field"] == "rules[0].verbs"


def test_storage_priority_pvc_pdb():
    sc = apply_defaults("StorageClass", {"metadata": {"name": "s"}, "provisioner": "x.io"},
                        "storage.k8s.io")
    assert (sc["reclaimPolicy"], sc["volumeBindingMode"]) == ("Delete", "Immediate")
    pc = apply_defaults("PriorityClass", {"metadata": {"name": "p"}, "value": 5},
                        "scheduling.k8s.io")
    assert pc["preemptionPolicy"] == "PreemptLowerPriority"
    causes = validate("PriorityClass", dict(pc, value=6), pc, group="scheduling.k8s.io")
    assert causes[0]["message"] == "Forbidden: may not be changed in an update."
    pvc = apply_defaults("PersistentVolumeClaim", {"metadata": _meta(), "spec": {
        "accessModes": ["ReadWriteOnce"]}}, "")
    assert pvc["spec"]["volumeMode"] == "Filesystem" and pvc["status"]["phase"] == "Pending"
    assert [c["field"] for c in validate("PersistentVolumeClaim", pvc, group="")] == [
        "spec.resources[storage]"]
    pdb = {"metadata": _meta(), "spec": {"minAvailable": 1, "maxUnavailable": "10%"}}
    assert validate("PodDisruptionBudget", pdb, group="policy")[0]["message"].endswith(
        "minAvailable and maxUnavailable cannot be both set")


def test_hpa_conversion_round_trip():
    v2 = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
          "metadata": _meta(), "spec": {
              "scaleTargetRef": {"kind": "Deployment", "name": "d"}, "maxReplicas": 4,
              "metrics": [conversion.cpu_metric(60),
                          {"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {
                              "type": "AverageValue", "averageValue": "10"}}}],
              "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}}},
          "status": {"desiredReplicas": 2, "conditions": [{"type": "AbleToScale",
                                                            "status": "True"}]}}
    v1 = conversion.convert(v2, "autoscaling/v1")
    assert v1["spec"]["targetCPUUtilizationPercentage"] == 60
    assert "metrics" not in v1["spec"] and "behavior" not in v1["spec"]
    assert conversion.METRICS_ANN in v1["metadata"]["annotations"]
    assert conversion.convert(v1, "autoscaling/v2") == v2
    plain = conversion.convert({"apiVersion": "autoscaling/v1",
                                "kind": "HorizontalPodAutoscaler", "metadata": _meta(),
                                "spec": {"maxReplicas": 3}}, "autoscaling/v2")
    assert plain["spec"]["metrics"] == [conversion.cpu_metric(80)]


def test_event_conversion():
    core = {"apiVersion": "v1", "kind": "Event", "metadata": _meta(),
            "involvedObject": {"kind": "Pod", "name": "p"}, "message": "hi", "count": 2,
            "reason": "Started"}
    ev = conversion.convert(core, "events.k8s.io/v1")
    assert ev["regarding"] == {"kind": "Pod", "name": "p"} and ev["note"] == "hi"
    assert ev["deprecatedCount"] == 2 and ev["reason"] == "Started"
    assert conversion.convert(ev, "v1") == core


def test_eviction_decisions():
    pod = {"metadata": {"name": "p", "labels": {"app": "x"}}, "status": {"phase": "Running"}}
    pdb = {"metadata": {"name": "b", "generation": 1}, "spec": {
        "selector": {"matchLabels": {"app": "x"}}}, "status": {"observedGeneration": 1,
                                                              "disruptionsAllowed": 0}}
    assert decide(pod, [])[0] == "delete"
    assert decide(pod, [pdb])[0] == "violates"
    allowed = dict(pdb, status={"observedGeneration": 1, "disruptionsAllowed": 1})
    assert decide(pod, [allowed]) == ("budget", allowed)
    stale = dict(pdb, metadata={"name": "b", "generation": 2})
    assert decide(pod, [stale])[0] == "processing"
    assert decide(pod, [pdb, allowed])[0] == "multiple"
    pending = dict(pod, status={"phase": "Pending"})
    assert decide(pending, [pdb])[0] == "no-budget-check"
