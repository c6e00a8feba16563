"""Tests for k8snet.api.validation and k8snet.api.schema (unknown fields)."""

import copy

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from k8snet.api.defaults import apply_defaults
from k8snet.api.validation import invalid_message, unknown_fields, validate

NGINX_DEPLOYMENT = yaml.safe_load("""
apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx-deployment
  namespace: default
  labels:
    app: nginx
spec:
  replicas: 3
  selector:
    matchLabels:
      app: nginx
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 1, maxUnavailable: 0}
  template:
    metadata:
      labels:
        app: nginx
    spec:
      containers:
      - name: nginx
        image: nginx:1.14.2
        ports:
        - containerPort: 80
        resources:
          requests: {cpu: 100m, memory: 64Mi}
          limits: {cpu: 500m, memory: 128Mi}
""")

PROBE_POD = yaml.safe_load("""
apiVersion: v1
kind: Pod
metadata:
  name: goproxy
  namespace: default
  labels: {app: goproxy, disk: ssd}
  annotations: {kubernetes.io/description: "probe demo"}
spec:
  nodeSelector: {disk: ssd}
  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
        - matchExpressions:
          - {key: topology.kubernetes.io/zone, operator: In, values: [antarctica-east1]}
      preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 1
        preference:
          matchExpressions:
          - {key: another-node-label-key, operator: In, values: [another-node-label-value]}
    podAntiAffinity:
      preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          labelSelector:
            matchExpressions:
            - {key: app, operator: In, values: [goproxy]}
          topologyKey: kubernetes.io/hostname
  tolerations:
  - {key: example-key, operator: Exists, effect: NoSchedule}
  volumes:
  - name: cache
    emptyDir: {}
  containers:
  - name: goproxy
    image: registry.k8s.io/goproxy:0.1
    command: ["/goproxy"]
    args: ["-v"]
    env:
    - {name: MODE, value: demo}
    - name: NODE
      valueFrom: {fieldRef: {fieldPath: spec.nodeName}}
    ports:
    - {name: http, containerPort: 8080}
    volumeMounts:
    - {name: cache, mountPath: /cache}
    readinessProbe:
      tcpSocket: {port: 8080}
      initialDelaySeconds: 15
      periodSeconds: 10
    livenessProbe:
      httpGet:
        path: /healthz
        port: http
        httpHeaders: [{name: Custom-Header, value: Awesome}]
      initialDelaySeconds: 3
      periodSeconds: 3
    startupProbe:
      exec: {command: [cat, /tmp/healthy]}
      failureThreshold: 30
      periodSeconds: 10
    lifecycle:
      preStop: {exec: {command: [sleep, "5"]}}
""")

NODEPORT_SERVICE = yaml.safe_load("""
apiVersion: v1
kind: Service
metadata:
  name: my-service
  namespace: default
spec:
  type: NodePort
  selector:
    app.kubernetes.io/name: MyApp
  ports:
  - name: http
    port: 80
    targetPort: 80
    nodePort: 30007
  - name: metrics
    port: 9090
    targetPort: metrics
""")


def _causes(kind, obj, old=None):
    return {(c["field"], c["reason"]): c["message"]
            for c in validate(kind, apply_defaults(kind, obj),
                              apply_defaults(kind, old) if old else None)}


@pytest.mark.parametrize("kind,obj", [
    ("Deployment", NGINX_DEPLOYMENT), ("Pod", PROBE_POD), ("Service", NODEPORT_SERVICE),
])
def test_docs_manifests_are_valid_and_known(kind, obj):
    assert validate(kind, apply_defaults(kind, obj)) == []
    assert validate(kind, obj) == []
    assert unknown_fields(kind, obj) == []
    assert unknown_fields(kind, apply_defaults(kind, obj)) == []


