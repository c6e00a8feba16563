"""RBAC decisions (pure): Roles, ClusterRoles and their bindings, plus the attributes of a
request, give allow or deny and the reason, as Kubernetes' RBAC authorizer does.

- A rule allows a resource request when its verbs, apiGroups, resources (``pods``,
  ``pods/log``, ``*/scale``, ``*``) and resourceNames (none: any name) all match; a
  non-resource request when its verbs and nonResourceURLs (exact or ``/prefix*``) match.
- ClusterRoleBindings apply everywhere; RoleBindings only in their namespace. Subjects are
  Users, Groups and ServiceAccounts (a ServiceAccount subject without a namespace means the
  binding's namespace).
- A ClusterRole with an aggregationRule holds the union of the rules of the ClusterRoles
  its selectors match (``aggregate``); aggregated roles may aggregate further (view into
  edit into admin), so the union is taken to a fixed point.
- ``covers`` is the escalation check: may someone holding these rules grant those?

``Policy`` is an immutable snapshot built from the four kinds' objects and indexed by
subject, so a decision looks only at the bindings naming the user or one of its groups.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Optional

from k8snet.api.selectors import label_selector_from_dict
from k8snet.apiserver.identity import UserInfo, sa_username

GROUP = "rbac.authorization.k8s.io"
ALL = "*"


@dataclass(frozen=True)
class Rule:
    """One PolicyRule."""

    verbs: tuple[str, ...] = ()
    api_groups: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    resource_names: tuple[str, ...] = ()
    non_resource_urls: tuple[str, ...] = ()

    def to_api(self) -> dict:
        """The PolicyRule as the API writes it (empty lists omitted)."""
        out: dict = {"verbs": list(self.verbs)}
        if self.api_groups:
            out["apiGroups"] = list(self.api_groups)
        if self.resources:
            out["resources"] = list(self.resources)
        if self.resource_names:
            out["resourceNames"] = list(self.resource_names)
        if self.non_resource_urls:
            out["nonResourceURLs"] = list(self.non_resource_urls)
        return out

    def compact(self) -> str:
        """`{APIGroups:["apps"], Resources:["deployments"], Verbs:["get"]}`: the form
        Kubernetes prints in escalation errors."""
        parts = []
        for label, values in (("APIGroups", self.api_groups), ("Resources", self.resources),
                              ("NonResourceURLs", self.non_resource_urls),
                              ("ResourceNames", self.resource_names), ("Verbs", self.verbs)):
            if values:
                parts.append(f"{label}:[{' '.join(_go_quote(v) for v in values)}]")
        return "{" + ", ".join(parts) + "}"


def _go_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _strings(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(v for v in value if isinstance(v, str))


def rule_from_api(obj: object) -> Rule:
    """A Rule from a PolicyRule dict (fields of the wrong type count as empty)."""
    if not isinstance(obj, dict):
        return Rule()
    return Rule(_strings(obj.get("verbs")), _strings(obj.get("apiGroups")),
                _strings(obj.get("resources")), _strings(obj.get("resourceNames")),
                _strings(obj.get("nonResourceURLs")))


def rules_from_api(rules: object) -> tuple[Rule, ...]:
    return tuple(rule_from_api(r) for r in rules) if isinstance(rules, list) else ()


@dataclass(frozen=True)
class Attributes:
    """What is being asked: the authorizer.Attributes of Kubernetes."""

    user: UserInfo
    verb: str
    resource_request: bool = True
    namespace: str = ""
    api_group: str = ""
    api_version: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    path: str = ""


@dataclass(frozen=True)
class Decision:
    """allowed, and why (which binding allowed it, or what could not be resolved)."""

    allowed: bool
    reason: str = ""


def _verb_matches(rule: Rule, verb: str) -> bool:
    return ALL in rule.verbs or verb in rule.verbs


def _resource_matches(rule: Rule, resource: str, subresource: str) -> bool:
    combined = f"{resource}/{subresource}" if subresource else resource
    for r in rule.resources:
        if r == ALL or r == combined:
            return True
        if subresource and r == f"*/{subresource}":
            return True
    return False


def _url_matches(rule: Rule, path: str) -> bool:
    for u in rule.non_resource_urls:
        if u == ALL or u == path:
            return True
        if u.endswith("*") and path.startswith(u.rstrip("*")):
            return True
    return False


def rule_allows(rule: Rule, attrs: Attributes) -> bool:
    """Does this one rule allow the request?"""
    if not _verb_matches(rule, attrs.verb):
        return False
    if not attrs.resource_request:
        return _url_matches(rule, attrs.path)
    return ((ALL in rule.api_groups or attrs.api_group in rule.api_groups)
            and _resource_matches(rule, attrs.resource, attrs.subresource)
            and (not rule.resource_names or attrs.name in rule.resource_names))


# -- bindings ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Subject:
    kind: str
    name: str
    namespace: str = ""

    def describe(self, binding_namespace: str) -> str:
        if self.kind == "ServiceAccount":
            return f'{self.kind} "{self.name}/{self.namespace or binding_namespace}"'
        return f'{self.kind} "{self.name}"'


@dataclass(frozen=True)
class Binding:
    """A RoleBinding (namespace set) or ClusterRoleBinding (namespace "")."""

    name: str
    namespace: str
    role_kind: str
    role_name: str
    subjects: tuple[Subject, ...]

    @property
    def kind(self) -> str:
        return "RoleBinding" if self.namespace else "ClusterRoleBinding"

    def describe(self, subject: Subject) -> str:
        """`ClusterRoleBinding "x" of ClusterRole "y" to Group "z"` (the allow reason)."""
        own = f"{self.name}/{self.namespace}" if self.namespace else self.name
        return (f'{self.kind} "{own}" of {self.role_kind} "{self.role_name}" to '
                f"{subject.describe(self.namespace)}")


def binding_from_api(obj: dict) -> Binding:
    meta = obj.get("metadata") or {}
    ref = obj.get("roleRef") if isinstance(obj.get("roleRef"), dict) else {}
    subjects = tuple(Subject(str(s.get("kind") or ""), str(s.get("name") or ""),
                             str(s.get("namespace") or ""))
                     for s in obj.get("subjects") or () if isinstance(s, dict))
    return Binding(str(meta.get("name") or ""), str(meta.get("namespace") or ""),
                   str(ref.get("kind") or ""), str(ref.get("name") or ""), subjects)


def subject_key(subject: Subject, binding_namespace: str) -> Optional[tuple[str, str]]:
    """The index key a subject matches under: ("user", name) or ("group", name)."""
    if subject.kind == "User":
        return "user", subject.name
    if subject.kind == "Group":
        return "group", subject.name
    if subject.kind == "ServiceAccount":
        ns = subject.namespace or binding_namespace
        return ("user", sa_username(ns, subject.name)) if ns else None
    return None


def applies_to(subject: Subject, user: UserInfo, binding_namespace: str) -> bool:
    key = subject_key(subject, binding_namespace)
    if key is None:
        return False
    return key[1] == user.name if key[0] == "user" else key[1] in user.groups


# -- aggregation --------------------------------------------------------------------------
def aggregate(cluster_roles: dict[str, dict]) -> dict[str, tuple[Rule, ...]]:
    """The rules of every ClusterRole with an aggregationRule: the union, in name order and
    without duplicates, of the rules of the ClusterRoles its selectors match (to a fixed
    point, so aggregated roles feed others). Other roles are not in the result."""
    own = {n: rules_from_api(o.get("rules")) for n, o in cluster_roles.items()}
    labels = {n: ((o.get("metadata") or {}).get("labels") or {})
              for n, o in cluster_roles.items()}
    selectors: dict[str, list] = {}
    for name, obj in cluster_roles.items():
        agg = obj.get("aggregationRule")
        if not isinstance(agg, dict):
            continue
        sels = []
        for s in agg.get("clusterRoleSelectors") or ():
            try:
                sels.append(label_selector_from_dict(s if isinstance(s, dict) else None))
            except ValueError:
                continue
        selectors[name] = sels
    current = dict(own)
    for name in selectors:
        current[name] = ()
    for _ in range(len(selectors) + 1):
        changed = False
        for name, sels in selectors.items():
            union: list[Rule] = []
            for other in sorted(cluster_roles):
                if other == name or not any(s.matches(labels[other]) for s in sels):
                    continue
                for rule in current[other]:
                    if rule not in union:
                        union.append(rule)
            if tuple(union) != current[name]:
                current[name] = tuple(union)
                changed = True
        if not changed:
            break
    return {name: current[name] for name in selectors}


# -- the policy snapshot ------------------------------------------------------------------
@dataclass(frozen=True)
class Policy:
    """Roles and bindings as the authorizer reads them, indexed by subject."""

    cluster_roles: dict[str, tuple[Rule, ...]] = field(default_factory=dict)
    roles: dict[tuple[str, str], tuple[Rule, ...]] = field(default_factory=dict)
    cluster_bindings: dict[tuple[str, str], tuple[Binding, ...]] = field(default_factory=dict)
    role_bindings: dict[tuple[str, str, str], tuple[Binding, ...]] = field(
        default_factory=dict)

    def role_rules(self, kind: str, name: str, namespace: str) -> tuple[Rule, ...]:
        """The rules a roleRef names; LookupError with Kubernetes' wording when absent."""
        if kind == "ClusterRole":
            rules = self.cluster_roles.get(name)
            if rules is None:
                raise LookupError(f'clusterrole.{GROUP} "{name}" not found')
            return rules
        if kind == "Role":
            rules = self.roles.get((namespace, name))
            if rules is None:
                raise LookupError(f'role.{GROUP} "{name}" not found')
            return rules
        raise LookupError(f'unsupported role reference kind: "{kind}"')


