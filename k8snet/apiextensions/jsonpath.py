"""The JSONPath subset of additionalPrinterColumns (client-go's jsonpath, missing keys
allowed), and the cells a CRD's table shows.

Supported: `.field`, `['field.with.dots']`, `["field"]`, `[0]`, `[-1]`, `[*]`, and
filters `[?(@.path=="value")]` / `[?(@.path!="value")]` (numbers and booleans compare
too). That is what CRDs' printer columns use in practice (`.spec.replicas`,
`.status.conditions[?(@.type=="Ready")].status`, `.spec.containers[0].image`).

Public names:

    JsonPathError
    parse(path) -> list[Step]             raises JsonPathError when outside the subset
    find(obj, steps) -> list              every value the path reaches (missing keys: none)
    first(obj, path) -> (value, found)
    text(value) -> str                    how jsonpath prints a value (maps and lists as
                                          compact JSON, floats as Go's %v)
    cell(column_type, value)              a Table cell for a column of type integer,
                                          number, boolean, string or date (date: the
                                          timestamp string; the table layer renders age)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Optional

from k8snet.apiextensions.goerrors import go_float


class JsonPathError(ValueError):
    """The path is not in the supported JSONPath subset."""


@dataclass(frozen=True)
class Step:
    """One step: a field, an index, every element, or a filter on a sub-path."""

    kind: str                      # "field" | "index" | "all" | "filter"
    name: str = ""
    index: int = 0
    sub: tuple = ()
    op: str = "=="
    value: Any = None


_FIELD = re.compile(r"[A-Za-z0-9_\-$@]+")
_FILTER = re.compile(r"\?\(\s*@((?:\.[A-Za-z0-9_\-]+)*)\s*(==|!=)\s*(.+?)\s*\)$")


def parse(path: str) -> list[Step]:
    """Steps of a path such as .status.conditions[?(@.type=="Ready")].status."""
    text = path.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1].strip()
    if text.startswith("$"):
        text = text[1:]
    steps: list[Step] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == ".":
            m = _FIELD.match(text, i + 1)
            if not m:
                if i + 1 == len(text) and not steps:
                    break  # "." alone: the object itself
                raise JsonPathError(f"unrecognized JSONPath at {text[i:]!r}")
            steps.append(Step("field", name=m.group(0)))
            i = m.end()
        elif ch == "[":
            end = _closing(text, i)
            steps.append(_bracket(text[i + 1:end].strip()))
            i = end + 1
        else:
            raise JsonPathError(f"unrecognized JSONPath at {text[i:]!r}")
    return steps


def _closing(text: str, start: int) -> int:
    depth, quote = 0, ""
    for j in range(start, len(text)):
        c = text[j]
        if quote:
            if c == quote:
                quote = ""
        elif c in "'\"":
            quote = c
        elif c == "[":
            depth += 1
        elif c == "]":
            depth -= 1
            if depth == 0:
                return j
    raise JsonPathError(f"unterminated [ in {text!r}")


def _bracket(inner: str) -> Step:
    if inner == "*":
        return Step("all")
    if len(inner) >= 2 and inner[0] == inner[-1] and inner[0] in "'\"":
        return Step("field", name=inner[1:-1])
    if re.fullmatch(r"-?\d+", inner):
        return Step("index", index=int(inner))
    m = _FILTER.match(inner)
    if m:
        sub = tuple(p for p in m.group(1).split(".") if p)
        return Step("filter", sub=sub, op=m.group(2), value=_literal(m.group(3)))
    raise JsonPathError(f"unsupported JSONPath expression [{inner}]")


def _literal(text: str) -> Any:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    try:
        return json.loads(text)
    except ValueError:
        return text


def _walk(values: list, step: Step) -> list:
    out: list = []
    for v in values:
        if step.kind == "field":
            if isinstance(v, dict) and step.name in v:
                out.append(v[step.name])
        elif step.kind == "index":
            if isinstance(v, list) and -len(v) <= step.index < len(v):
                out.append(v[step.index])
        elif step.kind == "all":
            if isinstance(v, list):
                out.extend(v)
            elif isinstance(v, dict):
                out.extend(v.values())
        elif isinstance(v, list):
            for item in v:
                got, found = _get(item, step.sub)
                if found and (got == step.value) == (step.op == "=="):
                    out.append(item)
    return out


def _get(obj: Any, parts: tuple) -> tuple[Any, bool]:
    cur = obj
    for p in parts:
        if not isinstance(cur, dict) or p not in cur:
            return None, False
        cur = cur[p]
    return cur, True


def find(obj: Any, steps: list[Step]) -> list:
    """Every value the path reaches; a missing key just yields nothing."""
    values = [obj]
    for step in steps:
        values = _walk(values, step)
    return values


def first(obj: Any, path: str) -> tuple[Any, bool]:
    """The first value at path, and whether there was one."""
    got = find(obj, parse(path))
    return (got[0], True) if got else (None, False)


def text(value: Any) -> str:
    """How client-go's jsonpath prints a result."""
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return go_float(value)
    return str(value)


def cell(column_type: str, value: Any) -> Optional[Any]:
    """A Table cell of a printer column (None prints as <none>)."""
    if value is None:
        return None
    if column_type == "string":
        return text(value)
    if column_type == "integer" and isinstance(value, (int, float)) \
            and not isinstance(value, bool):
        return int(value)
    if column_type == "number" and isinstance(value, (int, float)) \
            and not isinstance(value, bool):
        return float(value)
    if column_type == "boolean" and isinstance(value, bool):
        return value
    if column_type == "date" and isinstance(value, str):
        return value
    return None
