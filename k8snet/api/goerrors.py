"""The errors Go's decoders give for a few Kubernetes wire formats (pure).

The apiserver decodes request bodies with Go's encoding/json into typed structs;
some field types parse their own text and fail with their own message, which the
apiserver passes on verbatim. This module says, for a string, which message Go
would give:

    time_error(text, micro=False) -> str | None   metav1.Time (RFC 3339) and
        metav1.MicroTime (RFC 3339 with exactly six fractional digits), as Go's
        time.Parse reports them: 'parsing time "x" as "2006-01-02T15:04:05Z07:00":
        cannot parse "x" as "2006"', '...: month out of range', ...
    base64_error(text) -> str | None              []byte fields (Secret data):
        'illegal base64 data at input byte N' as Go's base64.StdEncoding reports it
"""

from __future__ import annotations

import json
from typing import Optional

RFC3339 = "2006-01-02T15:04:05Z07:00"
RFC3339_MICRO = "2006-01-02T15:04:05.000000Z07:00"
_B64 = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")


def _quote(s: str) -> str:
    """Go's strconv.Quote closely enough for messages (JSON escaping, unicode kept)."""
    return json.dumps(s, ensure_ascii=False)


def _parse_error(layout: str, value: str, layout_elem: str, value_elem: str,
                 message: str = "") -> str:
    if message:
        return f"parsing time {_quote(value)}{message}"
    return (f"parsing time {_quote(value)} as {_quote(layout)}: cannot parse "
            f"{_quote(value_elem)} as {_quote(layout_elem)}")


def _digits(s: str, i: int) -> bool:
    return i < len(s) and "0" <= s[i] <= "9"


def _all_digits(s: str) -> bool:
    return bool(s) and all("0" <= c <= "9" for c in s)


def _days_in(month: int, year: int) -> int:
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _getnum(s: str, fixed: bool) -> Optional[tuple[int, str]]:
    """Go's getnum: one or two leading digits (exactly two when fixed)."""
    if not _digits(s, 0):
        return None
    if not _digits(s, 1):
        return None if fixed else (int(s[0]), s[1:])
    return int(s[:2]), s[2:]


def time_error(text: str, micro: bool = False) -> Optional[str]:
    """The error time.Parse gives for text in RFC 3339 (micro: RFC 3339 micro), or None."""
    layout = RFC3339_MICRO if micro else RFC3339
    value = text
    # the layout as (literal before the element, element, what it is)
    fields: dict = {}
    steps = [("", "2006", "year"), ("-", "01", "month"), ("-", "02", "day"),
             ("T", "15", "hour"), (":", "04", "minute"), (":", "05", "second")]
    if micro:
        steps.append(("", ".000000", "frac"))
    steps.append(("", "Z07:00", "zone"))
    for literal, elem, what in steps:
        if literal:
            if not value.startswith(literal):
                return _parse_error(layout, text, literal, value)
            value = value[len(literal):]
        hold = value
        if what == "year":
            if len(value) < 4 or not _all_digits(value[:4]):
                return _parse_error(layout, text, elem, hold)
            fields[what], value = int(value[:4]), value[4:]
        elif what in ("month", "day", "hour", "minute", "second"):
            got = _getnum(value, fixed=what != "hour")
            if got is None:
                return _parse_error(layout, text, elem, hold)
            fields[what], value = got
            limit = {"month": 13, "hour": 24, "minute": 60, "second": 60}.get(what)
            bad = (what == "month" and fields[what] == 0) or (limit and fields[what] >= limit)
            if bad:
                return _parse_error(layout, text, elem, value, f": {what} out of range")
            if what == "second" and not micro and len(value) >= 2 and value[0] in ".," \
                    and _digits(value, 1):
                n = 2
                while _digits(value, n):
                    n += 1
                value = value[n:]
        elif what == "frac":
            if len(value) < 7 or value[0] not in ".," or not _all_digits(value[1:7]):
                return _parse_error(layout, text, elem, hold)
            value = value[7:]
        else:  # zone
            if value.startswith("Z"):
                value = value[1:]
            elif (len(value) >= 6 and value[0] in "+-" and value[3] == ":"
                  and _all_digits(value[1:3]) and _all_digits(value[4:6])):
                value = value[6:]
            else:
                return _parse_error(layout, text, elem, hold)
    if value:
        return _parse_error(layout, text, "", value, f": extra text: {_quote(value)}")
    if fields["day"] < 1 or fields["day"] > _days_in(fields["month"], fields["year"]):
        return _parse_error(layout, text, "", value, ": day out of range")
    return None


def base64_error(text: str) -> Optional[str]:
    """Go's base64.StdEncoding.Decode error for text (CR/LF ignored), or None."""
    src = text.encode("utf-8")
    si, n = 0, len(src)
    while True:
        j = 0
        while j < 4:
            if si == n:
                if j == 0:
                    return None
                return f"illegal base64 data at input byte {si - j}"
            c = src[si]
            si += 1
            if c in _B64:
                j += 1
                continue
            if c in (10, 13):
                continue
            if c != ord("="):
                return f"illegal base64 data at input byte {si - 1}"
            if j in (0, 1):
                return f"illegal base64 data at input byte {si - 1}"
            if j == 2:
                while si < n and src[si] in (10, 13):
                    si += 1
                if si == n:
                    return f"illegal base64 data at input byte {n}"
                if src[si] != ord("="):
                    return f"illegal base64 data at input byte {si - 1}"
                si += 1
            while si < n and src[si] in (10, 13):
                si += 1
            if si < n:
                return f"illegal base64 data at input byte {si}"
            return None
