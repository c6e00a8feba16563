"""Validation of custom resources against their CRD's openAPIV3Schema.

The JSON-schema keywords are evaluated by the `jsonschema` library (Draft 4, the dialect
OpenAPI 3.0 schemas are written in), extended where Kubernetes differs: `nullable`,
`x-kubernetes-int-or-string`, Go's number typing (1.0 is an integer), kube-openapi's
formats, and the anyOf/oneOf/allOf/not reporting. Each failure becomes a cause worded
as kube-openapi and apiextensions-apiserver word it, e.g.

    spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string"
    spec.cronSpec: Required value
    spec.image: Unsupported value: "x": supported values: "a", "b"

Public names:

    SchemaValidator(schema)             built once per CRD version (schema may be None)
        .validate(obj, path=None) -> list[Cause]
                                        `path` prefixes field paths (status updates use
                                        "status"; defaults use "...default"); None is the
                                        root, where junctor failures are reported on
                                        "<nil>" as upstream does
    validate_list_types(obj, schema) -> list[Cause]
                                        x-kubernetes-list-type set/map uniqueness
    validate_embedded(obj, schema) -> list[Cause]
                                        nested x-kubernetes-embedded-resource objects
                                        carry apiVersion, kind and valid metadata
    validate_scale(obj, spec_path, status_path, selector_path) -> list[Cause]
                                        the scale subresource's replicas paths hold
                                        int32-range integers
    cel_rule_paths(schema) -> list[str] where x-kubernetes-validations rules are declared
                                        ("spec", "spec.items[*]", "" for the root)
"""

from __future__ import annotations

import functools
import json
import re
from typing import TYPE_CHECKING, Any, Iterable, Optional

from k8snet.api.fielderrors import dns1035_label
from k8snet.apiextensions import formats
from k8snet.apiextensions.goerrors import GoErrors, child, go_float, index, key
from k8snet.apiextensions.structural import additional, items, node, props

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

# kube-openapi runs its validators in this order on every node
_ORDER = ("type", "allOf", "oneOf", "anyOf", "not", "x-k8snet-string", "format",
          "multipleOf", "maximum", "minimum", "items", "minItems", "maxItems", "uniqueItems",
          "enum", "minProperties", "maxProperties", "additionalProperties", "properties",
          "required")
_PASSED = ("multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum",
           "minItems", "maxItems", "uniqueItems", "enum", "minProperties", "maxProperties")
_MAX_INT32 = 2147483647


# -- the schema as the validator sees it --------------------------------------------

def _prepare(s: Any) -> dict:
    """A CRD schema node -> the dict the extended Draft 4 validator walks."""
    if not isinstance(s, dict):
        return {}
    out: dict = {}
    types = [s["type"]] if isinstance(s.get("type"), str) and s["type"] else []
    if s.get("x-kubernetes-int-or-string") is True:
        types = ["integer", "string"]
    fmt = s.get("format") if isinstance(s.get("format"), str) else ""
    fmt = fmt if fmt and formats.checked(fmt) else ""
    if types or fmt:
        out["type"] = {"types": types, "nullable": s.get("nullable") is True, "format": fmt}
    for word in ("allOf", "oneOf", "anyOf"):
        if isinstance(s.get(word), list) and s[word]:
            out[word] = [_prepare(x) for x in s[word]]
    if isinstance(s.get("not"), dict):
        out["not"] = _prepare(s["not"])
    string = {k: s[k] for k in ("maxLength", "minLength", "pattern") if s.get(k) is not None}
    if string:
        out["x-k8snet-string"] = string
    if fmt:
        out["format"] = fmt
    for word in _PASSED:
        if s.get(word) is not None:
            out[word] = s[word]
    if items(s) is not None:
        out["items"] = _prepare(items(s))
    ap = additional(s)
    if isinstance(ap, dict):
        out["additionalProperties"] = _prepare(ap)
    elif ap is not None:
        out["additionalProperties"] = ap
    if props(s):
        out["properties"] = {k: _prepare(v) for k, v in props(s).items()}
    if isinstance(s.get("required"), list) and s["required"]:
        out["required"] = [r for r in s["required"] if isinstance(r, str)]
    return {k: out[k] for k in sorted(out, key=_rank)}


def _rank(word: str) -> int:
    return _ORDER.index(word) if word in _ORDER else len(_ORDER)


# -- the keywords Kubernetes evaluates its own way ----------------------------------------

