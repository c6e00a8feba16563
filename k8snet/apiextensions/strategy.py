"""How the registry treats CustomResourceDefinitions and custom resources (the
apiextensions strategies), as hooks the generic registry and server call.

Strategy (the base) leaves everything to the generic code. The registry calls:

    unknown_fields(obj) -> list[str] | None    None: the built-in schema decides
    field_selector(text) -> FieldSelector | None   None: the kind's built-in field labels
    strict_message(unknown) -> str             the 400 of fieldValidation=Strict
    prepare(obj, cur, subresource) -> None     after the generic preparation of a
                                               create (cur None) or an update
    validate(obj, old, subresource, generic) -> list[Cause]
                                               `generic` are the causes of the generic
                                               (metadata) validation
The server calls:

    request_warnings(method) -> list[str]      Warning headers for a request
    refuse(method, subresource) -> None        raises ApiStatusError when the request
                                               cannot be served (terminating CRD,
                                               conversion webhook, strategic merge patch)
    table(objs, now, rv, cont, include) -> dict | None
    scale_of(obj) -> dict | None ; with_replicas(obj, n) -> dict

Public names: Strategy, CRDStrategy, CustomResourceStrategy, PATCH_TYPES (what custom
resources accept), ratchet(causes, obj, old).
"""

from __future__ import annotations

import copy
import re
from typing import Any, Optional

from k8snet.api.selectors import FieldSelector, parse_field_selector
from k8snet.apiextensions import crddefaults, crdstatus, crdvalidation, defaulting, pruning
from k8snet.apiextensions import jsonpath as jp
from k8snet.apiextensions.crdkinds import ServedVersion
from k8snet.apiextensions.crvalidation import (
    SchemaValidator,
    cel_rule_paths,
    nested,
    validate_embedded,
    validate_list_types,
    validate_scale,
)
from k8snet.apiserver.status import ApiStatusError
from k8snet.apiserver.tables import human_duration, parse_time, partial_metadata

PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json",
               "application/apply-patch+yaml")
_NAME_DESCRIPTION = ("Name must be unique within a namespace. Is required when creating "
                     "resources, although some resources may allow a client to request the "
                     "generation of an appropriate name automatically. Name is primarily "
                     "intended for creation idempotence and configuration definition. Cannot "
                     "be updated. More info: https://kubernetes.io/docs/concepts/overview/"
                     "working-with-objects/names#names")
_AGE_DESCRIPTION = ("CreationTimestamp is a timestamp representing the server time when this "
                    "object was created. It is not guaranteed to be set in happens-before "
                    "order across separate operations. Clients may not set this value. It is "
                    "represented in RFC3339 form and is in UTC.\n\nPopulated by the system. "
                    "Read-only. Null for lists. More info: https://git.k8s.io/community/"
                    "contributors/devel/sig-architecture/api-conventions.md#metadata")


class Strategy:
    """The generic behaviour: every hook defers to the registry's own code."""

    def unknown_fields(self, obj: dict) -> Optional[list[str]]:
        return None

    def strict_message(self, unknown: list[str]) -> str:
        return "strict decoding error: " + ", ".join(f'unknown field "{f}"' for f in unknown)

    def prepare(self, obj: dict, cur: Optional[dict], subresource: Optional[str]) -> None:
        return None

    def validate(self, obj: dict, old: Optional[dict], subresource: Optional[str],
                 generic: list[dict]) -> list[dict]:
        return generic

    def request_warnings(self, method: str) -> list[str]:
        return []

    def field_selector(self, text: Optional[str]) -> Optional[FieldSelector]:
        return None

    def refuse(self, method: str, subresource: Optional[str], content_type: str = "") -> None:
        return None

    def table(self, objs: list[dict], now: float, rv: str = "", cont: str = "",
              include: str = "Metadata") -> Optional[dict]:
        return None

    def scale_of(self, obj: dict) -> Optional[dict]:
        return None

    def with_replicas(self, obj: dict, replicas: int) -> dict:
        return obj


# -- CustomResourceDefinition ----------------------------------------------------------------

class CRDStrategy(Strategy):
    """customresourcedefinitions.apiextensions.k8s.io: v1 defaults, storedVersions and
    apiextensions-apiserver's validation."""

    def prepare(self, obj: dict, cur: Optional[dict], subresource: Optional[str]) -> None:
        if subresource == "status":
            return
        crddefaults.apply_defaults(obj)
        if cur is None:
            obj["status"] = {}
        crdstatus.stored_version_added(obj)

    def validate(self, obj: dict, old: Optional[dict], subresource: Optional[str],
                 generic: list[dict]) -> list[dict]:
        if subresource == "status":
            return generic + crdvalidation.validate_names(
                ((obj.get("status") or {}).get("acceptedNames") or {}),
                "status.acceptedNames")
        # the name rules are the CRD's own (subdomain and plural.group): not twice
        rest = [c for c in generic if c.get("field") != "metadata.name"]
        return rest + crdvalidation.validate(obj, old)


