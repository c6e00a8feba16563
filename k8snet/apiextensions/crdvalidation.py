"""Validation of a CustomResourceDefinition object, create and update (1.32 rules).

Call on the defaulted CRD (k8snet.apiextensions.crddefaults.apply_defaults) with the
status it will be stored with. Field paths are those of apiextensions-apiserver's
internal version, which upstream reports: a schema, subresources or printer columns
that every version shares are checked once at spec.validation / spec.subresources /
spec.additionalPrinterColumns, otherwise at spec.versions[i].schema and so on; the
conversion webhook settings at spec.conversion.webhookClientConfig and
spec.conversion.conversionReviewVersions.

Public names:

    validate(crd, old=None) -> list[Cause]    [] when valid; never raises
    validate_names(names, path) -> list[Cause]
    PROTECTED_ANNOTATION                      "api-approved.kubernetes.io"
"""

from __future__ import annotations

import json
from typing import Any, Optional
from urllib.parse import urlsplit

from k8snet.api.fielderrors import dns1035_label, dns1123_subdomain
from k8snet.apiextensions.crdschema import validate_schema
from k8snet.apiextensions.goerrors import GoErrors, GoLiteral, child, go_strings, index, key

PROTECTED_ANNOTATION = "api-approved.kubernetes.io"
_COLUMN_TYPES = ("boolean", "date", "integer", "number", "string")
_COLUMN_FORMATS = ("byte", "date", "date-time", "double", "float", "int32", "int64",
                   "password")
_REVIEW_VERSIONS = ("v1", "v1beta1")
_IMMUTABLE = "field is immutable"


def _d(parent: Any, name: str) -> dict:
    v = parent.get(name) if isinstance(parent, dict) else None
    return v if isinstance(v, dict) else {}


def _s(parent: Any, name: str) -> str:
    v = parent.get(name) if isinstance(parent, dict) else None
    return v if isinstance(v, str) else ""


def _l(parent: Any, name: str) -> list:
    v = parent.get(name) if isinstance(parent, dict) else None
    return v if isinstance(v, list) else []


def _canon(v: Any) -> str:
    """Semantic equality as apiequality sees it: absent, null and empty are the same."""
    return json.dumps(v if v not in ({}, []) else None, sort_keys=True)


def _versions_value(versions: list) -> GoLiteral:
    names = ", ".join(f'{{Name:{json.dumps(str(v.get("name", "")))}}}' for v in versions
                      if isinstance(v, dict))
    return GoLiteral(f"[]apiextensions.CustomResourceDefinitionVersion{{{names}}}")


class _Lifted:
    """Which per-version fields upstream's v1 -> internal conversion lifts to spec."""

    def __init__(self, versions: list[dict]) -> None:
        def same(field: str) -> bool:
            return len({_canon(v.get(field)) for v in versions}) <= 1
        self.schema = same("schema")
        self.subresources = same("subresources")
        self.columns = same("additionalPrinterColumns")
        self.selectable = same("selectableFields")
        first = versions[0] if versions else {}
        self.validation = first.get("schema") if self.schema else None
        self.top_subresources = first.get("subresources") if self.subresources else None
        self.top_columns = _l(first, "additionalPrinterColumns") if self.columns else []
        self.top_selectable = _l(first, "selectableFields") if self.selectable else []


def _status_enabled(subresources: Any) -> bool:
    return isinstance(subresources, dict) and subresources.get("status") is not None


def validate(crd: Any, old: Optional[dict] = None) -> list[dict]:
    """Causes that make the CRD invalid (as an update of `old` when given)."""
    errs = GoErrors()
    if not isinstance(crd, dict):
        errs.type_invalid("", crd, "object")
        return errs.causes
    spec = _d(crd, "spec")
    _metadata(errs, crd, spec)
    _spec(errs, spec)
    if isinstance(old, dict):
        _immutable(errs, spec, _d(old, "spec"), _established(old))
    errs.causes.extend(validate_names(_d(_d(crd, "status"), "acceptedNames"),
                                      "status.acceptedNames"))
    _stored_versions(errs, crd)
    _api_approval(errs, crd, old)
    old_preserve = _d(old, "spec").get("preserveUnknownFields") is True if old else False
    if spec.get("preserveUnknownFields") is True and not old_preserve:
        errs.invalid("spec.preserveUnknownFields", True, "cannot set to true, set "
                     "x-kubernetes-preserve-unknown-fields to true in spec.versions[*].schema "
                     "instead")
    return errs.causes


def _established(crd: dict) -> bool:
    return any(isinstance(c, dict) and c.get("type") == "Established" and
               c.get("status") == "True" for c in _l(_d(crd, "status"), "conditions"))


