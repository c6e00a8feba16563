"""Object encoding, keys, names and timestamps shared by the registry (pure)."""

from __future__ import annotations

import json
import random
from typing import Optional

from k8snet.api.conversion import convert
from k8snet.apiserver.status import ApiStatusError, invalid
from k8snet.machinery.resources import KindInfo
from k8snet.machinery.timefmt import format_time as rfc3339  # noqa: F401 (o.rfc3339)

NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"


def key(info: KindInfo, namespace: Optional[str], name: str) -> str:
    """/registry/<plural>/<ns>/<name> (cluster-scoped: /registry/<plural>/<name>); custom
    resources: /registry/<group>/<plural>/..."""
    if not name or "/" in name or name in (".", "..") or "\x00" in name:
        raise invalid(info.kind, str(name), [{"field": "metadata.name",
                                              "reason": "FieldValueInvalid",
                                              "message": "Invalid value: a valid name is "
                                              "required"}], info.group)
    if info.namespaced:
        return f"/registry/{_resource(info)}/{namespace}/{name}"
    return f"/registry/{_resource(info)}/{name}"


def _resource(info: KindInfo) -> str:
    """The resource's directory: its plural; group/plural for custom resources, whose
    plurals may repeat a built-in one (Calico's networkpolicies), as upstream keys them."""
    return f"{info.group}/{info.plural}" if info.custom else info.plural


def prefix(info: KindInfo, namespace: Optional[str]) -> str:
    """The key prefix of a collection (trailing slash: 'default' never matches 'default2')."""
    if info.namespaced and namespace:
        return f"/registry/{_resource(info)}/{namespace}/"
    return f"/registry/{_resource(info)}/"


def encode(obj: dict, info: Optional[KindInfo] = None) -> bytes:
    """JSON for the store; resourceVersion is not stored (it is the mod revision). With
    `info`, the object is converted to the version the store keeps for that resource."""
    if info is not None and obj.get("apiVersion") != info.storage_api_version:
        obj = convert(obj, info.storage_api_version)
    meta = obj.get("metadata")
    if isinstance(meta, dict) and "resourceVersion" in meta:
        obj = dict(obj, metadata={k: v for k, v in meta.items() if k != "resourceVersion"})
    return json.dumps(obj, separators=(",", ":"), sort_keys=False).encode()


def decode(info: KindInfo, value: bytes, revision: int) -> dict:
    """A stored value -> the object as served, with kind, apiVersion and resourceVersion
    (converted from the version it was stored in when that differs)."""
    obj = json.loads(value)
    if obj.get("apiVersion") not in (None, info.api_version):
        obj = convert(obj, info.api_version)
    obj["kind"] = info.kind
    obj["apiVersion"] = info.api_version
    obj.setdefault("metadata", {})["resourceVersion"] = str(revision)
    return {"apiVersion": obj.pop("apiVersion"), "kind": obj.pop("kind"), **obj}


def generate_name(base: str, rng: random.Random) -> str:
    """generateName + 5 random characters, as Kubernetes does (base cut to fit 63)."""
    return base[:58] + "".join(rng.choice(NAME_CHARS) for _ in range(5))


def parse_rv(text: Optional[str], what: str = "resourceVersion") -> Optional[int]:
    """'123' -> 123; '' / None -> None; garbage -> 400."""
    if text in (None, ""):
        return None
    try:
        v = int(str(text))
    except ValueError:
        raise ApiStatusError(400, f"invalid {what}: {text!r}", "BadRequest") from None
    if v < 0:
        raise ApiStatusError(400, f"invalid {what}: {text!r}", "BadRequest")
    return v


def spec_changed(old: dict, new: dict) -> bool:
    """Does the spec differ (generation bumps only then)?"""
    return old.get("spec") != new.get("spec")
