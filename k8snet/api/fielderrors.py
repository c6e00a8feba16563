"""Field errors shaped like Kubernetes' (k8s.io/apimachinery/pkg/util/validation/field).

Public names:

    Errors: a collector with required/invalid/not_supported/duplicate/forbidden/not_found/
        too_long/type_invalid(path, ...), plus typed getters (dict_at, list_at, str_at,
        int_at, bool_at) that record a type error and return None on a wrong type.
    Errors.causes: list of Cause dicts {"field", "reason", "message"}; message is the
        body without the field path, as in Status.details.causes.
    invalid_message(kind, name, causes) -> str    Status message for a 422
        ('Pod "x" is invalid: spec.containers[0].image: Required value'; several causes
        are listed in brackets, as Kubernetes does)
    name checks: dns1123_label(value), dns1123_subdomain(value), dns1035_label(value),
        iana_svc_name(value), qualified_name(value) -> list[str] of problems ([] when valid)
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterable, Optional

from k8snet.api.selectors import validate_label_key

_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS1035_RE = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_IANA_RE = re.compile(r"^[-a-z0-9]+$")


def dns1123_label(value: str) -> list[str]:
    out = []
    if len(value) > 63:
        out.append("must be no more than 63 characters")
    if not _LABEL_RE.match(value):
        out.append("a lowercase RFC 1123 label must consist of lower case alphanumeric "
                   "characters or '-', and must start and end with an alphanumeric character "
                   "(e.g. 'my-name',  or '123-abc', regex used for validation is "
                   "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
    return out


def dns1123_subdomain(value: str) -> list[str]:
    out = []
    if len(value) > 253:
        out.append("must be no more than 253 characters")
    if not _SUBDOMAIN_RE.match(value):
        out.append("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                   "characters, '-' or '.', and must start and end with an alphanumeric "
                   "character (e.g. 'example.com', regex used for validation is "
                   "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
    return out


def dns1035_label(value: str) -> list[str]:
    out = []
    if len(value) > 63:
        out.append("must be no more than 63 characters")
    if not _DNS1035_RE.match(value):
        out.append("a DNS-1035 label must consist of lower case alphanumeric characters or "
                   "'-', start with an alphabetic character, and end with an alphanumeric "
                   "character (e.g. 'my-name',  or 'abc-123', regex used for validation is "
                   "'[a-z]([-a-z0-9]*[a-z0-9])?')")
    return out


def iana_svc_name(value: str) -> list[str]:
    out = []
    if len(value) > 15:
        out.append("must be no more than 15 characters")
    if not _IANA_RE.match(value):
        out.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if "--" in value:
        out.append("must not contain consecutive hyphens")
    if not re.search(r"[a-z]", value):
        out.append("must contain at least one letter (a-z)")
    if value.startswith("-") or value.endswith("-"):
        out.append("must not begin or end with a hyphen")
    return out


def qualified_name(value: str) -> list[str]:
    reason = validate_label_key(value)
    return [reason] if reason else []


def fmt(value: Any) -> str:
    """Render a value the way Kubernetes' messages quote it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):
        return repr(value)


def _with(body: str, detail: str) -> str:
    return f"{body}: {detail}" if detail else body


_TYPES = {dict: "object", list: "array", str: "string", int: "integer", bool: "boolean"}


class Errors:
    """Collects causes; every method takes the field path first."""

    def __init__(self) -> None:
        self.causes: list[dict] = []

    def add(self, path: str, reason: str, message: str) -> None:
        self.causes.append({"field": path, "reason": reason, "message": message})

    def required(self, path: str, detail: str = "") -> None:
        self.add(path, "FieldValueRequired", _with("Required value", detail))

    def invalid(self, path: str, value: Any, detail: str) -> None:
        self.add(path, "FieldValueInvalid", _with(f"Invalid value: {fmt(value)}", detail))

    def not_supported(self, path: str, value: Any, supported: Iterable[str]) -> None:
        values = ", ".join(f'"{s}"' for s in supported)
        self.add(path, "FieldValueNotSupported",
                 f"Unsupported value: {fmt(value)}: supported values: {values}")

    def duplicate(self, path: str, value: Any) -> None:
        self.add(path, "FieldValueDuplicate", f"Duplicate value: {fmt(value)}")

    def forbidden(self, path: str, detail: str) -> None:
        self.add(path, "FieldValueForbidden", _with("Forbidden", detail))

    def not_found(self, path: str, value: Any) -> None:
        self.add(path, "FieldValueNotFound", f"Not found: {fmt(value)}")

    def too_long(self, path: str, limit: int) -> None:
        self.add(path, "FieldValueTooLong", f"Too long: must have at most {limit} bytes")

    def type_invalid(self, path: str, value: Any, expected: str) -> None:
        self.add(path, "FieldValueTypeInvalid",
                 f"Invalid value: {fmt(value)}: must be of type {expected}")

    def names(self, path: str, value: Any, problems: list[str]) -> None:
        for p in problems:
            self.invalid(path, value, p)

    # typed getters ------------------------------------------------------------------

    def _typed(self, parent: Any, key: str, path: str, types: tuple, name: str) -> Any:
        if not isinstance(parent, dict):
            return None
        value = parent.get(key)
        if value is None:
            return None
        if isinstance(value, bool) and bool not in types:
            self.type_invalid(path, value, name)
            return None
        if not isinstance(value, types):
            self.type_invalid(path, value, name)
            return None
        return value

    def dict_at(self, parent: Any, key: str, path: str) -> Optional[dict]:
        return self._typed(parent, key, path, (dict,), "object")

    def list_at(self, parent: Any, key: str, path: str) -> Optional[list]:
        return self._typed(parent, key, path, (list,), "array")

    def str_at(self, parent: Any, key: str, path: str) -> Optional[str]:
        return self._typed(parent, key, path, (str,), "string")

    def int_at(self, parent: Any, key: str, path: str) -> Optional[int]:
        return self._typed(parent, key, path, (int,), "integer")

    def bool_at(self, parent: Any, key: str, path: str) -> Optional[bool]:
        return self._typed(parent, key, path, (bool,), "boolean")

    def dict_items(self, items: Optional[list], path: str) -> list[tuple[int, dict]]:
        """(index, item) for the object items of a list; other items give type errors."""
        out = []
        for i, item in enumerate(items or []):
            if isinstance(item, dict):
                out.append((i, item))
            else:
                self.type_invalid(f"{path}[{i}]", item, "object")
        return out

    def string_map(self, parent: Any, key: str, path: str) -> dict[str, str]:
        """A map of strings (labels, selectors); wrong types are recorded and skipped."""
        value = self.dict_at(parent, key, path)
        out: dict[str, str] = {}
        for k, v in (value or {}).items():
            if isinstance(v, str):
                out[k] = v
            else:
                self.type_invalid(f"{path}[{k}]", v, "string")
        return out


def invalid_message(kind: str, name: str, causes: list[dict]) -> str:
    """The Status message for 422 Invalid, worded like Kubernetes'."""
    parts = [f"{c['field']}: {c['message']}" if c.get("field") else c["message"]
             for c in causes]
    body = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    return f'{kind} "{name}" is invalid: {body}'