def _metadata(errs: GoErrors, crd: dict, spec: dict) -> None:
    meta = _d(crd, "metadata")
    name = _s(meta, "name")
    if not name:
        if not _s(meta, "generateName"):
            errs.required("metadata.name", "name or generateName is required")
        name = _s(meta, "generateName")
        if not name:
            return
    problems = dns1123_subdomain(name)
    wanted = f"{_s(_d(spec, 'names'), 'plural')}.{_s(spec, 'group')}"
    if name != wanted:
        problems.append('must be spec.names.plural+"."+spec.group')
    for p in problems:
        errs.invalid("metadata.name", name, p)


def _spec(errs: GoErrors, spec: dict) -> None:
    group = _s(spec, "group")
    if not group:
        errs.required("spec.group", "")
    elif dns1123_subdomain(group):
        errs.invalid("spec.group", group, ",".join(dns1123_subdomain(group)))
    elif len(group.split(".")) < 2:
        errs.invalid("spec.group", group, "should be a domain with at least one dot")
    scope = spec.get("scope")
    if not scope:
        errs.required("spec.scope", "")
    elif scope not in ("Cluster", "Namespaced"):
        errs.not_supported("spec.scope", scope, ("Cluster", "Namespaced"))
    versions = [v if isinstance(v, dict) else {} for v in _l(spec, "versions")]
    lifted = _Lifted(versions)
    validation = lifted.validation
    if not isinstance(validation, dict) or validation.get("openAPIV3Schema") is None:
        for i, v in enumerate(versions):
            if _d(v, "schema").get("openAPIV3Schema") is None:
                errs.required(f"spec.versions[{i}].schema.openAPIV3Schema",
                              "schemas are required")
    storage = 0
    seen: set = set()
    unique = True
    for i, v in enumerate(versions):
        vpath = index("spec.versions", i)
        storage += v.get("storage") is True
        name = _s(v, "name")
        unique &= name not in seen
        seen.add(name)
        if dns1035_label(name):
            errs.invalid(child(vpath, "name"), name, ",".join(dns1035_label(name)))
        subresources = lifted.top_subresources if lifted.subresources else v.get("subresources")
        _version(errs, v, vpath, _status_enabled(subresources), lifted)
    if not unique:
        errs.invalid("spec.versions", _versions_value(versions), "must contain unique version "
                                                                 "names")
    if storage != 1:
        errs.invalid("spec.versions", _versions_value(versions),
                     "must have exactly one version marked as storage version")
    if versions and _s(versions[0], "name") and dns1035_label(_s(versions[0], "name")):
        first = _s(versions[0], "name")
        errs.invalid("spec.version", first, ",".join(dns1035_label(first)))
    names = _d(spec, "names")
    for word in ("plural", "singular", "kind", "listKind"):
        if not _s(names, word):
            errs.required(f"spec.names.{word}", "")
    errs.causes.extend(validate_names(names, "spec.names"))
    any_status = _status_enabled(lifted.top_subresources) or any(
        _status_enabled(v.get("subresources")) for v in versions)
    if lifted.schema:
        errs.causes.extend(validate_schema(validation, any_status, "spec.validation"))
    if lifted.subresources:
        _subresources(errs, lifted.top_subresources, "spec.subresources")
    if lifted.columns:
        for i, col in enumerate(lifted.top_columns):
            _column(errs, col, index("spec.additionalPrinterColumns", i))
    if lifted.selectable:
        _selectable(errs, lifted.top_selectable, "spec.selectableFields")
    _conversion(errs, _d(spec, "conversion"), spec.get("conversion") is not None)


def _version(errs: GoErrors, v: dict, vpath: str, status_enabled: bool, lifted: _Lifted) -> None:
    deprecated = v.get("deprecated") is True
    warning = v.get("deprecationWarning")
    for problem in _deprecation_warning(deprecated, warning):
        errs.invalid(child(vpath, "deprecationWarning"), warning, problem)
    if not lifted.schema:
        errs.causes.extend(validate_schema(v.get("schema"), status_enabled,
                                           child(vpath, "schema")))
    if not lifted.subresources:
        _subresources(errs, v.get("subresources"), child(vpath, "subresources"))
    if not lifted.columns:
        for i, col in enumerate(_l(v, "additionalPrinterColumns")):
            _column(errs, col, index(child(vpath, "additionalPrinterColumns"), i))
    if not lifted.selectable:
        _selectable(errs, _l(v, "selectableFields"), child(vpath, "selectableFields"))


def _deprecation_warning(deprecated: bool, warning: Any) -> list[str]:
    if not deprecated and warning is not None:
        return ["can only be set for deprecated versions"]
    if not isinstance(warning, str):
        return []
    out = []
    if len(warning.encode()) > 256:
        out.append("must be <= 256 characters long")
    if not warning:
        out.append("must not be an empty string")
    for i, ch in enumerate(warning):
        if not ch.isprintable():
            out.append("must only contain printable UTF-8 characters; non-printable "
                       f"character found at index {i}")
            break
    return out


