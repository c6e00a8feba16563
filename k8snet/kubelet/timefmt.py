"""Kubernetes time formats (metav1.Time, MicroTime, CRI nanoseconds)."""

from __future__ import annotations

import datetime as _dt
from typing import Optional


def rfc3339(ts: float) -> str:
    """metav1.Time: seconds precision, UTC, 'Z'."""
    return _dt.datetime.fromtimestamp(int(ts), _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def micro(ts: float) -> str:
    """metav1.MicroTime: microseconds, UTC, 'Z' (Lease renewTime, Event eventTime)."""
    return _dt.datetime.fromtimestamp(ts, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def from_nanos(ns: int) -> Optional[float]:
    """CRI timestamps are Unix nanoseconds; 0 means 'not set'."""
    return ns / 1e9 if ns else None


def parse_rfc3339(text: str) -> float:
    """Parse RFC 3339 with optional fraction (up to nanoseconds) into Unix seconds."""
    text = text.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    main, frac_tz = text[:19], text[19:]
    frac = 0.0
    if frac_tz.startswith("."):
        i = 1
        while i < len(frac_tz) and frac_tz[i].isdigit():
            i += 1
        frac = float("0" + frac_tz[:i])
        frac_tz = frac_tz[i:]
    base = _dt.datetime.fromisoformat(main + (frac_tz or "+00:00"))
    return base.timestamp() + frac