def _kube(code: str, **info: Any) -> ValidationError:
    from jsonschema.exceptions import ValidationError
    err = ValidationError(code)
    err.kube = (code, info)  # type: ignore[attr-defined]
    return err


def _data_type(x: Any) -> tuple[str, str]:
    """(schema type, format) of a decoded JSON value, as kube-openapi's typeValidator sees it."""
    if isinstance(x, bool):
        return "boolean", ""
    if isinstance(x, int):
        return "integer", "int64"
    if isinstance(x, float):
        return "number", "float64"
    if isinstance(x, str):
        return "string", ""
    if isinstance(x, list):
        return "array", ""
    if isinstance(x, dict):
        return "object", ""
    return "", ""


def _type(validator: Any, spec: dict, instance: Any, schema: dict) -> Iterable[ValidationError]:
    types, nullable, fmt = spec["types"], spec["nullable"], spec["format"]
    if instance is None:
        if types and "null" not in types and not nullable:
            yield _kube("type", expected=",".join(types), got="null")
        return
    stype, dfmt = _data_type(instance)
    float_int = stype == "number" and float(instance).is_integer() and "integer" in types
    int_float = stype == "integer" and "number" in types
    if fmt and not isinstance(instance, (str, list)) and not (
            stype in types or dfmt == fmt or float_int or int_float):
        yield _kube("type", expected=fmt, got=dfmt)
        return
    if fmt and isinstance(instance, (str, list)) and not ("number" in types or
                                                           "integer" in types):
        return
    if not (stype in types or float_int or int_float):
        yield _kube("type", expected=",".join(types), got=stype)


def _format(validator: Any, fmt: str, instance: Any, schema: dict) -> Iterable[ValidationError]:
    if isinstance(instance, str) and not formats.valid(fmt, instance):
        yield _kube("format", format=fmt, value=instance)


def _string(validator: Any, spec: dict, instance: Any, schema: dict) -> Iterable[ValidationError]:
    if not isinstance(instance, str):
        return
    n = len(instance)
    if isinstance(spec.get("maxLength"), int) and n > spec["maxLength"]:
        yield _kube("maxLength", limit=spec["maxLength"])
    elif isinstance(spec.get("minLength"), int) and n < spec["minLength"]:
        yield _kube("minLength", limit=spec["minLength"], value=instance)
    elif isinstance(spec.get("pattern"), str):
        try:
            matched = re.search(spec["pattern"], instance) is not None
        except re.error:
            matched = True  # an invalid pattern is refused when the CRD is written
        if not matched:
            yield _kube("pattern", pattern=spec["pattern"], value=instance)


def _required(validator: Any, required: list, instance: Any, schema: dict):
    if isinstance(instance, dict):
        for k in required:
            if k not in instance:
                yield _kube("required", key=k)


def _additional(validator: Any, ap: Any, instance: Any, schema: dict):
    if not isinstance(instance, dict):
        return
    known = schema.get("properties") or {}
    if ap is False:
        for k in instance:
            if k not in known:
                yield _kube("forbiddenProperty", key=k)
    elif isinstance(ap, dict):
        for k, v in instance.items():
            if k not in known:
                yield from validator.descend(v, ap, path=k)


def _any_of(validator: Any, subs: list, instance: Any, schema: dict):
    if instance is None:
        return
    best: Optional[list] = None
    for i, sub in enumerate(subs):
        errs = list(validator.descend(instance, sub, schema_path=i))
        if not errs:
            return
        if best is None or len(errs) < len(best):
            best = errs
    yield _kube("anyOf")
    yield from best or []


def _one_of(validator: Any, subs: list, instance: Any, schema: dict):
    if instance is None:
        return
    valid = 0
    best: Optional[list] = None
    for i, sub in enumerate(subs):
        errs = list(validator.descend(instance, sub, schema_path=i))
        if not errs:
            valid += 1
            best = None
        elif valid == 0 and (best is None or len(errs) < len(best)):
            best = errs
    if valid != 1:
        yield _kube("oneOf", found=valid)
        if valid == 0:
            yield from best or []


def _all_of(validator: Any, subs: list, instance: Any, schema: dict):
    if instance is None:
        return
    valid = 0
    for i, sub in enumerate(subs):
        errs = list(validator.descend(instance, sub, schema_path=i))
        valid += not errs
        yield from errs
    if valid != len(subs):
        yield _kube("allOf", none=valid == 0)


