"""Authorization: the decision for a request (``system:masters`` always, then RBAC), the 403
Kubernetes answers when it is denied, and the escalation checks on writes of Roles,
ClusterRoles and their bindings.

Like kube-apiserver's authorizer chain, members of ``system:masters`` are allowed before
RBAC is consulted (so the admin's requests never touch the policy); everyone else goes
through ``rbac.authorize`` over the current policy snapshot.
"""

from __future__ import annotations

import copy
from typing import Callable, Optional

from k8snet.apiserver import rbac
from k8snet.apiserver.identity import MASTERS, UserInfo
from k8snet.apiserver.rbac import Attributes, Decision, Policy, Rule
from k8snet.apiserver.status import ApiStatusError, not_found

FULL_AUTHORITY = (Rule(("*",), ("*",), ("*",)), Rule(("*",), non_resource_urls=("*",)))
RBAC_KINDS = {"Role": "roles", "ClusterRole": "clusterroles", "RoleBinding": "rolebindings",
              "ClusterRoleBinding": "clusterrolebindings"}


def forbidden_message(attrs: Attributes) -> str:
    """`User "u" cannot list resource "pods" in API group "" in the namespace "demo"`."""
    user = attrs.user.name
    if not attrs.resource_request:
        return f'User "{user}" cannot {attrs.verb} path "{attrs.path}"'
    resource = attrs.resource + (f"/{attrs.subresource}" if attrs.subresource else "")
    where = (f'in the namespace "{attrs.namespace}"' if attrs.namespace
             else "at the cluster scope")
    return (f'User "{user}" cannot {attrs.verb} resource "{resource}" in API group '
            f'"{attrs.api_group}" {where}')


def forbidden_error(group: str, resource: str, name: str, text: str) -> ApiStatusError:
    """403 Forbidden worded as Kubernetes' NewForbidden(group resource, name, error)."""
    qualified = f"{resource}.{group}" if group else resource
    if not qualified:
        message = f"forbidden: {text}"
    elif not name:
        message = f"{qualified} is forbidden: {text}"
    else:
        message = f'{qualified} "{name}" is forbidden: {text}'
    details = {k: v for k, v in (("name", name), ("group", group), ("kind", resource)) if v}
    return ApiStatusError(403, message, "Forbidden", details)


def denied(attrs: Attributes, reason: str = "") -> ApiStatusError:
    """The 403 for a request the authorizer did not allow."""
    text = forbidden_message(attrs) + (f": {reason}" if reason else "")
    if not attrs.resource_request:
        return forbidden_error("", "", "", text)
    return forbidden_error(attrs.api_group, attrs.resource, attrs.name, text)


class Authorizer:
    """system:masters, then RBAC over `policy()` (the cache's current snapshot)."""

    def __init__(self, policy: Callable[[], Policy]) -> None:
        self.policy = policy

    def authorize(self, attrs: Attributes) -> Decision:
        if MASTERS in attrs.user.groups:
            return Decision(True, "")
        return rbac.authorize(self.policy(), attrs)

    def rules_for(self, user: UserInfo, namespace: str) -> tuple[list[Rule], list[str]]:
        """The rules that apply to the user in namespace (SelfSubjectRulesReview; as
        upstream, system:masters shows what its cluster-admin binding grants)."""
        return rbac.rules_for(self.policy(), user, namespace)

    # -- escalation prevention --------------------------------------------------------
    def check_write(self, user: UserInfo, kind: str, obj: dict, old: Optional[dict]) -> None:
        """Raise 403 when `user` may not store this Role/ClusterRole/binding (it would grant
        permissions the user lacks, without `escalate` or `bind`); 404 when a binding
        names a role that does not exist."""
        if MASTERS in user.groups or kind not in RBAC_KINDS:
            return
        if old is not None and only_gc_fields_changed(obj, old):
            return
        meta = obj.get("metadata") or {}
        ns, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
        plural = RBAC_KINDS[kind]
        if kind in ("Role", "ClusterRole"):
            if self._allowed(user, "escalate", plural, ns, name):
                return
            wanted = list(rbac.rules_from_api(obj.get("rules")))
            self._confirm(user, ns, wanted, plural, name)
            if kind == "ClusterRole" and isinstance(obj.get("aggregationRule"), dict):
                ok, _ = rbac.covers(self.rules_for(user, ns)[0], FULL_AUTHORITY)
                if not ok:
                    raise forbidden_error(rbac.GROUP, plural, name, "must have cluster-admin "
                                          "privileges to use the aggregationRule")
            return
        ref = obj.get("roleRef") if isinstance(obj.get("roleRef"), dict) else {}
        ref_kind, ref_name = str(ref.get("kind") or ""), str(ref.get("name") or "")
        ref_plural = RBAC_KINDS.get(ref_kind, "")
        if ref_plural and self._allowed(user, "bind", ref_plural, ns, ref_name):
            return
        try:
            wanted = list(self.policy().role_rules(ref_kind, ref_name, ns))
        except LookupError:
            if ref_plural:
                raise not_found(ref_plural, ref_name, rbac.GROUP) from None
            raise forbidden_error(rbac.GROUP, plural, name, f'unsupported role reference '
                                  f'kind: "{ref_kind}"') from None
        self._confirm(user, ns, wanted, plural, name)

    def _allowed(self, user: UserInfo, verb: str, plural: str, ns: str, name: str) -> bool:
        return self.authorize(Attributes(user, verb, True, ns, rbac.GROUP, "v1", plural, "",
                                         name)).allowed

    def _confirm(self, user: UserInfo, ns: str, wanted: list[Rule], plural: str,
                 name: str) -> None:
        owner, errors = self.rules_for(user, ns)
        ok, missing = rbac.covers(owner, wanted)
        if not ok:
            text = rbac.escalation_message(user, missing)
            if errors:
                text += "; resolution errors: [" + ", ".join(errors) + "]"
            raise forbidden_error(rbac.GROUP, plural, name, text)


_GC_FIELDS = ("ownerReferences", "finalizers", "managedFields", "resourceVersion",
              "generation")


def only_gc_fields_changed(new: dict, old: dict) -> bool:
    """Does the update touch nothing but what garbage collection changes?"""
    def strip(obj: dict) -> dict:
        out = copy.deepcopy(obj)
        meta = out.get("metadata")
        if isinstance(meta, dict):
            for k in _GC_FIELDS:
                meta.pop(k, None)
        return out
    return strip(new) == strip(old)
