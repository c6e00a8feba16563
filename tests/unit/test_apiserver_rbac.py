"""RBAC decisions (k8snet.apiserver.rbac) and the 403 wording (authz): rules and request
attributes in, allow or deny and the reason out, with no server."""

from __future__ import annotations

import pytest

from k8snet.apiserver import authz, rbac, rbac_defaults
from k8snet.apiserver.identity import UserInfo, sa_groups
from k8snet.apiserver.rbac import Attributes, Rule
from k8snet.apiserver.status import ApiStatusError

APP = UserInfo("system:serviceaccount:demo:app", "u1",
               sa_groups("demo") + ("system:authenticated",))
BOB = UserInfo("bob", groups=("dev", "system:authenticated"))


def res(user, verb, resource, ns="", group="", name="", sub=""):
    return Attributes(user, verb, True, ns, group, "v1", resource, sub, name)


def url(user, verb, path):
    return Attributes(user, verb, False, path=path)


def cr(name, rules=None, labels=None, agg=None):
    obj = {"metadata": {"name": name, "labels": labels or {}}, "rules": rules or []}
    if agg is not None:
        obj["aggregationRule"] = {"clusterRoleSelectors": agg}
    return obj


def role(ns, name, rules):
    return {"metadata": {"namespace": ns, "name": name}, "rules": rules}


def crb(name, role_name, subjects):
    return {"metadata": {"name": name},
            "roleRef": {"kind": "ClusterRole", "name": role_name}, "subjects": subjects}


def rb(ns, name, kind, role_name, subjects):
    return {"metadata": {"namespace": ns, "name": name},
            "roleRef": {"kind": kind, "name": role_name}, "subjects": subjects}


def sa(name, ns=""):
    out = {"kind": "ServiceAccount", "name": name}
    if ns:
        out["namespace"] = ns
    return out


@pytest.mark.parametrize("rule,attrs,allowed", [
    ({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]},
     res(BOB, "get", "pods", "demo", name="p"), True),
    ({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]},
     res(BOB, "list", "pods", "demo"), False),
    ({"verbs": ["*"], "apiGroups": [""], "resources": ["pods"]},
     res(BOB, "deletecollection", "pods", "demo"), True),
    ({"verbs": ["get"], "apiGroups": ["apps"], "resources": ["pods"]},
     res(BOB, "get", "pods", "demo"), False),
    ({"verbs": ["get"], "apiGroups": ["*"], "resources": ["deployments"]},
     res(BOB, "get", "deployments", "demo", "apps"), True),
    # a subresource needs its own grant: pods does not give pods/log ...
    ({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]},
     res(BOB, "get", "pods", "demo", name="p", sub="log"), False),
    ({"verbs": ["get"], "apiGroups": [""], "resources": ["pods/log"]},
     res(BOB, "get", "pods", "demo", name="p", sub="log"), True),
    # ... */scale gives every scale subresource, * gives everything
    ({"verbs": ["patch"], "apiGroups": ["apps"], "resources": ["*/scale"]},
     res(BOB, "patch", "deployments", "d", "apps", "web", "scale"), True),
    ({"verbs": ["patch"], "apiGroups": ["apps"], "resources": ["*/scale"]},
     res(BOB, "patch", "deployments", "d", "apps", "web"), False),
    ({"verbs": ["get"], "apiGroups": ["*"], "resources": ["*"]},
     res(BOB, "get", "pods", "d", name="p", sub="status"), True),
    # resourceNames restrict to the named objects, so a list (no name) is not covered
    ({"verbs": ["get", "list"], "apiGroups": [""], "resources": ["configmaps"],
      "resourceNames": ["cfg"]}, res(BOB, "get", "configmaps", "d", name="cfg"), True),
    ({"verbs": ["get", "list"], "apiGroups": [""], "resources": ["configmaps"],
      "resourceNames": ["cfg"]}, res(BOB, "get", "configmaps", "d", name="other"), False),
    ({"verbs": ["get", "list"], "apiGroups": [""], "resources": ["configmaps"],
      "resourceNames": ["cfg"]}, res(BOB, "list", "configmaps", "d"), False),
    # non-resource URLs: exact, or a prefix ending in *; never for resource requests
    ({"verbs": ["get"], "nonResourceURLs": ["/metrics"]}, url(BOB, "get", "/metrics"), True),
    ({"verbs": ["get"], "nonResourceURLs": ["/metrics"]}, url(BOB, "get", "/metricsx"), False),
    ({"verbs": ["get"], "nonResourceURLs": ["/readyz/*"]}, url(BOB, "get", "/readyz/etcd"),
     True),
    ({"verbs": ["get"], "nonResourceURLs": ["/readyz/*"]}, url(BOB, "get", "/readyz"), False),
    ({"verbs": ["get"], "nonResourceURLs": ["*"]}, url(BOB, "get", "/anything"), True),
    ({"verbs": ["get"], "nonResourceURLs": ["*"]}, res(BOB, "get", "pods", "d"), False),
    ({"verbs": ["post"], "nonResourceURLs": ["*"]}, url(BOB, "get", "/x"), False),
])
def test_rule_allows(rule, attrs, allowed):
    assert rbac.rule_allows(rbac.rule_from_api(rule), attrs) is allowed


