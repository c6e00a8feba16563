"""Validation of one CRD version's openAPIV3Schema (apiextensions-apiserver 1.32).

What the schema itself may say: the OpenAPI v3 subset Kubernetes accepts (no $ref,
id, patternProperties, ...), structurality (k8snet.apiextensions.structural), defaults
that are pruned and valid against their own schema, the x-kubernetes-* extensions used
consistently (list-type/map-keys, map-type, embedded resources), the root restrictions
when the status subresource is enabled, and the shape of x-kubernetes-validations
rules (their CEL is not compiled here).

Public names:

    validate_schema(validation, status_enabled, path) -> list[Cause]
        `validation` is the CustomResourceValidation ({"openAPIV3Schema": {...}});
        `path` is where it sits in the internal CRD: "spec.validation" when every
        version has the same schema, else "spec.versions[i].schema"
    OPENAPI_TYPES
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import Any

from k8snet.apiextensions import structural
from k8snet.apiextensions.crvalidation import SchemaValidator
from k8snet.apiextensions.goerrors import GoErrors, child, index, key
from k8snet.apiextensions.pruning import prune
from k8snet.apiextensions.structural import additional, items, node, props

OPENAPI_TYPES = ("array", "boolean", "integer", "number", "object", "string")
_META_FIELDS = ("metadata", "kind", "apiVersion")
# JSONSchemaProps' fields in declaration order, with their JSON names
_FIELDS = (
    ("ID", "id"), ("Schema", "$schema"), ("Ref", "$ref"), ("Description", "description"),
    ("Type", "type"), ("Format", "format"), ("Title", "title"), ("Default", "default"),
    ("Maximum", "maximum"), ("ExclusiveMaximum", "exclusiveMaximum"),
    ("Minimum", "minimum"), ("ExclusiveMinimum", "exclusiveMinimum"),
    ("MaxLength", "maxLength"), ("MinLength", "minLength"), ("Pattern", "pattern"),
    ("MaxItems", "maxItems"), ("MinItems", "minItems"), ("UniqueItems", "uniqueItems"),
    ("MultipleOf", "multipleOf"), ("Enum", "enum"), ("MaxProperties", "maxProperties"),
    ("MinProperties", "minProperties"), ("Required", "required"), ("Items", "items"),
    ("AllOf", "allOf"), ("OneOf", "oneOf"), ("AnyOf", "anyOf"), ("Not", "not"),
    ("Properties", "properties"), ("AdditionalProperties", "additionalProperties"),
    ("PatternProperties", "patternProperties"), ("Dependencies", "dependencies"),
    ("AdditionalItems", "additionalItems"), ("Definitions", "definitions"),
    ("ExternalDocs", "externalDocs"), ("Example", "example"), ("Nullable", "nullable"),
    ("XPreserveUnknownFields", "x-kubernetes-preserve-unknown-fields"),
    ("XEmbeddedResource", "x-kubernetes-embedded-resource"),
    ("XIntOrString", "x-kubernetes-int-or-string"),
    ("XListMapKeys", "x-kubernetes-list-map-keys"), ("XListType", "x-kubernetes-list-type"),
    ("XMapType", "x-kubernetes-map-type"), ("XValidations", "x-kubernetes-validations"))
_ALLOWED_AT_ROOT = ("Description", "Type", "Format", "Title", "Maximum", "ExclusiveMaximum",
                    "Minimum", "ExclusiveMinimum", "MaxLength", "MinLength", "Pattern",
                    "MaxItems", "MinItems", "UniqueItems", "MultipleOf", "Required", "Items",
                    "Properties", "ExternalDocs", "Example", "XPreserveUnknownFields",
                    "XValidations")
_FORBIDDEN_KEYWORDS = (("id", "id is not supported"),
                       ("additionalItems", "additionalItems is not supported"),
                       ("patternProperties", "patternProperties is not supported"),
                       ("definitions", "definitions is not supported"),
                       ("dependencies", "dependencies is not supported"),
                       ("$ref", "$ref is not supported"))
_VALIDATION_REASONS = ("FieldValueDuplicate", "FieldValueForbidden", "FieldValueInvalid",
                       "FieldValueRequired")
# JSON types of the keywords a Go decoder would enforce
_KEYWORD_TYPES = {
    "type": str, "format": str, "pattern": str, "description": str, "title": str,
    "maximum": (int, float), "minimum": (int, float), "multipleOf": (int, float),
    "exclusiveMaximum": bool, "exclusiveMinimum": bool, "uniqueItems": bool,
    "nullable": bool, "maxLength": int, "minLength": int, "maxItems": int, "minItems": int,
    "maxProperties": int, "minProperties": int, "required": list, "enum": list,
    "allOf": list, "anyOf": list, "oneOf": list, "not": dict, "properties": dict,
    "x-kubernetes-preserve-unknown-fields": bool, "x-kubernetes-embedded-resource": bool,
    "x-kubernetes-int-or-string": bool, "x-kubernetes-list-map-keys": list,
    "x-kubernetes-list-type": str, "x-kubernetes-map-type": str,
    "x-kubernetes-validations": list,
}
_TYPE_WORDS = {str: "string", bool: "boolean", int: "integer", list: "array", dict: "object",
               (int, float): "number"}


@dataclass(frozen=True)
class _Ctx:
    """specStandardValidatorV3's options as it descends."""

    allow_defaults: bool = True
    defaults_reason: str = ""
    inside_meta: bool = False


