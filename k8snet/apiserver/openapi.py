"""The OpenAPI documents: v3 per group-version and swagger 2.0 at /openapi/v2 (pure).

Built from the served resource table (anything with ``group_versions()`` and
``resources_in(group, version)``, such as ``k8snet.machinery.resources``) and the
1.32 definitions (`k8snet.api.definitions`), so that kubectl explains every field
with upstream's descriptions and validates manifests as against a real cluster.

Public names:

    v3_document(table, group, version) -> dict | None   /openapi/v3/apis/<g>/<v>
        paths with their operations, and components.schemas holding exactly the
        definitions those reach (refs #/components/schemas/..., a ref with a
        description or default beside it wrapped in allOf, as upstream does)
    v3_index(table, hashes) -> dict      /openapi/v3: {"paths": {gv: {"serverRelativeURL":
                                         "/openapi/v3/<gv>?hash=<HASH>"}}}
    v2_document(table) -> dict           /openapi/v2: every served path and definition
    to_v3(name, schema) / to_v2(name, schema) -> dict   one definition in either form
    document_hash(body: bytes) -> str    upstream's ETag/hash: SHA-512, upper-case hex

Serving (caching, ETags, content negotiation) is `k8snet.apiserver.openapiserve`.
"""

from __future__ import annotations

import hashlib
from typing import Any, Iterable, Optional

from k8snet.api import definitions as defs
from k8snet.apiserver import openapipaths as op

V3_PREFIX = "#/components/schemas/"
INFO = {"title": "Kubernetes", "version": defs.KUBERNETES_VERSION}
_SECURITY_SCHEME = {"type": "apiKey", "name": "authorization", "in": "header",
                    "description": "Bearer token authentication"}
_CODE_TEXT = {"200": "OK", "201": "Created", "202": "Accepted"}


def document_hash(body: bytes) -> str:
    """Upstream's hash of a document: SHA-512 of its bytes in upper-case hex."""
    return hashlib.sha512(body).hexdigest().upper()


