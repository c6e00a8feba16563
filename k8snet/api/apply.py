"""Server-side apply: field ownership in metadata.managedFields, conflicts, removals.

Public names:

    server_side_apply(live, applied, manager, force, kind, now) -> dict
        live: the stored object or None (create); applied: the user's configuration;
        now: RFC 3339 time for the managedFields entry. Returns the new object with
        metadata.managedFields updated. Raises ApplyConflict when another manager owns a
        field the configuration sets to a different value (unless force, which takes the
        field over). Fields this manager applied before and now omits are removed unless
        another manager also owns them.
    track_update(old, new, manager, now, kind, subresource=None) -> dict
        record an Update operation (create/PUT/merge or strategic PATCH): the fields that
        changed become owned by `manager` (operation Update) and leave other managers' sets.
    ApplyConflict(conflicts): .conflicts is a list of {"field", "manager", "message"}
        (field like ".spec.replicas", message 'conflict with "kubectl" using apps/v1');
        .pairs gives [(field, manager)]; str() is Kubernetes' "Apply failed with N
        conflict(s): ..." text.
    field_set(obj, kind) -> set[tuple[str, ...]]   the paths an object sets (f:/k:/v: steps)
    fields_v1(paths) -> dict ; parse_fields_v1(dict) -> set     FieldsV1 notation

Ownership follows Kubernetes' structured-merge-diff in its common cases: maps by field,
associative lists by their keys (containers k:{"name":..}, ports k:{"containerPort":..,
"protocol":..}, conditions k:{"type":..}), sets of primitives by value (v:"x"), other
lists atomically. Managers are told apart by (manager, operation, subresource).
"""

from __future__ import annotations

import copy
import json
from typing import Any, Iterable, Optional

from k8snet.api.patchmeta import MergeList, Node, lookup, schema_for