# -- custom resources -------------------------------------------------------------------------

def _field_value(obj: Any, field: str) -> tuple[Any, bool]:
    cur = obj
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", field):
        if part.startswith("["):
            i = int(part[1:-1])
            if not isinstance(cur, list) or i >= len(cur):
                return None, False
            cur = cur[i]
        else:
            if not isinstance(cur, dict) or part not in cur:
                return None, False
            cur = cur[part]
    return cur, True


def ratchet(causes: list[dict], obj: dict, old: Optional[dict]) -> list[dict]:
    """Drop schema causes about values an update left unchanged (validation ratcheting,
    on by default since 1.30): an object stored before a schema tightened stays updatable."""
    if old is None:
        return causes
    out = []
    for c in causes:
        field = c.get("field") or ""
        if field == "<nil>":
            if _strip(obj) == _strip(old):
                continue
            out.append(c)
            continue
        new_v, new_ok = _field_value(obj, field)
        old_v, old_ok = _field_value(old, field)
        if new_ok and old_ok and new_v == old_v:
            continue
        out.append(c)
    return out


def _strip(obj: Any) -> Any:
    return {k: v for k, v in obj.items() if k != "metadata"} if isinstance(obj, dict) else obj


class CustomResourceStrategy(Strategy):
    """One served version of a CRD."""

    def __init__(self, sv: ServedVersion) -> None:
        self.sv = sv
        self.schema = sv.schema
        self.validator = SchemaValidator(self.schema)
        status_schema = ((self.schema or {}).get("properties") or {}).get("status")
        self.status_validator = SchemaValidator(status_schema) \
            if isinstance(status_schema, dict) else None
        self.cel_paths = cel_rule_paths(self.schema)
        self.columns = sv.columns or [{"name": "Age", "type": "date",
                                       "description": _AGE_DESCRIPTION,
                                       "jsonPath": ".metadata.creationTimestamp"}]

    # -- registry hooks ---------------------------------------------------------------------
    def unknown_fields(self, obj: dict) -> Optional[list[str]]:
        probe = copy.deepcopy(obj)
        found = pruning.prune_metadata(probe)
        return sorted(found + pruning.prune(probe, self.schema))

    def strict_message(self, unknown: list[str]) -> str:
        kind, version = self.sv.info.kind, self.sv.info.version
        return (f'{kind} in version "{version}" cannot be handled as a {kind}: strict decoding '
                "error: " + ", ".join(f'unknown field "{f}"' for f in unknown))

    def prepare(self, obj: dict, cur: Optional[dict], subresource: Optional[str]) -> None:
        if cur is None and self.sv.status:
            obj.pop("status", None)  # PrepareForCreate: the status subresource owns it
        pruning.prune_metadata(obj)
        pruning.prune(obj, self.schema)
        pruning.prune_nulls(obj, self.schema)
        defaulting.apply_defaults(obj, self.schema)
        if cur is not None and subresource is None:
            meta, old_meta = obj.setdefault("metadata", {}), cur.get("metadata") or {}
            changed = _strip(obj) != _strip(cur)
            meta["generation"] = int(old_meta.get("generation") or 1) + (1 if changed else 0)

    def validate(self, obj: dict, old: Optional[dict], subresource: Optional[str],
                 generic: list[dict]) -> list[dict]:
        causes = list(generic)
        scale = self.sv.scale
        if subresource == "status":
            if self.status_validator is not None and "status" in obj:
                causes += ratchet(self.status_validator.validate(obj["status"], "status"),
                                  obj, old)
            if scale:
                causes += validate_scale(obj, None, scale[1], scale[2] or None)
            return causes
        causes += ratchet(self.validator.validate(obj), obj, old)
        if scale:
            causes += validate_scale(obj, scale[0], scale[1], scale[2] or None)
        causes += validate_embedded(obj, self.schema)
        if old is None or not validate_list_types(old, self.schema):
            causes += validate_list_types(obj, self.schema)
        return causes

    def field_selector(self, text: Optional[str]) -> Optional[FieldSelector]:
        """metadata.name, metadata.namespace and the CRD's selectableFields."""
        sel = parse_field_selector(text)
        allowed = ("metadata.name", "metadata.namespace") + self.sv.selectable
        for term in sel.terms:
            if term.field not in allowed:
                raise ValueError(f"field label not supported: {term.field}")
        return sel

    # -- server hooks ---------------------------------------------------------------------
    def request_warnings(self, method: str) -> list[str]:
        out = []
        if self.sv.deprecation_warning:
            out.append(self.sv.deprecation_warning)
        if self.cel_paths and method in ("POST", "PUT", "PATCH"):
            where = ", ".join(p or "<root>" for p in self.cel_paths)
            out.append(f"x-kubernetes-validations rules of {self.sv.crd_name} are not "
                       f"enforced by k8snet (no CEL evaluator): {where}")
        return out

    def refuse(self, method: str, subresource: Optional[str], content_type: str = "") -> None:
        info = self.sv.info
        details = {"group": info.group, "kind": info.plural}
        if self.sv.terminating and method == "POST" and subresource is None:
            raise ApiStatusError(405, "create not allowed while custom resource definition is "
                                      "terminating", "MethodNotAllowed", details)
        if self.sv.webhook_conversion:
            raise ApiStatusError(
                500, f"conversion webhook for {info.group}/{self.sv.storage_version}, "
                f"Kind={info.kind} failed: k8snet does not call conversion webhooks "
                f"(spec.conversion.strategy Webhook of {self.sv.crd_name}); use "
                f"{info.group}/{self.sv.storage_version}, the storage version, or strategy "
                "None", "InternalError")
        ctype = content_type.split(";")[0].strip().lower()
        if method == "PATCH" and ctype == "application/strategic-merge-patch+json":
            raise ApiStatusError(415, "the body of the request was in an unknown format - "
                                      "accepted media types include: " + ", ".join(PATCH_TYPES),
                                 "UnsupportedMediaType")

    def table(self, objs: list[dict], now: float, rv: str = "", cont: str = "",
              include: str = "Metadata") -> Optional[dict]:
        defs = [{"name": "Name", "type": "string", "format": "name",
                 "description": _NAME_DESCRIPTION, "priority": 0}]
        for col in self.columns:
            defs.append({"name": col.get("name", ""), "type": col.get("type", ""),
                         "format": col.get("format", ""),
                         "description": col.get("description") or
                         f"Custom resource definition column (in JSONPath format): "
                         f"{col.get('jsonPath', '')}",
                         "priority": int(col.get("priority") or 0)})
        rows = []
        for obj in objs:
            cells: list = [(obj.get("metadata") or {}).get("name", "")]
            for col in self.columns:
                cells.append(self._cell(col, obj, now))
            row: dict = {"cells": cells}
            if include == "Object":
                row["object"] = obj
            elif include != "None":
                row["object"] = partial_metadata(obj)
            rows.append(row)
        meta: dict = {"resourceVersion": rv}
        if cont:
            meta["continue"] = cont
        return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta,
                "columnDefinitions": defs, "rows": rows}

    @staticmethod
    def _cell(col: dict, obj: dict, now: float) -> Any:
        try:
            value, found = jp.first(obj, str(col.get("jsonPath") or ""))
        except jp.JsonPathError:
            return None
        if not found:
            return None
        cell = jp.cell(str(col.get("type") or ""), value)
        if col.get("type") == "date" and isinstance(cell, str):
            t = parse_time(cell)
            return "<invalid>" if t is None else human_duration(now - t)
        return cell

    def scale_of(self, obj: dict) -> Optional[dict]:
        if not self.sv.scale:
            return None
        spec_path, status_path, selector_path = self.sv.scale
        spec, _ = nested(obj, spec_path)
        status, _ = nested(obj, status_path)
        selector, _ = nested(obj, selector_path) if selector_path else (None, False)
        meta = obj.get("metadata") or {}
        out: dict = {"kind": "Scale", "apiVersion": "autoscaling/v1",
                     "metadata": {k: meta[k] for k in ("name", "namespace", "uid",
                                                       "resourceVersion", "creationTimestamp")
                                  if k in meta},
                     "spec": {"replicas": spec if isinstance(spec, int) else 0},
                     "status": {"replicas": status if isinstance(status, int) else 0}}
        if isinstance(selector, str) and selector:
            out["status"]["selector"] = selector
        return out

    def with_replicas(self, obj: dict, replicas: int) -> dict:
        new = copy.deepcopy(obj)
        parts = (self.sv.scale or (".spec.replicas",))[0].lstrip(".").split(".")
        cur = new
        for p in parts[:-1]:
            if not isinstance(cur.get(p), dict):
                cur[p] = {}
            cur = cur[p]
        cur[parts[-1]] = replicas
        return new

