"""The pods/ephemeralcontainers subresource: what an update through it may do (pure).

`kubectl debug POD --image=...` patches this subresource to add a debugging
container to a running Pod. As upstream's apiserver: the write changes
``spec.ephemeralContainers`` only (the registry takes everything else from
the stored Pod), existing ephemeral containers can be neither changed nor
removed, and an ephemeral container has no ports, probes, lifecycle hooks,
resources or restart policy, since it is never restarted or served from.
A ``targetContainerName`` must name one of the Pod's containers: the runtime
puts the debugger in that container's process namespace.
"""

from __future__ import annotations

import json
from typing import Any

from k8snet.api.fielderrors import Errors, dns1123_label

NOT_ALLOWED = ("ports", "livenessProbe", "readinessProbe", "startupProbe", "lifecycle",
               "resources", "resizePolicy", "restartPolicy")
NOT_ALLOWED_DETAIL = "cannot be set for an Ephemeral Container"
PATH = "spec.ephemeralContainers"


def _names(spec: dict, key: str) -> list[str]:
    return [c.get("name") for c in spec.get(key) or [] if isinstance(c, dict)]


def validate_update(new: dict, old: dict) -> list[dict]:
    """Causes that make `new` (the stored Pod with new ephemeral containers) invalid."""
    errs = Errors()
    new_spec, old_spec = new.get("spec") or {}, old.get("spec") or {}
    items = new_spec.get("ephemeralContainers")
    if items is None:
        items = []
    if not isinstance(items, list):
        errs.type_invalid(PATH, items, "array")
        return errs.causes
    before = {c.get("name"): c for c in old_spec.get("ephemeralContainers") or []
              if isinstance(c, dict)}
    by_name = {c.get("name"): c for c in items if isinstance(c, dict)}
    for name, c in before.items():
        if name not in by_name:
            errs.forbidden(PATH, f'existing ephemeral containers "{name}" may not be removed')
        elif json.dumps(by_name[name], sort_keys=True) != json.dumps(c, sort_keys=True):
            errs.forbidden(PATH, f'existing ephemeral containers "{name}" may not be changed')
    regular = set(_names(new_spec, "containers") + _names(new_spec, "initContainers"))
    seen: set = set()
    for i, c in enumerate(items):
        path = f"{PATH}[{i}]"
        if not isinstance(c, dict):
            errs.type_invalid(path, c, "object")
            continue
        if c.get("name") in before:
            continue  # checked above: unchanged
        _container(errs, c, path, regular, seen)
    return errs.causes


def _container(errs: Errors, c: dict, path: str, regular: set, seen: set) -> None:
    name = c.get("name")
    if not isinstance(name, str) or not name:
        errs.required(f"{path}.name")
    else:
        errs.names(f"{path}.name", name, dns1123_label(name))
        if name in regular or name in seen:
            errs.duplicate(f"{path}.name", name)
        seen.add(name)
    image = c.get("image")
    if not isinstance(image, str) or not image.strip():
        errs.required(f"{path}.image")
    for field in NOT_ALLOWED:
        if c.get(field) not in (None, [], {}):
            errs.forbidden(f"{path}.{field}", NOT_ALLOWED_DETAIL)
    target = c.get("targetContainerName")
    if target not in (None, "") and target not in regular:
        errs.not_found(f"{path}.targetContainerName", target)


def subresource_update(cur: dict, wanted: Any) -> dict:
    """The Pod an update of pods/ephemeralcontainers stores: the stored one with only the
    wanted ephemeral containers taken (anything else the body changes is ignored)."""
    out = json.loads(json.dumps(cur))
    spec = out.setdefault("spec", {})
    got = ((wanted or {}).get("spec") or {}).get("ephemeralContainers") \
        if isinstance(wanted, dict) and isinstance(wanted.get("spec"), dict) else None
    if got:
        spec["ephemeralContainers"] = got
    else:
        spec.pop("ephemeralContainers", None)
    return out
