"""How the apiserver's decoder sees a request body, from the real 1.32 schemas (pure).

Kubernetes decodes a JSON body into the kind's Go struct. Two things can go wrong,
and this module predicts both by walking the body against the kind's definition
(`k8snet.api.definitions`):

- a value of the wrong type: the decode fails whatever fieldValidation says, with
  the message of Go's encoding/json (or of the field type's own parser), e.g.
  ``json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas
  of type int32``; the apiserver answers 400 ``Deployment in version "v1" cannot be
  handled as a Deployment: <that message>`` (`cannot_handle`);
- fields the struct does not have: with fieldValidation=Strict a 400
  ``strict decoding error: unknown field "spec.foo"``; with Warn one warning each.

Public names:

    check(kind, obj, api_version=None) -> Decoded(unknown, error)
        unknown: paths like "spec.containers[0].imagee" in document order (at most
        100, each once), as upstream's strict decoder names them; error: the
        decoder's message or None. Kinds without a definition give Decoded().
        It never raises, whatever JSON value obj is.
    unknown_fields(kind, obj) -> list[str]            check(...).unknown
    unknown_fields_for(api_version, kind, obj) -> list[str]
        the same with the group named (Event is in v1 and in events.k8s.io/v1)
    definition_of(kind, api_version=None) -> str | None   the definition used
    cannot_handle(kind, version, error) -> str        the 400 message of a decode error
    patch_invalid(patched_json, error) -> str         the 422 message of a patch that
        yields a body of wrong types (upstream names neither kind nor object there)
    go_quote(text) -> str                             Go's %q
    strict_message(unknown) -> str                    the 400 message of Strict
    unknown_field_warning(path) -> str                'unknown field "path"'
    prune(kind, obj, api_version=None) -> list[str]   drop unknown fields in place (what
        upstream does with Warn and Ignore); their paths

What is modelled: structs (unknown keys; an empty struct has none), maps
(additionalProperties), arrays, integers with their Go width, floats, booleans,
strings, []byte (base64), IntOrString, Quantity, Time and MicroTime (their own
parsers), and types kept raw (RawExtension, FieldsV1, apiextensions JSON), plus
``x-kubernetes-preserve-unknown-fields``. Null is accepted everywhere, as Go does.
Go names named types by their type name (``v1.PullPolicy``); the schema only says
``string``, so such messages say ``string``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Mapping, Optional

from k8snet.api import definitions as defs
from k8snet.api.goerrors import base64_error, time_error
from k8snet.machinery import quantities

MAX_UNKNOWN = 100
MAX_DEPTH = 200
_INT_RANGE = {"int32": (-2**31, 2**31 - 1), "int64": (-2**63, 2**63 - 1)}
_GA_ORDER = ("v2", "v1", "v1beta2", "v1beta1", "v1alpha3", "v1alpha2", "v1alpha1")


@dataclass(frozen=True)
class Decoded:
    """What decoding a body would report: unknown field paths and the first error."""

    unknown: tuple[str, ...] = ()
    error: Optional[str] = None


class _Abort(Exception):
    """A field type's own parser failed: Go stops decoding there."""