def build_policy(cluster_roles: Iterable[dict], roles: Iterable[dict],
                 cluster_bindings: Iterable[dict], role_bindings: Iterable[dict]) -> Policy:
    """A Policy from the stored objects of the four RBAC kinds."""
    crs = {str((o.get("metadata") or {}).get("name") or ""): o for o in cluster_roles}
    effective = {n: rules_from_api(o.get("rules")) for n, o in crs.items()}
    effective.update(aggregate(crs))
    role_map = {(str((o.get("metadata") or {}).get("namespace") or ""),
                 str((o.get("metadata") or {}).get("name") or "")): rules_from_api(o.get("rules"))
                for o in roles}
    crb: dict[tuple[str, str], list[Binding]] = {}
    for obj in sorted(cluster_bindings, key=_name):
        b = binding_from_api(obj)
        for key in {subject_key(s, "") for s in b.subjects} - {None}:
            crb.setdefault(key, []).append(b)
    rb: dict[tuple[str, str, str], list[Binding]] = {}
    for obj in sorted(role_bindings, key=_name):
        b = binding_from_api(obj)
        for key in {subject_key(s, b.namespace) for s in b.subjects} - {None}:
            rb.setdefault((b.namespace,) + key, []).append(b)
    return Policy(effective, role_map, {k: tuple(v) for k, v in crb.items()},
                  {k: tuple(v) for k, v in rb.items()})


