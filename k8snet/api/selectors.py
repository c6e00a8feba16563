"""Label and field selectors with Kubernetes' syntax and semantics.

Public names:

    parse_label_selector(text) -> LabelSelector
        "a=b,c!=d,e in (x,y),f notin (z),g,!h,n>3,n<9"; "" selects everything.
    label_selector_from_dict(sel: dict | None) -> LabelSelector
        a metav1.LabelSelector (matchLabels, matchExpressions In/NotIn/Exists/DoesNotExist);
        {} selects everything, None selects nothing (as Kubernetes converts them).
    label_selector_to_string(sel: dict | None) -> str     e.g. for Scale status.selector
    LabelSelector.matches(labels: dict | None) -> bool ; str(selector) is canonical text
    LabelSelector.empty -> bool  (selects everything)
    parse_field_selector(text, kind=None) -> FieldSelector
        "metadata.name=x,spec.nodeName!=" (=, ==, !=; backslash escapes ',', '=', '!', '\\').
        With a kind, fields outside SUPPORTED_FIELDS[kind] raise
        ValueError("field label not supported: <field>").
    FieldSelector.matches(obj: dict) -> bool ; FieldSelector.terms ; str(selector)
    FieldSelector.exact(field) -> str | None   the value of a "field=value" term (for indexing)
    field_value(obj, path) -> str   the value a field selector compares (missing -> "";
        booleans "true"/"false"; Event "source" -> source.component)
    SUPPORTED_FIELDS: dict kind -> frozenset of field paths

All errors are ValueError with a one-line message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Optional

_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"
_NAME_RE = re.compile(rf"^{_NAME}$")
_DNS_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")

OPS = ("in", "notin", "=", "==", "!=", "exists", "!", "gt", "lt")


def validate_label_key(key: str) -> Optional[str]:
    """None if key is a valid qualified name ([prefix/]name), else the reason."""
    prefix, slash, name = key.rpartition("/")
    if slash:
        if not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN_RE.match(prefix):
            return f"prefix part of {key!r} must be a DNS-1123 subdomain"
    if not name:
        return f"name part of {key!r} must be non-empty"
    if len(name) > 63:
        return f"name part of {key!r} must be no more than 63 characters"
    if not _NAME_RE.match(name):
        return (f"name part of {key!r} must consist of alphanumeric characters, '-', '_' or "
                "'.', and must start and end with an alphanumeric character")
    return None


def validate_label_value(value: str) -> Optional[str]:
    """None if value is a valid label value (may be empty), else the reason."""
    if len(value) > 63:
        return f"label value {value!r} must be no more than 63 characters"
    if value and not _NAME_RE.match(value):
        return (f"label value {value!r} must consist of alphanumeric characters, '-', '_' or "
                "'.', and must start and end with an alphanumeric character")
    return None


@dataclass(frozen=True)
class Requirement:
    """One label requirement: key, operator (one of OPS, normalised) and values."""

    key: str
    op: str
    values: tuple[str, ...] = ()

    def matches(self, labels: dict) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op in ("=", "==", "in"):
            return present and value in self.values
        if self.op in ("!=", "notin"):
            return not present or value not in self.values
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        if not present:
            return False
        try:
            have, want = int(str(value)), int(self.values[0])
        except ValueError:
            return False
        return have > want if self.op == "gt" else have < want

    def __str__(self) -> str:
        if self.op == "exists":
            return self.key
        if self.op == "!":
            return "!" + self.key
        if self.op in ("in", "notin"):
            return f"{self.key} {self.op} ({','.join(sorted(self.values))})"
        if self.op in ("gt", "lt"):
            return f"{self.key}{'>' if self.op == 'gt' else '<'}{self.values[0]}"
        return f"{self.key}{'=' if self.op in ('=', '==') else '!='}{self.values[0]}"


@dataclass(frozen=True)
class LabelSelector:
    """A conjunction of requirements; `nothing` selects no object at all."""

    requirements: tuple[Requirement, ...] = ()
    nothing: bool = False

    @property
    def empty(self) -> bool:
        return not self.requirements and not self.nothing

    def matches(self, labels: Optional[dict]) -> bool:
        if self.nothing:
            return False
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(r) for r in sorted(self.requirements, key=lambda r: r.key))


def _check_key(key: str, text: str) -> None:
    reason = validate_label_key(key)
    if reason:
        raise ValueError(f"unable to parse requirement: invalid label key {key!r} "
                         f"in selector {text!r}: {reason}")


def _check_value(value: str, text: str) -> None:
    reason = validate_label_value(value)
    if reason:
        raise ValueError(f"unable to parse requirement: invalid label value in selector "
                         f"{text!r}: {reason}")


def _split_top(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise ValueError(f"unexpected ')' in label selector {text!r}")
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if depth:
        raise ValueError(f"missing ')' in label selector {text!r}")
    parts.append("".join(cur))
    return parts


_SET_RE = re.compile(r"^\s*(\S+?)\s+(in|notin)\s*\((.*)\)\s*$")
_CMP_RE = re.compile(r"^\s*([^\s=!<>]+)\s*(==|!=|=|<|>)\s*(.*?)\s*$")


def _parse_requirement(part: str, text: str) -> Requirement:
    stripped = part.strip()
    if not stripped:
        raise ValueError(f"found empty requirement in label selector {text!r}")
    m = _SET_RE.match(stripped)
    if m:
        key, op, inner = m.group(1), m.group(2), m.group(3)
        _check_key(key, text)
        values = tuple(v.strip() for v in inner.split(",")) if inner.strip() else ()
        if not values:
            raise ValueError(f"for '{op}' operator, values set can't be empty "
                             f"in label selector {text!r}")
        for v in values:
            _check_value(v, text)
        return Requirement(key, op, tuple(sorted(set(values))))
    m = _CMP_RE.match(stripped)
    if m:
        key, op, value = m.group(1), m.group(2), m.group(3)
        _check_key(key, text)
        if op in ("<", ">"):
            if not re.fullmatch(r"-?\d+", value):
                raise ValueError(f"for 'Gt', 'Lt' operators, the value must be an integer "
                                 f"in label selector {text!r}")
            return Requirement(key, "gt" if op == ">" else "lt", (value,))
        _check_value(value, text)
        return Requirement(key, "=" if op == "==" else op, (value,))
    if stripped.startswith("!"):
        key = stripped[1:].strip()
        _check_key(key, text)
        return Requirement(key, "!")
    if re.fullmatch(r"\S+", stripped):
        _check_key(stripped, text)
        return Requirement(stripped, "exists")
    raise ValueError(f"unable to parse requirement {stripped!r} in label selector {text!r}")


def parse_label_selector(text: Optional[str]) -> LabelSelector:
    """Parse a label selector string; None or blank selects everything."""
    if text is None or not text.strip():
        return LabelSelector()
    return LabelSelector(tuple(_parse_requirement(p, text) for p in _split_top(text)))


_EXPR_OPS = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}


def label_selector_from_dict(sel: Optional[dict]) -> LabelSelector:
    """Convert a metav1.LabelSelector dict; {} selects everything, None nothing."""
    if sel is None:
        return LabelSelector(nothing=True)
    if not isinstance(sel, dict):
        raise ValueError("label selector must be an object")
    reqs: list[Requirement] = []
    match_labels = sel.get("matchLabels") or {}
    if not isinstance(match_labels, dict):
        raise ValueError("matchLabels must be a map of strings")
    for key, value in match_labels.items():
        _check_key(str(key), str(sel))
        if not isinstance(value, str):
            raise ValueError(f"matchLabels[{key}] must be a string")
        _check_value(value, str(sel))
        reqs.append(Requirement(key, "=", (value,)))
    for expr in sel.get("matchExpressions") or []:
        if not isinstance(expr, dict):
            raise ValueError("matchExpressions items must be objects")
        key, op = str(expr.get("key", "")), expr.get("operator")
        values = expr.get("values") or []
        _check_key(key, str(sel))
        if op not in _EXPR_OPS:
            raise ValueError(f"{op!r} is not a valid label selector operator")
        if op in ("In", "NotIn") and not values:
            raise ValueError(f"values: Required value: must be specified when `operator` "
                             f"is {op}")
        if op in ("Exists", "DoesNotExist") and values:
            raise ValueError(f"values: Forbidden: may not be specified when `operator` is {op}")
        if not all(isinstance(v, str) for v in values):
            raise ValueError("matchExpressions values must be strings")
        reqs.append(Requirement(key, _EXPR_OPS[op], tuple(sorted(set(values)))))
    return LabelSelector(tuple(reqs))


def label_selector_to_string(sel: Optional[dict]) -> str:
    """The canonical string form of a metav1.LabelSelector ("" for everything)."""
    return str(label_selector_from_dict(sel if sel is not None else {}))


# ---------------------------------------------------------------------- field selectors

_COMMON = frozenset({"metadata.name", "metadata.namespace"})

SUPPORTED_FIELDS: dict[str, frozenset] = {
    "Pod": _COMMON | {"spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
                      "spec.serviceAccountName", "spec.hostNetwork", "status.phase",
                      "status.podIP", "status.nominatedNodeName"},
    "Event": _COMMON | {"involvedObject.kind", "involvedObject.namespace",
                        "involvedObject.name", "involvedObject.uid",
                        "involvedObject.apiVersion", "involvedObject.resourceVersion",
                        "involvedObject.fieldPath", "reason", "reportingComponent",
                        "source", "type"},
    "Node": _COMMON | {"spec.unschedulable"},
    "Namespace": _COMMON | {"status.phase"},
    "Service": _COMMON,
    "Endpoints": _COMMON,
    "Deployment": _COMMON,
    "ReplicaSet": _COMMON | {"status.replicas"},
    "Lease": _COMMON,
}


def field_value(obj: dict, path: str) -> str:
    """The string a field selector compares for `path` in `obj` ("" when absent)."""
    if path == "source" and obj.get("kind", "Event") == "Event":
        src = obj.get("source")
        if isinstance(src, dict):
            return str(src.get("component") or "")
        return str(obj.get("reportingComponent") or "")
    cur: object = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    if isinstance(cur, (dict, list)):
        return ""
    return str(cur)


@dataclass(frozen=True)
class FieldTerm:
    """field (=|!=) value."""

    field: str
    op: str
    value: str

    def matches(self, obj: dict) -> bool:
        equal = field_value(obj, self.field) == self.value
        return equal if self.op == "=" else not equal


def _escape(value: str) -> str:
    return re.sub(r"([\\,=!])", r"\\\1", value)


@dataclass(frozen=True)
class FieldSelector:
    """A conjunction of field terms; no terms selects everything."""

    terms: tuple[FieldTerm, ...] = field(default_factory=tuple)

    @property
    def empty(self) -> bool:
        return not self.terms

    def matches(self, obj: dict) -> bool:
        return all(t.matches(obj) for t in self.terms)

    def exact(self, name: str) -> Optional[str]:
        for t in self.terms:
            if t.field == name and t.op == "=":
                return t.value
        return None

    def fields(self) -> Iterable[str]:
        return (t.field for t in self.terms)

    def __str__(self) -> str:
        return ",".join(f"{t.field}{t.op}{_escape(t.value)}" for t in self.terms)


def _split_escaped(text: str) -> list[str]:
    """Split on unescaped commas, keeping escapes for the term parser."""
    parts, cur, i = [], [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            cur.append(text[i:i + 2])
            i += 2
            continue
        if ch == ",":
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    parts.append("".join(cur))
    return parts


def _parse_term(part: str, text: str) -> FieldTerm:
    i = 0
    while i < len(part):
        ch = part[i]
        if ch == "\\":
            i += 2
            continue
        if part.startswith("!=", i):
            name, op, rest = part[:i], "!=", part[i + 2:]
            break
        if part.startswith("==", i):
            name, op, rest = part[:i], "=", part[i + 2:]
            break
        if ch == "=":
            name, op, rest = part[:i], "=", part[i + 1:]
            break
        i += 1
    else:
        raise ValueError(f"invalid selector: {text!r}; can't understand {part!r}")
    name = name.strip()
    if not name:
        raise ValueError(f"invalid selector: {text!r}; field name is empty in {part!r}")
    value, j = [], 0
    while j < len(rest):
        if rest[j] == "\\" and j + 1 < len(rest):
            value.append(rest[j + 1])
            j += 2
            continue
        if rest[j] in "=!":
            raise ValueError(f"invalid selector: {text!r}; unescaped '{rest[j]}' in value "
                             "(escape it with a backslash)")
        value.append(rest[j])
        j += 1
    return FieldTerm(name, op, "".join(value))


def parse_field_selector(text: Optional[str], kind: Optional[str] = None) -> FieldSelector:
    """Parse a field selector; with `kind`, reject fields that kind does not support."""
    if text is None or not text.strip():
        return FieldSelector()
    terms = []
    for part in _split_escaped(text):
        if not part.strip():
            continue
        terms.append(_parse_term(part, text))
    if kind is not None:
        allowed = SUPPORTED_FIELDS.get(kind, _COMMON)
        for t in terms:
            if t.field not in allowed:
                raise ValueError(f"field label not supported: {t.field}")
    return FieldSelector(tuple(terms))
