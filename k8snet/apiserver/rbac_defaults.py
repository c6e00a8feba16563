"""The ClusterRoles and ClusterRoleBindings a Kubernetes 1.32 apiserver creates at start
(its "bootstrap policy"), as plain data: the user-facing roles (cluster-admin, admin,
edit, view with their aggregate-to-* parts), what every user and anonymous caller may do
(system:basic-user, system:discovery, system:public-info-viewer), and the roles of the
control-plane identities (scheduler, controller-manager, nodes, kube-proxy, DNS).

k8snet's own components all use the admin token today, so the component roles are bound to
the identities upstream binds them to, for clusters that hand out such credentials.
"""

from __future__ import annotations

from typing import Optional

from k8snet.apiserver.rbac import GROUP

BOOTSTRAP_LABEL = {"kubernetes.io/bootstrapping": "rbac-defaults"}
AUTOUPDATE = {"rbac.authorization.kubernetes.io/autoupdate": "true"}
READ = ["get", "list", "watch"]
WRITE = ["create", "delete", "deletecollection", "patch", "update"]
ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
EVENTS_WRITE = ["create", "patch", "update"]


def rule(verbs: list, groups: Optional[list] = None, resources: Optional[list] = None,
         names: Optional[list] = None, urls: Optional[list] = None) -> dict:
    out: dict = {"verbs": list(verbs)}
    if groups is not None:
        out["apiGroups"] = list(groups)
    if resources is not None:
        out["resources"] = list(resources)
    if names:
        out["resourceNames"] = list(names)
    if urls:
        out["nonResourceURLs"] = list(urls)
    return out


def cluster_role(name: str, rules: Optional[list] = None, labels: Optional[dict] = None,
                 aggregate_from: Optional[str] = None) -> dict:
    obj: dict = {"apiVersion": f"{GROUP}/v1", "kind": "ClusterRole",
                 "metadata": {"name": name, "labels": dict(BOOTSTRAP_LABEL, **(labels or {})),
                              "annotations": dict(AUTOUPDATE)}}
    if aggregate_from:
        obj["aggregationRule"] = {"clusterRoleSelectors": [
            {"matchLabels": {f"rbac.authorization.k8s.io/aggregate-to-{aggregate_from}":
                             "true"}}]}
        obj["rules"] = []
    else:
        obj["rules"] = rules or []
    return obj


def cluster_binding(name: str, subjects: list, role: Optional[str] = None) -> dict:
    return {"apiVersion": f"{GROUP}/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": name, "labels": dict(BOOTSTRAP_LABEL),
                         "annotations": dict(AUTOUPDATE)},
            "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": role or name},
            "subjects": subjects}


def group(name: str) -> dict:
    return {"apiGroup": GROUP, "kind": "Group", "name": name}


def user(name: str) -> dict:
    return {"apiGroup": GROUP, "kind": "User", "name": name}


def service_account(namespace: str, name: str) -> dict:
    return {"kind": "ServiceAccount", "name": name, "namespace": namespace}


def _agg(to: str) -> dict:
    return {f"rbac.authorization.k8s.io/aggregate-to-{to}": "true"}


AGGREGATE_TO_VIEW = [
    rule(READ, [""], ["configmaps", "endpoints", "persistentvolumeclaims",
                      "persistentvolumeclaims/status", "pods", "replicationcontrollers",
                      "replicationcontrollers/scale", "serviceaccounts", "services",
                      "services/status"]),
    rule(READ, [""], ["bindings", "events", "limitranges", "namespaces/status", "pods/log",
                      "pods/status", "replicationcontrollers/status", "resourcequotas",
                      "resourcequotas/status"]),
    rule(READ, [""], ["namespaces"]),
    rule(READ, ["discovery.k8s.io"], ["endpointslices"]),
    rule(READ, ["apps"], ["controllerrevisions", "daemonsets", "daemonsets/status",
                          "deployments", "deployments/scale", "deployments/status",
                          "replicasets", "replicasets/scale", "replicasets/status",
                          "statefulsets", "statefulsets/scale", "statefulsets/status"]),
    rule(READ, ["autoscaling"], ["horizontalpodautoscalers",
                                 "horizontalpodautoscalers/status"]),
    rule(READ, ["batch"], ["cronjobs", "cronjobs/status", "jobs", "jobs/status"]),
    rule(READ, ["extensions"], ["daemonsets", "daemonsets/status", "deployments",
                                "deployments/scale", "deployments/status", "ingresses",
                                "ingresses/status", "networkpolicies", "replicasets",
                                "replicasets/scale", "replicasets/status",
                                "replicationcontrollers/scale"]),
    rule(READ, ["policy"], ["poddisruptionbudgets", "poddisruptionbudgets/status"]),
    rule(READ, ["networking.k8s.io"], ["ingresses", "ingresses/status", "networkpolicies"]),
]