# -- schemas ----------------------------------------------------------------------------
def _walk_schema(schema: Any, ref_prefix: str, wrap_refs: bool) -> Any:
    if isinstance(schema, list):
        return [_walk_schema(x, ref_prefix, wrap_refs) for x in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict = {}
    for key, value in schema.items():
        if key == "$ref" and isinstance(value, str) and value.startswith(defs.REF_PREFIX):
            out[key] = ref_prefix + value[len(defs.REF_PREFIX):]
        elif key == "properties" and isinstance(value, dict):
            out[key] = {k: _walk_schema(v, ref_prefix, wrap_refs) for k, v in value.items()}
        elif key in ("items", "additionalProperties", "allOf", "oneOf", "anyOf", "not"):
            out[key] = _walk_schema(value, ref_prefix, wrap_refs)
        else:
            out[key] = value
    if wrap_refs and "$ref" in out and len(out) > 1:
        ref = out.pop("$ref")
        out["allOf"] = [{"$ref": ref}]
    return out


def to_v3(name: str, schema: dict) -> dict:
    """A definition as an OpenAPI v3 component schema."""
    if name == defs.INT_OR_STRING:
        return {**{k: v for k, v in schema.items() if k != "oneOf"},
                "oneOf": [{"type": "integer"}, {"type": "string"}]}
    return _walk_schema(schema, V3_PREFIX, wrap_refs=True)


def to_v2(name: str, schema: dict) -> dict:
    """A definition as a swagger 2.0 definition (IntOrString and Quantity as strings)."""
    if name == defs.INT_OR_STRING:
        return {**{k: v for k, v in schema.items() if k != "oneOf"},
                "type": "string", "format": "int-or-string"}
    if name == defs.QUANTITY:
        return {**{k: v for k, v in schema.items() if k != "oneOf"}, "type": "string"}
    return _walk_schema(schema, defs.REF_PREFIX, wrap_refs=False)


# -- v3 ---------------------------------------------------------------------------------
def _v3_param(p: op.Param) -> dict:
    out: dict = {"name": p.name, "in": p.where, "description": p.description}
    if p.required:
        out["required"] = True
    out["schema"] = {"type": p.type, "uniqueItems": True}
    return out


def _gvk(gvk: tuple[str, str, str]) -> dict:
    return {"group": gvk[0], "version": gvk[1], "kind": gvk[2]}


def _v3_operation(o: op.Operation) -> dict:
    out: dict = {"tags": [o.tag], "description": o.description, "operationId": o.operation_id}
    if o.params:
        out["parameters"] = [_v3_param(p) for p in o.params]
    if o.body:
        ref = {"$ref": V3_PREFIX + o.body}
        out["requestBody"] = {"content": {t: {"schema": ref} for t in o.body_types},
                              "required": o.method in ("post", "put", "patch")}
    if o.response:
        media = ("application/json;stream=watch" if o.action in ("watch", "watchlist")
                 else "application/json")
        content = {media: {"schema": {"$ref": V3_PREFIX + o.response}}}
    else:
        content = {"*/*": {"schema": {"type": "string"}}}
    responses = {code: {"description": _CODE_TEXT.get(code, code), "content": content}
                 for code in o.codes}
    responses["401"] = {"description": "Unauthorized"}
    out["responses"] = responses
    if o.action:
        out["x-kubernetes-action"] = o.action
    if o.gvk:
        out["x-kubernetes-group-version-kind"] = _gvk(o.gvk)
    return out


def _served(table: Any, group: str, version: str) -> Optional[list]:
    for g, v in table.group_versions():
        if (g, v) == (group, version):
            return list(table.resources_in(group, version))
    return None


def _refs(schema: Any, out: set) -> None:
    if isinstance(schema, dict):
        name = defs.ref_name(schema)
        if name:
            out.add(name)
        for value in schema.values():
            _refs(value, out)
    elif isinstance(schema, list):
        for value in schema:
            _refs(value, out)


def _closure(roots: Iterable[str], custom: Any, v2: bool = False) -> dict[str, dict]:
    """Every definition the roots reach: built-in ones and custom resources' (`custom`:
    k8snet.apiextensions.crdopenapi.CustomDefinitions or None)."""
    extra = {} if custom is None else custom.definitions_v2 if v2 else custom.definitions
    todo, seen_extra, builtin = list(roots), set(), set()
    while todo:
        name = todo.pop()
        if name in extra:
            if name not in seen_extra:
                seen_extra.add(name)
                found: set = set()
                _refs(extra[name], found)
                todo.extend(found)
        else:
            builtin.add(name)
    table_defs = defs.definitions()
    out = {n: table_defs[n] for n in defs.closure(builtin)}
    out.update({n: extra[n] for n in sorted(seen_extra)})
    return dict(sorted(out.items()))


def v3_document(table: Any, group: str, version: str, custom: Any = None) -> Optional[dict]:
    """The OpenAPI v3 document of one served group-version, or None if not served
    (`custom`: the definitions of custom resources, if any are served)."""
    resources = _served(table, group, version)
    if resources is None:
        return None
    names = custom.names if custom is not None else None
    paths: dict = {}
    for item in op.group_version_paths(group, version, resources, names):
        entry: dict = {o.method: _v3_operation(o) for o in item.operations}
        if item.params:
            entry["parameters"] = [_v3_param(p) for p in item.params]
        paths[item.path] = entry
    reached = _closure(op.root_definitions(group, version, resources, names), custom)
    schemas = {n: to_v3(n, schema) for n, schema in reached.items()}
    return {"openapi": "3.0.0", "info": dict(INFO), "paths": paths,
            "components": {"schemas": schemas,
                           "securitySchemes": {"BearerToken": dict(_SECURITY_SCHEME)}}}


def v3_index(table: Any, hashes: dict) -> dict:
    """The /openapi/v3 discovery document; hashes: gv path -> document hash."""
    paths = {}
    for group, version in table.group_versions():
        gv = op.gv_path(group, version)
        url = f"/openapi/v3/{gv}"
        if hashes.get(gv):
            url += f"?hash={hashes[gv]}"
        paths[gv] = {"serverRelativeURL": url}
    return {"paths": paths}


# -- v2 ---------------------------------------------------------------------------------
def _v2_param(p: op.Param) -> dict:
    out: dict = {"uniqueItems": True, "type": p.type, "description": p.description,
                 "name": p.name, "in": p.where}
    if p.required:
        out["required"] = True
    return out


def _v2_operation(o: op.Operation) -> dict:
    out: dict = {"description": o.description}
    if o.body:
        out["consumes"] = list(o.body_types)
    out["produces"] = (["application/json;stream=watch"] if o.action in ("watch", "watchlist")
                       else ["application/json"] if o.response else ["*/*"])
    out["schemes"] = ["https"]
    out["tags"] = [o.tag]
    out["operationId"] = o.operation_id
    params = []
    if o.body:
        params.append({"name": "body", "in": "body", "required": o.method != "delete",
                       "schema": {"$ref": defs.REF_PREFIX + o.body}})
    params.extend(_v2_param(p) for p in o.params)
    if params:
        out["parameters"] = params
    schema = {"$ref": defs.REF_PREFIX + o.response} if o.response else {"type": "string"}
    responses = {code: {"description": _CODE_TEXT.get(code, code), "schema": schema}
                 for code in o.codes}
    responses["401"] = {"description": "Unauthorized"}
    out["responses"] = responses
    if o.action:
        out["x-kubernetes-action"] = o.action
    if o.gvk:
        out["x-kubernetes-group-version-kind"] = _gvk(o.gvk)
    return out


def v2_document(table: Any, custom: Any = None) -> dict:
    """The swagger 2.0 document of everything served."""
    paths: dict = {}
    roots: set = set()
    names = custom.names if custom is not None else None
    for group, version in table.group_versions():
        resources = list(table.resources_in(group, version))
        roots.update(op.root_definitions(group, version, resources, names))
        for item in op.group_version_paths(group, version, resources, names):
            entry: dict = {o.method: _v2_operation(o) for o in item.operations}
            if item.params:
                entry["parameters"] = [_v2_param(p) for p in item.params]
            paths[item.path] = entry
    definitions = {n: to_v2(n, schema)
                   for n, schema in _closure(roots, custom, v2=True).items()}
    return {"swagger": "2.0", "info": dict(INFO), "paths": paths, "definitions": definitions,
            "securityDefinitions": {"BearerToken": dict(_SECURITY_SCHEME)},
            "security": [{"BearerToken": []}]}
