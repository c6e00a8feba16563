"""Pruning: dropping the fields a structural schema does not specify.

Follows apiextensions-apiserver's pruning algorithm: only the structural part of the
schema counts (properties, items, additionalProperties; never allOf/anyOf/oneOf/not);
x-kubernetes-preserve-unknown-fields keeps unknown fields at that node (specified
fields below it are still pruned); apiVersion, kind and metadata are kept at the root
and in every x-kubernetes-embedded-resource. The paths of what was dropped are what
fieldValidation=Strict refuses and =Warn warns about (`unknown field "spec.foo"`).

Public names:

    prune(obj, schema, is_resource_root=True) -> list[str]
        drops unknown fields in place; returns their paths sorted ("spec.foo",
        "spec.list[0].x"; a field at the root is just its name)
    prune_metadata(obj) -> list[str]
        drops fields of the root metadata that ObjectMeta does not have
        ("metadata.foo"), as decoding into ObjectMeta does
    prune_nulls(obj, schema)
        drops null values of non-nullable fields that have no default (in place)
    OBJECT_META_FIELDS
"""

from __future__ import annotations

from typing import Any, Optional

from k8snet.apiextensions.structural import additional, items, props

META_FIELDS = ("apiVersion", "kind", "metadata")
OBJECT_META_FIELDS = frozenset((
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
    "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
    "annotations", "ownerReferences", "finalizers", "managedFields"))


def _join(parent: str, k: str) -> str:
    return f"{parent}.{k}" if parent else k


def prune(obj: Any, schema: Optional[dict], is_resource_root: bool = True) -> list[str]:
    """Drop unknown fields in place; the sorted paths of those dropped."""
    s = dict(schema or {})
    if is_resource_root and not s.get("x-kubernetes-embedded-resource"):
        s["x-kubernetes-embedded-resource"] = True
    found: list[str] = []
    _prune(obj, s, "", found)
    return sorted(found)


def _sub(s: dict, k: str) -> tuple[bool, Optional[dict]]:
    """(is k specified, its schema): a property, or additionalProperties."""
    p = props(s)
    if k in p:
        return True, p[k]
    ap = additional(s)
    if ap is not None:
        return True, ap if isinstance(ap, dict) else None
    return False, None


def _prune(x: Any, s: Optional[dict], path: str, found: list[str]) -> None:
    if s is not None and s.get("x-kubernetes-preserve-unknown-fields") is True:
        _skip_prune(x, s, path, found)
        return
    if isinstance(x, dict):
        if s is None:
            for k in list(x):
                found.append(_join(path, k))
                del x[k]
            return
        embedded = s.get("x-kubernetes-embedded-resource") is True
        for k in list(x):
            if embedded and k in META_FIELDS:
                continue
            specified, sub = _sub(s, k)
            if specified:
                _prune(x[k], sub, _join(path, k), found)
            else:
                if k not in META_FIELDS or path:
                    found.append(_join(path, k))
                del x[k]
    elif isinstance(x, list):
        sub_items = items(s) if s is not None else None
        for i, v in enumerate(x):
            _prune(v, sub_items, f"{path}[{i}]", found)


def _skip_prune(x: Any, s: dict, path: str, found: list[str]) -> None:
    if isinstance(x, dict):
        embedded = s.get("x-kubernetes-embedded-resource") is True
        for k in list(x):
            if embedded and k in META_FIELDS:
                continue
            specified, sub = _sub(s, k)
            if specified:
                _prune(x[k], sub, _join(path, k), found)
    elif isinstance(x, list):
        sub_items = items(s)
        if sub_items is None:
            return
        for i, v in enumerate(x):
            _skip_prune(v, sub_items, f"{path}[{i}]", found)


def prune_metadata(obj: Any) -> list[str]:
    """Drop root metadata fields that ObjectMeta does not have; their paths."""
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    if not isinstance(meta, dict):
        return []
    unknown = sorted(k for k in meta if k not in OBJECT_META_FIELDS)
    for k in unknown:
        del meta[k]
    return [f"metadata.{k}" for k in unknown]


def prune_nulls(x: Any, s: Optional[dict]) -> None:
    """Drop nulls of fields that are neither nullable nor defaulted (in place)."""
    if isinstance(x, dict):
        for k in list(x):
            sub = None
            if s is not None:
                _, sub = _sub(s, k)
            if x[k] is None and sub is not None and not sub.get("nullable") \
                    and sub.get("default") is None:
                del x[k]
            else:
                prune_nulls(x[k], sub)
    elif isinstance(x, list):
        sub_items = items(s) if s is not None else None
        for v in x:
            prune_nulls(v, sub_items)