def _name(obj: dict) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def _bindings_for(policy: Policy, user: UserInfo, namespace: str) -> list[Binding]:
    """ClusterRoleBindings then (in `namespace`) RoleBindings naming the user or a group."""
    keys = [("user", user.name)] + [("group", g) for g in user.groups]
    out: list[Binding] = []
    seen: set[int] = set()
    for source, prefix in ((policy.cluster_bindings, ()),
                           (policy.role_bindings, (namespace,) if namespace else None)):
        if prefix is None:
            continue
        found: list[Binding] = []
        for key in keys:
            for b in source.get(prefix + key, ()):
                if id(b) not in seen:
                    seen.add(id(b))
                    found.append(b)
        found.sort(key=lambda b: (b.namespace, b.name))
        out.extend(found)
    return out


def _visit(policy: Policy, user: UserInfo, namespace: str):
    """(binding, subject, rules) for each binding that applies, or (None, None, error)."""
    for b in _bindings_for(policy, user, namespace):
        subject = next(s for s in b.subjects if applies_to(s, user, b.namespace))
        try:
            rules = policy.role_rules(b.role_kind, b.role_name, b.namespace)
        except LookupError as e:
            yield None, None, str(e)
            continue
        yield b, subject, rules


def authorize(policy: Policy, attrs: Attributes) -> Decision:
    """Allow when some rule reachable through the user's bindings allows the request."""
    errors: list[str] = []
    for binding, subject, rules in _visit(policy, attrs.user, attrs.namespace):
        if binding is None:
            errors.append(rules)
            continue
        for rule in rules:
            if rule_allows(rule, attrs):
                return Decision(True, f"RBAC: allowed by {binding.describe(subject)}")
    return Decision(False, f"RBAC: {_aggregate_errors(errors)}" if errors else "")