Path = tuple[str, ...]
_MISSING = object()
_IGNORED_META = ("name", "namespace", "uid", "resourceVersion", "generation",
                 "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                 "selfLink", "managedFields")
_STATUS_KINDS = ("Pod", "Node", "Service", "Deployment", "ReplicaSet", "Namespace")


class ApplyConflict(Exception):
    """Another manager owns fields the applied configuration changes."""

    def __init__(self, conflicts: list[dict]) -> None:
        self.conflicts = conflicts
        n = len(conflicts)
        body = "; ".join(f"{c['message']}: {c['field']}" for c in conflicts)
        super().__init__(f"Apply failed with {n} conflict{'s' if n != 1 else ''}: {body}")

    @property
    def pairs(self) -> list[tuple[str, str]]:
        return [(c["field"], c["manager"]) for c in self.conflicts]


# --------------------------------------------------------------------- field sets

def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _item_key(item: dict, ml: MergeList) -> dict:
    key = {}
    for k in ml.ssa_keys:
        if k in item:
            key[k] = item[k]
        elif k == "protocol":
            key[k] = "TCP"
    return key


def _collect(value: Any, schema: Optional[Node], prefix: Path, out: set) -> None:
    if isinstance(value, dict):
        if not value and prefix:
            out.add(prefix)
        for k, v in value.items():
            if v is None:
                continue
            _collect(v, lookup(schema, k) if isinstance(schema, dict) else None,
                     prefix + (f"f:{k}",), out)
    elif isinstance(value, list) and isinstance(schema, MergeList):
        if not value:
            out.add(prefix)
        for item in value:
            if schema.is_set:
                out.add(prefix + (f"v:{_dumps(item)}",))
            elif isinstance(item, dict):
                p = prefix + (f"k:{_dumps(_item_key(item, schema))}",)
                out.add(p)
                _collect(item, schema.item, p, out)
    elif prefix:
        out.add(prefix)


def _strip_ignored(obj: dict, kind: str) -> dict:
    out = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
    if kind in _STATUS_KINDS:
        out.pop("status", None)
    meta = out.get("metadata")
    if isinstance(meta, dict):
        meta = {k: v for k, v in meta.items() if k not in _IGNORED_META}
        if meta:
            out["metadata"] = meta
        else:
            out.pop("metadata")
    return out


def field_set(obj: Any, kind: str) -> set:
    """Paths set by obj (apiVersion, kind, system metadata and status excluded)."""
    out: set = set()
    if isinstance(obj, dict):
        _collect(_strip_ignored(obj, kind), schema_for(kind), (), out)
    return out


def fields_v1(paths: Iterable[Path]) -> dict:
    """FieldsV1 notation of a set of paths ('.' marks an owned node with owned children)."""
    root: dict = {}
    owned = set(paths)
    for path in sorted(owned):
        node = root
        for step in path:
            node = node.setdefault(step, {})
    def mark(node: dict, prefix: Path) -> None:
        for step, child in node.items():
            if step == ".":
                continue
            p = prefix + (step,)
            mark(child, p)
            if child and p in owned:
                rest = dict(child)
                child.clear()
                child["."] = {}
                child.update(rest)
    mark(root, ())
    return root


def parse_fields_v1(fields: Any) -> set:
    """Paths from FieldsV1 notation (malformed parts are ignored)."""
    out: set = set()
    def walk(node: Any, prefix: Path) -> None:
        if not isinstance(node, dict):
            return
        if not node and prefix:
            out.add(prefix)
        for step, child in node.items():
            if step == ".":
                out.add(prefix)
            elif isinstance(step, str):
                walk(child, prefix + (step,))
    walk(fields, ())
    return out


# --------------------------------------------------------------------- object paths

def _find_item(items: list, step: str) -> Optional[int]:
    kind, _, raw = step.partition(":")
    try:
        want = json.loads(raw)
    except ValueError:
        return None
    for n, item in enumerate(items):
        if kind == "v" and item == want:
            return n
        if kind == "k" and isinstance(item, dict) and isinstance(want, dict):
            ok = all(item.get(k, "TCP" if k == "protocol" else _MISSING) == v
                     for k, v in want.items())
            if ok:
                return n
    return None


def _get(obj: Any, path: Path) -> Any:
    cur = obj
    for step in path:
        if step.startswith("f:") and isinstance(cur, dict):
            cur = cur.get(step[2:], _MISSING)
        elif isinstance(cur, list):
            idx = _find_item(cur, step)
            cur = cur[idx] if idx is not None else _MISSING
        else:
            return _MISSING
        if cur is _MISSING:
            return _MISSING
    return cur


def _delete(obj: Any, path: Path) -> None:
    parent = _get(obj, path[:-1]) if len(path) > 1 else obj
    step = path[-1]
    if step.startswith("f:") and isinstance(parent, dict):
        parent.pop(step[2:], None)
    elif isinstance(parent, list):
        idx = _find_item(parent, step)
        if idx is not None:
            parent.pop(idx)


def path_string(path: Path) -> str:
    """Kubernetes' display of a field path: .spec.containers[name="nginx"].image"""
    out = ""
    for step in path:
        kind, _, raw = step.partition(":")
        if kind == "f":
            out += "." + raw
        elif kind == "k":
            try:
                key = json.loads(raw)
                out += "[" + ",".join(f"{k}={_dumps(v)}" for k, v in key.items()) + "]"
            except (ValueError, AttributeError):
                out += f"[{raw}]"
        else:
            out += f"[={raw}]"
    return out


# --------------------------------------------------------------------- managers

def _entries(obj: Any) -> list[dict]:
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    managed = meta.get("managedFields") if isinstance(meta, dict) else None
    return [dict(e) for e in managed if isinstance(e, dict)] if isinstance(managed, list) \
        else []


def _ident(entry: dict) -> tuple:
    return (entry.get("manager"), entry.get("operation"), entry.get("subresource", ""))


def _entry(manager: str, operation: str, api_version: str, now: str, paths: set,
           subresource: Optional[str]) -> dict:
    e = {"manager": manager, "operation": operation, "apiVersion": api_version, "time": now,
         "fieldsType": "FieldsV1", "fieldsV1": fields_v1(paths)}
    if subresource:
        e["subresource"] = subresource
    return e


def _ancestors_or_self_owned(path: Path, owned: set) -> bool:
    return any(path[:n] in owned for n in range(1, len(path) + 1))


def _merge_applied(live: dict, applied: dict, kind: str) -> dict:
    from k8snet.api.patch import strategic_merge_patch
    return strategic_merge_patch(live, _drop_nulls(applied), kind)


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items()
                if v is not None and not (isinstance(k, str) and k.startswith("$"))}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def _conflict_message(entry: dict) -> str:
    """Kubernetes' wording: conflict with "kubectl" with subresource "scale" using apps/v1"""
    text = f'conflict with "{entry.get("manager", "")}"'
    if entry.get("subresource"):
        text += f' with subresource "{entry["subresource"]}"'
    if entry.get("apiVersion"):
        text += f' using {entry["apiVersion"]}'
    return text


