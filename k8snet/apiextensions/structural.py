"""Is an openAPIV3Schema structural? (apiextensions-apiserver's ValidateStructural.)

A schema is structural when every node states its type (except under
x-kubernetes-int-or-string or x-kubernetes-preserve-unknown-fields), the logical
junctors (allOf, anyOf, oneOf, not) only add value validation on fields that the
structural part already declares, metadata at the root restricts at most name and
generateName, and additionalProperties is not used at the root.

Schemas are the plain dicts of a CRD's `openAPIV3Schema` (JSONSchemaProps as JSON).

Public names:

    unsupported(schema) -> str | None   why the schema cannot even be made structural
                                         (id, $schema, $ref, patternProperties, ...), in
                                         upstream's words; None when it can
    check(schema, path) -> list[Cause]  the structural violations under `path`
                                         (e.g. "spec.validation.openAPIV3Schema"), sorted
                                         by their text as upstream sorts them; [] if
                                         structural
    is_structural(schema) -> bool
    node(x) -> dict                      x if it is a schema object, else {}
    props(schema) -> dict[str, dict]     the properties that are schema objects
    items(schema) -> dict | None         the items schema (None if absent or an array)
    additional(schema) -> dict | bool | None
                                         additionalProperties: a schema, a bool or None
"""

from __future__ import annotations

import re
from typing import Any, Optional, Union

from k8snet.apiextensions.goerrors import GoErrors, child, index, key, sort_causes

ROOT, ITEM, FIELD = "root", "item", "field"
_EMPTY_TYPE = {ROOT: "must not be empty at the root",
               ITEM: "must not be empty for specified array items",
               FIELD: "must not be empty for specified object fields"}
_METADATA_ALLOWED = {"type", "default", "properties"}
_INT_OR_STRING_ANY_OF = [{"type": "integer"}, {"type": "string"}]
_UNSUPPORTED = (("id", "id"), ("$schema", "schema"), ("$ref", "$ref"),
                ("patternProperties", "patternProperties"), ("dependencies", "dependencies"),
                ("additionalItems", "additionalItems"), ("definitions", "definitions"))


def node(x: Any) -> dict:
    """x when it is a schema object, else an empty schema."""
    return x if isinstance(x, dict) else {}


def props(schema: dict) -> dict[str, dict]:
    """The properties of a schema (those that are objects)."""
    p = schema.get("properties")
    if not isinstance(p, dict):
        return {}
    return {k: v for k, v in p.items() if isinstance(v, dict)}


def items(schema: dict) -> Optional[dict]:
    """The items schema, or None when absent (or given as an array)."""
    it = schema.get("items")
    return it if isinstance(it, dict) else None


def additional(schema: dict) -> Union[dict, bool, None]:
    """additionalProperties: a schema, a bool, or None when absent."""
    ap = schema.get("additionalProperties")
    if isinstance(ap, (dict, bool)):
        return ap
    return None


def _truthy(schema: dict, name: str) -> bool:
    return schema.get(name) is True


def _set(schema: dict, name: str) -> bool:
    """Is a field present with a non-zero value (as Go's zero-value test sees it)?"""
    v = schema.get(name)
    return v not in (None, "", False, [], {})


def unsupported(schema: Any) -> Optional[str]:
    """NewStructural's refusal, or None: the first unsupported construct anywhere."""
    if not isinstance(schema, dict):
        return None
    for field, word in _UNSUPPORTED:
        if _set(schema, field):
            return f"OpenAPIV3Schema '{word}' is not supported"
    if isinstance(schema.get("items"), list) and schema["items"]:
        return "OpenAPIV3Schema 'items' must be a schema, but is an array"
    if schema.get("x-kubernetes-preserve-unknown-fields") is False:
        return "internal error: 'x-kubernetes-preserve-unknown-fields' must be true or undefined"
    subs: list = list(props(schema).values())
    for name in ("items", "not", "additionalProperties"):
        if isinstance(schema.get(name), dict):
            subs.append(schema[name])
    for name in ("allOf", "anyOf", "oneOf"):
        if isinstance(schema.get(name), list):
            subs.extend(schema[name])
    for sub in subs:
        why = unsupported(sub)
        if why:
            return why
    return None


