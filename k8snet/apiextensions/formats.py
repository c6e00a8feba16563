"""The string formats that custom resource validation checks (kube-openapi's strfmt).

apiextensions-apiserver keeps only these formats when it builds a validator; any other
format (int32, int64, float, double, or one it does not know) is not checked. A format's
name is compared without dashes ("date-time" is "datetime").

Public names:

    SUPPORTED: frozenset of normalised format names
    normalise(name) -> str           without dashes
    checked(name) -> bool            is this format validated at all?
    valid(name, value) -> bool       does the string satisfy the format?
"""

from __future__ import annotations

import base64
import binascii
import datetime
import ipaddress
import re
from typing import Callable
from urllib.parse import urlsplit

SUPPORTED = frozenset((
    "bsonobjectid", "uri", "email", "hostname", "ipv4", "ipv6", "cidr", "mac", "uuid",
    "uuid3", "uuid4", "uuid5", "isbn", "isbn10", "isbn13", "creditcard", "ssn", "hexcolor",
    "rgbcolor", "byte", "password", "date", "duration", "datetime"))

_UUID = {
    "uuid": r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$",
    "uuid3": r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?3[0-9a-f]{3}-?[0-9a-f]{4}-?[0-9a-f]{12}$",
    "uuid4": r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?4[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$",
    "uuid5": r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?5[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$",
}
_DATE_TIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?"
                        r"([Zz]|[+-]\d{2}:?\d{2})?$")
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_HOST_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_TLD = re.compile(r"^[A-Za-z]{2,63}$")
_MAC = re.compile(r"^(?:[0-9A-Fa-f]{2}([:-]))(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}$|"
                  r"^(?:[0-9A-Fa-f]{2}([:-]))(?:[0-9A-Fa-f]{2}\2){6}[0-9A-Fa-f]{2}$|"
                  r"^(?:[0-9A-Fa-f]{2}([:-]))(?:[0-9A-Fa-f]{2}\3){18}[0-9A-Fa-f]{2}$|"
                  r"^(?:[0-9A-Fa-f]{4}\.){2,9}[0-9A-Fa-f]{4}$")
_DURATION_GO = re.compile(r"^[-+]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$|^0$")
_DURATION_WORDS = re.compile(
    r"^(\d+)\s*(ns|us|ms|s|m|h|d|w|nanoseconds?|microseconds?|milliseconds?|seconds?|sec|"
    r"minutes?|mins?|hours?|hr|days?|weeks?|wk)$")
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+$")
_HEXCOLOR = re.compile(r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
_RGB = re.compile(r"^rgb\(\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*,\s*(0|[1-9]\d?|1\d\d?|"
                  r"2[0-4]\d|25[0-5])\s*,\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*\)$")
_SSN = re.compile(r"^\d{3}[- ]?\d{2}[- ]?\d{4}$")
_BSON = re.compile(r"^[0-9a-fA-F]{24}$")
_CREDITCARD = re.compile(r"^(?:4[0-9]{12}(?:[0-9]{3})?|5[1-5][0-9]{14}|6(?:011|5[0-9][0-9])"
                         r"[0-9]{12}|3[47][0-9]{13}|3(?:0[0-5]|[68][0-9])[0-9]{11}|"
                         r"(?:2131|1800|35\d{3})\d{11})$")


def normalise(name: str) -> str:
    """A format's name as the registry compares it (dashes removed)."""
    return name.replace("-", "")


def checked(name: str) -> bool:
    """Is this format validated (kept by the validator) at all?"""
    return normalise(name) in SUPPORTED


def _valid_date(y: str, m: str, d: str) -> bool:
    try:
        datetime.date(int(y), int(m), int(d))
    except ValueError:
        return False
    return True


def _date_time(v: str) -> bool:
    m = _DATE_TIME.match(v)
    return bool(m) and _valid_date(*m.group(1, 2, 3)) and int(m.group(4)) < 24 \
        and int(m.group(5)) < 60 and int(m.group(6)) < 61


def _date(v: str) -> bool:
    m = _DATE.match(v)
    return bool(m) and _valid_date(*m.group(1, 2, 3))


def _hostname(v: str) -> bool:
    if not v or len(v) > 255:
        return False
    labels = v.rstrip(".").split(".") if v.endswith(".") else v.split(".")
    if len(labels) == 1:
        return bool(_HOST_LABEL.match(labels[0]))
    return all(_HOST_LABEL.match(x) for x in labels[:-1]) and bool(_TLD.match(labels[-1]))


def _ip(v: str, version: int) -> bool:
    try:
        addr = ipaddress.ip_address(v)
    except ValueError:
        return False
    return ("." in v) if version == 4 else (":" in v and addr.version in (4, 6))


def _cidr(v: str) -> bool:
    if "/" not in v:
        return False
    try:
        ipaddress.ip_network(v, strict=False)
    except ValueError:
        return False
    return True


def _byte(v: str) -> bool:
    try:
        base64.b64decode(v, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _uri(v: str) -> bool:
    if not v or " " in v:
        return False
    if v.startswith("/"):
        return True
    parts = urlsplit(v)
    return bool(parts.scheme)


def _isbn10(v: str) -> bool:
    s = re.sub(r"[\s-]", "", v)
    if not re.fullmatch(r"\d{9}[\dX]", s):
        return False
    total = sum((10 - i) * (10 if c == "X" else int(c)) for i, c in enumerate(s))
    return total % 11 == 0


def _isbn13(v: str) -> bool:
    s = re.sub(r"[\s-]", "", v)
    if not re.fullmatch(r"\d{13}", s):
        return False
    total = sum(int(c) * (1 if i % 2 == 0 else 3) for i, c in enumerate(s))
    return total % 10 == 0


def _creditcard(v: str) -> bool:
    s = re.sub(r"[^0-9]", "", v)
    if not _CREDITCARD.match(s):
        return False
    total = 0
    for i, c in enumerate(reversed(s)):
        d = int(c)
        if i % 2 == 1:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return total % 10 == 0


def _regex(rx: str) -> Callable[[str], bool]:
    pattern = re.compile(rx)
    return lambda v: pattern.match(v) is not None


_CHECKS: dict[str, Callable[[str], bool]] = {
    "datetime": _date_time,
    "date": _date,
    "hostname": _hostname,
    "ipv4": lambda v: _ip(v, 4),
    "ipv6": lambda v: _ip(v, 6),
    "cidr": _cidr,
    "mac": lambda v: bool(_MAC.match(v)),
    "byte": _byte,
    "uri": _uri,
    "email": lambda v: bool(_EMAIL.match(v.strip("<> "))),
    "duration": lambda v: bool(_DURATION_GO.match(v) or _DURATION_WORDS.match(v.strip())),
    "hexcolor": lambda v: bool(_HEXCOLOR.match(v)),
    "rgbcolor": lambda v: bool(_RGB.match(v)),
    "ssn": lambda v: bool(_SSN.match(v)),
    "bsonobjectid": lambda v: bool(_BSON.match(v)),
    "isbn10": _isbn10,
    "isbn13": _isbn13,
    "isbn": lambda v: _isbn10(v) or _isbn13(v),
    "creditcard": _creditcard,
    "password": lambda v: True,
    **{name: _regex(rx) for name, rx in _UUID.items()},
}


def valid(name: str, value: str) -> bool:
    """Does `value` satisfy the format (True for formats that are not checked)?"""
    check = _CHECKS.get(normalise(name))
    return True if check is None else check(value)