def _not(validator: Any, sub: dict, instance: Any, schema: dict):
    if instance is not None and not list(validator.descend(instance, sub)):
        yield _kube("not")


@functools.cache
def _kube_validator() -> Any:
    """Draft 4 with Kubernetes' keywords. jsonschema is imported here, on the first custom
    resource schema, not with the apiserver: it was a quarter of the apiserver's imports
    (its time to ready), and a cluster without CRDs never needs it."""
    from jsonschema import Draft4Validator, validators
    return validators.extend(Draft4Validator, {
        "type": _type, "format": _format, "x-k8snet-string": _string, "required": _required,
        "additionalProperties": _additional, "anyOf": _any_of, "oneOf": _one_of,
        "allOf": _all_of, "not": _not, "pattern": None, "maxLength": None, "minLength": None,
        "dependencies": None, "patternProperties": None, "$ref": None,
    })


# -- results as causes ----------------------------------------------------------------------

def _name(path: Iterable) -> str:
    """kube-openapi's path of a value: spec.list[0].name ("" at the root)."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out = f"{out}.{part}" if out else str(part)
    return out


def _field(prefix: Optional[str], name: str) -> str:
    if name and name != ".":
        name = name[1:] if name.startswith(".") else name
        return child(prefix, name) if prefix else name
    return prefix if prefix else "<nil>"


def _q(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def _enum_values(values: list) -> list[str]:
    return [v if isinstance(v, str) else json.dumps(v, separators=(",", ":"))
            for v in values]


def _translate(errs: GoErrors, err: ValidationError, prefix: Optional[str]) -> None:
    name = _name(err.absolute_path)
    code, info = getattr(err, "kube", (err.validator, {}))
    value = err.instance
    fp = _field(prefix, name)
    if code == "type":
        errs.type_detail(fp, info["got"],
                         f"{name} in body must be of type {info['expected']}: {_q(info['got'])}")
    elif code == "format":
        errs.type_detail(fp, info["value"], f"{name} in body must be of type {info['format']}: "
                                            f"{_q(info['value'])}")
    elif code == "required":
        errs.required(_field(prefix, f"{name}.{info['key']}"))
    elif code == "enum":
        errs.not_supported(fp, value, _enum_values(list(err.validator_value)))
    elif code == "maxLength":
        errs.too_long(fp, int(info["limit"]))
    elif code == "minLength":
        errs.invalid(fp, info["value"],
                     f"{name} in body should be at least {info['limit']} chars long")
    elif code == "pattern":
        errs.invalid(fp, info["value"], f"{name} in body should match '{info['pattern']}'")
    elif code == "multipleOf":
        errs.invalid(fp, value, f"{name} in body should be a multiple of "
                                f"{go_float(float(err.validator_value))}")
    elif code in ("maximum", "minimum"):
        exclusive = (err.schema or {}).get("exclusiveMaximum" if code == "maximum"
                                           else "exclusiveMinimum") is True
        word = {("maximum", False): "less than or equal to", ("maximum", True): "less than",
                ("minimum", False): "greater than or equal to",
                ("minimum", True): "greater than"}[(code, exclusive)]
        errs.invalid(fp, value, f"{name} in body should be {word} "
                                f"{go_float(float(err.validator_value))}")
    elif code == "maxItems":
        errs.too_many(fp, len(value), int(err.validator_value))
    elif code == "minItems":
        errs.invalid(fp, len(value), f"{name} in body should have at least "
                                     f"{int(err.validator_value)} items")
    elif code == "uniqueItems":
        errs.invalid(fp, "", f"{name} in body shouldn't contain duplicates")
    elif code == "maxProperties":
        errs.too_many(fp, len(value), int(err.validator_value))
    elif code == "minProperties":
        errs.invalid(fp, len(value), f"{name} in body should have at least "
                                     f"{int(err.validator_value)} properties")
    elif code == "forbiddenProperty":
        errs.invalid(fp, info["key"], f"{name}.{info['key']} in body is a forbidden property")
    elif code in ("anyOf", "oneOf", "allOf", "not"):
        errs.invalid(prefix or "<nil>", "", _junctor_message(code, name, info))
    else:
        errs.invalid(prefix or "<nil>", "", str(err.message))


def _junctor_message(code: str, name: str, info: dict) -> str:
    if code == "anyOf":
        return f"{_q(name)} must validate at least one schema (anyOf)"
    if code == "oneOf":
        found = info["found"]
        more = "Found none valid" if found == 0 else f"Found {found} valid alternatives"
        return f"{_q(name)} must validate one and only one schema (oneOf). {more}"
    if code == "allOf":
        return f"{_q(name)} must validate all the schemas (allOf)" + \
            (". None validated" if info["none"] else "")
    return f"{_q(name)} must not validate the schema (not)"


class SchemaValidator:
    """One CRD version's openAPIV3Schema, ready to validate custom resources."""

    def __init__(self, schema: Optional[dict]) -> None:
        self.schema = schema
        self._validator = _kube_validator()(_prepare(schema or {}))

    def validate(self, obj: Any, path: Optional[str] = None) -> list[dict]:
        """Causes for every way obj fails the schema ([] when it passes)."""
        errs = GoErrors()
        try:
            for err in self._validator.iter_errors(obj):
                _translate(errs, err, path)
        except (TypeError, ValueError, re.error, RecursionError) as e:
            errs.invalid(path or "<nil>", "", f"the schema could not be evaluated: {e}")
        return errs.causes