def check(schema: Any, path: str) -> list[dict]:
    """ValidateStructural: the causes that make `schema` non-structural, sorted."""
    errs = GoErrors()
    s = node(schema)
    _invariants(errs, s, ROOT, path)
    _completeness(errs, s.get("not"), s.get("allOf"), s.get("anyOf"), s.get("oneOf"),
                  s, path, path)
    return sort_causes(errs.causes)


def is_structural(schema: Any) -> bool:
    """True when the schema can be made structural and has no violation."""
    return unsupported(schema) is None and not check(schema, "")


# -- invariants ----------------------------------------------------------------------

def _invariants(errs: GoErrors, s: dict, lvl: str, path: str) -> None:
    stype = s.get("type") or ""
    if stype == "array" and items(s) is None:
        errs.required(child(path, "items"), "must be specified")
    if items(s) is not None:
        _invariants(errs, items(s), ITEM, child(path, "items"))
    for k, sub in props(s).items():
        _invariants(errs, sub, FIELD, key(child(path, "properties"), k))
    ap = additional(s)
    if ap is not None:
        if lvl == ROOT:
            errs.forbidden(child(path, "additionalProperties"), "must not be used at the root")
        if isinstance(ap, dict):
            _invariants(errs, ap, FIELD, child(path, "additionalProperties"))
    int_or_string = _truthy(s, "x-kubernetes-int-or-string")
    preserve = _truthy(s, "x-kubernetes-preserve-unknown-fields")
    embedded = _truthy(s, "x-kubernetes-embedded-resource")
    if int_or_string and preserve:
        errs.invalid(child(path, "x-kubernetes-preserve-unknown-fields"), True,
                     "must be false if x-kubernetes-int-or-string is true")
    if int_or_string and embedded:
        errs.invalid(child(path, "x-kubernetes-embedded-resource"), True,
                     "must be false if x-kubernetes-int-or-string is true")
    _value_validation(errs, s, _is_int_or_string_any_of(s), _is_int_or_string_all_of(s),
                      lvl, path)
    check_meta = lvl == ROOT or embedded
    if embedded and stype != "object":
        if not stype:
            errs.required(child(path, "type"),
                          "must be object if x-kubernetes-embedded-resource is true")
        else:
            errs.invalid(child(path, "type"), stype,
                         "must be object if x-kubernetes-embedded-resource is true")
    elif not stype and not int_or_string and not preserve:
        errs.required(child(path, "type"), _EMPTY_TYPE[lvl])
    if embedded and ap is not None:
        errs.forbidden(child(path, "additionalProperties"),
                       "must not be used if x-kubernetes-embedded-resource is set")
    if lvl == ROOT and stype and stype != "object":
        errs.invalid(child(path, "type"), stype, "must be object at the root")
    p = props(s)
    for name in ("kind", "apiVersion"):
        if name in p and check_meta and (p[name].get("type") or "") != "string":
            errs.invalid(child(key(child(path, "properties"), name), "type"),
                         p[name].get("type") or "", "must be string")
    if "metadata" in p:
        _metadata(errs, p["metadata"], check_meta, lvl,
                  key(child(path, "properties"), "metadata"))
    if embedded and not preserve and not p:
        errs.required(child(path, "properties"),
                      "must not be empty if x-kubernetes-embedded-resource is true without "
                      "x-kubernetes-preserve-unknown-fields")


def _metadata(errs: GoErrors, s: dict, check_meta: bool, lvl: str, path: str) -> None:
    stype = s.get("type") or ""
    if check_meta and stype != "object":
        errs.invalid(child(path, "type"), stype, "must be object")
    if lvl != ROOT:
        return
    names = set(props(s))
    restricted_ok = names <= {"name", "generateName"}
    extra = [k for k in s if k not in _METADATA_ALLOWED and _set(s, k)]
    if not restricted_ok or extra:
        errs.forbidden(path, "must not specify anything other than name and generateName, "
                             "but metadata is implicitly specified")


def _is_int_or_string_any_of(s: dict) -> bool:
    return s.get("anyOf") == _INT_OR_STRING_ANY_OF


def _is_int_or_string_all_of(s: dict) -> bool:
    all_of = s.get("allOf")
    return (isinstance(all_of, list) and len(all_of) >= 1 and isinstance(all_of[0], dict)
            and all_of[0].get("anyOf") == _INT_OR_STRING_ANY_OF)


