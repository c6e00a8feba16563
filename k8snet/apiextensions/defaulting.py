"""Defaulting of custom resources from `default` in a structural schema.

As apiextensions-apiserver does it: a property that is absent, or null while not
nullable, gets a copy of its schema's default; then defaulting goes on inside every
field, item and additionalProperties value (so defaults of a defaulted object apply
too). Only the structural part of the schema counts.

Public names:

    apply_defaults(obj, schema)   fills defaults in place (and returns obj)
    has_defaults(schema) -> bool  does any node of the schema carry a default?
"""

from __future__ import annotations

import copy
from typing import Any, Optional

from k8snet.apiextensions.structural import additional, items, node, props


def _non_nullable_null(x: Any, s: Optional[dict]) -> bool:
    return x is None and s is not None and not s.get("nullable")


def apply_defaults(obj: Any, schema: Optional[dict]) -> Any:
    """Fill absent (or non-nullable null) fields from their schema's default, in place."""
    _default(obj, schema)
    return obj


def _default(x: Any, s: Optional[dict]) -> None:
    if s is None:
        return
    if isinstance(x, dict):
        p = props(s)
        for k, sub in p.items():
            if sub.get("default") is None:
                continue
            if k not in x or _non_nullable_null(x[k], sub):
                x[k] = copy.deepcopy(sub["default"])
        ap = additional(s)
        ap_schema = ap if isinstance(ap, dict) else None
        for k in list(x):
            if k in p:
                _default(x[k], p[k])
            elif ap is not None:
                if _non_nullable_null(x[k], ap_schema) and ap_schema is not None \
                        and ap_schema.get("default") is not None:
                    x[k] = copy.deepcopy(ap_schema["default"])
                _default(x[k], ap_schema)
    elif isinstance(x, list):
        it = items(s)
        for i in range(len(x)):
            if _non_nullable_null(x[i], it) and it is not None and it.get("default") is not None:
                x[i] = copy.deepcopy(it["default"])
            _default(x[i], it)


def has_defaults(schema: Any) -> bool:
    """Does any node (structural or inside a junctor) carry a default?"""
    s = node(schema)
    if not s:
        return False
    if s.get("default") is not None:
        return True
    subs: list = list(props(s).values())
    for name in ("items", "not", "additionalProperties"):
        if isinstance(s.get(name), dict):
            subs.append(s[name])
    for name in ("allOf", "anyOf", "oneOf"):
        if isinstance(s.get(name), list):
            subs.extend(s[name])
    return any(has_defaults(sub) for sub in subs)