def test_unknown_fields_paths():
    pod = copy.deepcopy(PROBE_POD)
    pod["spec"]["containers"][0]["imagee"] = "x"
    pod["spec"]["containers"][0]["livenessProbe"]["httpGet"]["pth"] = "/"
    pod["spec"]["bogus"] = 1
    pod["metadata"]["labels"]["anything.goes/here"] = "yes"
    assert sorted(unknown_fields("Pod", pod)) == [
        "spec.bogus", "spec.containers[0].imagee",
        "spec.containers[0].livenessProbe.httpGet.pth"]
    dep = copy.deepcopy(NGINX_DEPLOYMENT)
    dep["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["x/gpu"] = 1
    dep["spec"]["replica"] = 3
    assert unknown_fields("Deployment", dep) == ["spec.replica"]
    assert unknown_fields("Unknown", {"x": 1}) == []


def test_pod_required_fields_and_messages():
    pod = {"metadata": {"name": "p", "namespace": "default"},
           "spec": {"containers": [{"name": "c"}, {"name": "c", "image": "x"}]}}
    causes = _causes("Pod", pod)
    assert causes[("spec.containers[0].image", "FieldValueRequired")] == "Required value"
    assert causes[("spec.containers[1].name", "FieldValueDuplicate")] == 'Duplicate value: "c"'
    empty = _causes("Pod", {"metadata": {"name": "p", "namespace": "d"}, "spec": {}})
    assert ("spec.containers", "FieldValueRequired") in empty


@pytest.mark.parametrize("mutate,field,reason", [
    (lambda c, s: c.update(ports=[{"containerPort": 0}]),
     "spec.containers[0].ports[0].containerPort", "FieldValueInvalid"),
    (lambda c, s: c.update(ports=[{"containerPort": 70000}]),
     "spec.containers[0].ports[0].containerPort", "FieldValueInvalid"),
    (lambda c, s: c.update(ports=[{"containerPort": 80, "protocol": "HTTP"}]),
     "spec.containers[0].ports[0].protocol", "FieldValueNotSupported"),
    (lambda c, s: c.update(resources={"limits": {"cpu": "lots"}}),
     "spec.containers[0].resources.limits[cpu]", "FieldValueInvalid"),
    (lambda c, s: c.update(resources={"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}),
     "spec.containers[0].resources.requests", "FieldValueInvalid"),
    (lambda c, s: s.update(restartPolicy="Sometimes"),
     "spec.restartPolicy", "FieldValueNotSupported"),
    (lambda c, s: c.update(livenessProbe={"periodSeconds": 3}),
     "spec.containers[0].livenessProbe", "FieldValueRequired"),
    (lambda c, s: c.update(livenessProbe={"exec": {"command": ["x"]},
                                          "tcpSocket": {"port": 80}}),
     "spec.containers[0].livenessProbe.tcpSocket", "FieldValueForbidden"),
    (lambda c, s: c.update(livenessProbe={"exec": {"command": ["x"]},
                                          "successThreshold": 2}),
     "spec.containers[0].livenessProbe.successThreshold", "FieldValueInvalid"),
    (lambda c, s: c.update(name="Web_1"), "spec.containers[0].name", "FieldValueInvalid"),
    (lambda c, s: c.update(volumeMounts=[{"name": "nope", "mountPath": "/x"}]),
     "spec.containers[0].volumeMounts[0].name", "FieldValueNotFound"),
    (lambda c, s: c.update(image=5), "spec.containers[0].image", "FieldValueTypeInvalid"),
    (lambda c, s: s.update(tolerations=[{"key": "k", "operator": "Exists", "value": "v"}]),
     "spec.tolerations[0].operator", "FieldValueInvalid"),
    (lambda c, s: s.update(tolerations=[{"key": "k", "effect": "NoSchedule",
                                         "tolerationSeconds": 5}]),
     "spec.tolerations[0].effect", "FieldValueInvalid"),
    (lambda c, s: s.update(affinity={"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": []}}}),
     "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution."
     "nodeSelectorTerms", "FieldValueRequired"),
    (lambda c, s: s.update(affinity={"podAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": [{"labelSelector": {}}]}}),
     "spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0]."
     "topologyKey", "FieldValueRequired"),
    (lambda c, s: s.update(volumes=[{"name": "v"}, {"name": "v", "emptyDir": {}}]),
     "spec.volumes[0]", "FieldValueRequired"),
    (lambda c, s: s.update(nodeSelector={"disk": "ss d"}), "spec.nodeSelector",
     "FieldValueInvalid"),
])
def test_pod_invalid_cases(mutate, field, reason):
    pod = {"metadata": {"name": "p", "namespace": "default"},
           "spec": {"containers": [{"name": "web", "image": "nginx"}]}}
    mutate(pod["spec"]["containers"][0], pod["spec"])
    causes = validate("Pod", pod)
    assert (field, reason) in {(c["field"], c["reason"]) for c in causes}, causes