def validate_names(names: Any, path: str) -> list[dict]:
    """ValidateCustomResourceDefinitionNames: each name's shape (not their presence)."""
    errs = GoErrors()
    for word in ("plural", "singular"):
        value = _s(names, word)
        if value and dns1035_label(value):
            errs.invalid(child(path, word), value, ",".join(dns1035_label(value)))
    for word in ("kind", "listKind"):
        value = _s(names, word)
        if value and dns1035_label(value.lower()):
            errs.invalid(child(path, word), value, "may have mixed case, but should otherwise "
                         "match: " + ",".join(dns1035_label(value.lower())))
    for i, short in enumerate(_l(names, "shortNames")):
        short = short if isinstance(short, str) else ""
        if dns1035_label(short):
            errs.invalid(index(child(path, "shortNames"), i), short,
                         ",".join(dns1035_label(short)))
    if _s(names, "kind") and _s(names, "kind") == _s(names, "listKind"):
        errs.invalid(child(path, "listKind"), _s(names, "listKind"),
                     "kind and listKind may not be the same")
    for i, cat in enumerate(_l(names, "categories")):
        cat = cat if isinstance(cat, str) else ""
        if dns1035_label(cat):
            errs.invalid(index(child(path, "categories"), i), cat, ",".join(dns1035_label(cat)))
    return errs.causes


def _simple_json_path(errs: GoErrors, value: str, path: str) -> bool:
    if not value:
        errs.invalid(path, value, "must not be empty")
        return False
    if value[0] != ".":
        errs.invalid(path, value, "must be a simple json path starting with .")
        return False
    return True


def _subresources(errs: GoErrors, sub: Any, path: str) -> None:
    if not isinstance(sub, dict) or not isinstance(sub.get("scale"), dict):
        return
    scale = sub["scale"]
    for word, under in (("specReplicasPath", ".spec."), ("statusReplicasPath", ".status.")):
        value = _s(scale, word)
        fp = child(path, f"scale.{word}")
        if not value:
            errs.required(fp, "")
        elif _simple_json_path(errs, value, fp) and not value.startswith(under):
            errs.invalid(fp, value, f"should be a json path under {under.rstrip('.')}")
    selector = _s(scale, "labelSelectorPath")
    fp = child(path, "scale.labelSelectorPath")
    if selector and _simple_json_path(errs, selector, fp) and not (
            selector.startswith(".spec.") or selector.startswith(".status.")):
        errs.invalid(fp, selector, "should be a json path under either .spec or .status")


def _column(errs: GoErrors, col: Any, path: str) -> None:
    col = col if isinstance(col, dict) else {}
    if not _s(col, "name"):
        errs.required(child(path, "name"), "")
    ctype = _s(col, "type")
    types = ",".join(_COLUMN_TYPES)
    if not ctype:
        errs.required(child(path, "type"), f"must be one of {types}")
    elif ctype not in _COLUMN_TYPES:
        errs.invalid(child(path, "type"), ctype, f"must be one of {types}")
    fmt = _s(col, "format")
    if fmt and fmt not in _COLUMN_FORMATS:
        errs.invalid(child(path, "format"), fmt, f"must be one of {','.join(_COLUMN_FORMATS)}")
    json_path = _s(col, "jsonPath")
    if not json_path:
        errs.required(child(path, "JSONPath"), "")
    else:
        _simple_json_path(errs, json_path, child(path, "JSONPath"))


def _selectable(errs: GoErrors, fields: list, path: str) -> None:
    seen: set = set()
    for i, f in enumerate(fields):
        fp = child(index(path, i), "jsonPath")
        json_path = _s(f, "jsonPath")
        if not json_path:
            errs.required(fp, "")
            continue
        if json_path.startswith(".metadata"):
            errs.invalid(fp, json_path, "must not point to fields in metadata")
        if json_path in seen:
            errs.duplicate(fp, json_path)
        seen.add(json_path)
    if len(seen) > 8:
        errs.too_many(path, len(seen), 8)


def _conversion(errs: GoErrors, conv: dict, present: bool) -> None:
    if not present:
        return
    strategy = _s(conv, "strategy")
    if not strategy:
        errs.required("spec.conversion.strategy", "")
    elif strategy not in ("None", "Webhook"):
        errs.not_supported("spec.conversion.strategy", strategy, ("None", "Webhook"))
    webhook = _d(conv, "webhook")
    client = webhook.get("clientConfig")
    review = webhook.get("conversionReviewVersions")
    if strategy == "Webhook":
        if not isinstance(client, dict):
            errs.required("spec.conversion.webhookClientConfig",
                          "required when strategy is set to Webhook")
        else:
            _webhook_client(errs, client, "spec.conversion.webhookClientConfig")
        _review_versions(errs, review if isinstance(review, list) else [],
                         "spec.conversion.conversionReviewVersions")
        return
    if client is not None:
        errs.forbidden("spec.conversion.webhookClientConfig",
                       "should not be set when strategy is not set to Webhook")
    if review:
        errs.forbidden("spec.conversion.conversionReviewVersions",
                       "should not be set when strategy is not set to Webhook")


