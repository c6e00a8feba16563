"""Field errors worded and rendered as apimachinery's field.Error (1.32) renders them.

Public names:

    go_value(v) -> str     a bad value as field.Error prints it: strings %q, numbers and
                           booleans %v, maps and lists Go's %#v of an unstructured value
                           (map[string]interface {}{"a":1}), null as null
    go_float(x) -> str     a float64 as Go's %v prints it (10, 1.5, 1e+21)
    GoLiteral(str)         a value already rendered the Go way; go_value prints it as is
    go_strings(values)     a []string as %#v prints it: []string{"a", "b"}
    GoErrors               k8snet.api.fielderrors.Errors whose messages render values the
                           Go way, plus type_detail(path, value, detail) (field.TypeInvalid),
                           too_many(path, actual, limit), internal(path, detail) and the
                           1.32 wording of too_long ("may not be more than N bytes")
    child(path, *names), key(path, k), index(path, i)
                           field.Path's Child/Key/Index: "a.b", "a[k]", "a[0]"
    sort_causes(causes)    sorted as ValidateStructural sorts: by "field: message"
    cause_text(cause)      "field: message"
"""

from __future__ import annotations

import json
from typing import Any, Iterable

from k8snet.api.fielderrors import Errors


def go_float(x: float) -> str:
    """%v of a float64: shortest repr, exponent only below 1e-4 or from 1e21 on."""
    if x != x:
        return "NaN"
    if x in (float("inf"), float("-inf")):
        return "+Inf" if x > 0 else "-Inf"
    if x == int(x) and abs(x) < 1e21:
        return str(int(x))
    text = repr(x)
    if "e" in text:
        mant, exp = text.split("e")
        sign = "-" if exp.startswith("-") else "+"
        digits = exp.lstrip("+-").rjust(2, "0")
        return f"{mant}e{sign}{digits}"
    return text


def _quote(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def _inner(v: Any) -> str:
    """%#v of a value held in an interface{} inside a map or slice."""
    if v is None:
        return "interface {}(nil)"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return go_float(v)
    if isinstance(v, str):
        return _quote(v)
    return _compound(v)


def _compound(v: Any) -> str:
    if isinstance(v, dict):
        body = ", ".join(f"{_quote(str(k))}:{_inner(v[k])}" for k in sorted(v, key=str))
        return "map[string]interface {}{" + body + "}"
    if isinstance(v, (list, tuple)):
        return "[]interface {}{" + ", ".join(_inner(x) for x in v) + "}"
    return repr(v)


class GoLiteral(str):
    """A value already rendered the Go way (e.g. []string{"v1"}); printed as is."""


def go_strings(values: Iterable[str]) -> GoLiteral:
    """A []string as %#v prints it: []string{"a", "b"}."""
    return GoLiteral("[]string{" + ", ".join(_quote(str(v)) for v in values) + "}")


def go_value(v: Any) -> str:
    """A bad value as field.Error.ErrorBody renders it."""
    if isinstance(v, GoLiteral):
        return str(v)
    return "null" if v is None else _inner(v)


def _with(body: str, detail: str) -> str:
    return f"{body}: {detail}" if detail else body


class GoErrors(Errors):
    """Errors whose values render as Go renders them (messages match the apiserver's)."""

    def invalid(self, path: str, value: Any, detail: str) -> None:
        self.add(path, "FieldValueInvalid", _with(f"Invalid value: {go_value(value)}", detail))

    def type_detail(self, path: str, value: Any, detail: str) -> None:
        """field.TypeInvalid(path, value, detail): the detail is the whole explanation."""
        self.add(path, "FieldValueTypeInvalid",
                 _with(f"Invalid value: {go_value(value)}", detail))

    def not_supported(self, path: str, value: Any, supported: Iterable[str]) -> None:
        values = ", ".join(_quote(str(s)) for s in supported)
        detail = f"supported values: {values}" if values else ""
        self.add(path, "FieldValueNotSupported",
                 _with(f"Unsupported value: {go_value(value)}", detail))

    def duplicate(self, path: str, value: Any) -> None:
        self.add(path, "FieldValueDuplicate", f"Duplicate value: {go_value(value)}")

    def not_found(self, path: str, value: Any) -> None:
        self.add(path, "FieldValueNotFound", f"Not found: {go_value(value)}")

    def too_long(self, path: str, limit: int) -> None:
        detail = f"may not be more than {limit} bytes" if limit >= 0 else "value is too long"
        self.add(path, "FieldValueTooLong", f"Too long: {detail}")

    def too_many(self, path: str, actual: int, limit: int) -> None:
        detail = f"must have at most {limit} items" if limit >= 0 else "has too many items"
        body = f"Too many: {actual}" if actual >= 0 else "Too many"
        self.add(path, "FieldValueTooMany", f"{body}: {detail}")

    def internal(self, path: str, detail: str) -> None:
        self.add(path, "InternalError", f"Internal error: {detail}")


def child(path: str, *names: str) -> str:
    """field.Path.Child: names joined by dots under path ("" is the root)."""
    return ".".join([path, *names]) if path else ".".join(names)


def key(path: str, k: str) -> str:
    """field.Path.Key: path[k]."""
    return f"{path}[{k}]"


def index(path: str, i: int) -> str:
    """field.Path.Index: path[i]."""
    return f"{path}[{i}]"


def cause_text(cause: dict) -> str:
    """'field: message', as field.Error.Error() prints it."""
    return f"{cause['field']}: {cause['message']}"


def sort_causes(causes: list[dict]) -> list[dict]:
    """Sorted by their text, as ValidateStructural sorts (map order is random in Go)."""
    return sorted(causes, key=cause_text)