def test_port_message_like_kubernetes():
    pod = {"metadata": {"name": "p", "namespace": "d"},
           "spec": {"containers": [{"name": "c", "image": "x",
                                    "ports": [{"containerPort": 0}]}]}}
    [cause] = validate("Pod", pod)
    assert cause["message"] == "Invalid value: 0: must be between 1 and 65535, inclusive"
    assert invalid_message("Pod", "p", [cause]) == (
        'Pod "p" is invalid: spec.containers[0].ports[0].containerPort: '
        "Invalid value: 0: must be between 1 and 65535, inclusive")


@pytest.mark.parametrize("kind,name,ok", [
    ("Pod", "web.v1", True), ("Pod", "Web", False), ("Pod", "a" * 254, False),
    ("Namespace", "team-a", True), ("Namespace", "team.a", False),
    ("Service", "1svc", False), ("Service", "svc-1", True),
    ("Deployment", "nginx-deployment", True), ("Deployment", "nginx_dep", False),
    ("Node", "worker-1.example", True),
])
def test_names_per_kind(kind, name, ok):
    ns = {} if kind in ("Namespace", "Node") else {"namespace": "default"}
    causes = [c for c in validate(kind, {"metadata": {"name": name, **ns}, "spec": {}})
              if c["field"] == "metadata.name"]
    assert (causes == []) is ok, causes


def test_metadata_rules():
    causes = validate("Pod", {"metadata": {}, "spec": {"containers": [
        {"name": "c", "image": "i"}]}})
    assert {c["field"] for c in causes} == {"metadata.name", "metadata.namespace"}
    assert causes[0]["message"] == "Required value: name or generateName is required"
    node = validate("Node", {"metadata": {"name": "n", "namespace": "x",
                                          "labels": {"bad key": "v"}}})
    assert {(c["field"], c["reason"]) for c in node} == {
        ("metadata.namespace", "FieldValueForbidden"), ("metadata.labels", "FieldValueInvalid")}


def _dep(**spec):
    dep = copy.deepcopy(NGINX_DEPLOYMENT)
    dep["spec"].update(spec)
    return dep


def test_deployment_rules():
    assert ("spec.selector", "FieldValueRequired") in _causes(
        "Deployment", _dep(selector=None))
    empty = _causes("Deployment", _dep(selector={}))
    assert "empty selector is invalid for deployment" in empty[("spec.selector",
                                                                "FieldValueInvalid")]
    mismatch = _causes("Deployment", _dep(selector={"matchLabels": {"app": "other"}}))
    assert mismatch[("spec.template.metadata.labels", "FieldValueInvalid")].endswith(
        "`selector` does not match template `labels`")
    assert ("spec.replicas", "FieldValueInvalid") in _causes("Deployment", _dep(replicas=-1))
    both_zero = _causes("Deployment", _dep(strategy={
        "type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": "0%"}}))
    assert both_zero[("spec.strategy.rollingUpdate.maxUnavailable", "FieldValueInvalid")] == \
        'Invalid value: "0%": may not be 0 when `maxSurge` is 0'
    bad_pct = _causes("Deployment", _dep(strategy={"rollingUpdate": {"maxUnavailable": "120%"}}))
    assert ("spec.strategy.rollingUpdate.maxUnavailable", "FieldValueInvalid") in bad_pct
    never = _dep()
    never["spec"]["template"]["spec"]["restartPolicy"] = "Never"
    assert ("spec.template.spec.restartPolicy", "FieldValueNotSupported") in _causes(
        "Deployment", never)
    no_image = _dep()
    del no_image["spec"]["template"]["spec"]["containers"][0]["image"]
    assert ("spec.template.spec.containers[0].image", "FieldValueRequired") in _causes(
        "Deployment", no_image)
    rs = {"metadata": {"name": "r", "namespace": "d"}, "spec": {
        "selector": {"matchExpressions": [{"key": "app", "operator": "In",
                                           "values": ["a", "b"]}]},
        "template": {"metadata": {"labels": {"app": "b"}},
                     "spec": {"containers": [{"name": "c", "image": "i"}]}}}}
    assert _causes("ReplicaSet", rs) == {}