def _webhook_client(errs: GoErrors, client: dict, path: str) -> None:
    url, service = client.get("url"), client.get("service")
    if (url is None) == (service is None):
        errs.required(path, "exactly one of url or service is required")
    elif isinstance(url, str):
        parts = urlsplit(url)
        if parts.scheme != "https":
            errs.invalid(child(path, "url"), url, "'https' is the only allowed URL scheme")
        if not parts.hostname:
            errs.invalid(child(path, "url"), url, "host must be specified")
    elif isinstance(service, dict):
        if not _s(service, "name"):
            errs.required(child(path, "service", "name"), "service name is required")
        if not _s(service, "namespace"):
            errs.required(child(path, "service", "namespace"), "service namespace is required")


def _review_versions(errs: GoErrors, versions: list, path: str) -> None:
    if not versions:
        errs.required(path, "")
        return
    seen: set = set()
    accepted = False
    for i, v in enumerate(versions):
        v = v if isinstance(v, str) else ""
        if v in seen:
            errs.invalid(index(path, i), v, "duplicate version")
            continue
        seen.add(v)
        for problem in dns1035_label(v):
            errs.invalid(index(path, i), v, problem)
        accepted |= v in _REVIEW_VERSIONS
    if not accepted:
        errs.invalid(path, go_strings(str(v) for v in versions),
                     f"must include at least one of {', '.join(_REVIEW_VERSIONS)}")


def _stored_versions(errs: GoErrors, crd: dict) -> None:
    stored = [v for v in _l(_d(crd, "status"), "storedVersions") if isinstance(v, str)]
    path = "status.storedVersions"
    if not stored:
        errs.invalid(path, go_strings(stored), "must have at least one stored version")
        return
    versions = [v for v in _l(_d(crd, "spec"), "versions") if isinstance(v, dict)]
    remaining = {v: i for i, v in enumerate(stored)}
    for v in versions:
        name = _s(v, "name")
        if v.get("storage") is True and name not in stored:
            errs.invalid(path, go_strings(stored), f"must have the storage version {name}")
        remaining.pop(name, None)
    for v, i in remaining.items():
        errs.invalid(index(path, i), v, "must appear in spec.versions")


def _protected(group: str) -> bool:
    return group in ("k8s.io", "kubernetes.io") or group.endswith(".k8s.io") or \
        group.endswith(".kubernetes.io")


def _approval_state(crd: Optional[dict]) -> tuple[str, str]:
    note = _s(_d(_d(crd, "metadata"), "annotations"), PROTECTED_ANNOTATION)
    if not note:
        return "missing", (f'protected groups must have approval annotation '
                           f'"{PROTECTED_ANNOTATION}", see '
                           "https://github.com/kubernetes/enhancements/pull/1111")
    if note.startswith("unapproved"):
        return "bypassed", f"not approved: {json.dumps(note)}"
    parts = urlsplit(note)
    if parts.scheme and parts.netloc:
        return "approved", f"approved in {note}"
    return "invalid", (f'protected groups must have approval annotation '
                       f'"{PROTECTED_ANNOTATION}" with either a URL or a reason starting with '
                       '"unapproved", see https://github.com/kubernetes/enhancements/pull/1111')


def _api_approval(errs: GoErrors, crd: dict, old: Optional[dict]) -> None:
    if not _protected(_s(_d(crd, "spec"), "group")):
        return
    state, reason = _approval_state(crd)
    if old is not None and _approval_state(old)[0] == state:
        return
    path = key("metadata.annotations", PROTECTED_ANNOTATION)
    if state == "missing":
        errs.required(path, reason)
    elif state == "invalid":
        errs.invalid(path, _s(_d(_d(crd, "metadata"), "annotations"), PROTECTED_ANNOTATION),
                     reason)


def _immutable(errs: GoErrors, spec: dict, old_spec: dict, established: bool) -> None:
    checks = [("spec.group", spec.get("group"), old_spec.get("group")),
              ("spec.names.plural", _d(spec, "names").get("plural"),
               _d(old_spec, "names").get("plural"))]
    if established:
        checks[:0] = [("spec.scope", spec.get("scope"), old_spec.get("scope")),
                      ("spec.names.kind", _d(spec, "names").get("kind"),
                       _d(old_spec, "names").get("kind"))]
    for path, new, old in checks:
        if new != old:
            errs.invalid(path, new if new is not None else "", _IMMUTABLE)
