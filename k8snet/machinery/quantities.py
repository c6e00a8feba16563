"""Kubernetes resource quantities ("100m", "1.5", "128Mi", "1e3", "2G").

Public names:

    parse_quantity(value: str | int | float) -> Fraction    ValueError if not a quantity
    is_quantity(value) -> bool
    milli_value(value) -> int    ceil(quantity * 1000), e.g. CPU in millicores
    int_value(value) -> int      ceil(quantity), e.g. memory in bytes

Exact arithmetic (fractions), so "0.1" == "100m" and "1Gi" == "1024Mi". As upstream's
resource.ParseQuantity: no spaces, suffixes are case-sensitive ("1K" is not a quantity,
"1k" is), and "E" alone is exa while "E3" is an exponent. This is the one parser every
component uses (apiserver validation and defaults, scheduler, kubelet, runtime).
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from typing import Union

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": Fraction(1, 10**9), "u": Fraction(1, 10**6), "m": Fraction(1, 1000), "": 1,
            "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}
_RE = re.compile(r"^([+-]?)(\d+\.?\d*|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$")

Number = Union[str, int, float]


def parse_quantity(value: Number) -> Fraction:
    """The exact value of a quantity; ValueError with Kubernetes' wording if malformed."""
    if isinstance(value, bool):
        raise ValueError("quantities must match the regular expression "
                         "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("quantity must be finite")
        return Fraction(str(value))
    if not isinstance(value, str):
        raise ValueError("quantity must be a string or a number")
    m = _RE.match(value)
    if not m or len(value) > 64:
        raise ValueError("quantities must match the regular expression "
                         "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
    sign, number, suffix = m.group(1), m.group(2), m.group(3) or ""
    base = Fraction(number)
    if suffix in _BINARY:
        mult: Fraction = Fraction(_BINARY[suffix])
    elif suffix in _DECIMAL:
        mult = Fraction(_DECIMAL[suffix])
    else:
        exp = int(suffix[1:])
        if abs(exp) > 30:
            raise ValueError("quantity exponent out of range")
        mult = Fraction(10) ** exp
    result = base * mult
    return -result if sign == "-" else result


def is_quantity(value: object) -> bool:
    """True when value parses as a quantity."""
    try:
        parse_quantity(value)  # type: ignore[arg-type]
    except ValueError:
        return False
    return True


def milli_value(value: Number) -> int:
    """ceil(value * 1000): CPU in millicores."""
    return math.ceil(parse_quantity(value) * 1000)


def int_value(value: Number) -> int:
    """ceil(value): e.g. memory in bytes."""
    return math.ceil(parse_quantity(value))