def _aggregate_errors(errors: list[str]) -> str:
    return errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"


def rules_for(policy: Policy, user: UserInfo, namespace: str) -> tuple[list[Rule], list[str]]:
    """Every rule that applies to the user in `namespace` ("" : cluster-wide only) and the
    errors met resolving role references."""
    rules: list[Rule] = []
    errors: list[str] = []
    for binding, _subject, found in _visit(policy, user, namespace):
        if binding is None:
            errors.append(found)
        else:
            rules.extend(found)
    return rules, errors


# -- escalation ---------------------------------------------------------------------------
def breakdown(rule: Rule) -> list[Rule]:
    """The rule as atomic rules of one verb and one group/resource/name or one URL."""
    out: list[Rule] = []
    for g in rule.api_groups:
        for r in rule.resources:
            for v in rule.verbs:
                if rule.resource_names:
                    out.extend(Rule((v,), (g,), (r,), (n,)) for n in rule.resource_names)
                else:
                    out.append(Rule((v,), (g,), (r,)))
    for u in rule.non_resource_urls:
        out.extend(Rule((v,), non_resource_urls=(u,)) for v in rule.verbs)
    return out


def _resources_cover(owner: tuple[str, ...], wanted: tuple[str, ...]) -> bool:
    if ALL in owner:
        return True
    for r in wanted:
        if r in owner:
            continue
        if "/" not in r or "*/" + r.split("/", 1)[1] not in owner:
            return False
    return True


def _urls_cover(owner: tuple[str, ...], wanted: tuple[str, ...]) -> bool:
    return all(any(o == w or (o.endswith("*") and w.startswith(o.rstrip("*"))) for o in owner)
               for w in wanted)


def rule_covers(owner: Rule, sub: Rule) -> bool:
    """Does owner (any shape) cover sub (atomic, from `breakdown`)?"""
    if not (ALL in owner.verbs or set(sub.verbs) <= set(owner.verbs)):
        return False
    if not (ALL in owner.api_groups or set(sub.api_groups) <= set(owner.api_groups)):
        return False
    if not _resources_cover(owner.resources, sub.resources):
        return False
    if not _urls_cover(owner.non_resource_urls, sub.non_resource_urls):
        return False
    if not sub.resource_names:
        return not owner.resource_names
    return not owner.resource_names or set(sub.resource_names) <= set(owner.resource_names)


def covers(owner: list[Rule], wanted: Iterable[Rule]) -> tuple[bool, list[Rule]]:
    """(covered, the atomic rules of `wanted` that no owner rule covers)."""
    missing = [sub for rule in wanted for sub in breakdown(rule)
               if not any(rule_covers(o, sub) for o in owner)]
    return not missing, missing


def compact(rules: list[Rule]) -> list[Rule]:
    """Atomic rules that differ only in their verb merged into one rule each."""
    merged: dict[tuple, list[str]] = {}
    for r in rules:
        key = (r.api_groups, r.resources, r.resource_names, r.non_resource_urls)
        verbs = merged.setdefault(key, [])
        verbs.extend(v for v in r.verbs if v not in verbs)
    return [Rule(tuple(v), k[0], k[1], k[2], k[3]) for k, v in merged.items()]


def escalation_message(user: UserInfo, missing: list[Rule]) -> str:
    """Kubernetes' text for a grant of permissions the user does not hold."""
    lines = sorted({r.compact() for r in compact(missing)})
    groups = "[" + " ".join(_go_quote(g) for g in user.groups) + "]"
    return (f'user {_go_quote(user.name)} (groups={groups}) is attempting to grant RBAC '
            f"permissions not currently held:\n" + "\n".join(lines))