AGGREGATE_TO_EDIT = [
    rule(READ, [""], ["pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "secrets",
                      "services/proxy"]),
    rule(["impersonate"], [""], ["serviceaccounts"]),
    rule(WRITE, [""], ["pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"]),
    rule(["create"], [""], ["pods/eviction"]),
    rule(WRITE, [""], ["configmaps", "events", "persistentvolumeclaims",
                       "replicationcontrollers", "replicationcontrollers/scale", "secrets",
                       "serviceaccounts", "services", "services/proxy"]),
    rule(["create"], [""], ["serviceaccounts/token"]),
    rule(WRITE, ["apps"], ["daemonsets", "deployments", "deployments/rollback",
                           "deployments/scale", "replicasets", "replicasets/scale",
                           "statefulsets", "statefulsets/scale"]),
    rule(WRITE, ["autoscaling"], ["horizontalpodautoscalers"]),
    rule(WRITE, ["batch"], ["cronjobs", "jobs"]),
    rule(WRITE, ["extensions"], ["daemonsets", "deployments", "deployments/rollback",
                                 "deployments/scale", "ingresses", "networkpolicies",
                                 "replicasets", "replicasets/scale",
                                 "replicationcontrollers/scale"]),
    rule(WRITE, ["policy"], ["poddisruptionbudgets"]),
    rule(WRITE, ["networking.k8s.io"], ["ingresses", "networkpolicies"]),
    rule(ALL_VERBS, ["coordination.k8s.io"], ["leases"]),
]

AGGREGATE_TO_ADMIN = [
    rule(["create"], ["authorization.k8s.io"], ["localsubjectaccessreviews"]),
    rule(ALL_VERBS, [GROUP], ["rolebindings", "roles"]),
]

HEALTH_URLS = ["/healthz", "/livez", "/readyz", "/version", "/version/"]


def _control_plane_roles() -> list[dict]:
    events = rule(EVENTS_WRITE, ["", "events.k8s.io"], ["events"])
    reviews = [rule(["create"], ["authentication.k8s.io"], ["tokenreviews"]),
               rule(["create"], ["authorization.k8s.io"], ["subjectaccessreviews"])]
    return [
        cluster_role("system:kube-scheduler", [
            events,
            rule(["create"], ["coordination.k8s.io"], ["leases"]),
            rule(["get", "update"], ["coordination.k8s.io"], ["leases"], ["kube-scheduler"]),
            rule(READ, [""], ["nodes"]),
            rule(["delete", "get", "list", "watch"], [""], ["pods"]),
            rule(["create"], [""], ["bindings", "pods/binding"]),
            rule(["patch", "update"], [""], ["pods/status"]),
            rule(READ, [""], ["replicationcontrollers", "services"]),
            rule(READ, ["apps", "extensions"], ["replicasets"]),
            rule(READ, ["apps"], ["statefulsets"]),
            rule(READ, ["policy"], ["poddisruptionbudgets"]),
            rule(READ, [""], ["persistentvolumeclaims", "persistentvolumes"]),
            *reviews,
            rule(READ, ["storage.k8s.io"], ["csinodes"]),
            rule(READ, [""], ["namespaces"]),
            rule(READ, ["storage.k8s.io"], ["csidrivers"]),
            rule(READ, ["storage.k8s.io"], ["csistoragecapacities"]),
        ]),
        cluster_role("system:kube-controller-manager", [
            events,
            rule(["create"], ["coordination.k8s.io"], ["leases"]),
            rule(["get", "update"], ["coordination.k8s.io"], ["leases"],
                 ["kube-controller-manager"]),
            rule(["create"], [""], ["secrets", "serviceaccounts"]),
            rule(["delete"], [""], ["secrets"]),
            rule(["get"], [""], ["configmaps", "namespaces", "secrets", "serviceaccounts"]),
            rule(["update"], [""], ["secrets", "serviceaccounts"]),
            *reviews,
            rule(["list", "watch"], ["*"], ["*"]),
            rule(["create"], [""], ["serviceaccounts/token"]),
        ]),
        cluster_role("system:node", [
            rule(["create"], ["authentication.k8s.io"], ["tokenreviews"]),
            rule(["create"], ["authorization.k8s.io"], ["localsubjectaccessreviews",
                                                        "subjectaccessreviews"]),
            rule(READ, [""], ["services"]),
            rule(["create", "get", "list", "watch"], [""], ["nodes"]),
            rule(["patch", "update"], [""], ["nodes/status"]),
            rule(["patch", "update"], [""], ["nodes"]),
            rule(EVENTS_WRITE, [""], ["events"]),
            rule(READ, [""], ["pods"]),
            rule(["create", "delete"], [""], ["pods"]),
            rule(["patch", "update"], [""], ["pods/status"]),
            rule(["create"], [""], ["pods/eviction"]),
            rule(READ, [""], ["configmaps", "secrets"]),
            rule(["get"], [""], ["persistentvolumeclaims", "persistentvolumes"]),
            rule(["get"], [""], ["endpoints"]),
            rule(["create", "get", "list", "watch"], ["certificates.k8s.io"],
                 ["certificatesigningrequests"]),
            rule(["create", "delete", "get", "patch", "update"], ["coordination.k8s.io"],
                 ["leases"]),
            rule(["get"], ["storage.k8s.io"], ["volumeattachments"]),
            rule(["create"], [""], ["serviceaccounts/token"]),
            rule(["get", "patch", "update"], [""], ["persistentvolumeclaims/status"]),
            rule(READ, ["storage.k8s.io"], ["csidrivers"]),
            rule(["create", "delete", "get", "patch", "update"], ["storage.k8s.io"],
                 ["csinodes"]),
            rule(READ, ["node.k8s.io"], ["runtimeclasses"]),
        ]),
        cluster_role("system:node-proxier", [
            rule(["list", "watch"], [""], ["endpoints", "services"]),
            rule(READ, [""], ["nodes"]),
            events,
            rule(["list", "watch"], ["discovery.k8s.io"], ["endpointslices"]),
        ]),
        cluster_role("system:kube-dns", [rule(["list", "watch"], [""],
                                              ["endpoints", "services"])]),
    ]


