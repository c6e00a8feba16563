"""JSON merge patch, JSON patch and strategic merge patch, as the apiserver applies them.

Public names:

    json_merge_patch(obj, patch) -> dict|Any       RFC 7386
    create_merge_patch(original, modified) -> dict the RFC 7386 patch turning one into the other
    json_patch(obj, ops) -> Any                    RFC 6902 (add, remove, replace, move, copy,
                                                   test); ValueError on a bad or failed op
    strategic_merge_patch(obj, patch, kind) -> dict
        lists merged by key per k8snet.api.patchmeta (containers by name, ports by
        containerPort, Service ports by port, conditions by type, ...), other lists replaced;
        null deletes; directives $patch: replace|delete|merge (maps and list items),
        $setElementOrder/<list>, $retainKeys, $deleteFromPrimitiveList/<list>.
    server_side_apply(live, applied, manager, force, kind, now) -> dict   (k8snet.api.apply)
    track_update(old, new, manager, now, kind, subresource=None) -> dict  (k8snet.api.apply)
    ApplyConflict                                                          (k8snet.api.apply)

Inputs are never modified. Malformed patches raise ValueError with a short message.
"""

from __future__ import annotations

import copy
import json
from typing import Any, Optional

from k8snet.api.apply import ApplyConflict, server_side_apply, track_update
from k8snet.api.patchmeta import MergeList, Node, lookup, schema_for

__all__ = ["json_merge_patch", "create_merge_patch", "json_patch", "strategic_merge_patch",
           "server_side_apply", "track_update", "ApplyConflict"]


# ----------------------------------------------------------------------- RFC 7386

