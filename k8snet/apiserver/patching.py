"""PATCH (merge, strategic, json, apply), scale and binding on top of the registry."""

from __future__ import annotations

import copy
from typing import Optional

from k8snet.api import selectors
from k8snet.apiserver import bodies
from k8snet.apiserver import objects as o
from k8snet.apiserver.context import Ctx
from k8snet.apiserver.registry import Registry
from k8snet.apiserver.status import ApiStatusError, bad_request, conflict
from k8snet.machinery.resources import KindInfo

PATCH_TYPES = {
    "application/json-patch+json": "json",
    "application/merge-patch+json": "merge",
    "application/strategic-merge-patch+json": "strategic",
    "application/apply-patch+yaml": "apply",
    "application/apply-patch+json": "apply",
}


def parse_patch_body(content_type: str, raw: bytes) -> tuple[str, object]:
    """(patch type, decoded body); 415 for unknown types, 400 for bad bodies."""
    ctype = content_type.split(";")[0].strip().lower()
    kind = PATCH_TYPES.get(ctype)
    if kind is None:
        raise ApiStatusError(415, f"the body of the request was in an unknown format - accepted "
                             f"media types include: {', '.join(PATCH_TYPES)}",
                             "UnsupportedMediaType")
    try:
        body = bodies.load(raw, as_yaml=kind == "apply")
    except ValueError as e:
        raise bad_request(f"error decoding patch: {e}") from None
    if kind == "json" and not isinstance(body, list):
        raise bad_request("json patch must be a list of operations")
    if kind != "json" and not isinstance(body, dict):
        raise bad_request("patch body must be an object")
    return kind, body


def _apply_one(kind_name: str, cur: dict, kind: str, body, ctx: Ctx, now: str) -> dict:
    from k8snet.api import patch as p  # imported on use: the patch engine is heavy

    try:
        if kind == "json":
            return p.json_patch(cur, body)
        if kind == "merge":
            return p.json_merge_patch(cur, body)
        if kind == "strategic":
            return p.strategic_merge_patch(cur, body, kind_name)
        return p.server_side_apply(cur, body, ctx.field_manager,
                                   ctx.get("force") == "true", kind_name, now)
    except p.ApplyConflict as e:
        causes = [{"reason": "FieldManagerConflict", "message": str(c.get("message", c))
                   if isinstance(c, dict) else str(c),
                   "field": c.get("field", "") if isinstance(c, dict) else ""}
                  for c in getattr(e, "conflicts", [])]
        raise ApiStatusError(409, f"Apply failed with {len(causes)} conflict(s): "
                             + "; ".join(c["message"] for c in causes), "Conflict",
                             {"causes": causes}) from None
    except ApiStatusError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as e:
        code = 422 if kind == "json" else 400
        raise ApiStatusError(code, f"the patch could not be applied: {e}",
                             "Invalid" if code == 422 else "BadRequest") from None


def patch(reg: Registry, info: KindInfo, ns: Optional[str], name: str, kind: str, body,
          ctx: Ctx, subresource: Optional[str] = None) -> tuple[dict, bool]:
    """PATCH an object (or its status); apply creates when absent. (object, created)."""
    if kind == "apply":
        ctx.applying = True
        if not ctx.field_manager:
            raise bad_request("PATCH, application/apply-patch+yaml requires fieldManager "
                              "parameter to be set")
        reg._check_body(info, body)
        if ctx.strict == "Strict":
            reg._strict(info, body, ctx)
    now = o.rfc3339(reg.clock())
    pre: dict = {}

    def mutate(cur: Optional[dict]) -> Optional[dict]:
        if cur is None:
            if kind != "apply":
                return None
            new = _apply_one(info.kind, None, kind, body, ctx, now)
            meta = new.setdefault("metadata", {})
            meta["name"] = name
            if info.namespaced:
                meta["namespace"] = ns
            return new
        rv = cur["metadata"]["resourceVersion"]
        new = _apply_one(info.kind, cur, kind, body, ctx, now)
        if not isinstance(new, dict):
            raise ApiStatusError(422, "the patch produced something that is not an object",
                                 "Invalid")
        new_rv = (new.get("metadata") or {}).get("resourceVersion") \
            if isinstance(new.get("metadata"), dict) else None
        if new_rv not in (None, "", rv):
            pre["stale"] = True
            raise conflict(info.plural, name, "the object has been modified; please apply "
                           "your changes to the latest version and try again", info.group)
        if kind != "apply":
            reg._decode_patched(info, new, ctx)
        return new
    return reg.guaranteed_update(info, ns, name, mutate, ctx, None, subresource,
                                 create_ok=(kind == "apply" and subresource is None))