def _value_validation(errs: GoErrors, v: dict, skip_any_of: bool, skip_first_all_of_any_of: bool,
                      lvl: str, path: str) -> None:
    if not skip_any_of:
        for i, sub in enumerate(_list(v.get("anyOf"))):
            _nested(errs, node(sub), False, lvl, index(child(path, "anyOf"), i))
    for i, sub in enumerate(_list(v.get("allOf"))):
        _nested(errs, node(sub), skip_first_all_of_any_of and i == 0, lvl,
                index(child(path, "allOf"), i))
    for i, sub in enumerate(_list(v.get("oneOf"))):
        _nested(errs, node(sub), False, lvl, index(child(path, "oneOf"), i))
    if isinstance(v.get("not"), dict):
        _nested(errs, v["not"], False, lvl, child(path, "not"))
    pattern = v.get("pattern")
    if isinstance(pattern, str) and pattern:
        try:
            re.compile(pattern)
        except re.error as e:
            errs.invalid(child(path, "pattern"), pattern,
                         f"must be a valid regular expression, but isn't: {e}")


_NESTED_FORBIDDEN = (
    ("type", "must be empty to be structural"),
    ("default", "must be undefined to be structural"),
    ("title", "must be empty to be structural"),
    ("description", "must be empty to be structural"),
    ("nullable", "must be false to be structural"),
    ("x-kubernetes-preserve-unknown-fields", "must be false to be structural"),
    ("x-kubernetes-embedded-resource", "must be false to be structural"),
    ("x-kubernetes-int-or-string", "must be false to be structural"),
    ("x-kubernetes-list-map-keys", "must be empty to be structural"),
    ("x-kubernetes-list-type", "must be undefined to be structural"),
    ("x-kubernetes-map-type", "must be undefined to be structural"),
    ("x-kubernetes-validations", "must be empty to be structural"),
)


def _nested(errs: GoErrors, v: dict, skip_any_of: bool, lvl: str, path: str) -> None:
    _value_validation(errs, v, skip_any_of, False, lvl, path)
    if items(v) is not None:
        _nested(errs, items(v), False, lvl, child(path, "items"))
    for k, sub in props(v).items():
        _nested(errs, sub, False, FIELD, key(child(path, "properties"), k))
    if isinstance(v.get("additionalProperties"), dict) or v.get("additionalProperties") is True:
        errs.forbidden(child(path, "additionalProperties"), "must be undefined to be structural")
    for name, detail in _NESTED_FORBIDDEN:
        present = v.get(name) is not None if name in ("default", "x-kubernetes-list-type",
                                                      "x-kubernetes-map-type") else _set(v, name)
        if present:
            errs.forbidden(child(path, name), detail)
    if "metadata" in props(v):
        errs.forbidden(key(child(path, "properties"), "metadata"),
                       "must not be specified in a nested context")


def _list(x: Any) -> list:
    return x if isinstance(x, list) else []


# -- completeness ------------------------------------------------------------------------

def _completeness(errs: GoErrors, not_: Any, all_of: Any, any_of: Any, one_of: Any,
                  s: Optional[dict], spath: str, vpath: str) -> None:
    """Every field a junctor speaks about must exist in the structural part too."""
    if not_ is None and not _list(all_of) and not _list(any_of) and not _list(one_of):
        return
    if s is None:
        errs.required(spath, f"because it is defined in {vpath}")
        return
    if isinstance(not_, dict):
        _nested_completeness(errs, not_, s, spath, child(vpath, "not"))
    for word, junctor in (("allOf", all_of), ("anyOf", any_of), ("oneOf", one_of)):
        for i, sub in enumerate(_list(junctor)):
            _nested_completeness(errs, node(sub), s, spath, index(child(vpath, word), i))


def _nested_completeness(errs: GoErrors, v: dict, s: Optional[dict], spath: str,
                         vpath: str) -> None:
    if s is None:
        errs.required(spath, f"because it is defined in {vpath}")
        return
    _completeness(errs, v.get("not"), v.get("allOf"), v.get("anyOf"), v.get("oneOf"),
                  s, spath, vpath)
    if items(v) is not None:
        _nested_completeness(errs, items(v), items(s), child(spath, "items"),
                             child(vpath, "items"))
    sprops = props(s)
    for k, sub in props(v).items():
        if k not in sprops:
            errs.required(key(child(spath, "properties"), k),
                          f"because it is defined in {key(child(vpath, 'properties'), k)}")
        else:
            _nested_completeness(errs, sub, sprops[k], key(child(spath, "properties"), k),
                                 key(child(vpath, "properties"), k))