def _set(s: dict, name: str) -> bool:
    v = s.get(name)
    return v not in (None, "", False, [], {})


def validate_schema(validation: Any, status_enabled: bool, path: str) -> list[dict]:
    """Causes that make a CustomResourceValidation unacceptable ([] when fine)."""
    errs = GoErrors()
    if not isinstance(validation, dict):
        return errs.causes
    schema = validation.get("openAPIV3Schema")
    if schema is None:
        return errs.causes
    spath = child(path, "openAPIV3Schema")
    if not isinstance(schema, dict):
        errs.type_invalid(spath, schema, "object")
        return errs.causes
    if _shapes(errs, schema, spath):
        return errs.causes
    if status_enabled:
        _status_root(errs, schema, path)
    if schema.get("nullable") is True:
        errs.forbidden(child(spath, "nullable"), "nullable cannot be true at the root")
    init_errors: list[dict] = []
    why = structural.unsupported(schema)
    if why:
        init_errors.append({"field": spath, "reason": "FieldValueInvalid",
                            "message": f'Invalid value: "": {why}'})
    else:
        violations = structural.check(schema, spath)
        if violations:
            errs.causes.extend(violations)
        else:
            errs.causes.extend(_defaults(schema, spath))
    _openapi(errs, schema, spath, _Ctx(), is_root=True)
    if not errs.causes and init_errors:
        errs.causes.extend(init_errors)
    return errs.causes


def _shapes(errs: GoErrors, s: dict, path: str) -> bool:
    """Keywords whose JSON type is wrong (a Go decoder would refuse them); True if any."""
    bad = False
    for word, want in _KEYWORD_TYPES.items():
        v = s.get(word)
        if v is None:
            continue
        ok = isinstance(v, want) and not (isinstance(v, bool) and want in (int, (int, float)))
        if not ok:
            errs.type_invalid(child(path, word), v, _TYPE_WORDS[want])
            bad = True
    for k, sub in (s.get("properties") or {}).items() if isinstance(s.get("properties"),
                                                                     dict) else ():
        if not isinstance(sub, dict):
            errs.type_invalid(key(child(path, "properties"), k), sub, "object")
            bad = True
        else:
            bad |= _shapes(errs, sub, key(child(path, "properties"), k))
    for word in ("items", "additionalProperties", "not"):
        sub = s.get(word)
        if isinstance(sub, dict):
            bad |= _shapes(errs, sub, child(path, word))
        elif sub is not None and word == "additionalProperties" and not isinstance(sub, bool):
            errs.type_invalid(child(path, word), sub, "object")
            bad = True
        elif sub is not None and word == "items" and not isinstance(sub, list):
            errs.type_invalid(child(path, word), sub, "object")
            bad = True
    for word in ("allOf", "anyOf", "oneOf"):
        for i, sub in enumerate(s.get(word) if isinstance(s.get(word), list) else []):
            if not isinstance(sub, dict):
                errs.type_invalid(index(child(path, word), i), sub, "object")
                bad = True
            else:
                bad |= _shapes(errs, sub, index(child(path, word), i))
    return bad


