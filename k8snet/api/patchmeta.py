"""Per-kind list strategies shared by strategic merge patch and server-side apply.

Public names:

    MergeList(key, item, ssa_keys): a list merged by `key` (strategic merge patch) and
        tracked as an associative list with `ssa_keys` (server-side apply); key None with
        ssa_keys () is a set of primitives (merged by union, e.g. finalizers). Lists not
        described here are atomic: a patch replaces them whole.
    PATCH_SCHEMAS: dict kind -> nested dict of field name -> dict | MergeList
    lookup(schema, field) -> dict | MergeList | None
    schema_for(kind) -> dict
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Union


@dataclass(frozen=True)
class MergeList:
    """How a list is merged: by key (objects) or as a set (key None, primitives)."""

    key: Optional[str]
    item: dict = field(default_factory=dict)
    ssa_keys: tuple[str, ...] = ()

    @property
    def is_set(self) -> bool:
        return self.key is None


Node = Union[dict, MergeList]


def _by(key: str, item: Optional[dict] = None, *ssa: str) -> MergeList:
    return MergeList(key, item or {}, tuple(ssa) or (key,))


SET = MergeList(None)
CONDITIONS = _by("type")
META = {"finalizers": SET, "ownerReferences": _by("uid")}
CONTAINER = {
    "ports": _by("containerPort", None, "containerPort", "protocol"),
    "env": _by("name"),
    "volumeMounts": _by("mountPath"),
    "volumeDevices": _by("devicePath"),
}
POD_SPEC = {
    "volumes": _by("name"),
    "initContainers": _by("name", CONTAINER),
    "containers": _by("name", CONTAINER),
    "ephemeralContainers": _by("name", CONTAINER),
    "imagePullSecrets": _by("name"),
    "hostAliases": _by("ip"),
    "topologySpreadConstraints": _by("topologyKey", None, "topologyKey",
                                     "whenUnsatisfiable"),
    "resourceClaims": _by("name"),
    "schedulingGates": _by("name"),
}
POD_STATUS = {"conditions": CONDITIONS, "podIPs": _by("ip"), "hostIPs": _by("ip")}
TEMPLATE = {"metadata": META, "spec": POD_SPEC}

PATCH_SCHEMAS: dict[str, dict] = {
    "Pod": {"metadata": META, "spec": POD_SPEC, "status": POD_STATUS},
    "Deployment": {"metadata": META, "spec": {"template": TEMPLATE},
                   "status": {"conditions": CONDITIONS}},
    "ReplicaSet": {"metadata": META, "spec": {"template": TEMPLATE},
                   "status": {"conditions": CONDITIONS}},
    "Service": {"metadata": META,
                "spec": {"ports": _by("port", None, "port", "protocol")},
                "status": {"conditions": CONDITIONS}},
    "Node": {"metadata": META, "spec": {"podCIDRs": SET},
             "status": {"conditions": CONDITIONS, "addresses": _by("type")}},
    "Namespace": {"metadata": META, "spec": {"finalizers": SET},
                  "status": {"conditions": CONDITIONS}},
}
_DEFAULT = {"metadata": META}


def schema_for(kind: str) -> dict:
    """The patch schema of kind (only metadata strategies for kinds not listed)."""
    return PATCH_SCHEMAS.get(kind, _DEFAULT)


def lookup(schema: Optional[Node], name: str) -> Optional[Node]:
    """The sub-schema for field `name` of a map schema (None when atomic/unknown)."""
    if isinstance(schema, dict):
        return schema.get(name)
    return None