def test_deployment_selector_immutable_on_update():
    new = _dep(selector={"matchLabels": {"app": "nginx", "v": "2"}})
    new["spec"]["template"]["metadata"]["labels"]["v"] = "2"
    causes = _causes("Deployment", new, old=NGINX_DEPLOYMENT)
    assert causes[("spec.selector", "FieldValueInvalid")].endswith("field is immutable")
    assert _causes("Deployment", _dep(replicas=5), old=NGINX_DEPLOYMENT) == {}


def _svc(**spec):
    svc = copy.deepcopy(NODEPORT_SERVICE)
    svc["spec"].update(spec)
    return svc


def test_service_rules():
    assert ("spec.ports", "FieldValueRequired") in _causes("Service", _svc(ports=[]))
    assert _causes("Service", _svc(ports=[], clusterIP="None", type="ClusterIP")) == {}
    assert ("spec.ports[0].port", "FieldValueInvalid") in _causes(
        "Service", _svc(ports=[{"port": 0}]))
    dup = _causes("Service", _svc(ports=[{"name": "a", "port": 80},
                                         {"name": "a", "port": 81}]))
    assert ("spec.ports[1].name", "FieldValueDuplicate") in dup
    unnamed = _causes("Service", _svc(ports=[{"port": 80}, {"port": 81}]))
    assert ("spec.ports[0].name", "FieldValueRequired") in unnamed
    out_of_range = _causes("Service", _svc(ports=[{"port": 80, "nodePort": 80}]))
    assert out_of_range[("spec.ports[0].nodePort", "FieldValueInvalid")].endswith(
        "The range of valid ports is 30000-32767")
    assert ("spec.ports[0].nodePort", "FieldValueForbidden") in _causes(
        "Service", _svc(type="ClusterIP", ports=[{"port": 80, "nodePort": 30001}]))
    bad_type = _causes("Service", _svc(type="Ingress"))
    assert bad_type[("spec.type", "FieldValueNotSupported")] == (
        'Unsupported value: "Ingress": supported values: "ClusterIP", "ExternalName", '
        '"LoadBalancer", "NodePort"')
    assert ("spec.ports[0].protocol", "FieldValueNotSupported") in _causes(
        "Service", _svc(ports=[{"port": 53, "protocol": "ICMP"}]))
    assert ("spec.externalName", "FieldValueRequired") in _causes(
        "Service", _svc(type="ExternalName", ports=[]))


def test_service_cluster_ip_immutable():
    old = _svc(clusterIP="10.96.0.10")
    assert _causes("Service", _svc(clusterIP="10.96.0.10"), old=old) == {}
    changed = _causes("Service", _svc(clusterIP="10.96.0.11"), old=old)
    assert ("spec.clusterIP", "FieldValueInvalid") in changed


def test_pod_update_rules():
    old = copy.deepcopy(PROBE_POD)
    image = copy.deepcopy(old)
    image["spec"]["containers"][0]["image"] = "registry.k8s.io/goproxy:0.2"
    image["spec"]["tolerations"].append({"key": "x", "operator": "Exists"})
    assert _causes("Pod", image, old=old) == {}
    ports = copy.deepcopy(old)
    ports["spec"]["containers"][0]["ports"][0]["containerPort"] = 9090
    ports["spec"]["containers"][0]["readinessProbe"]["tcpSocket"]["port"] = 9090
    assert ("spec", "FieldValueForbidden") in _causes("Pod", ports, old=old)
    removed = copy.deepcopy(old)
    removed["spec"]["tolerations"] = []
    assert ("spec.tolerations", "FieldValueForbidden") in _causes("Pod", removed, old=old)
    renamed = copy.deepcopy(old)
    renamed["metadata"]["name"] = "other"
    assert ("metadata.name", "FieldValueInvalid") in _causes("Pod", renamed, old=old)


