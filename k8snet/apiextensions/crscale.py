"""The scale subresource of custom resources: an autoscaling/v1 Scale read from, and
written to, the paths the CRD declares (specReplicasPath, statusReplicasPath,
labelSelectorPath).

Public names:

    serve(reg, strategy, info, ns, name, method, ctx, body, content_type) -> dict
        GET, PUT or PATCH (merge or JSON patch) of <plural>/<name>/scale; the Scale
"""

from __future__ import annotations

import json
from typing import Any, Optional

from k8snet.api import patch as p
from k8snet.apiextensions.strategy import Strategy
from k8snet.apiserver import bodies
from k8snet.apiserver.context import Ctx
from k8snet.apiserver.status import ApiStatusError, bad_request, conflict
from k8snet.machinery.resources import KindInfo

_PATCHES = {"application/merge-patch+json": "merge", "application/json-patch+json": "json",
            "application/apply-patch+yaml": "merge"}


def _invalid_replicas(name: str, replicas: Any) -> ApiStatusError:
    cause = {"reason": "FieldValueInvalid", "field": "spec.replicas",
             "message": f"Invalid value: {json.dumps(replicas)}: must be greater than or "
                        "equal to 0"}
    return ApiStatusError(422, f'Scale.autoscaling "{name}" is invalid: spec.replicas: '
                               f"{cause['message']}", "Invalid",
                          {"name": name, "group": "autoscaling", "kind": "Scale",
                           "causes": [cause]})


def _decode(body: bytes, ctype: str) -> Any:
    try:
        return bodies.load(body, as_yaml="yaml" in ctype)
    except ValueError as e:
        raise bad_request(f"error decoding the Scale: {e}") from None


def serve(reg: Any, st: Strategy, info: KindInfo, ns: Optional[str], name: str, method: str,
          ctx: Ctx, body: bytes, content_type: str) -> dict:
    """The Scale after a GET, PUT or PATCH."""
    if method in ("GET", "HEAD"):
        scale = st.scale_of(reg.get(info, ns, name))
        assert scale is not None
        return scale
    ctype = content_type.split(";")[0].strip().lower()
    if method == "PUT":
        wanted = _decode(body, ctype)
        kind = ""
    elif method == "PATCH":
        kind = _PATCHES.get(ctype, "")
        if not kind:
            raise ApiStatusError(415, "the body of the request was in an unknown format - "
                                      "accepted media types include: "
                                      + ", ".join(_PATCHES), "UnsupportedMediaType")
        wanted = _decode(body, ctype)
    else:
        raise ApiStatusError(405, f"the server does not allow this method on the requested "
                                  f"resource ({method} {info.plural}/scale)", "MethodNotAllowed")

    def mutate(cur: Optional[dict]) -> dict:
        assert cur is not None
        scale = st.scale_of(cur)
        assert scale is not None
        if kind == "merge":
            new_scale = p.json_merge_patch(scale, wanted)
        elif kind == "json":
            new_scale = p.json_patch(scale, wanted)
        else:
            new_scale = wanted
            meta = new_scale.get("metadata") if isinstance(new_scale, dict) else None
            rv = meta.get("resourceVersion") if isinstance(meta, dict) else None
            if rv not in (None, "", scale["metadata"].get("resourceVersion")):
                raise conflict(info.plural, name, "the object has been modified; please apply "
                               "your changes to the latest version and try again", info.group)
        spec = new_scale.get("spec") if isinstance(new_scale, dict) else None
        replicas = spec.get("replicas") if isinstance(spec, dict) else None
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise _invalid_replicas(name, replicas)
        return st.with_replicas(cur, replicas)
    obj, _ = reg.guaranteed_update(info, ns, name, mutate, ctx)
    scale = st.scale_of(obj)
    assert scale is not None
    return scale