def _status_root(errs: GoErrors, schema: dict, path: str) -> None:
    """With the status subresource, only some fields may be set at the root."""
    for go_name, json_name in _FIELDS:
        if not _set(schema, json_name):
            continue
        if go_name == "Type":
            if schema.get("type") != "object":
                errs.invalid(child(path, "openAPIV3Schema.type"), schema.get("type"),
                             'only "object" is allowed as the type at the root of the schema '
                             'if the status subresource is enabled')
                return
            continue
        if go_name not in _ALLOWED_AT_ROOT:
            errs.invalid(child(path, "openAPIV3Schema"), schema,
                         f"only [{' '.join(_ALLOWED_AT_ROOT)}] fields are allowed at the root "
                         "of the schema if the status subresource is enabled")
            return


# -- defaults ------------------------------------------------------------------------------

def _defaults(schema: dict, spath: str) -> list[dict]:
    """Every default is pruned (no unknown fields) and valid against its own schema."""
    errs = GoErrors()
    root = dict(schema)
    root.setdefault("x-kubernetes-embedded-resource", True)
    _default_node(errs, root, spath, inside_meta=False)
    return errs.causes


def _default_node(errs: GoErrors, s: dict, path: str, inside_meta: bool) -> None:
    embedded = s.get("x-kubernetes-embedded-resource") is True
    if embedded:
        inside_meta = False
    if s.get("default") is not None and not inside_meta:
        value = s["default"]
        pruned = copy.deepcopy(value)
        prune(pruned, s, is_resource_root=embedded)
        if pruned != value:
            errs.invalid(child(path, "default"), value, "must not have unknown fields")
        errs.causes.extend(SchemaValidator(s).validate(value, child(path, "default")))
    if items(s) is not None:
        _default_node(errs, items(s), child(path, "items"), inside_meta)  # type: ignore[arg-type]
    for k, sub in props(s).items():
        _default_node(errs, sub, key(child(path, "properties"), k),
                      inside_meta or (embedded and k in _META_FIELDS))


# -- the OpenAPI subset and the extensions -------------------------------------------------

def _standard(errs: GoErrors, s: dict, path: str, ctx: _Ctx) -> None:
    stype = s.get("type") or ""
    if stype and stype not in OPENAPI_TYPES:
        errs.not_supported(child(path, "type"), stype, OPENAPI_TYPES)
    if s.get("default") is not None and not ctx.allow_defaults:
        detail = "must not be set" + (f" {ctx.defaults_reason}" if ctx.defaults_reason else "")
        errs.forbidden(child(path, "default"), detail)
    for word, detail in _FORBIDDEN_KEYWORDS:
        if _set(s, word):
            errs.forbidden(child(path, word), detail)
    if stype == "null":
        errs.forbidden(child(path, "type"), "type cannot be set to null, use nullable as an "
                                            "alternative")
    if isinstance(s.get("items"), list) and s["items"]:
        errs.forbidden(child(path, "items"), "items must be a schema object and not an array")
    if ctx.inside_meta and s.get("x-kubernetes-embedded-resource") is True:
        errs.forbidden(child(path, "x-kubernetes-embedded-resource"),
                       "must not be used inside of resource meta")