# -- x-kubernetes-list-type ------------------------------------------------------------------

def _scalar_key(x: Any) -> Any:
    if isinstance(x, (dict, list)):
        return ("json", json.dumps(x, sort_keys=True, separators=(",", ":")))
    return (type(x).__name__, x)


def _non_unique(values: list) -> list[int]:
    """Indices of second occurrences, as upstream's validateListSet reports them."""
    seen: dict = {}
    out = []
    for i, x in enumerate(values):
        k = _scalar_key(x)
        seen[k] = seen.get(k, 0) + 1
        if seen[k] == 2:
            out.append(i)
    return out


def validate_list_types(obj: Any, schema: Optional[dict]) -> list[dict]:
    """Duplicates in x-kubernetes-list-type set and map lists."""
    errs = GoErrors()
    if isinstance(obj, dict) and schema:
        _lists_in_object(errs, "", node(schema), obj)
    return errs.causes


def _lists_in_object(errs: GoErrors, path: str, s: dict, obj: dict) -> None:
    ap = additional(s)
    if isinstance(ap, dict):
        for k, v in obj.items():
            _lists(errs, key(path, k) if path else f"[{k}]", ap, v)
    p = props(s)
    for k, v in obj.items():
        if k in p:
            _lists(errs, child(path, k), p[k], v)


def _lists(errs: GoErrors, path: str, s: dict, x: Any) -> None:
    if isinstance(x, dict):
        _lists_in_object(errs, path, s, x)
        return
    if not isinstance(x, list):
        return
    list_type = s.get("x-kubernetes-list-type")
    if list_type == "set":
        for i in _non_unique(x):
            errs.duplicate(index(path, i), x[i])
    elif list_type == "map":
        _list_map(errs, path, s, x)
    it = items(s)
    if it is not None:
        for i, v in enumerate(x):
            _lists(errs, index(path, i), it, v)


def _list_map(errs: GoErrors, path: str, s: dict, x: list) -> None:
    for i, item in enumerate(x):
        if item is not None and not isinstance(item, dict):
            errs.invalid(index(path, i), item, "must be an object for an array of list-type map")
            return
    keys_of = [k for k in (s.get("x-kubernetes-list-map-keys") or []) if isinstance(k, str)]
    if len(x) <= 1:
        return
    if len(keys_of) == 1:
        missing = object()
        keys = [missing if item is None or keys_of[0] not in item else item[keys_of[0]]
                for item in x]
        marked = [("missing",) if k is missing else k for k in keys]
        for i in _non_unique(marked):
            errs.duplicate(index(path, i), {} if keys[i] is missing else {keys_of[0]: keys[i]})
        return
    composite = [{k: item[k] for k in keys_of if k in item} if item else {} for item in x]
    for i in _non_unique(composite):
        errs.duplicate(index(path, i), composite[i])


# -- embedded resources --------------------------------------------------------------------

def validate_embedded(obj: Any, schema: Optional[dict]) -> list[dict]:
    """Nested x-kubernetes-embedded-resource values are objects with apiVersion and kind."""
    errs = GoErrors()
    if schema:
        _embedded(errs, "", obj, node(schema), root=True)
    return errs.causes


