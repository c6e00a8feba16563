"""The Kubernetes 1.32 API definitions (OpenAPI schemas with descriptions), loaded once.

The source is the `kubernetes-validate` package: its
``kubernetes-json-schema/v1.32.0-local/_definitions.json`` holds every definition
of the 1.32 API (``$defs``: descriptions, ``x-kubernetes-group-version-kind``,
list/map/patch extensions, ``required``, formats). That file is a JSON-Schema
rendering of the upstream swagger, so it is normalised here back to OpenAPI form:

- types written nullable (``["object", "null"]``) become one type (``"object"``);
- refs ``#/$defs/X`` become ``#/definitions/X`` (the canonical form used below;
  the OpenAPI v3 renderer rewrites them to ``#/components/schemas/X``);
- the single-value ``enum`` the converter added to ``apiVersion``/``kind`` of each
  top-level kind is dropped (upstream has none there);
- IntOrString gets back its ``format: int-or-string``.

The definitions are read-only after loading: callers copy what they change.

Public names:

    definitions() -> Mapping[str, dict]          name -> schema (cached, built once)
    definition(name) -> dict | None
    by_gvk() -> Mapping[(group, version, kind), str]   definition name of each kind
    name_for(group, version, kind) -> str | None
    ref_name(schema) -> str | None               the definition a {"$ref": ...} names
    closure(names) -> list[str]                  names plus every definition they reach
    go_package(name) -> str                      "v1" for io.k8s.api.apps.v1.Deployment
    short_name(name) -> str                      "Deployment"
    REF_PREFIX, INT_OR_STRING, QUANTITY, TIME, MICRO_TIME, RAW_EXTENSION, ...
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from types import MappingProxyType
from typing import Any, Iterable, Mapping, Optional

from k8snet.errors import K8snetError

SOURCE_PACKAGE = "kubernetes_validate"
SOURCE_FILE = ("kubernetes-json-schema", "v1.32.0-local", "_definitions.json")
KUBERNETES_VERSION = "v1.32.0"
REF_PREFIX = "#/definitions/"
_SOURCE_PREFIX = "#/$defs/"

_META = "io.k8s.apimachinery.pkg.apis.meta.v1."
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
TIME = _META + "Time"
MICRO_TIME = _META + "MicroTime"
FIELDS_V1 = _META + "FieldsV1"
RAW_EXTENSION = "io.k8s.apimachinery.pkg.runtime.RawExtension"
_APIEXT = "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1."
JSON_VALUE = _APIEXT + "JSON"
# Go types whose JSON form is not their struct: a custom UnmarshalJSON keeps the
# raw value (RawExtension, FieldsV1, apiextensions JSON) or picks between shapes.
OPAQUE = frozenset({RAW_EXTENSION, FIELDS_V1, JSON_VALUE, _META + "Patch",
                    _APIEXT + "JSONSchemaPropsOrArray", _APIEXT + "JSONSchemaPropsOrBool",
                    _APIEXT + "JSONSchemaPropsOrStringArray"})


def _source_text() -> str:
    try:
        ref = resources.files(SOURCE_PACKAGE).joinpath(*SOURCE_FILE)
        return ref.read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError) as e:
        raise K8snetError(f"the Kubernetes API definitions are missing ({e}); "
                          f"install the '{SOURCE_PACKAGE.replace('_', '-')}' package") from None


def _one_type(value: Any) -> Any:
    if isinstance(value, list):
        kept = [t for t in value if t != "null"]
        return kept[0] if len(kept) == 1 else kept
    return value


def _normalize(schema: Any, strings: dict) -> Any:
    """A copy of one source schema in OpenAPI form (see the module docstring)."""
    if isinstance(schema, list):
        return [_normalize(x, strings) for x in schema]
    if not isinstance(schema, dict):
        # identical strings (the same description hundreds of times) share one object
        return strings.setdefault(schema, schema) if isinstance(schema, str) else schema
    out: dict = {}
    for key, value in schema.items():
        if key == "type":
            out[key] = _one_type(value)
        elif key == "$ref" and isinstance(value, str) and value.startswith(_SOURCE_PREFIX):
            out[key] = REF_PREFIX + value[len(_SOURCE_PREFIX):]
        elif key == "properties" and isinstance(value, dict):
            out[key] = {strings.setdefault(k, k): _normalize(v, strings)
                        for k, v in value.items()}
        else:
            out[strings.setdefault(key, key)] = _normalize(value, strings)
    return out


def _fix_definition(name: str, schema: dict) -> dict:
    props = schema.get("properties")
    if schema.get("x-kubernetes-group-version-kind") and isinstance(props, dict):
        for field in ("apiVersion", "kind"):
            sub = props.get(field)
            if isinstance(sub, dict) and "enum" in sub:
                props[field] = {k: v for k, v in sub.items() if k != "enum"}
    if name == INT_OR_STRING:
        schema = {"format": "int-or-string", **schema}
    return schema


@lru_cache(maxsize=1)
def definitions() -> Mapping[str, dict]:
    """Every 1.32 definition by name, normalised; loaded on first use, then shared."""
    raw = json.loads(_source_text())
    source = raw.get("$defs") if isinstance(raw, dict) else None
    if not isinstance(source, dict) or not source:
        raise K8snetError(f"{'/'.join(SOURCE_FILE)} in {SOURCE_PACKAGE} has no $defs")
    strings: dict = {}
    out = {name: _fix_definition(name, _normalize(schema, strings))
           for name, schema in sorted(source.items())}
    return MappingProxyType(out)


def definition(name: str) -> Optional[dict]:
    """One definition by its full name (io.k8s.api.core.v1.Pod), or None."""
    return definitions().get(name)


@lru_cache(maxsize=1)
def by_gvk() -> Mapping[tuple[str, str, str], str]:
    """(group, version, kind) -> definition name, for every kind a definition declares.

    A definition listing many GVKs (DeleteOptions, Status, WatchEvent) is found under
    each of them.
    """
    out: dict = {}
    for name, schema in definitions().items():
        for gvk in schema.get("x-kubernetes-group-version-kind") or ():
            if isinstance(gvk, dict):
                key = (gvk.get("group", ""), gvk.get("version", ""), gvk.get("kind", ""))
                out.setdefault(key, name)
    return MappingProxyType(out)


def name_for(group: str, version: str, kind: str) -> Optional[str]:
    """The definition of kind in group/version, or None."""
    return by_gvk().get((group, version, kind))


def ref_name(schema: Any) -> Optional[str]:
    """The definition name a ``{"$ref": "#/definitions/X"}`` schema points at, else None."""
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith(REF_PREFIX):
            return ref[len(REF_PREFIX):]
    return None


def _refs(schema: Any, out: set) -> None:
    if isinstance(schema, dict):
        name = ref_name(schema)
        if name:
            out.add(name)
        for key, value in schema.items():
            if key == "properties" and isinstance(value, dict):
                # property names are data: JSONSchemaProps has x-kubernetes-validations
                for sub in value.values():
                    _refs(sub, out)
            elif not key.startswith("x-kubernetes-"):
                _refs(value, out)
    elif isinstance(schema, list):
        for item in schema:
            _refs(item, out)


def closure(names: Iterable[str]) -> list[str]:
    """The given definitions and every definition they reach through refs, sorted."""
    defs = definitions()
    seen: set = set()
    todo = [n for n in names if n in defs]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        found: set = set()
        _refs(defs[name], found)
        todo.extend(n for n in found if n in defs and n not in seen)
    return sorted(seen)


def short_name(name: str) -> str:
    """The Go type name of a definition: io.k8s.api.apps.v1.Deployment -> Deployment."""
    return name.rsplit(".", 1)[-1]


def go_package(name: str) -> str:
    """The Go package name of a definition: io.k8s.api.apps.v1.Deployment -> v1."""
    parts = name.split(".")
    return parts[-2] if len(parts) >= 2 else ""