POD_READER = {"verbs": ["get", "list", "watch"], "apiGroups": [""], "resources": ["pods"]}


def policy(crs=(), roles=(), crbs=(), rbs=()):
    return rbac.build_policy(list(crs), list(roles), list(crbs), list(rbs))


def test_rolebinding_applies_only_in_its_namespace():
    p = policy(crs=[cr("view", [POD_READER])],
               rbs=[rb("demo", "app-view", "ClusterRole", "view", [sa("app", "demo")])])
    got = rbac.authorize(p, res(APP, "list", "pods", "demo"))
    assert got == rbac.Decision(True, 'RBAC: allowed by RoleBinding "app-view/demo" of '
                                      'ClusterRole "view" to ServiceAccount "app/demo"')
    assert not rbac.authorize(p, res(APP, "list", "pods", "other")).allowed
    assert not rbac.authorize(p, res(APP, "list", "pods", "")).allowed   # all namespaces


def test_serviceaccount_subject_defaults_to_the_binding_namespace():
    p = policy(roles=[role("demo", "reader", [POD_READER])],
               rbs=[rb("demo", "b", "Role", "reader", [sa("app")])])
    assert rbac.authorize(p, res(APP, "get", "pods", "demo", name="x")).allowed
    # in a ClusterRoleBinding a ServiceAccount without namespace matches nobody
    p = policy(crs=[cr("view", [POD_READER])], crbs=[crb("b", "view", [sa("app")])])
    assert not rbac.authorize(p, res(APP, "get", "pods", "demo", name="x")).allowed


def test_group_and_user_subjects_and_cluster_bindings():
    p = policy(crs=[cr("view", [POD_READER])],
               crbs=[crb("devs", "view", [{"kind": "Group", "name": "dev"}]),
                     crb("sas", "view", [{"kind": "Group", "name": "system:serviceaccounts"}])])
    assert rbac.authorize(p, res(BOB, "watch", "pods")).reason == (
        'RBAC: allowed by ClusterRoleBinding "devs" of ClusterRole "view" to Group "dev"')
    assert rbac.authorize(p, res(APP, "list", "pods", "any")).allowed
    carol = UserInfo("carol", groups=("system:authenticated",))
    assert rbac.authorize(p, res(carol, "list", "pods")) == rbac.Decision(False, "")


def test_role_in_another_namespace_and_missing_roles_give_the_reason():
    p = policy(roles=[role("other", "reader", [POD_READER])],
               rbs=[rb("demo", "b", "Role", "reader", [sa("app")]),
                    rb("demo", "c", "ClusterRole", "gone", [sa("app")])])
    got = rbac.authorize(p, res(APP, "list", "pods", "demo"))
    assert got == rbac.Decision(False, 'RBAC: [role.rbac.authorization.k8s.io "reader" not '
                                       'found, clusterrole.rbac.authorization.k8s.io "gone" '
                                       'not found]')