def _embedded(errs: GoErrors, path: str, x: Any, s: dict, root: bool = False) -> None:
    if isinstance(x, dict):
        if s.get("x-kubernetes-embedded-resource") is True and not root:
            _embedded_resource(errs, path, x)
        p = props(s)
        ap = additional(s)
        for k, v in x.items():
            if k in p:
                _embedded(errs, child(path, k), v, p[k])
            elif isinstance(ap, dict):
                _embedded(errs, key(path, k), v, ap)
    elif isinstance(x, list) and items(s) is not None:
        for i, v in enumerate(x):
            _embedded(errs, index(path, i), v, items(s))  # type: ignore[arg-type]


def _embedded_resource(errs: GoErrors, path: str, x: dict) -> None:
    for word in ("apiVersion", "kind"):
        if word not in x:
            errs.required(child(path, word), "must not be empty")
    api_version = x.get("apiVersion")
    if "apiVersion" in x:
        if not isinstance(api_version, str):
            errs.invalid(child(path, "apiVersion"), api_version, "must be a string")
        elif not api_version:
            errs.invalid(child(path, "apiVersion"), api_version, "must not be empty")
        elif api_version.count("/") > 1:
            errs.invalid(child(path, "apiVersion"), api_version,
                         f"unexpected GroupVersion string: {api_version}")
    kind = x.get("kind")
    if "kind" in x:
        if not isinstance(kind, str):
            errs.invalid(child(path, "kind"), kind, "must be a string")
        elif not kind:
            errs.invalid(child(path, "kind"), kind, "must not be empty")
        elif dns1035_label(kind.lower()):
            errs.invalid(child(path, "kind"), kind, "may have mixed case, but should otherwise "
                         "match: " + ",".join(dns1035_label(kind.lower())))
    meta = x.get("metadata")
    if isinstance(meta, dict) and isinstance(meta.get("name"), str):
        name = meta["name"]
        for bad in (".", ".."):
            if name == bad:
                errs.invalid(child(path, "metadata", "name"), name, f"may not be '{bad}'")
        for ch in ("/", "%"):
            if ch in name:
                errs.invalid(child(path, "metadata", "name"), name, f"may not contain '{ch}'")


# -- scale ---------------------------------------------------------------------------------

def _go_type(v: Any) -> str:
    return {bool: "bool", int: "int64", float: "float64", str: "string", list: "[]interface {}",
            dict: "map[string]interface {}"}.get(type(v), "<nil>")


def nested(obj: Any, dotted: str) -> tuple[Any, bool]:
    """(value, found) at a simple JSON path such as .spec.replicas."""
    cur = obj
    for part in dotted.lstrip(".").split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None, False
        cur = cur[part]
    return cur, True


def _replicas(errs: GoErrors, obj: Any, dotted: str) -> None:
    value, found = nested(obj, dotted)
    if not found:
        return
    if not isinstance(value, int) or isinstance(value, bool):
        errs.invalid(dotted, 0, f"{dotted} accessor error: {value} is of the type "
                                f"{_go_type(value)}, expected int64")
    elif value < 0:
        errs.invalid(dotted, value, "should be a non-negative integer")
    elif value > _MAX_INT32:
        errs.invalid(dotted, value, f"should be less than or equal to {_MAX_INT32}")


def validate_scale(obj: Any, spec_path: Optional[str], status_path: Optional[str],
                   selector_path: Optional[str] = None) -> list[dict]:
    """The replicas at the scale subresource's paths are int32-range integers."""
    errs = GoErrors()
    for dotted in (spec_path, status_path):
        if dotted:
            _replicas(errs, obj, dotted)
    if selector_path:
        value, found = nested(obj, selector_path)
        if found and not isinstance(value, str):
            errs.invalid(selector_path, "", f"{selector_path} accessor error: {value} is of "
                                            f"the type {_go_type(value)}, expected string")
    return errs.causes


# -- CEL -----------------------------------------------------------------------------------

def cel_rule_paths(schema: Any) -> list[str]:
    """Where x-kubernetes-validations rules are declared, as data paths."""
    out: list[str] = []
    _cel(node(schema), "", out)
    return out


def _cel(s: dict, path: str, out: list[str]) -> None:
    if s.get("x-kubernetes-validations"):
        out.append(path)
    for k, sub in props(s).items():
        _cel(sub, child(path, k), out)
    if items(s) is not None:
        _cel(items(s), f"{path}[*]", out)  # type: ignore[arg-type]
    ap = additional(s)
    if isinstance(ap, dict):
        _cel(ap, f"{path}[*]", out)

