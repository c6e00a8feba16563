"""Defaulting of a CustomResourceDefinition (apiextensions.k8s.io/v1), and the views of
a CRD that the rest of the package reads.

Public names:

    apply_defaults(crd) -> crd       in place: names.singular (lower-case kind),
                                     names.listKind (kind + "List"), conversion
                                     {strategy: None}, webhook service port 443,
                                     status.storedVersions (the storage version)
    storage_version(crd) -> str | None
    versions(crd) -> list[dict]      spec.versions entries that are objects
    version(crd, name) -> dict | None
    served_versions(crd) -> list[str]
    schema_of(crd, name) -> dict | None         that version's openAPIV3Schema
    subresources_of(crd, name) -> dict          that version's subresources ({} if none)
    columns_of(crd, name) -> list[dict]         that version's additionalPrinterColumns
"""

from __future__ import annotations

from typing import Any, Optional


def _dict(parent: Any, name: str) -> dict:
    if not isinstance(parent, dict):
        return {}
    value = parent.get(name)
    return value if isinstance(value, dict) else {}


def versions(crd: Any) -> list[dict]:
    """The version entries of spec.versions that are objects."""
    vs = _dict(crd, "spec").get("versions")
    return [v for v in vs if isinstance(v, dict)] if isinstance(vs, list) else []


def version(crd: Any, name: str) -> Optional[dict]:
    """The entry of spec.versions named `name`."""
    for v in versions(crd):
        if v.get("name") == name:
            return v
    return None


def storage_version(crd: Any) -> Optional[str]:
    """The name of the first version marked storage: true."""
    for v in versions(crd):
        if v.get("storage") is True and isinstance(v.get("name"), str):
            return v["name"]
    return None


def served_versions(crd: Any) -> list[str]:
    """Names of the versions with served: true, in spec order."""
    return [v["name"] for v in versions(crd)
            if v.get("served") is True and isinstance(v.get("name"), str)]


def schema_of(crd: Any, name: str) -> Optional[dict]:
    """openAPIV3Schema of a version (None when it has none)."""
    s = _dict(_dict(version(crd, name), "schema"), "openAPIV3Schema")
    return s or None


def subresources_of(crd: Any, name: str) -> dict:
    """subresources of a version ({} when none)."""
    return _dict(version(crd, name), "subresources")


def columns_of(crd: Any, name: str) -> list[dict]:
    """additionalPrinterColumns of a version."""
    cols = (version(crd, name) or {}).get("additionalPrinterColumns")
    return [c for c in cols if isinstance(c, dict)] if isinstance(cols, list) else []


def apply_defaults(crd: Any) -> Any:
    """v1 defaults, in place (SetDefaults_CustomResourceDefinition)."""
    if not isinstance(crd, dict):
        return crd
    spec = crd.get("spec")
    if isinstance(spec, dict):
        names = spec.get("names")
        if isinstance(names, dict):
            kind = names.get("kind")
            if not names.get("singular") and isinstance(kind, str):
                names["singular"] = kind.lower()
            if not names.get("listKind") and isinstance(kind, str) and kind:
                names["listKind"] = kind + "List"
        if spec.get("conversion") is None:
            spec["conversion"] = {"strategy": "None"}
        service = _dict(_dict(_dict(spec.get("conversion"), "webhook"), "clientConfig"),
                        "service")
        if service and service.get("port") is None:
            service["port"] = 443
    status = crd.get("status")
    if status is None:
        status = crd["status"] = {}
    if isinstance(status, dict) and not status.get("storedVersions"):
        stored = storage_version(crd)
        if stored:
            status["storedVersions"] = [stored]
    return crd