def test_node_namespace_endpoints_event_lease_binding_scale():
    node = {"metadata": {"name": "w1"}, "spec": {"podCIDR": "10.244.1.0/24",
                                                 "taints": [{"key": "k", "effect": "Never"}]}}
    causes = _causes("Node", node)
    assert ("spec.taints[0].effect", "FieldValueNotSupported") in causes
    assert ("spec.podCIDR", "FieldValueInvalid") in _causes(
        "Node", {"metadata": {"name": "w1"}, "spec": {"podCIDR": "10.244.1.0"}})
    moved = {"metadata": {"name": "w1"}, "spec": {"podCIDR": "10.244.2.0/24"}}
    assert ("spec.podCIDRs", "FieldValueForbidden") in _causes("Node", moved, old={
        "metadata": {"name": "w1"}, "spec": {"podCIDR": "10.244.1.0/24"}})
    assert _causes("Node", moved, old={"metadata": {"name": "w1"}, "spec": {}}) == {}
    assert _causes("Namespace", {"metadata": {"name": "team-a"}}) == {}
    ep = {"metadata": {"name": "s", "namespace": "d"},
          "subsets": [{"addresses": [{"ip": "10.244.1.5"}, {"ip": "nope"}],
                       "ports": [{"port": 80}]}]}
    assert set(_causes("Endpoints", ep)) == {("subsets[0].addresses[1].ip",
                                              "FieldValueInvalid")}
    ev = {"metadata": {"name": "e.1", "namespace": "a"},
          "involvedObject": {"kind": "Pod", "name": "p", "namespace": "b"}}
    assert ("involvedObject.namespace", "FieldValueInvalid") in _causes("Event", ev)
    lease = {"metadata": {"name": "w1", "namespace": "kube-node-lease"},
             "spec": {"holderIdentity": "w1", "leaseDurationSeconds": 0}}
    assert ("spec.leaseDurationSeconds", "FieldValueInvalid") in _causes("Lease", lease)
    assert validate("Binding", {"target": {"kind": "Node", "name": "w1"}}) == []
    assert validate("Binding", {"target": {"kind": "Node"}})[0]["field"] == "target.name"
    assert validate("Scale", {"spec": {"replicas": -1}})[0]["field"] == "spec.replicas"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-70000, 70000) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) |
    st.dictionaries(st.sampled_from(["name", "image", "spec", "containers", "ports", "port",
                                     "selector", "template", "metadata", "labels",
                                     "matchLabels", "matchExpressions", "type", "x",
                                     "strategy", "rollingUpdate", "livenessProbe",
                                     "affinity", "tolerations", "volumes", "env"]),
                    children, max_size=4),
    max_leaves=20)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(["Pod", "Deployment", "ReplicaSet", "Service", "Node", "Namespace",
                        "Endpoints", "Event", "Lease", "Binding", "Scale"]),
       json_values, json_values)
def test_any_json_gives_causes_not_exceptions(kind, obj, old):
    causes = validate(kind, obj, old if isinstance(old, dict) else None)
    assert all(set(c) == {"field", "reason", "message"} for c in causes)
    unknown_fields(kind, obj)
    apply_defaults(kind, obj)
    causes = validate(kind, apply_defaults(kind, obj))
    assert isinstance(causes, list)


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(["Pod", "Deployment", "Service"]), json_values)
def test_arbitrary_spec_shapes_do_not_raise(kind, spec):
    base = {"Pod": PROBE_POD, "Deployment": NGINX_DEPLOYMENT, "Service": NODEPORT_SERVICE}
    obj = copy.deepcopy(base[kind])
    obj["spec"]["containers" if kind == "Pod" else "selector"] = spec
    validate(kind, apply_defaults(kind, obj))
