"""The real kubectl 1.32 against the apiserver for the built-in kinds beyond the core
workflow: api-resources, every `kubectl create` subcommand, `get all`, manifests in the
style of the Kubernetes docs' examples, and upstream's error messages."""

from __future__ import annotations

import os

import pytest

from tests.component.apiserver_proc import ApiServerProc
from tests.component.test_kubectl import KUBECTL, api, kubectl, lines

pytestmark = pytest.mark.skipif(not os.path.exists(KUBECTL), reason="kubectl not installed")

# kubernetes/website content/en/examples style manifests
DAEMONSET = """\
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: fluentd-elasticsearch
  labels: {k8s-app: fluentd-logging}
spec:
  selector:
    matchLabels: {name: fluentd-elasticsearch}
  template:
    metadata:
      labels: {name: fluentd-elasticsearch}
    spec:
      tolerations:
      - key: node-role.kubernetes.io/control-plane
        operator: Exists
        effect: NoSchedule
      containers:
      - name: fluentd-elasticsearch
        image: quay.io/fluentd_elasticsearch/fluentd:v2.5.2
        resources:
          limits: {memory: 200Mi}
          requests: {cpu: 100m, memory: 200Mi}
      terminationGracePeriodSeconds: 30
"""
STATEFULSET = """\
apiVersion: v1
kind: Service
metadata:
  name: nginx
  labels: {app: nginx}
spec:
  ports:
  - port: 80
    name: web
  clusterIP: None
  selector: {app: nginx}
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  selector:
    matchLabels: {app: nginx}
  serviceName: "nginx"
  replicas: 3
  minReadySeconds: 10
  template:
    metadata:
      labels: {app: nginx}
    spec:
      terminationGracePeriodSeconds: 10
      containers:
      - name: nginx
        image: registry.k8s.io/nginx-slim:0.24
        ports:
        - containerPort: 80
          name: web
        volumeMounts:
        - name: www
          mountPath: /usr/share/nginx/html
  volumeClaimTemplates:
  - metadata:
      name: www
    spec:
      accessModes: [ "ReadWriteOnce" ]
      storageClassName: "my-storage-class"
      resources:
        requests:
          storage: 1Gi
"""
JOB = """\
apiVersion: batch/v1
kind: Job
metadata:
  name: pi
spec:
  template:
    spec:
      containers:
      - name: pi
        image: perl:5.34.0
        command: ["perl",  "-Mbignum=bpi", "-wle", "print bpi(2000)"]
      restartPolicy: Never
  backoffLimit: 4
"""
CRONJOB = """\
apiVersion: batch/v1
kind: CronJob
metadata:
  name: hello
spec:
  schedule: "* * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          containers:
          - name: hello
            image: busybox:1.28
            imagePullPolicy: IfNotPresent
            command:
            - /bin/sh
            - -c
            - date; echo Hello from the Kubernetes cluster
          restartPolicy: OnFailure
"""
NETWORKPOLICY = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: test-network-policy
spec:
  podSelector:
    matchLabels:
      role: db
  policyTypes:
  - Ingress
  - Egress
  ingress:
  - from:
    - ipBlock:
        cidr: 172.17.0.0/16
        except:
        - 172.17.1.0/24
    - namespaceSelector:
        matchLabels:
          project: myproject
    - podSelector:
        matchLabels:
          role: frontend
    ports:
    - protocol: TCP
      port: 6379
  egress:
  - to:
    - ipBlock:
        cidr: 10.0.0.0/24
    ports:
    - protocol: TCP
      port: 5978
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: default-deny-ingress
spec:
  podSelector: {}
"""
INGRESS = """\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: minimal-ingress
  annotations:
    nginx.ingress.kubernetes.io/rewrite-target: /
spec:
  ingressClassName: nginx-example
  rules:
  - http:
      paths:
      - path: /testpath
        pathType: Prefix
        backend:
          service:
            name: test
            port:
              number: 80