class _Walk:
    """One walk over one body (its results live here, not in the module)."""

    def __init__(self, table: Any) -> None:
        self.defs = table
        self.unknown: list[str] = []
        self.dropped: list[tuple[dict, Any]] = []
        self.seen: set = set()
        self.error: Optional[str] = None

    # -- reporting ------------------------------------------------------------
    def add_unknown(self, path: str) -> None:
        if path not in self.seen and len(self.unknown) < MAX_UNKNOWN:
            self.seen.add(path)
            self.unknown.append(path)

    def type_error(self, value: Any, go_type: str, struct: str, fields: tuple,
                   detail: Optional[str] = None) -> None:
        if self.error is None:
            self.error = _type_message(detail or _json_kind(value), go_type, struct, fields)

    def abort(self, message: str) -> None:
        self.error = message
        raise _Abort()

    # -- walking --------------------------------------------------------------
    def value(self, value: Any, schema: Any, path: str, struct: str, fields: tuple,
              depth: int) -> None:
        if value is None or depth > MAX_DEPTH or not isinstance(schema, dict):
            return
        name = defs.ref_name(schema)
        if name is not None:
            self.named(value, name, path, struct, fields, depth)
            return
        self.inline(value, schema, path, struct, fields, depth, "")

    def named(self, value: Any, name: str, path: str, struct: str, fields: tuple,
              depth: int) -> None:
        if name in defs.OPAQUE:
            return
        if name == defs.INT_OR_STRING:
            self.int_or_string(value, struct, fields)
        elif name == defs.QUANTITY:
            self.quantity(value)
        elif name in (defs.TIME, defs.MICRO_TIME):
            self.time(value, name == defs.MICRO_TIME, struct, fields)
        else:
            schema = self.defs.get(name)
            if isinstance(schema, dict):
                self.inline(value, schema, path, struct, fields, depth, name)

    def inline(self, value: Any, schema: dict, path: str, struct: str, fields: tuple,
               depth: int, name: str) -> None:
        kind = schema.get("type")
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        if kind == "object" or isinstance(props, dict) or isinstance(extra, dict):
            if not isinstance(value, dict):
                self.type_error(value, _go_type(schema, name), struct, fields)
                return
            if isinstance(props, dict) or not isinstance(extra, dict):
                self.struct(value, schema, path, defs.short_name(name) if name else struct,
                            fields, depth)
            else:
                for key, sub in value.items():
                    self.value(sub, extra, _key(path, key), struct, fields, depth + 1)
        elif kind == "array":
            if not isinstance(value, list):
                self.type_error(value, _go_type(schema, name), struct, fields)
                return
            items = schema.get("items")
            for i, item in enumerate(value):
                self.value(item, items, f"{path}[{i}]", struct, fields, depth + 1)
        elif kind in ("string", "integer", "number", "boolean"):
            self.scalar(value, schema, struct, fields)

    def struct(self, value: dict, schema: dict, path: str, struct: str, fields: tuple,
               depth: int) -> None:
        props = schema.get("properties") or {}
        preserve = schema.get("x-kubernetes-preserve-unknown-fields") is True
        if preserve and not props:
            return
        for key, sub in value.items():
            child = _key(path, key)
            sub_schema = props.get(key)
            if sub_schema is None:
                if not preserve:
                    self.add_unknown(child)
                    self.dropped.append((value, key))
                continue
            self.value(sub, sub_schema, child, struct, fields + (key,), depth + 1)

    def scalar(self, value: Any, schema: dict, struct: str, fields: tuple) -> None:
        kind, fmt = schema.get("type"), schema.get("format")
        go = _go_type(schema, "")
        if kind == "string":
            if not isinstance(value, str):
                self.type_error(value, go, struct, fields)
            elif fmt == "byte":
                problem = base64_error(value)
                if problem and self.error is None:
                    self.error = problem
        elif kind == "boolean":
            if not isinstance(value, bool):
                self.type_error(value, go, struct, fields)
        elif kind == "number":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                self.type_error(value, go, struct, fields)
        elif kind == "integer":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                self.type_error(value, go, struct, fields)
            elif isinstance(value, float) or not _fits(value, go):
                self.type_error(value, go, struct, fields, f"number {_number_text(value)}")

    def int_or_string(self, value: Any, struct: str, fields: tuple) -> None:
        # IntOrString.UnmarshalJSON: a JSON string, else json.Unmarshal into an int32
        if isinstance(value, str):
            return
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.abort(_type_message(_json_kind(value), "int32", struct, fields))
        if isinstance(value, float) or not _fits(value, "int32"):
            self.abort(_type_message(f"number {_number_text(value)}", "int32", struct, fields))

    def quantity(self, value: Any) -> None:
        # Quantity.UnmarshalJSON parses the text of any JSON value
        text = value if isinstance(value, (str, int, float)) and not isinstance(value, bool) \
            else json.dumps(value, default=str)
        try:
            quantities.parse_quantity(text if isinstance(text, str) else _number_text(text))
        except (ValueError, ArithmeticError) as e:
            self.abort(str(e))

    def time(self, value: Any, micro: bool, struct: str, fields: tuple) -> None:
        # Time.UnmarshalJSON: json.Unmarshal into a string, then time.Parse
        if not isinstance(value, str):
            self.abort(_type_message(_json_kind(value), "string", struct, fields))
        problem = time_error(value, micro)
        if problem:
            self.abort(problem)


