"""What a CustomResourceDefinition serves: one entry of the resource table per served
version, and how that version behaves (pure).

A CRD is served once its names are accepted (NamesAccepted or Established True, as
upstream's handler decides), under status.acceptedNames; every version with
served: true gets an entry, stored in the storage version (conversion "None" only
rewrites apiVersion, which the registry's encode/decode already do).

Public names:

    ServedVersion      one served version: its KindInfo plus schema, subresources,
                       printer columns, deprecation and conversion facts
    served(crd) -> list[ServedVersion]
    storage_info(crd) -> KindInfo | None   the storage version, served or not (where the
                       custom resources are kept: cleanup lists them there)
    desired(crds) -> dict[(group, version, plural), ServedVersion]
    changes(current, wanted) -> (to_remove, to_add)   lists of keys; an entry whose
                       ServedVersion differs is removed then added again
    CRD_GROUP, CRD_PLURAL
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable, Optional

from k8snet.apiextensions import crddefaults, crdstatus
from k8snet.machinery.resources import ALL_VERBS, STATUS_VERBS, KindInfo, Subresource

CRD_GROUP = "apiextensions.k8s.io"
CRD_PLURAL = "customresourcedefinitions"

Key = tuple[str, str, str]


@dataclass(frozen=True)
class ServedVersion:
    """One served version of a CRD and everything serving it needs."""

    crd_name: str
    crd_uid: str
    info: KindInfo
    schema_json: str = "null"             # the version's openAPIV3Schema (JSON text)
    status: bool = False
    scale: Optional[tuple[str, str, str]] = None    # spec, status, labelSelector paths
    columns_json: str = "[]"
    deprecation_warning: Optional[str] = None
    webhook_conversion: bool = False
    storage_version: str = ""             # the version the store keeps
    terminating: bool = False
    established_at: str = ""
    selectable: tuple[str, ...] = ()      # selectableFields as field labels (spec.color)

    @property
    def key(self) -> Key:
        return (self.info.group, self.info.version, self.info.plural)

    @property
    def schema(self) -> Optional[dict]:
        return json.loads(self.schema_json)

    @property
    def columns(self) -> list[dict]:
        return json.loads(self.columns_json)


def _d(parent: Any, name: str) -> dict:
    v = parent.get(name) if isinstance(parent, dict) else None
    return v if isinstance(v, dict) else {}


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _strs(values: Any) -> tuple[str, ...]:
    return tuple(v for v in values if isinstance(v, str)) if isinstance(values, list) else ()


def _deprecation(crd: dict, v: dict) -> Optional[str]:
    if v.get("deprecated") is not True:
        return None
    if isinstance(v.get("deprecationWarning"), str):
        return v["deprecationWarning"]
    group = _d(crd, "spec").get("group")
    kind = _d(_d(crd, "status"), "acceptedNames").get("kind")
    return f"{group}/{v.get('name')} {kind} is deprecated"


def served(crd: Any) -> list[ServedVersion]:
    """The served versions of a CRD whose names are accepted ([] otherwise)."""
    if not isinstance(crd, dict):
        return []
    if not (crdstatus.is_true(crd, "NamesAccepted") or crdstatus.is_true(crd, "Established")):
        return []
    spec = _d(crd, "spec")
    names = _d(_d(crd, "status"), "acceptedNames")
    group, plural, kind = spec.get("group"), names.get("plural"), names.get("kind")
    if not all(isinstance(x, str) and x for x in (group, plural, kind)):
        return []
    storage = crddefaults.storage_version(crd) or ""
    meta = _d(crd, "metadata")
    est = crdstatus.condition(_d(crd, "status"), "Established") or {}
    webhook = _d(spec, "conversion").get("strategy") == "Webhook"
    out = []
    for v in crddefaults.versions(crd):
        name = v.get("name")
        if v.get("served") is not True or not isinstance(name, str):
            continue
        subs = crddefaults.subresources_of(crd, name)
        scale = _d(subs, "scale")
        subresources: list[Subresource] = []
        if scale:
            subresources.append(Subresource("scale", "Scale", "autoscaling", "v1",
                                            STATUS_VERBS))
        if subs.get("status") is not None:
            subresources.append(Subresource("status", kind, group, name, STATUS_VERBS))
        info = KindInfo(
            kind=kind, plural=plural, singular=names.get("singular") or kind.lower(),
            group=group, version=name, namespaced=spec.get("scope") == "Namespaced",
            short_names=_strs(names.get("shortNames")), verbs=ALL_VERBS,
            subresources=tuple(subresources), categories=_strs(names.get("categories")),
            storage_version=f"{group}/{storage}" if storage and storage != name else "",
            custom=True, list_kind_name=str(names.get("listKind") or ""))
        out.append(ServedVersion(
            crd_name=str(meta.get("name") or ""), crd_uid=str(meta.get("uid") or ""),
            info=info,
            schema_json=json.dumps(crddefaults.schema_of(crd, name), sort_keys=True),
            status=subs.get("status") is not None,
            scale=(str(scale.get("specReplicasPath") or ""),
                   str(scale.get("statusReplicasPath") or ""),
                   str(scale.get("labelSelectorPath") or "")) if scale else None,
            columns_json=json.dumps(crddefaults.columns_of(crd, name), sort_keys=True),
            deprecation_warning=_deprecation(crd, v),
            webhook_conversion=webhook and storage != name,
            storage_version=storage,
            terminating=crdstatus.is_true(crd, "Terminating") or
            bool(meta.get("deletionTimestamp")),
            established_at=str(est.get("lastTransitionTime") or ""),
            selectable=tuple(str(f["jsonPath"]).lstrip(".") for f in _list(
                v.get("selectableFields")) if isinstance(f, dict) and
                isinstance(f.get("jsonPath"), str))))
    return out


def storage_info(crd: Any) -> Optional[KindInfo]:
    """The KindInfo of a CRD's storage version (served or not): where its objects are."""
    spec = _d(crd, "spec")
    names = _d(spec, "names")
    group, plural, kind = spec.get("group"), names.get("plural"), names.get("kind")
    storage = crddefaults.storage_version(crd)
    if not all(isinstance(x, str) and x for x in (group, plural, kind, storage)):
        return None
    return KindInfo(kind=kind, plural=plural, singular=str(names.get("singular") or ""),
                    group=group, version=str(storage),
                    namespaced=spec.get("scope") == "Namespaced", custom=True)


def desired(crds: Iterable[dict]) -> dict[Key, ServedVersion]:
    """Every served version of every CRD; the first CRD wins a (group, version, plural)."""
    out: dict[Key, ServedVersion] = {}
    for crd in crds:
        for sv in served(crd):
            out.setdefault(sv.key, sv)
    return out


def changes(current: dict[Key, ServedVersion], wanted: dict[Key, ServedVersion]
            ) -> tuple[list[Key], list[Key]]:
    """(keys to remove, keys to add) to go from `current` to `wanted`."""
    remove = [k for k, sv in current.items() if wanted.get(k) != sv]
    add = [k for k, sv in wanted.items() if current.get(k) != sv]
    return remove, add