def _openapi(errs: GoErrors, s: dict, path: str, ctx: _Ctx, is_root: bool = False) -> None:
    _standard(errs, s, path, ctx)
    if s.get("uniqueItems") is True:
        errs.forbidden(child(path, "uniqueItems"), "uniqueItems cannot be set to true since the "
                                                   "runtime complexity becomes quadratic")
    ap = additional(s)
    if ap is not None:
        if props(s) and (ap is False or isinstance(ap, dict)):
            errs.forbidden(child(path, "additionalProperties"),
                           "additionalProperties and properties are mutual exclusive")
        if isinstance(ap, dict):
            sub = ctx
            if ctx.inside_meta:
                sub = replace(ctx, allow_defaults=False, defaults_reason="inside "
                              "additionalProperties applying to object metadata")
            _openapi(errs, ap, child(path, "additionalProperties"), sub)
    embedded = s.get("x-kubernetes-embedded-resource") is True
    for k, sub_schema in props(s).items():
        sub = ctx
        if (is_root or embedded) and k in _META_FIELDS:
            sub = replace(sub, inside_meta=True)
            if is_root:
                sub = replace(sub, allow_defaults=False, defaults_reason=f"in top-level {k}")
        _openapi(errs, sub_schema, key(child(path, "properties"), k), sub)
    if isinstance(s.get("not"), dict):
        _openapi(errs, s["not"], child(path, "not"), ctx)
    for word in ("allOf", "oneOf", "anyOf"):
        for i, sub_schema in enumerate(s.get(word) or []):
            _openapi(errs, node(sub_schema), index(child(path, word), i), ctx)
    if items(s) is not None:
        _openapi(errs, items(s), child(path, "items"), ctx)  # type: ignore[arg-type]
    if s.get("x-kubernetes-preserve-unknown-fields") is False:
        errs.invalid(child(path, "x-kubernetes-preserve-unknown-fields"), False,
                     "must be true or undefined")
    _map_type(errs, s, path)
    _list_type(errs, s, path)
    _map_set_keys(errs, s, path)
    _rules(errs, s, path)


def _type_must_be(errs: GoErrors, s: dict, path: str, want: str, why: str) -> None:
    stype = s.get("type") or ""
    if not stype:
        errs.required(child(path, "type"), f"must be {want} if {why}")
    else:
        errs.invalid(child(path, "type"), stype, f"must be {want} if {why}")


def _map_type(errs: GoErrors, s: dict, path: str) -> None:
    map_type = s.get("x-kubernetes-map-type")
    if map_type is None:
        return
    if s.get("type") != "object":
        _type_must_be(errs, s, path, "object", "x-kubernetes-map-type is specified")
    if map_type not in ("atomic", "granular"):
        errs.not_supported(child(path, "x-kubernetes-map-type"), map_type, ("atomic", "granular"))


def _list_type(errs: GoErrors, s: dict, path: str) -> None:
    list_type = s.get("x-kubernetes-list-type")
    item = items(s)
    if list_type is not None and s.get("type") != "array":
        _type_must_be(errs, s, path, "array", "x-kubernetes-list-type is specified")
    elif list_type == "set" and item is not None:
        if item.get("type") == "array":
            inner = item.get("x-kubernetes-list-type")
            if inner is not None and inner != "atomic":
                errs.invalid(child(path, "items", "x-kubernetes-list-type"), inner,
                             "must be atomic as item of a list with x-kubernetes-list-type=set")
        elif item.get("type") == "object" and item.get("x-kubernetes-map-type") != "atomic":
            errs.invalid(child(path, "items", "x-kubernetes-map-type"),
                         item.get("x-kubernetes-list-type"),
                         "must be atomic as item of a list with x-kubernetes-list-type=set")
    if list_type is not None and list_type not in ("atomic", "set", "map"):
        errs.not_supported(child(path, "x-kubernetes-list-type"), list_type,
                           ("atomic", "set", "map"))
    keys = s.get("x-kubernetes-list-map-keys") or []
    if keys:
        if list_type is None:
            errs.required(child(path, "x-kubernetes-list-type"),
                          "must be map if x-kubernetes-list-map-keys is non-empty")
        elif list_type != "map":
            errs.invalid(child(path, "x-kubernetes-list-type"), list_type,
                         "must be map if x-kubernetes-list-map-keys is non-empty")
    if list_type != "map":
        return
    if not keys:
        errs.required(child(path, "x-kubernetes-list-map-keys"),
                      "must not be empty if x-kubernetes-list-type is map")
    if s.get("items") is None:
        errs.required(child(path, "items"), "must have a schema if x-kubernetes-list-type is map")
        return
    if item is None:
        errs.invalid(child(path, "items"), s.get("items"),
                     "must only have a single schema if x-kubernetes-list-type is map")
        return
    if item.get("type") != "object":
        errs.invalid(child(path, "items", "type"), item.get("type") or "",
                     "must be object if parent array's x-kubernetes-list-type is map")
        return
    seen: set = set()
    item_props = props(item)
    for k in keys:
        if k in item_props:
            if item_props[k].get("type") in ("array", "object"):
                errs.invalid(child(key(child(path, "items", "properties"), k), "type"), "object",
                             "must be a scalar type if parent array's x-kubernetes-list-type "
                             "is map")
        else:
            errs.invalid(child(path, "x-kubernetes-list-map-keys"), keys,
                         "entries must all be names of item properties")
        if k in seen:
            errs.invalid(child(path, "x-kubernetes-list-map-keys"), keys,
                         "must not contain duplicate entries")
        seen.add(k)


