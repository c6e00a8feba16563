"""Go-style command-line flags, as agnhost's subcommands accept them.

``--name=value``, ``--name value``, ``-name value``, and for booleans bare
``--name`` or ``--name=false``. Unknown flags are reported, not fatal, so
manifests that pass options k8snet does not implement still run.
"""

from __future__ import annotations

from typing import Any, Sequence


def parse_flags(argv: Sequence[str], defaults: dict) -> tuple[dict, list[str], list[str]]:
    """(values, positional args, unknown flag names). Types follow the defaults."""
    values: dict[str, Any] = dict(defaults)
    positional: list[str] = []
    unknown: list[str] = []
    items = list(argv)
    i = 0
    while i < len(items):
        item = items[i]
        i += 1
        if not item.startswith("-") or item in ("-", "--"):
            if item == "--":
                positional.extend(items[i:])
                break
            positional.append(item)
            continue
        name, has_value, value = item.lstrip("-").partition("=")
        key = name.replace("-", "_")
        if key not in defaults:
            unknown.append(name)
            if not has_value and i < len(items) and not items[i].startswith("-"):
                i += 1
            continue
        kind = type(defaults[key])
        if kind is bool:
            values[key] = value.lower() not in ("false", "0", "f") if has_value else True
            continue
        if not has_value:
            if i >= len(items):
                raise ValueError(f"flag needs an argument: --{name}")
            value = items[i]
            i += 1
        try:
            values[key] = kind(value)
        except ValueError as exc:
            raise ValueError(f"invalid value {value!r} for flag --{name}") from exc
    return values, positional, unknown
