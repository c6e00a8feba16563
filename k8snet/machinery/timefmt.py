"""Kubernetes time formats, once: metav1.Time, metav1.MicroTime, RFC3339Nano, CRI nanoseconds.

    utcnow() -> datetime                      the current time, UTC (the default clock)
    format_time(t) -> "2024-01-02T03:04:05Z"            metav1.Time (creationTimestamp,
                                                         conditions, Event timestamps)
    format_micro_time(t) -> "2024-01-02T03:04:05.123456Z"   metav1.MicroTime (Lease
                                                         renewTime, Event eventTime)
    format_nano_time(ns) -> "2024-01-02T03:04:05.12Z"   Go's RFC3339Nano (CRI log lines)
    format_nano_fixed(ns) -> "...05.120000000Z"         RFC3339NanoFixed (kubectl logs
                                                         --timestamps)
    parse_time(text) -> datetime | None       any RFC 3339 time; None if absent or malformed
    parse_epoch(text) -> float                Unix seconds (nanoseconds kept); ValueError
    parse_nanos(text) -> int                  Unix nanoseconds, exactly; ValueError
    from_nanos(ns) -> float | None            CRI timestamps; 0 means "not set"

`t` is a datetime (naive means UTC) or Unix seconds. Formatting truncates, as Go does.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Optional, Union

Instant = Union[dt.datetime, float, int]
_RFC3339 = re.compile(
    r"^(\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d)(\.\d+)?([Zz]|[+-]\d\d:\d\d)?$")


def utcnow() -> dt.datetime:
    """The current UTC time."""
    return dt.datetime.now(dt.timezone.utc)


def _utc(t: Instant) -> dt.datetime:
    if isinstance(t, dt.datetime):
        return t.replace(tzinfo=dt.timezone.utc) if t.tzinfo is None \
            else t.astimezone(dt.timezone.utc)
    return dt.datetime.fromtimestamp(t, dt.timezone.utc)


def format_time(t: Instant) -> str:
    """metav1.Time: whole seconds, UTC, 'Z'."""
    return _utc(t).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_micro_time(t: Instant) -> str:
    """metav1.MicroTime: microseconds, UTC, 'Z'."""
    return _utc(t).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def format_nano_time(ns: int) -> str:
    """Go's time.RFC3339Nano in UTC from Unix nanoseconds: trailing zeros of the fraction
    trimmed, no fraction at all for a whole second."""
    secs, nanos = divmod(int(ns), 1_000_000_000)
    base = dt.datetime.fromtimestamp(secs, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    frac = f"{nanos:09d}".rstrip("0")
    return f"{base}.{frac}Z" if frac else f"{base}Z"


def format_nano_fixed(ns: int) -> str:
    """RFC3339NanoFixed in UTC (always nine digits), how the kubelet prints a log line's
    time for `kubectl logs --timestamps`."""
    secs, nanos = divmod(int(ns), 1_000_000_000)
    base = dt.datetime.fromtimestamp(secs, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{nanos:09d}Z"


def _split(text: str) -> tuple[dt.datetime, str]:
    """(the time to the second, the fraction with its dot or ''); ValueError if malformed."""
    m = _RFC3339.match(text) if isinstance(text, str) else None
    if not m:
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    main, frac, zone = m.groups()
    zone = "+00:00" if zone in (None, "Z", "z") else zone
    return dt.datetime.fromisoformat(main[:10] + "T" + main[11:] + zone), frac or ""


def parse_time(text: Optional[str]) -> Optional[dt.datetime]:
    """An RFC 3339 time (metav1.Time, MicroTime, RFC3339Nano; no zone means UTC) as an
    aware datetime (fraction cut to microseconds); None when absent or malformed."""
    if not text:
        return None
    try:
        base, frac = _split(text)
    except ValueError:
        return None
    return base.replace(microsecond=int((frac[1:] + "000000")[:6])) if frac else base


def parse_epoch(text: str) -> float:
    """An RFC 3339 time as Unix seconds, the whole fraction kept; ValueError if malformed."""
    base, frac = _split(text)
    return base.timestamp() + (float("0" + frac) if frac else 0.0)


def parse_nanos(text: str) -> int:
    """An RFC 3339 time as Unix nanoseconds, exactly (digits past the ninth dropped, as
    Go does); ValueError if malformed."""
    base, frac = _split(text)
    return int(base.timestamp()) * 1_000_000_000 + int((frac[1:] + "000000000")[:9])


def from_nanos(ns: int) -> Optional[float]:
    """Unix seconds from CRI nanoseconds; None for 0 ('not set')."""
    return ns / 1e9 if ns else None