def json_merge_patch(obj: Any, patch: Any) -> Any:
    """Apply an RFC 7386 merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(obj) if isinstance(obj, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = json_merge_patch(out.get(key), value)
    return out


def create_merge_patch(original: Any, modified: Any) -> Any:
    """The merge patch that turns original into modified (None values cannot be expressed)."""
    if not isinstance(original, dict) or not isinstance(modified, dict):
        return copy.deepcopy(modified)
    patch: dict = {}
    for key in original:
        if key not in modified:
            patch[key] = None
    for key, value in modified.items():
        if key not in original:
            patch[key] = copy.deepcopy(value)
        elif original[key] != value or type(original[key]) is not type(value):
            if isinstance(value, dict) and isinstance(original[key], dict):
                patch[key] = create_merge_patch(original[key], value)
            else:
                patch[key] = copy.deepcopy(value)
    return patch


# ----------------------------------------------------------------------- RFC 6902

def _pointer(path: Any) -> list[str]:
    if not isinstance(path, str):
        raise ValueError(f"path must be a string, not {type(path).__name__}")
    if path == "":
        return []
    if not path.startswith("/"):
        raise ValueError(f"invalid JSON pointer {path!r}: must start with '/'")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _index(container: list, token: str, path: str, allow_end: bool) -> int:
    if token == "-" and allow_end:
        return len(container)
    if not token.isdigit() or (token != "0" and token.startswith("0")):
        raise ValueError(f"invalid array index {token!r} in {path!r}")
    idx = int(token)
    if idx > len(container) or (idx == len(container) and not allow_end):
        raise ValueError(f"array index {idx} out of bounds in {path!r}")
    return idx


def _parent(doc: Any, tokens: list[str], path: str) -> Any:
    cur = doc
    for token in tokens[:-1]:
        if isinstance(cur, dict):
            if token not in cur:
                raise ValueError(f"path {path!r} does not exist")
            cur = cur[token]
        elif isinstance(cur, list):
            cur = cur[_index(cur, token, path, False)]
        else:
            raise ValueError(f"path {path!r} does not exist")
    return cur


def _get_ptr(doc: Any, path: Any) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return doc
    parent = _parent(doc, tokens, path)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise ValueError(f"path {path!r} does not exist")
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(parent, last, path, False)]
    raise ValueError(f"path {path!r} does not exist")


def _add(doc: Any, path: Any, value: Any) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return value
    parent = _parent(doc, tokens, path)
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, path, True), value)
    else:
        raise ValueError(f"path {path!r} does not exist")
    return doc


def _remove(doc: Any, path: Any) -> tuple[Any, Any]:
    tokens = _pointer(path)
    if not tokens:
        raise ValueError("cannot remove the whole document")
    parent = _parent(doc, tokens, path)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise ValueError(f"path {path!r} does not exist")
        return doc, parent.pop(last)
    if isinstance(parent, list):
        return doc, parent.pop(_index(parent, last, path, False))
    raise ValueError(f"path {path!r} does not exist")


def _json_equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return type(a) is type(b) and a == b


def json_patch(obj: Any, ops: Any) -> Any:
    """Apply an RFC 6902 JSON patch; ValueError if any operation fails (nothing applied)."""
    if not isinstance(ops, list):
        raise ValueError("json patch must be a list of operations")
    doc = copy.deepcopy(obj)
    for n, op in enumerate(ops):
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise ValueError(f"operation {n} must be an object with 'op' and 'path'")
        kind, path = op["op"], op["path"]
        if kind in ("add", "replace", "test") and "value" not in op:
            raise ValueError(f"operation {n} ({kind}) is missing 'value'")
        if kind == "add":
            doc = _add(doc, path, copy.deepcopy(op["value"]))
        elif kind == "remove":
            doc, _ = _remove(doc, path)
        elif kind == "replace":
            _get_ptr(doc, path)
            if _pointer(path):
                doc, _ = _remove(doc, path)
            doc = _add(doc, path, copy.deepcopy(op["value"]))
        elif kind in ("move", "copy"):
            src = op.get("from")
            if kind == "move" and isinstance(src, str) and isinstance(path, str) and \
                    path.startswith(src + "/"):
                raise ValueError(f"cannot move {src!r} into its own child {path!r}")
            value = copy.deepcopy(_get_ptr(doc, src))
            if kind == "move":
                doc, _ = _remove(doc, src)
            doc = _add(doc, path, value)
        elif kind == "test":
            if not _json_equal(_get_ptr(doc, path), op["value"]):
                raise ValueError(f"test operation failed: value at {path!r} differs")
        else:
            raise ValueError(f"unknown json patch operation {kind!r}")
    return doc


# ---------------------------------------------------------------- strategic merge

_DELETE = object()
_ORDER = "$setElementOrder/"
_DEL_PRIM = "$deleteFromPrimitiveList/"


def _strip(value: Any, schema: Optional[Node]) -> Any:
    """A patch value applied to nothing: directives and nulls removed."""
    result = _merge_value(None, value, schema)
    return None if result is _DELETE else result


def _order(items: list, order: list, key: Optional[str]) -> list:
    """Sort items by `order` ($setElementOrder), keeping others near their old neighbours."""
    def ident(item: Any) -> str:
        return json.dumps(item.get(key) if key and isinstance(item, dict) else item,
                          sort_keys=True)
    wanted = [ident(o) for o in order]
    by_id = {ident(i): i for i in items}
    if len(by_id) != len(items):
        return items
    out = [by_id[w] for w in wanted if w in by_id]
    placed = {ident(i) for i in out}
    prev: Optional[str] = None
    for item in items:
        iid = ident(item)
        if iid not in placed:
            pos = 0
            if prev is not None:
                pos = next(n for n, o in enumerate(out) if ident(o) == prev) + 1
            out.insert(pos, item)
            placed.add(iid)
        prev = iid
    return out


def _merge_list(orig: Any, patch: list, ml: MergeList, order: Optional[list]) -> list:
    if any(isinstance(e, dict) and e.get("$patch") == "replace" for e in patch):
        return [_strip(e, ml.item) for e in patch
                if not (isinstance(e, dict) and e.get("$patch") == "replace")]
    base = copy.deepcopy(orig) if isinstance(orig, list) else []
    if ml.is_set:
        out = list(base)
        for v in patch:
            if isinstance(v, dict) and "$patch" in v:
                raise ValueError("$patch directives are not allowed in primitive lists")
            if v not in out:
                out.append(copy.deepcopy(v))
    else:
        key = ml.key
        out = base
        for e in patch:
            if not isinstance(e, dict):
                raise ValueError(f"list merged by {key!r} must contain objects")
            if key not in e:
                raise ValueError(f"map: {e} does not contain declared merge key: {key}")
            idx = next((n for n, cur in enumerate(out)
                        if isinstance(cur, dict) and cur.get(key) == e[key]), None)
            if e.get("$patch") == "delete":
                out = [c for c in out if not (isinstance(c, dict) and c.get(key) == e[key])]
                continue
            if idx is None:
                out.append(_strip(e, ml.item))
            else:
                merged = _merge_map(out[idx], e, ml.item)
                if merged is _DELETE:
                    out.pop(idx)
                else:
                    out[idx] = merged
    if order is not None:
        out = _order(out, order, ml.key)
    return out


def _merge_value(orig: Any, value: Any, schema: Optional[Node]) -> Any:
    if isinstance(value, dict):
        return _merge_map(orig if isinstance(orig, dict) else None, value,
                          schema if isinstance(schema, dict) else None)
    if isinstance(value, list) and isinstance(schema, MergeList):
        return _merge_list(orig, value, schema, None)
    if isinstance(value, list):
        return [_strip(v, None) if isinstance(v, dict) else copy.deepcopy(v) for v in value]
    return copy.deepcopy(value)


def _merge_map(orig: Optional[dict], patch: dict, schema: Optional[dict]) -> Any:
    directive = patch.get("$patch")
    if directive == "delete":
        return _DELETE
    if directive not in (None, "merge", "replace"):
        raise ValueError(f"unknown patch directive $patch: {directive!r}")
    if directive == "replace":
        orig = None
    out = copy.deepcopy(orig) if isinstance(orig, dict) else {}
    retain = patch.get("$retainKeys")
    if retain is not None and not isinstance(retain, list):
        raise ValueError("$retainKeys must be a list of field names")
    for key, value in patch.items():
        if not isinstance(key, str):
            raise ValueError("object keys must be strings")
        if key in ("$patch", "$retainKeys") or key.startswith(_ORDER):
            continue
        if key.startswith(_DEL_PRIM):
            field = key[len(_DEL_PRIM):]
            if not isinstance(value, list):
                raise ValueError(f"{key} must be a list")
            if isinstance(out.get(field), list):
                out[field] = [v for v in out[field] if v not in value]
            continue
        if key.startswith("$"):
            raise ValueError(f"unknown patch directive {key!r}")
        sub = lookup(schema, key)
        if value is None:
            out.pop(key, None)
            continue
        if isinstance(value, list) and isinstance(sub, MergeList):
            order = patch.get(_ORDER + key)
            merged = _merge_list(out.get(key), value, sub,
                                 order if isinstance(order, list) else None)
        else:
            merged = _merge_value(out.get(key), value, sub)
        if merged is _DELETE:
            out.pop(key, None)
        else:
            out[key] = merged
    for key, value in patch.items():
        if isinstance(key, str) and key.startswith(_ORDER):
            field = key[len(_ORDER):]
            sub = lookup(schema, field)
            if field not in patch and isinstance(out.get(field), list) and \
                    isinstance(value, list):
                out[field] = _order(out[field], value,
                                    sub.key if isinstance(sub, MergeList) else None)
    if retain is not None:
        out = {k: v for k, v in out.items() if k in retain}
    return out


def strategic_merge_patch(obj: Any, patch: Any, kind: str) -> dict:
    """Apply a strategic merge patch (as `kubectl apply` and `kubectl patch` send them)."""
    if not isinstance(patch, dict):
        raise ValueError("strategic merge patch must be an object")
    result = _merge_map(obj if isinstance(obj, dict) else None, patch, schema_for(kind))
    if result is _DELETE:
        raise ValueError("$patch: delete of the whole object is not allowed")
    return result