"""
INGRESS_NO_PATHTYPE = INGRESS.replace("        pathType: Prefix\n", "")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = str(tmp_path_factory.mktemp("kinds"))
    srv = ApiServerProc(tmp)
    try:
        srv.start()
        home = os.path.join(tmp, "home")
        os.makedirs(home)
        e = {"srv": srv, "tmp": tmp, "env": dict(os.environ, HOME=home,
                                                  KUBECONFIG=srv.kubeconfig)}
        kubectl(e, "create", "namespace", "kinds")
        yield e
    finally:
        srv.stop()


def k(env, *args, **kw):
    return kubectl(env, "-n", "kinds", *args, **kw)


def test_api_resources_lists_what_kind_lists(env):
    rows = lines(kubectl(env, "api-resources").stdout)
    assert rows[0] == ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
    # a kind v1.32 cluster lists 58; with metrics-server, 2 more (nodes and pods metrics)
    assert len(rows) - 1 == 60
    by_name = {(r[0], r[-3] if len(r) == 5 else r[-3]): r for r in rows[1:]}
    assert by_name[("configmaps", "v1")] == ["configmaps", "cm", "v1", "true", "ConfigMap"]
    assert by_name[("horizontalpodautoscalers", "autoscaling/v2")] == [
        "horizontalpodautoscalers", "hpa", "autoscaling/v2", "true", "HorizontalPodAutoscaler"]
    assert by_name[("customresourcedefinitions", "apiextensions.k8s.io/v1")][1] == "crd,crds"
    assert by_name[("pods", "metrics.k8s.io/v1beta1")] == [
        "pods", "metrics.k8s.io/v1beta1", "true", "PodMetrics"]
    assert by_name[("nodes", "metrics.k8s.io/v1beta1")] == [
        "nodes", "metrics.k8s.io/v1beta1", "false", "NodeMetrics"]
    assert by_name[("tokenreviews", "authentication.k8s.io/v1")] == [
        "tokenreviews", "authentication.k8s.io/v1", "false", "TokenReview"]
    assert {r[0] for r in rows[1:]} >= {"events", "leases", "statefulsets", "endpointslices"}
    cats = lines(kubectl(env, "api-resources", "--categories=all", "-o", "name").stdout)
    assert sorted(c[0] for c in cats) == sorted([
        "pods", "replicationcontrollers", "services", "daemonsets.apps", "deployments.apps",
        "replicasets.apps", "statefulsets.apps", "horizontalpodautoscalers.autoscaling",
        "cronjobs.batch", "jobs.batch"])
    versions = kubectl(env, "api-versions").stdout.split()
    assert "autoscaling/v1" in versions and "autoscaling/v2" in versions


CREATES = [
    (("create", "configmap", "cm1", "--from-literal=a=b", "--from-literal=c=d"),
     "configmap/cm1 created"),
    (("create", "secret", "generic", "s1", "--from-literal=password=hunter2"),
     "secret/s1 created"),
    (("create", "secret", "docker-registry", "reg1", "--docker-username=u",
      "--docker-password=p", "--docker-server=r.example.com"), "secret/reg1 created"),
    (("create", "serviceaccount", "sa1"), "serviceaccount/sa1 created"),
    (("create", "job", "j1", "--image=busybox", "--", "echo", "hi"), "job.batch/j1 created"),
    (("create", "cronjob", "cj1", "--image=busybox", "--schedule=*/5 * * * *", "--",
      "date"), "cronjob.batch/cj1 created"),
    (("create", "job", "j2", "--from=cronjob/cj1"), "job.batch/j2 created"),
    (("create", "role", "r1", "--verb=get,list", "--resource=pods"),
     "role.rbac.authorization.k8s.io/r1 created"),
    (("create", "rolebinding", "rb1", "--role=r1", "--user=alice",
      "--serviceaccount=kinds:sa1"), "rolebinding.rbac.authorization.k8s.io/rb1 created"),
    (("create", "clusterrole", "cr1", "--verb=get", "--resource=nodes"),
     "clusterrole.rbac.authorization.k8s.io/cr1 created"),
    (("create", "clusterrolebinding", "crb1", "--clusterrole=cr1", "--group=devs"),
     "clusterrolebinding.rbac.authorization.k8s.io/crb1 created"),
    (("create", "quota", "q1", "--hard=pods=10,cpu=2"), "resourcequota/q1 created"),
    (("create", "priorityclass", "pc1", "--value=1000", "--description=test"),
     "priorityclass.scheduling.k8s.io/pc1 created"),
    (("create", "poddisruptionbudget", "pdb1", "--selector=app=x", "--min-available=1"),
     "poddisruptionbudget.policy/pdb1 created"),
    (("create", "ingress", "ing1", "--class=default", "--rule=foo.com/bar*=svc1:8080"),
     "ingress.networking.k8s.io/ing1 created"),
    (("create", "service", "clusterip", "svc1", "--tcp=80:8080"), "service/svc1 created"),
    (("create", "service", "nodeport", "svc2", "--tcp=80:8080"), "service/svc2 created"),
    (("create", "service", "externalname", "svc3", "--external-name=example.com"),
     "service/svc3 created"),
    (("create", "deployment", "d1", "--image=nginx", "--replicas=0"),
     "deployment.apps/d1 created"),
]


def test_every_kubectl_create_subcommand(env):
    for args, want in CREATES:
        assert k(env, *args).stdout.strip() == want
    rows = lines(k(env, "get", "configmaps").stdout)
    assert rows[0] == ["NAME", "DATA", "AGE"] and ["cm1", "2"] == rows[1][:2]
    rows = {r[0]: r for r in lines(k(env, "get", "secrets").stdout)}
    assert rows["NAME"] == ["NAME", "TYPE", "DATA", "AGE"]
    assert rows["s1"][1:3] == ["Opaque", "1"]
    assert rows["reg1"][1:3] == ["kubernetes.io/dockerconfigjson", "1"]
    assert k(env, "get", "secret", "s1", "-o", "jsonpath={.data.password}").stdout == \
        "aHVudGVyMg=="
    sa = lines(k(env, "get", "sa", "sa1").stdout)
    assert sa[0] == ["NAME", "SECRETS", "AGE"] and sa[1][:2] == ["sa1", "0"]
    jobs = lines(k(env, "get", "jobs").stdout)
    assert jobs[0] == ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]
    assert [r[:3] for r in jobs[1:]] == [["j1", "Running", "0/1"], ["j2", "Running", "0/1"]]
    sel = k(env, "get", "job", "j1", "-o", "jsonpath={.spec.selector.matchLabels}").stdout
    uid = k(env, "get", "job", "j1", "-o", "jsonpath={.metadata.uid}").stdout
    assert sel == f'{{"batch.kubernetes.io/controller-uid":"{uid}"}}'
    owner = k(env, "get", "job", "j2", "-o", "jsonpath={.metadata.ownerReferences[0].name}")
    assert owner.stdout == "cj1"
    cj = lines(k(env, "get", "cronjobs").stdout)
    assert cj[0] == ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST SCHEDULE",
                     "AGE"]
    assert cj[1][:6] == ["cj1", "*/5 * * * *", "<none>", "False", "0", "<none>"]
    rb = lines(k(env, "get", "rolebinding", "rb1", "-o", "wide").stdout)
    assert rb[1][:2] == ["rb1", "Role/r1"] and rb[1][-2:] == ["alice", "kinds/sa1"]
    subj = kubectl(env, "get", "clusterrolebinding", "crb1", "-o",
                   "jsonpath={.subjects[0].apiGroup}").stdout
    assert subj == "rbac.authorization.k8s.io"
    assert lines(kubectl(env, "get", "pc", "pc1").stdout)[1][:3] == ["pc1", "1000", "false"]
    assert lines(k(env, "get", "pdb").stdout)[1][:4] == ["pdb1", "1", "N/A", "0"]
    assert lines(k(env, "get", "ing").stdout)[1][:3] == ["ing1", "default", "foo.com"]
    assert k(env, "get", "deploy", "d1", "-o", "jsonpath={.spec.replicas}").stdout == "0"


def test_get_all_is_category_all(env):
    k(env, "create", "configmap", "not-in-all")
    out = k(env, "get", "all").stdout
    names = [r[0] for r in lines(out) if r and r[0] != "NAME"]
    assert "service/svc1" in names and "deployment.apps/d1" in names
    assert "job.batch/j1" in names and "cronjob.batch/cj1" in names
    assert not any(n.startswith("configmap/") or n.startswith("secret/") for n in names)


def test_docs_manifests_apply(env, tmp_path):
    for name, text in (("ds", DAEMONSET), ("sts", STATEFULSET), ("job", JOB),
                       ("cj", CRONJOB), ("netpol", NETWORKPOLICY), ("ing", INGRESS)):
        f = tmp_path / f"{name}.yaml"
        f.write_text(text)
        k(env, "apply", "-f", str(f))
    ds = k(env, "get", "ds", "fluentd-elasticsearch", "-o", "json").stdout
    assert '"maxUnavailable": 1' in ds and '"revisionHistoryLimit": 10' in ds
    rows = lines(k(env, "get", "ds").stdout)
    assert rows[0][:7] == ["NAME", "DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE",
                           "NODE SELECTOR"]
    sts = k(env, "get", "sts", "web", "-o",
            "jsonpath={.spec.podManagementPolicy} {.spec.updateStrategy.rollingUpdate.partition}"
            " {.spec.volumeClaimTemplates[0].spec.volumeMode}"
            " {.spec.persistentVolumeClaimRetentionPolicy.whenDeleted}").stdout
    assert sts == "OrderedReady 0 Filesystem Retain"
    assert lines(k(env, "get", "sts").stdout)[1][:2] == ["web", "0/3"]
    assert k(env, "get", "job", "pi", "-o", "jsonpath={.spec.backoffLimit} "
             "{.spec.completions} {.spec.parallelism} {.spec.completionMode}").stdout == \
        "4 1 1 NonIndexed"
    assert k(env, "get", "cj", "hello", "-o", "jsonpath={.spec.concurrencyPolicy} "
             "{.spec.successfulJobsHistoryLimit} {.spec.failedJobsHistoryLimit}").stdout == \
        "Allow 3 1"
    netpols = {r[0]: r for r in lines(k(env, "get", "netpol").stdout)}
    assert netpols["NAME"] == ["NAME", "POD-SELECTOR", "AGE"]
    assert netpols["test-network-policy"][1] == "role=db"
    assert netpols["default-deny-ingress"][1] == "<none>"
    types = k(env, "get", "netpol", "default-deny-ingress", "-o",
              "jsonpath={.spec.policyTypes}").stdout
    assert types == '["Ingress"]'
    # a StatefulSet may change replicas, not its serviceName
    k(env, "patch", "sts", "web", "-p", '{"spec":{"replicas":1}}')
    p = k(env, "patch", "sts", "web", "-p", '{"spec":{"serviceName":"other"}}', ok=False)
    assert p.returncode != 0
    assert "updates to statefulset spec for fields other than 'replicas'" in p.stderr
    p = k(env, "patch", "job", "pi", "-p",
          '{"spec":{"template":{"spec":{"containers":[{"name":"pi","image":"perl:5.36"}]}}}}',
          ok=False)
    assert 'The Job "pi" is invalid' in p.stderr and "field is immutable" in p.stderr


def test_validation_messages(env, tmp_path):
    f = tmp_path / "bad-ing.yaml"
    f.write_text(INGRESS_NO_PATHTYPE.replace("minimal-ingress", "bad-ingress"))
    p = k(env, "apply", "-f", str(f), ok=False)
    assert p.returncode != 0
    assert "spec.rules[0].http.paths[0].pathType: Required value: pathType must be " \
           "specified" in p.stderr
    k(env, "create", "configmap", "frozen", "--from-literal=a=1")
    k(env, "patch", "configmap", "frozen", "-p", '{"immutable":true}')
    p = k(env, "patch", "configmap", "frozen", "-p", '{"data":{"a":"2"}}', ok=False)
    assert "data: Forbidden: field is immutable when `immutable` is set" in p.stderr
    p = k(env, "create", "configmap", "badkey", "--from-literal=a b=1", ok=False)
    assert p.returncode != 0 and "a valid config key must consist of" in p.stderr
    p = kubectl(env, "create", "priorityclass", "system-mine", "--value=5", ok=False)
    assert "priority class names with 'system-' prefix are reserved" in p.stderr


def test_unknown_types_and_not_found(env, tmp_path):
    p = kubectl(env, "get", "frobnicators", ok=False)
    assert p.returncode != 0
    assert 'error: the server doesn\'t have a resource type "frobnicators"' in p.stderr
    p = k(env, "get", "configmap", "x", ok=False)
    assert p.stderr.strip() == 'Error from server (NotFound): configmaps "x" not found'
    code, status = api(env, "GET", "/apis/batch/v1/namespaces/kinds/jobs/nope")
    assert code == 404 and status["details"] == {"name": "nope", "group": "batch",
                                                 "kind": "jobs"}
    code, status = api(env, "GET", "/api/v1/namespaces/kinds/frobs")
    assert code == 404 and status["details"] == {}
    f = tmp_path / "foo.yaml"
    f.write_text("apiVersion: v1\nkind: Foo\nmetadata: {name: x}\n")
    p = kubectl(env, "apply", "--validate=false", "-f", str(f), ok=False)
    assert 'no matches for kind "Foo" in version "v1"' in p.stderr
    code, status = api(env, "POST", "/apis/authentication.k8s.io/v1/tokenreviews",
                       {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                        "spec": {"token": "x"}})
    # an invalid token is answered, not refused: authenticated false
    assert code == 201 and status["status"].get("authenticated") is not True
    code, status = api(env, "GET", "/apis/authentication.k8s.io/v1/tokenreviews")
    assert code == 405 and status["reason"] == "MethodNotAllowed"
    code, status = api(env, "DELETE", "/api/v1/componentstatuses/etcd-0")
    assert code == 405
    assert status["message"] == 'delete is not supported on resources of kind ' \
                                '"componentstatuses"'


def test_hpa_v1_and_v2_are_one_object(env):
    k(env, "autoscale", "deployment", "d1", "--min=2", "--max=5", "--cpu-percent=70")
    code, v1 = api(env, "GET", "/apis/autoscaling/v1/namespaces/kinds/"
                               "horizontalpodautoscalers/d1")
    assert code == 200 and v1["spec"]["targetCPUUtilizationPercentage"] == 70
    code, v2 = api(env, "GET", "/apis/autoscaling/v2/namespaces/kinds/"
                               "horizontalpodautoscalers/d1")
    assert v2["spec"]["metrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}]
    assert v2["metadata"]["uid"] == v1["metadata"]["uid"]
    rows = lines(k(env, "get", "hpa").stdout)
    assert rows[1][:5] == ["d1", "Deployment/d1", "cpu: <unknown>/70%", "2", "5"]


def test_component_statuses(env):
    rows = {r[0]: r for r in lines(kubectl(env, "get", "componentstatuses").stdout)}
    assert rows["NAME"] == ["NAME", "STATUS", "MESSAGE", "ERROR"]
    store = rows.get("etcd-0") or rows["storage-0"]
    assert store[1:3] == ["Healthy", "ok"]
    # only an apiserver runs here: no scheduler or controller manager holds its lease
    assert rows["scheduler"][1] == "Unhealthy"
    assert "no leader lease" in rows["controller-manager"][2]
