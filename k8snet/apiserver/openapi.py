"""The minimal OpenAPI v3 documents kubectl needs to leave validation to the server (pure)."""

from __future__ import annotations

import hashlib
import json
from typing import Optional

from k8snet.machinery import resources as kinds


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _gv_document(group: str, version: str) -> dict:
    paths: dict = {}
    base = "/" + _gv_path(group, version)
    params = [{"name": n, "in": "query", "schema": {"type": "string"}, "uniqueItems": True}
              for n in ("dryRun", "fieldManager", "fieldValidation", "force")]
    for info in kinds.resources_in(group, version):
        if "get" not in info.verbs:
            continue
        gvk = {"group": info.group, "version": info.version, "kind": info.kind}
        item = (f"{base}/namespaces/{{namespace}}/{info.plural}/{{name}}" if info.namespaced
                else f"{base}/{info.plural}/{{name}}")
        ref = {"$ref": f"#/components/schemas/{_schema_name(info)}"}
        ok = {"200": {"description": "OK", "content": {"application/json": {"schema": ref}}}}
        op = {"operationId": f"patch{info.kind}", "parameters": params,
              "x-kubernetes-action": "patch", "x-kubernetes-group-version-kind": gvk,
              "responses": ok}
        get = {"operationId": f"read{info.kind}", "x-kubernetes-action": "get",
               "x-kubernetes-group-version-kind": gvk, "responses": ok}
        put = dict(op, operationId=f"replace{info.kind}", **{"x-kubernetes-action": "put"})
        paths[item] = {"get": get, "put": put, "patch": op}
        coll = item.rsplit("/", 1)[0]
        post = dict(op, operationId=f"create{info.kind}", **{"x-kubernetes-action": "post"})
        paths[coll] = {"post": post}
    schemas = {
        _schema_name(info): {
            "type": "object",
            "description": f"{info.kind} ({info.api_version})",
            "x-kubernetes-group-version-kind": [
                {"group": info.group, "version": info.version, "kind": info.kind}],
            "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                           "metadata": {"type": "object"}},
        }
        for info in kinds.resources_in(group, version) if "get" in info.verbs
    }
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.32.0"},
            "paths": paths, "components": {"schemas": schemas}}


def _schema_name(info: kinds.KindInfo) -> str:
    grp = {"": "core", "apps": "apps", "coordination.k8s.io": "coordination"}.get(
        info.group, info.group)
    return f"io.k8s.api.{grp}.{info.version}.{info.kind}"


def _hash(doc: dict) -> str:
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:32].upper()


def document(rel: str) -> Optional[dict]:
    """'' -> the /openapi/v3 index; 'api/v1' or 'apis/apps/v1' -> that document; else None."""
    if rel == "":
        return {"paths": {
            _gv_path(g, v): {"serverRelativeURL":
                             f"/openapi/v3/{_gv_path(g, v)}?hash={_hash(_gv_document(g, v))}"}
            for g, v in kinds.group_versions()}}
    for g, v in kinds.group_versions():
        if rel == _gv_path(g, v):
            return _gv_document(g, v)
    return None