def test_bindings_are_looked_up_by_subject_not_scanned():
    """A policy with many bindings for others answers from the user's own entries."""
    others = [rb("demo", f"b{i}", "ClusterRole", "view", [sa(f"sa{i}")]) for i in range(500)]
    p = policy(crs=[cr("view", [POD_READER])], rbs=others)
    assert sum(len(v) for v in p.role_bindings.values()) == 500
    assert rbac._bindings_for(p, APP, "demo") == []
    mine = rbac._bindings_for(p, UserInfo("system:serviceaccount:demo:sa7"), "demo")
    assert [b.name for b in mine] == ["b7"]


def test_aggregation_unions_selected_roles_to_a_fixed_point():
    view = cr("view", labels={"rbac.authorization.k8s.io/aggregate-to-edit": "true"},
              agg=[{"matchLabels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}}])
    edit = cr("edit", labels={"rbac.authorization.k8s.io/aggregate-to-admin": "true"},
              agg=[{"matchLabels": {"rbac.authorization.k8s.io/aggregate-to-edit": "true"}}])
    admin = cr("admin",
               agg=[{"matchLabels": {"rbac.authorization.k8s.io/aggregate-to-admin": "true"}}])
    to_view = cr("a-view", [POD_READER],
                 {"rbac.authorization.k8s.io/aggregate-to-view": "true"})
    to_edit = cr("b-edit", [{"verbs": ["create"], "apiGroups": [""], "resources": ["pods"]},
                            POD_READER],
                 {"rbac.authorization.k8s.io/aggregate-to-edit": "true"})
    unrelated = cr("z", [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}])
    roles = {o["metadata"]["name"]: o for o in (admin, edit, view, to_view, to_edit, unrelated)}
    got = rbac.aggregate(roles)
    reader = rbac.rule_from_api(POD_READER)
    creator = Rule(("create",), ("",), ("pods",))
    assert got["view"] == (reader,)
    assert got["edit"] == (creator, reader)          # b-edit's, then view's (deduplicated)
    assert got["admin"] == (creator, reader)
    assert set(got) == {"admin", "edit", "view"}


def test_aggregated_roles_authorize_at_once():
    view = cr("view", agg=[{"matchLabels": {"agg": "view"}}])
    extra = cr("nodes-reader", [{"verbs": ["list"], "apiGroups": [""], "resources": ["nodes"]}],
               {"agg": "view"})
    p = policy(crs=[view, extra], crbs=[crb("bob", "view", [{"kind": "User", "name": "bob"}])])
    assert rbac.authorize(p, res(BOB, "list", "nodes")).allowed


def test_default_policy_gives_admin_edit_view_as_upstream():
    p = policy(crs=rbac_defaults.cluster_roles(), crbs=rbac_defaults.cluster_role_bindings(),
               rbs=[rb("demo", "v", "ClusterRole", "view", [sa("app")]),
                    rb("demo", "a", "ClusterRole", "admin", [{"kind": "User", "name": "bob"}])])
    assert rbac.authorize(p, res(APP, "get", "pods", "demo", name="p", sub="log")).allowed
    assert not rbac.authorize(p, res(APP, "get", "secrets", "demo", name="s")).allowed
    assert not rbac.authorize(p, res(APP, "create", "pods", "demo")).allowed
    assert rbac.authorize(p, res(BOB, "create", "rolebindings", "demo",
                                 "rbac.authorization.k8s.io")).allowed
    assert rbac.authorize(p, res(BOB, "patch", "deployments", "demo", "apps", "w",
                                 "scale")).allowed
    assert not rbac.authorize(p, res(BOB, "list", "nodes")).allowed
    # everyone authenticated: discovery and self reviews; anonymous: only public info
    assert rbac.authorize(p, url(APP, "get", "/apis/apps/v1")).allowed
    assert rbac.authorize(p, res(APP, "create", "selfsubjectaccessreviews", "",
                                 "authorization.k8s.io")).allowed
    anon = UserInfo("system:anonymous", groups=("system:unauthenticated",))
    assert rbac.authorize(p, url(anon, "get", "/readyz")).allowed
    assert not rbac.authorize(p, url(anon, "get", "/api")).allowed
    assert not rbac.authorize(p, url(APP, "get", "/metrics")).allowed
    admin = UserInfo("kubernetes-admin", groups=("system:masters", "system:authenticated"))
    assert rbac.authorize(p, url(admin, "get", "/metrics")).reason == (
        'RBAC: allowed by ClusterRoleBinding "cluster-admin" of ClusterRole "cluster-admin" '
        'to Group "system:masters"')


def test_rules_for_lists_cluster_then_namespace_rules():
    p = policy(crs=[cr("basic", [{"verbs": ["create"], "apiGroups": ["authorization.k8s.io"],
                                  "resources": ["selfsubjectaccessreviews"]}]),
                    cr("view", [POD_READER])],
               crbs=[crb("basic", "basic", [{"kind": "Group",
                                            "name": "system:authenticated"}])],
               rbs=[rb("demo", "v", "ClusterRole", "view", [sa("app")])])
    rules, errors = rbac.rules_for(p, APP, "demo")
    assert [r.resources for r in rules] == [("selfsubjectaccessreviews",), ("pods",)]
    assert errors == []
    assert len(rbac.rules_for(p, APP, "other")[0]) == 1


# -- escalation ---------------------------------------------------------------------------
@pytest.mark.parametrize("owner,wanted,ok", [
    ([POD_READER], [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}], True),
    ([POD_READER], [{"verbs": ["delete"], "apiGroups": [""], "resources": ["pods"]}], False),
    ([{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
     [{"verbs": ["get"], "apiGroups": ["apps"], "resources": ["deployments/scale"]}], True),
    ([{"verbs": ["get"], "apiGroups": ["apps"], "resources": ["*/scale"]}],
     [{"verbs": ["get"], "apiGroups": ["apps"], "resources": ["deployments/scale"]}], True),
    ([{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"], "resourceNames": ["a"]}],
     [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}], False),
    ([POD_READER],
     [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"], "resourceNames": ["a"]}],
     True),
    ([{"verbs": ["get"], "nonResourceURLs": ["/healthz/*"]}],
     [{"verbs": ["get"], "nonResourceURLs": ["/healthz/etcd"]}], True),
    ([{"verbs": ["get"], "nonResourceURLs": ["/healthz"]}],
     [{"verbs": ["get"], "nonResourceURLs": ["/healthz/etcd"]}], False),
])
def test_covers(owner, wanted, ok):
    got, missing = rbac.covers([rbac.rule_from_api(r) for r in owner],
                               [rbac.rule_from_api(r) for r in wanted])
    assert got is ok and bool(missing) is not ok


def test_escalation_message_lists_missing_rules_compacted():
    _, missing = rbac.covers([rbac.rule_from_api(POD_READER)], [rbac.rule_from_api(
        {"verbs": ["get", "create", "delete"], "apiGroups": ["", "apps"],
         "resources": ["pods"]})])
    assert rbac.escalation_message(APP, missing) == (
        'user "system:serviceaccount:demo:app" (groups=["system:serviceaccounts" '
        '"system:serviceaccounts:demo" "system:authenticated"]) is attempting to grant RBAC '
        'permissions not currently held:\n'
        '{APIGroups:[""], Resources:["pods"], Verbs:["create" "delete"]}\n'
        '{APIGroups:["apps"], Resources:["pods"], Verbs:["get" "create" "delete"]}')


class _Fixed:
    def __init__(self, p):
        self.p = p

    def __call__(self):
        return self.p


def test_check_write_refuses_escalation_unless_escalate_or_bind():
    p = policy(crs=[cr("view", [POD_READER]), cr("admin", [{"verbs": ["*"], "apiGroups": ["*"],
                                                            "resources": ["*"]}])],
               rbs=[rb("demo", "v", "ClusterRole", "view", [sa("app")])])
    az = authz.Authorizer(_Fixed(p))
    binding = rb("demo", "x", "ClusterRole", "admin", [sa("app")])
    with pytest.raises(ApiStatusError) as e:
        az.check_write(APP, "RoleBinding", binding, None)
    assert e.value.code == 403 and e.value.message.startswith(
        'rolebindings.rbac.authorization.k8s.io "x" is forbidden: user '
        '"system:serviceaccount:demo:app" (groups=')
    az.check_write(APP, "RoleBinding", rb("demo", "y", "ClusterRole", "view", [sa("o")]), None)
    with pytest.raises(ApiStatusError) as e:
        az.check_write(APP, "RoleBinding", rb("demo", "z", "ClusterRole", "nope", []), None)
    assert e.value.code == 404 and e.value.message == (
        'clusterroles.rbac.authorization.k8s.io "nope" not found')
    # `bind` on that ClusterRole lets the binding through
    binder = cr("binder", [{"verbs": ["bind"], "apiGroups": ["rbac.authorization.k8s.io"],
                            "resources": ["clusterroles"], "resourceNames": ["admin"]}])
    p2 = policy(crs=[cr("view", [POD_READER]), binder, cr("admin", [])],
                rbs=[rb("demo", "b", "ClusterRole", "binder", [sa("app")])])
    authz.Authorizer(_Fixed(p2)).check_write(APP, "RoleBinding", binding, None)
    # a Role with more than the author holds, and an aggregated ClusterRole
    with pytest.raises(ApiStatusError) as e:
        az.check_write(APP, "Role", role("demo", "r", [{"verbs": ["get"], "apiGroups": [""],
                                                        "resources": ["secrets"]}]), None)
    assert "{APIGroups:[\"\"], Resources:[\"secrets\"], Verbs:[\"get\"]}" in e.value.message
    with pytest.raises(ApiStatusError) as e:
        az.check_write(APP, "ClusterRole", cr("agg", agg=[{"matchLabels": {"a": "b"}}]), None)
    assert e.value.message == ('clusterroles.rbac.authorization.k8s.io "agg" is forbidden: '
                               'must have cluster-admin privileges to use the aggregationRule')
    # system:masters is never checked; GC-only updates are not either
    root = UserInfo("kubernetes-admin", groups=("system:masters",))
    az.check_write(root, "RoleBinding", binding, None)
    old = dict(binding, metadata=dict(binding["metadata"], finalizers=["x"]))
    az.check_write(APP, "RoleBinding", binding, old)


# -- the 403 text ----------------------------------------------------------------------
@pytest.mark.parametrize("attrs,message", [
    (res(APP, "list", "pods", "demo"),
     'pods is forbidden: User "system:serviceaccount:demo:app" cannot list resource "pods" '
     'in API group "" in the namespace "demo"'),
    (res(APP, "get", "pods", "demo", name="p1"),
     'pods "p1" is forbidden: User "system:serviceaccount:demo:app" cannot get resource '
     '"pods" in API group "" in the namespace "demo"'),
    (res(BOB, "list", "nodes"),
     'nodes is forbidden: User "bob" cannot list resource "nodes" in API group "" at the '
     'cluster scope'),
    (res(BOB, "get", "pods", "demo", name="p1", sub="log"),
     'pods "p1" is forbidden: User "bob" cannot get resource "pods/log" in API group "" in '
     'the namespace "demo"'),
    (res(BOB, "patch", "deployments", "demo", "apps", "web", "scale"),
     'deployments.apps "web" is forbidden: User "bob" cannot patch resource '
     '"deployments/scale" in API group "apps" in the namespace "demo"'),
    (res(BOB, "create", "clusterroles", "", "rbac.authorization.k8s.io"),
     'clusterroles.rbac.authorization.k8s.io is forbidden: User "bob" cannot create resource '
     '"clusterroles" in API group "rbac.authorization.k8s.io" at the cluster scope'),
    (url(BOB, "get", "/metrics"), 'forbidden: User "bob" cannot get path "/metrics"'),
])
def test_forbidden_messages(attrs, message):
    err = authz.denied(attrs)
    assert err.code == 403 and err.reason == "Forbidden" and err.message == message
    status = err.status()
    assert status.get("details", {}).get("kind", "") == attrs.resource


def test_forbidden_message_carries_the_rbac_reason():
    err = authz.denied(res(BOB, "list", "pods", "demo"),
                       'RBAC: clusterrole.rbac.authorization.k8s.io "x" not found')
    assert err.message.endswith('in the namespace "demo": RBAC: '
                                'clusterrole.rbac.authorization.k8s.io "x" not found')


def test_masters_skip_rbac():
    az = authz.Authorizer(_Fixed(policy()))
    root = UserInfo("kubernetes-admin", groups=("system:masters", "system:authenticated"))
    assert az.authorize(res(root, "delete", "nodes", name="n1")).allowed
    assert not az.authorize(res(BOB, "delete", "nodes", name="n1")).allowed
