"""Plain dataclasses to and from JSON documents, checked on the way in.

    doc = to_doc(spec)                      # dataclasses.asdict
    spec = from_doc(ClusterSpec, doc, "the cluster spec")   # ValueError names the bad field

Loading is strict (pydantic, in strict mode): a missing field, a field of the
wrong type or an unknown field is an error naming it, never a KeyError later.
Dataclasses that are loaded this way set ``__pydantic_config__ = typed.STRICT``
(pydantic reads it; it is imported only when something is loaded).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Dict, Type, TypeVar

T = TypeVar("T")
STRICT = {"extra": "forbid"}  # a pydantic ConfigDict: unknown fields are errors
RENAMED = {"unexpected_keyword_argument": "unknown field", "missing": "missing"}


def to_doc(obj: Any) -> Dict[str, Any]:
    """A dataclass as a JSON-ready dict."""
    return dataclasses.asdict(obj)


def from_doc(cls: Type[T], doc: Any, what: str) -> T:
    """``doc`` (parsed JSON) as a ``cls``; ValueError saying what is wrong with it."""
    return from_json(cls, json.dumps(doc), what)


def from_json(cls: Type[T], text: str, what: str) -> T:
    """JSON text as a ``cls``; ValueError saying what is wrong with it. (Strict
    validation of JSON input: objects become dataclasses, nothing is coerced.)"""
    import pydantic

    try:
        return pydantic.TypeAdapter(cls).validate_json(text, strict=True)
    except pydantic.ValidationError as exc:
        raise ValueError(f"{what}: {describe(exc.errors())}") from None


def describe(errors) -> str:
    """The first validation error as ``field.path: message`` (and how many more)."""
    first = errors[0]
    where = ".".join(str(part) for part in first.get("loc", ())) or "(top)"
    message = RENAMED.get(first.get("type", ""), first.get("msg", "invalid"))
    text = f"{where}: {message}"
    if len(errors) > 1:
        text += f" (and {len(errors) - 1} more)"
    return text
