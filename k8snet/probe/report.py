"""Rendering probe rows: a table for people, stable JSON for programs (pure)."""

from __future__ import annotations

import json
from typing import Dict, List, Sequence

from k8snet.probe.model import JSON_VERSION, Row


def to_json(cluster: str, mode: str, rows: Sequence[Row]) -> Dict:
    """The documented ``--json`` document (docs/PROBES.md)."""
    return {"version": JSON_VERSION, "cluster": cluster, "mode": mode,
            "ok": bool(rows) and all(r.verdict == "pass" for r in rows),
            "checks": [r.to_dict() for r in rows]}


def dumps(doc: Dict) -> str:
    return json.dumps(doc, indent=2, sort_keys=True)


def render(rows: Sequence[Row], evidence: bool = True) -> str:
    """One line per check (verdict, name, duration, reason), evidence indented."""
    width = max([len(r.name) for r in rows] + [5])
    lines: List[str] = []
    for r in rows:
        lines.append(f"{r.verdict.upper():<5} {r.name:<{width}} {r.duration:6.1f}s  {r.reason}")
        if evidence:
            lines += [f"      {e}" for e in r.evidence]
    passed = sum(r.verdict == "pass" for r in rows)
    lines.append(f"{passed}/{len(rows)} checks passed")
    return "\n".join(lines)