def server_side_apply(live: Optional[dict], applied: dict, manager: str, force: bool,
                      kind: str, now: str) -> dict:
    """Apply `applied` as `manager`; see the module docstring."""
    if not isinstance(applied, dict):
        raise ValueError("apply configuration must be an object")
    if not manager:
        raise ValueError("fieldManager is required for apply")
    if not isinstance(applied.get("metadata", {}), dict):
        raise ValueError("metadata must be an object")
    base: dict = copy.deepcopy(live) if isinstance(live, dict) else {}
    entries = _entries(base)
    me = (manager, "Apply", "")
    api_version = str(applied.get("apiVersion") or base.get("apiVersion") or "v1")
    clean = _drop_nulls(applied)
    new_set = field_set(clean, kind)
    mine = next((e for e in entries if _ident(e) == me), None)
    old_set = parse_fields_v1(mine.get("fieldsV1")) if mine else set()
    others = [(e, parse_fields_v1(e.get("fieldsV1"))) for e in entries if _ident(e) != me]

    conflicts: list[dict] = []
    taken: dict[int, set] = {}
    for n, (entry, owned) in enumerate(others):
        for path in sorted(new_set & owned):
            if path[-1].startswith(("k:", "v:")):
                continue
            have, want = _get(base, path), _get(clean, path)
            if have is _MISSING or have == want:
                continue
            taken.setdefault(n, set()).add(path)
            conflicts.append({"field": path_string(path), "manager": entry.get("manager", ""),
                              "message": _conflict_message(entry)})
    if conflicts and not force:
        raise ApplyConflict(conflicts)

    to_merge = dict(clean)
    if kind in _STATUS_KINDS:
        to_merge.pop("status", None)
    if isinstance(to_merge.get("metadata"), dict):
        to_merge["metadata"] = {k: v for k, v in to_merge["metadata"].items()
                                if k != "managedFields"}
    result = _merge_applied(base, to_merge, kind)
    still_owned = set().union(*(owned for _, owned in others)) if others else set()
    kept = still_owned | new_set
    removable = {path for path in old_set - new_set
                 if not any(p[:len(path)] == path for p in kept)}
    for path in removable:
        if not any(path[:n] in removable for n in range(1, len(path))):
            _delete(result, path)

    new_entries = []
    for n, (entry, owned) in enumerate(others):
        if n in taken:
            owned = {p for p in owned if not _ancestors_or_self_owned(p, taken[n])}
            if not owned:
                continue
            entry = {**entry, "fieldsV1": fields_v1(owned)}
        new_entries.append(entry)
    insert_at = next((i for i, e in enumerate(entries) if _ident(e) == me), len(new_entries))
    new_entries.insert(min(insert_at, len(new_entries)),
                       _entry(manager, "Apply", api_version, now, new_set, None))
    meta = result.setdefault("metadata", {})
    if not isinstance(meta, dict):
        raise ValueError("metadata must be an object")
    meta["managedFields"] = new_entries
    for field in ("apiVersion", "kind"):
        if field in applied:
            result[field] = applied[field]
    return result


def _paths(obj: Any, kind: str, status: bool) -> set:
    if not isinstance(obj, dict):
        return set()
    if not status:
        return field_set(obj, kind)
    out: set = set()
    if obj.get("status") is not None:
        _collect({"status": obj["status"]}, schema_for(kind), (), out)
    return out


def track_update(old: Optional[dict], new: dict, manager: str, now: str, kind: str,
                 subresource: Optional[str] = None) -> dict:
    """Record an Update by `manager`: changed fields move to its Update entry."""
    if not isinstance(new, dict) or not manager:
        return new
    status = subresource == "status"
    old_set, new_set = _paths(old, kind, status), _paths(new, kind, status)
    changed = {p for p in new_set if p not in old_set or _get(old, p) != _get(new, p)}
    removed = old_set - new_set
    me = (manager, "Update", subresource or "")
    entries = _entries(old) if isinstance(old, dict) else _entries(new)
    result_entries = []
    mine: set = set()
    for entry in entries:
        owned = parse_fields_v1(entry.get("fieldsV1"))
        if _ident(entry) == me:
            mine = owned
            continue
        owned = owned - changed - removed
        if owned:
            result_entries.append({**entry, "fieldsV1": fields_v1(owned)})
    mine = (mine - removed) | changed
    if mine:
        api_version = str(new.get("apiVersion") or "v1")
        result_entries.append(_entry(manager, "Update", api_version, now, mine, subresource))
    out = copy.deepcopy(new)
    meta = out.setdefault("metadata", {})
    if isinstance(meta, dict):
        meta["managedFields"] = result_entries
    return out