def _key(path: str, key: str) -> str:
    return f"{path}.{key}" if path else str(key)


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _number_text(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        return repr(value)
    return str(value)


def _fits(value: int, go_type: str) -> bool:
    low, high = _INT_RANGE.get(go_type, _INT_RANGE["int64"])
    return low <= value <= high


def _type_message(what: str, go_type: str, struct: str, fields: tuple) -> str:
    if struct or fields:
        return (f"json: cannot unmarshal {what} into Go struct field "
                f"{struct}.{'.'.join(fields)} of type {go_type}")
    return f"json: cannot unmarshal {what} into Go value of type {go_type}"


def _go_type(schema: Any, name: str = "") -> str:
    """The Go type a schema decodes into, as Go prints it (v1.PodSpec, []string, int32)."""
    if not isinstance(schema, dict):
        return "interface {}"
    ref = defs.ref_name(schema)
    if ref or name:
        target = ref or name
        if target == defs.QUANTITY:
            return "resource.Quantity"
        return f"{defs.go_package(target)}.{defs.short_name(target)}"
    kind = schema.get("type")
    if kind == "array":
        return "[]" + _go_type(schema.get("items"))
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        values = schema["additionalProperties"]
        if defs.ref_name(values) == defs.QUANTITY:
            return "v1.ResourceList"
        return "map[string]" + _go_type(values)
    if kind == "string":
        return "[]uint8" if schema.get("format") == "byte" else "string"
    if kind == "integer":
        return "int32" if schema.get("format") == "int32" else "int64"
    if kind == "number":
        return "float64"
    if kind == "boolean":
        return "bool"
    return "interface {}"


def definition_of(kind: str, api_version: Optional[str] = None) -> Optional[str]:
    """The definition name of kind: in api_version when given, else its preferred one.

    Without an apiVersion the kind the apiserver serves is preferred, then the core
    group, then the most stable version.
    """
    if not isinstance(kind, str) or not kind:
        return None
    if isinstance(api_version, str) and api_version:
        group, _, version = api_version.rpartition("/")
        return defs.name_for(group, version, kind)
    from k8snet.machinery import resources as kinds  # the served table decides first

    served = getattr(kinds, "KINDS", None)
    info = served.get(kind) if isinstance(served, Mapping) else None
    if info is not None:
        found = defs.name_for(info.group, info.version, kind)
        if found:
            return found
    options = [(g, v, n) for (g, v, k), n in defs.by_gvk().items() if k == kind]
    if not options:
        return None

    def rank(option: tuple) -> tuple:
        group, version, _ = option
        order = _GA_ORDER.index(version) if version in _GA_ORDER else len(_GA_ORDER)
        return (group != "", order, group)

    return min(options, key=rank)[2]


def check(kind: str, obj: Any, api_version: Optional[str] = None) -> Decoded:
    """Decode obj as kind (in api_version if given) and report what Go's decoder would."""
    name = definition_of(kind, api_version)
    if name is None:
        return Decoded()
    walk = _Walk(defs.definitions())
    try:
        walk.named(obj, name, "", "", (), 0)
    except _Abort:
        pass
    except RecursionError:
        pass
    return Decoded(tuple(walk.unknown), walk.error)


def prune(kind: str, obj: Any, api_version: Optional[str] = None) -> list[str]:
    """Remove from obj, in place, every field kind does not have; returns their paths.

    Upstream's decoder drops unknown fields with fieldValidation Warn or Ignore, so they
    are never stored.
    """
    name = definition_of(kind, api_version)
    if name is None:
        return []
    walk = _Walk(defs.definitions())
    try:
        walk.named(obj, name, "", "", (), 0)
    except (_Abort, RecursionError):
        pass
    for container, key in walk.dropped:
        container.pop(key, None)
    return walk.unknown


def unknown_fields(kind: str, obj: Any) -> list[str]:
    """Paths of fields in obj that kind's schema does not know, in document order."""
    api_version = obj.get("apiVersion") if isinstance(obj, dict) else None
    found = check(kind, obj, api_version if isinstance(api_version, str) else None)
    if found == Decoded() and api_version:
        found = check(kind, obj)
    return list(found.unknown)


def unknown_fields_for(api_version: str, kind: str, obj: Any) -> list[str]:
    """unknown_fields for kind in a named group-version ("events.k8s.io/v1")."""
    return list(check(kind, obj, api_version).unknown)


def cannot_handle(kind: str, version: str, error: str) -> str:
    """Upstream's 400 message when a create/update body fails to decode."""
    return f'{kind} in version "{version}" cannot be handled as a {kind}: {error}'


def patch_invalid(patched_json: str, error: str) -> str:
    """Upstream's 422 message when a patched object fails to decode (field "patch")."""
    return f' "" is invalid: patch: Invalid value: {go_quote(patched_json)}: {error}'


def go_quote(text: str) -> str:
    """Go's %q / strconv.Quote of text (how upstream quotes paths and values)."""
    out = []
    for ch in text:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch in "\a\b\f\n\r\t\v":
            out.append({"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r",
                        "\t": "\\t", "\v": "\\v"}[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}" if ord(ch) > 0xff else f"\\x{ord(ch):02x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return '"' + "".join(out) + '"'


def unknown_field_warning(path: str) -> str:
    """One strict-decoding finding as upstream words it: unknown field "spec.foo"."""
    return f"unknown field {go_quote(path)}"


def strict_message(unknown: list[str]) -> str:
    """The 400 message of fieldValidation=Strict for these unknown fields."""
    return "strict decoding error: " + ", ".join(unknown_field_warning(p) for p in unknown)
