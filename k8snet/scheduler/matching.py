"""Matching rules shared by filters and scores: node selector terms, tolerations,
and Pod affinity terms (Kubernetes semantics, plain dicts in)."""

from __future__ import annotations

from typing import Optional

from k8snet.api.selectors import label_selector_from_dict


def _int(text: str) -> Optional[int]:
    try:
        return int(text)
    except (TypeError, ValueError):
        return None


def requirement_matches(req: dict, values: dict) -> bool:
    """One NodeSelectorRequirement (In, NotIn, Exists, DoesNotExist, Gt, Lt) against a map."""
    key, op = req.get("key", ""), req.get("operator")
    wanted = req.get("values") or []
    present = key in values
    value = values.get(key)
    if op == "In":
        return present and value in wanted
    if op == "NotIn":
        return not present or value not in wanted
    if op == "Exists":
        return present
    if op == "DoesNotExist":
        return not present
    if op in ("Gt", "Lt"):
        have, bound = _int(value) if present else None, _int(wanted[0]) if wanted else None
        if have is None or bound is None:
            return False
        return have > bound if op == "Gt" else have < bound
    return False


def node_selector_term_matches(term: dict, node: dict) -> bool:
    """All matchExpressions (labels) and matchFields hold; an empty term matches none."""
    exprs = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not exprs and not fields:
        return False
    labels = node.get("metadata", {}).get("labels") or {}
    node_fields = {"metadata.name": node.get("metadata", {}).get("name")}
    return (all(requirement_matches(e, labels) for e in exprs)
            and all(requirement_matches(f, node_fields) for f in fields))


def required_node_affinity(pod: dict) -> Optional[list[dict]]:
    """The Pod's required nodeSelectorTerms, or None when it has none."""
    affinity = ((pod.get("spec") or {}).get("affinity") or {}).get("nodeAffinity") or {}
    required = affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
    if not required:
        return None
    return required.get("nodeSelectorTerms") or []


def node_matches_pod(pod: dict, node: dict) -> bool:
    """nodeSelector (every label equal) and required node affinity (any term)."""
    labels = node.get("metadata", {}).get("labels") or {}
    selector = (pod.get("spec") or {}).get("nodeSelector") or {}
    if any(labels.get(k) != v for k, v in selector.items()):
        return False
    terms = required_node_affinity(pod)
    return terms is None or any(node_selector_term_matches(t, node) for t in terms)


def toleration_matches(toleration: dict, taint: dict) -> bool:
    """Whether one toleration tolerates one taint (key/operator/value/effect)."""
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    operator = toleration.get("operator") or "Equal"
    if not key:
        return operator == "Exists"
    if key != taint.get("key"):
        return False
    if operator == "Exists":
        return True
    return (toleration.get("value") or "") == (taint.get("value") or "")


def tolerated(pod: dict, taint: dict) -> bool:
    """Whether any of the Pod's tolerations tolerates `taint`."""
    return any(toleration_matches(t, taint) for t in (pod.get("spec") or {}).get("tolerations")
               or [])


def _namespaces(term: dict, pod: dict) -> Optional[set]:
    """Namespaces a term applies to; None means all (an empty namespaceSelector).

    A non-empty namespaceSelector must first be resolved into `namespaces` with
    `resolve_namespace_selectors` (it needs the Namespaces' labels).
    """
    if term.get("namespaceSelector") == {}:
        return None
    names = set(term.get("namespaces") or [])
    if term.get("namespaceSelector"):
        return names
    return names or {pod.get("metadata", {}).get("namespace", "default")}


_AFFINITY_LISTS = ("requiredDuringSchedulingIgnoredDuringExecution",
                   "preferredDuringSchedulingIgnoredDuringExecution")


def resolve_namespace_selectors(pod: dict, namespace_labels: dict[str, dict]) -> dict:
    """The Pod with the namespaces each non-empty namespaceSelector of its (anti-)affinity
    terms selects added to the term's own `namespaces` (which `_namespaces` then uses)."""
    affinity = (pod.get("spec") or {}).get("affinity") or {}
    if not any("namespaceSelector" in str(affinity.get(k) or "")
               for k in ("podAffinity", "podAntiAffinity")):
        return pod
    new_affinity = dict(affinity)
    for kind in ("podAffinity", "podAntiAffinity"):
        section = dict(affinity.get(kind) or {})
        for list_name in _AFFINITY_LISTS:
            terms = []
            for item in section.get(list_name) or []:
                weighted = "podAffinityTerm" in item
                term = dict(item["podAffinityTerm"] if weighted else item)
                sel = term.get("namespaceSelector")
                if sel:
                    try:
                        selector = label_selector_from_dict(sel)
                        chosen = {ns for ns, labels in namespace_labels.items()
                                  if selector.matches(labels)}
                    except ValueError:
                        chosen = set()
                    term["namespaces"] = sorted(set(term.get("namespaces") or []) | chosen)
                terms.append(dict(item, podAffinityTerm=term) if weighted else term)
            if list_name in section:
                section[list_name] = terms
        if kind in affinity:
            new_affinity[kind] = section
    spec = dict(pod.get("spec") or {}, affinity=new_affinity)
    return dict(pod, spec=spec)


def term_matches_pod(term: dict, owner: dict, other: dict) -> bool:
    """Whether `other` is selected by a PodAffinityTerm that belongs to `owner`."""
    namespaces = _namespaces(term, owner)
    if namespaces is not None and \
            other.get("metadata", {}).get("namespace", "default") not in namespaces:
        return False
    try:
        selector = label_selector_from_dict(term.get("labelSelector"))
    except ValueError:
        return False
    return selector.matches(other.get("metadata", {}).get("labels") or {})


def pod_affinity_terms(pod: dict, kind: str, required: bool = True) -> list[dict]:
    """Required (or weighted preferred) terms of podAffinity or podAntiAffinity."""
    section = ((pod.get("spec") or {}).get("affinity") or {}).get(kind) or {}
    if required:
        return section.get("requiredDuringSchedulingIgnoredDuringExecution") or []
    return section.get("preferredDuringSchedulingIgnoredDuringExecution") or []


def owner_uid(pod: dict) -> Optional[str]:
    """The uid of the Pod's controller owner (ReplicaSet, ...), if any."""
    for ref in pod.get("metadata", {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref.get("uid")
    return None