# -- scale -----------------------------------------------------------------------------
def to_scale(obj: dict) -> dict:
    """autoscaling/v1 Scale of a Deployment or ReplicaSet."""
    meta = obj["metadata"]
    sel = (obj.get("spec") or {}).get("selector")
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion",
                                              "creationTimestamp") if k in meta},
            "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 1)},
            "status": {"replicas": (obj.get("status") or {}).get("replicas", 0),
                       "selector": selectors.label_selector_to_string(sel)
                       if isinstance(sel, dict) else ""}}


def scale_update(reg: Registry, info: KindInfo, ns: str, name: str, ctx: Ctx,
                 put_body: Optional[object] = None, patch_kind: str = "",
                 patch_body: object = None) -> dict:
    """PUT or PATCH the scale subresource; the Scale after the write."""
    def mutate(cur: Optional[dict]) -> dict:
        assert cur is not None
        scale = to_scale(cur)
        if put_body is not None:
            new_scale = put_body
            if not isinstance(new_scale, dict):
                raise bad_request("the body of the request must be a Scale object")
            rv = (new_scale.get("metadata") or {}).get("resourceVersion") \
                if isinstance(new_scale.get("metadata"), dict) else None
            if rv not in (None, "", scale["metadata"]["resourceVersion"]):
                raise conflict(info.plural, name, "the object has been modified; please apply "
                               "your changes to the latest version and try again", info.group)
        else:
            new_scale = _apply_one("Scale", scale, patch_kind, patch_body, ctx,
                                   o.rfc3339(reg.clock()))
        spec = new_scale.get("spec") if isinstance(new_scale, dict) else None
        replicas = spec.get("replicas") if isinstance(spec, dict) else None
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise ApiStatusError(422, f'Scale.autoscaling "{name}" is invalid: spec.replicas: '
                                 "Invalid value: must be a non-negative integer", "Invalid",
                                 {"name": name, "kind": "Scale", "causes": [
                                     {"reason": "FieldValueInvalid", "field": "spec.replicas",
                                      "message": "must be greater than or equal to 0"}]})
        new = copy.deepcopy(cur)
        new.setdefault("spec", {})["replicas"] = replicas
        return new
    obj, _ = reg.guaranteed_update(info, ns, name, mutate, ctx)
    return to_scale(obj)


# -- binding -----------------------------------------------------------------------------
def bind(reg: Registry, pod_info: KindInfo, ns: str, name: str, body: object,
         ctx: Ctx) -> dict:
    """POST pods/<name>/binding: set spec.nodeName once (409 when already bound)."""
    if not isinstance(body, dict):
        raise bad_request("the body of the request must be a Binding object")
    target = body.get("target")
    node = target.get("name") if isinstance(target, dict) else None
    if not isinstance(node, str) or not node:
        raise ApiStatusError(422, f'Binding "{name}" is invalid: target.name: Required value',
                             "Invalid", {"name": name, "kind": "Binding", "causes": [
                                 {"reason": "FieldValueRequired", "field": "target.name",
                                  "message": "Required value"}]})
    now = o.rfc3339(reg.clock())

    def mutate(cur: Optional[dict]) -> dict:
        assert cur is not None
        if cur["metadata"].get("deletionTimestamp"):
            raise conflict("pods/binding", name, f"pod {name} is being deleted, cannot be "
                           "assigned to a host")
        bound = (cur.get("spec") or {}).get("nodeName")
        if bound:
            raise conflict("pods/binding", name, f'pod {name} is already assigned to node '
                           f'"{bound}"')
        new = copy.deepcopy(cur)
        new.setdefault("spec", {})["nodeName"] = node
        conds = [c for c in (new.setdefault("status", {}).get("conditions") or [])
                 if isinstance(c, dict) and c.get("type") != "PodScheduled"]
        conds.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                      "lastTransitionTime": now})
        new["status"]["conditions"] = conds
        return new
    reg.guaranteed_update(pod_info, ns, name, mutate, ctx, subresource="binding")
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "code": 201}
