"""``/healthz``, ``/livez``, ``/readyz``: named checks and their report, as kube-apiserver
words it.

- ``/readyz`` -> ``ok``; ``/readyz?verbose`` -> one ``[+]NAME ok`` line per check and
  ``readyz check passed``; ``?exclude=NAME`` (repeatable) skips a check
  (``[+]NAME excluded: ok``). Any failure: HTTP 500, every line, ``[-]NAME failed: reason
  withheld`` and ``readyz check failed``.
- ``/readyz/NAME`` runs one check: ``ok``, or 500 ``internal server error: WHY``.

livez and healthz run ping, log, etcd and the post-start hooks; readyz adds
etcd-readiness, informer-sync (the RBAC cache has listed) and shutdown (fails once the
server is stopping, so load balancers drain it first).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

CheckFn = Callable[[], Optional[str]]
"""A check: None when healthy, else why not."""

ENDPOINTS = ("healthz", "livez", "readyz")
READY_ONLY = ("etcd-readiness", "informer-sync", "shutdown")


@dataclass(frozen=True)
class Check:
    name: str
    run: CheckFn


def checks_for(endpoint: str, checks: list[Check]) -> list[Check]:
    """The checks an endpoint runs (readyz: all; livez and healthz: not the ready-only)."""
    if endpoint == "readyz":
        return list(checks)
    return [c for c in checks if c.name not in READY_ONLY]


def _run(check: Check) -> Optional[str]:
    try:
        return check.run()
    except Exception as e:  # noqa: BLE001 - a check that raises has failed
        return f"{type(e).__name__}: {e}"


def report(endpoint: str, checks: list[Check], verbose: bool,
           exclude: tuple[str, ...] = ()) -> tuple[int, str]:
    """(HTTP code, body) of /healthz, /livez or /readyz."""
    lines: list[str] = []
    failed = False
    left = [x for x in dict.fromkeys(exclude) if x]
    for check in checks_for(endpoint, checks):
        if check.name in left:
            left.remove(check.name)
            lines.append(f"[+]{check.name} excluded: ok")
            continue
        if _run(check) is None:
            lines.append(f"[+]{check.name} ok")
        else:
            failed = True
            lines.append(f"[-]{check.name} failed: reason withheld")
    if left:
        lines.append("warn: some health checks cannot be excluded: no matches for " +
                     ",".join(f'"{x}"' for x in sorted(left)))
    body = "".join(x + "\n" for x in lines)
    if failed:
        return 500, f"{body}{endpoint} check failed\n"
    if not verbose:
        return 200, "ok"
    return 200, f"{body}{endpoint} check passed\n"


def report_one(endpoint: str, name: str, checks: list[Check]) -> Optional[tuple[int, str]]:
    """(code, body) of /ENDPOINT/NAME; None when the endpoint has no such check (404)."""
    for check in checks_for(endpoint, checks):
        if check.name == name:
            why = _run(check)
            return (200, "ok") if why is None else (500, f"internal server error: {why}\n")
    return None