def _map_set_keys(errs: GoErrors, s: dict, path: str) -> None:
    item = items(s)
    list_type = s.get("x-kubernetes-list-type")
    if item is None or list_type not in ("set", "map"):
        return
    if item.get("nullable") is True:
        errs.forbidden(child(path, "items", "nullable"),
                       f"cannot be nullable when x-kubernetes-list-type is {list_type}")
    if list_type != "map":
        return
    required = set(item.get("required") or [])
    item_props = props(item)
    for k in s.get("x-kubernetes-list-map-keys") or []:
        if k not in item_props:
            continue
        kpath = key(child(path, "items", "properties"), k)
        if k not in required and item_props[k].get("default") is None:
            errs.required(child(kpath, "default"), "this property is in "
                          "x-kubernetes-list-map-keys, so it must have a default or be a "
                          "required property")
        if item_props[k].get("nullable") is True:
            errs.forbidden(child(kpath, "nullable"), "this property is in "
                           "x-kubernetes-list-map-keys, so it cannot be nullable")


def _rules(errs: GoErrors, s: dict, path: str) -> None:
    """The shape of x-kubernetes-validations (CEL itself is not compiled by k8snet)."""
    for i, rule in enumerate(s.get("x-kubernetes-validations") or []):
        rpath = index(child(path, "x-kubernetes-validations"), i)
        if not isinstance(rule, dict):
            errs.type_invalid(rpath, rule, "object")
            continue
        text = str(rule.get("rule") or "").strip()
        message = rule.get("message") if isinstance(rule.get("message"), str) else ""
        if not text:
            errs.required(child(rpath, "rule"), "rule is not specified")
        elif message and not message.strip():
            errs.invalid(child(rpath, "message"), message,
                         "message must be non-empty if specified")
        elif "\n" in message.strip() or "\r" in message.strip():
            errs.invalid(child(rpath, "message"), message, "message must not contain line breaks")
        elif ("\n" in text or "\r" in text) and not message.strip():
            errs.required(child(rpath, "message"),
                          "message must be specified if rule contains line breaks")
        expr = rule.get("messageExpression")
        if isinstance(expr, str) and expr and not expr.strip():
            errs.required(child(rpath, "messageExpression"),
                          "messageExpression must be non-empty if specified")
        reason = rule.get("reason")
        if reason is not None and reason not in _VALIDATION_REASONS:
            errs.not_supported(child(rpath, "reason"), reason, _VALIDATION_REASONS)
        field_path = rule.get("fieldPath")
        if isinstance(field_path, str) and field_path and not field_path.strip():
            errs.invalid(child(rpath, "fieldPath"), field_path,
                         "fieldPath must be non-empty if specified")
        if isinstance(field_path, str) and ("\n" in field_path or "\r" in field_path):
            errs.invalid(child(rpath, "fieldPath"), field_path,
                         "fieldPath must not contain line breaks")

