"""OpenAPI definitions of custom resources, as apiextensions-apiserver's builder makes them
(pure): a CRD version's openAPIV3Schema with apiVersion, kind and metadata added (the
metadata a reference to ObjectMeta), the x-kubernetes-group-version-kind extension,
and a <Kind>List definition; named after the group reversed
(stable.example.com/v1 CronTab -> com.example.stable.v1.CronTab).

Definitions are written in the swagger form the built-in definitions use
("#/definitions/<name>" references); the OpenAPI renderers convert them for v3.

Public names:

    CustomDefinitions(names, definitions, key, definitions_v2)
        names: (group, version, kind) -> definition name
        definitions: definition name -> schema (for OpenAPI v3)
        key: what the documents built from them depend on (for caching)
        definitions_v2: the same for swagger 2.0, with what kubectl's v2 reader cannot
                        take removed (junctors, nullable types, preserved unknown fields)
    to_v2(schema) -> dict
    definition_name(group, version, kind) -> str
    build(served) -> CustomDefinitions        from ServedVersion entries
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from k8snet.apiextensions.crdkinds import ServedVersion

_REF = "#/definitions/"
_OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
_LIST_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"
_TYPED = "io.k8s.api.apps.v1.Deployment"          # where TypeMeta's texts are read from
_TYPED_LIST = "io.k8s.api.apps.v1.DeploymentList"


@dataclass(frozen=True)
class CustomDefinitions:
    """Definitions of the served custom resources, and their names by GVK."""

    names: Mapping[tuple[str, str, str], str] = field(default_factory=dict)
    definitions: Mapping[str, dict] = field(default_factory=dict)
    key: tuple = ()
    definitions_v2: Mapping[str, dict] = field(default_factory=dict)


def definition_name(group: str, version: str, kind: str) -> str:
    """kube-openapi's REST-friendly name of a CRD type: the group's labels reversed."""
    return ".".join(reversed(group.split("."))) + f".{version}.{kind}"


def _texts() -> tuple[dict, dict, dict, dict]:
    """apiVersion, kind, metadata (object) and metadata (list) properties, as built-ins
    describe them."""
    from k8snet.api import definitions as defs

    obj = (defs.definition(_TYPED) or {}).get("properties") or {}
    lst = (defs.definition(_TYPED_LIST) or {}).get("properties") or {}
    api_version = dict(obj.get("apiVersion") or {"type": "string"})
    kind = dict(obj.get("kind") or {"type": "string"})
    meta = {"$ref": _REF + _OBJECT_META,
            "description": (obj.get("metadata") or {}).get("description", "")}
    list_meta = {"$ref": _REF + _LIST_META,
                 "description": (lst.get("metadata") or {}).get("description", "")}
    return api_version, kind, meta, list_meta


def _embedded(s: Any, texts: tuple) -> None:
    """x-kubernetes-embedded-resource nodes get apiVersion, kind and metadata too."""
    if not isinstance(s, dict):
        return
    for sub in (s.get("properties") or {}).values():
        _embedded(sub, texts)
    for word in ("items", "additionalProperties"):
        _embedded(s.get(word), texts)
    if s.get("x-kubernetes-embedded-resource") is True:
        props = s.setdefault("properties", {})
        props["apiVersion"], props["kind"], props["metadata"] = (
            copy.deepcopy(texts[0]), copy.deepcopy(texts[1]), copy.deepcopy(texts[2]))
        required = s.setdefault("required", [])
        for word in ("kind", "apiVersion"):
            if word not in required:
                required.append(word)


def _kind_schema(sv: ServedVersion, texts: tuple) -> dict:
    info = sv.info
    gvk = [{"group": info.group, "version": info.version, "kind": info.kind}]
    schema = sv.schema
    if not isinstance(schema, dict):
        return {"type": "object", "x-kubernetes-group-version-kind": gvk}
    out = copy.deepcopy(schema)
    _embedded(out, texts)
    props = out.setdefault("properties", {})
    props["metadata"] = copy.deepcopy(texts[2])
    props["apiVersion"] = copy.deepcopy(texts[0])
    props["kind"] = copy.deepcopy(texts[1])
    out["x-kubernetes-group-version-kind"] = gvk
    return out


def _list_schema(sv: ServedVersion, item: str, list_kind: str, texts: tuple) -> dict:
    info = sv.info
    return {
        "description": f"{list_kind} is a list of {info.kind}",
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": copy.deepcopy(texts[0]),
            "items": {"type": "array", "items": {"$ref": _REF + item},
                      "description": f"List of {info.plural}. More info: https://git.k8s.io/"
                                     "community/contributors/devel/sig-architecture/"
                                     "api-conventions.md"},
            "kind": copy.deepcopy(texts[1]),
            "metadata": copy.deepcopy(texts[3]),
        },
        "x-kubernetes-group-version-kind": [{"group": info.group, "version": info.version,
                                             "kind": list_kind}],
    }


def to_v2(schema: Any) -> Any:
    """A CRD schema as the v2 document carries it (ToStructuralOpenAPIV2's rules)."""
    if not isinstance(schema, dict):
        return schema
    s = {k: v for k, v in schema.items() if k not in ("allOf", "oneOf", "anyOf", "not")}
    if s.get("nullable") is True:
        for word in ("type", "nullable", "items", "properties"):
            s.pop(word, None)
    s.pop("nullable", None)
    if s.get("x-kubernetes-preserve-unknown-fields") is True:
        s.pop("items", None)
        s.pop("properties", None)
        if s.get("type") == "object":
            s.pop("type")
    if s.get("type") == "array" and "items" not in s:
        s.pop("type")
    if isinstance(s.get("properties"), dict):
        nullable = {k for k, v in s["properties"].items()
                    if isinstance(v, dict) and v.get("nullable") is True}
        s["properties"] = {k: to_v2(v) for k, v in s["properties"].items()}
        if nullable and isinstance(s.get("required"), list):
            s["required"] = [r for r in s["required"] if r not in nullable]
    if isinstance(s.get("items"), dict):
        s["items"] = to_v2(s["items"])
    ap = s.get("additionalProperties")
    if isinstance(ap, dict):
        if ap.get("nullable") is True:
            s.pop("required", None)
        s["additionalProperties"] = to_v2(ap)
    return s


def build(served: Iterable[ServedVersion]) -> CustomDefinitions:
    """The definitions of every served custom resource version."""
    svs = sorted(served, key=lambda sv: sv.key)
    if not svs:
        return CustomDefinitions()
    texts = _texts()
    names: dict = {}
    definitions: dict = {}
    for sv in svs:
        info = sv.info
        list_kind = info.list_kind
        item = definition_name(info.group, info.version, info.kind)
        lst = definition_name(info.group, info.version, list_kind)
        names[(info.group, info.version, info.kind)] = item
        names[(info.group, info.version, list_kind)] = lst
        definitions[item] = _kind_schema(sv, texts)
        definitions[lst] = _list_schema(sv, item, list_kind, texts)
    v2 = {name: to_v2(schema) for name, schema in definitions.items()}
    for sv in svs:
        name = names[(sv.info.group, sv.info.version, sv.info.kind)]
        schema = sv.schema or {}
        if schema.get("x-kubernetes-preserve-unknown-fields") is True:
            v2[name] = {"type": "object", "x-kubernetes-group-version-kind":
                        definitions[name]["x-kubernetes-group-version-kind"]}
    return CustomDefinitions(names, definitions,
                             tuple((sv.key, sv.info, sv.schema_json) for sv in svs), v2)