def cluster_roles() -> list[dict]:
    """The default ClusterRoles (fresh dicts on every call)."""
    return [
        cluster_role("cluster-admin", [rule(["*"], ["*"], ["*"]), rule(["*"], urls=["*"])]),
        cluster_role("admin", aggregate_from="admin"),
        cluster_role("edit", labels=_agg("admin"), aggregate_from="edit"),
        cluster_role("view", labels=_agg("edit"), aggregate_from="view"),
        cluster_role("system:aggregate-to-admin", AGGREGATE_TO_ADMIN, _agg("admin")),
        cluster_role("system:aggregate-to-edit", AGGREGATE_TO_EDIT, _agg("edit")),
        cluster_role("system:aggregate-to-view", AGGREGATE_TO_VIEW, _agg("view")),
        cluster_role("system:basic-user", [
            rule(["create"], ["authorization.k8s.io"], ["selfsubjectaccessreviews",
                                                        "selfsubjectrulesreviews"]),
            rule(["create"], ["authentication.k8s.io"], ["selfsubjectreviews"])]),
        cluster_role("system:discovery", [rule(["get"], urls=[
            "/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi",
            "/openapi/*", "/readyz", "/version", "/version/"])]),
        cluster_role("system:public-info-viewer", [rule(["get"], urls=HEALTH_URLS)]),
        cluster_role("system:monitoring", [rule(["get"], urls=[
            "/healthz", "/healthz/*", "/livez", "/livez/*", "/metrics", "/metrics/slis",
            "/readyz", "/readyz/*"])]),
        cluster_role("system:auth-delegator", [
            rule(["create"], ["authentication.k8s.io"], ["tokenreviews"]),
            rule(["create"], ["authorization.k8s.io"], ["subjectaccessreviews"])]),
        cluster_role("system:service-account-issuer-discovery", [rule(["get"], urls=[
            "/.well-known/openid-configuration", "/openid/v1/jwks"])]),
        *_control_plane_roles(),
    ]


def cluster_role_bindings() -> list[dict]:
    """The default ClusterRoleBindings (fresh dicts on every call)."""
    authed, unauthed = "system:authenticated", "system:unauthenticated"
    return [
        cluster_binding("cluster-admin", [group("system:masters")]),
        cluster_binding("system:basic-user", [group(authed)]),
        cluster_binding("system:discovery", [group(authed)]),
        cluster_binding("system:public-info-viewer", [group(authed), group(unauthed)]),
        cluster_binding("system:monitoring", [group("system:monitoring")]),
        cluster_binding("system:service-account-issuer-discovery",
                        [group("system:serviceaccounts")]),
        cluster_binding("system:kube-scheduler", [user("system:kube-scheduler")]),
        cluster_binding("system:kube-controller-manager",
                        [user("system:kube-controller-manager")]),
        cluster_binding("system:node", []),
        cluster_binding("system:node-proxier", [user("system:kube-proxy")]),
        cluster_binding("system:kube-dns", [service_account("kube-system", "kube-dns")]),
    ]
