"""Decoding request bodies (JSON or YAML) with bounds on their shape.

Python's decoders recurse, and so does everything after them (copies, merges,
validation, encoding): a body nested a thousand levels deep would end in a
RecursionError far from the request, and a YAML body of aliases (`a: &a [1,1]`,
`b: [*a,*a]`...) is small on the wire but expands without limit when encoded. Bodies
are therefore refused when they nest deeper than MAX_DEPTH or hold more than
MAX_ELEMENTS values counted as encoded (aliases counted each time they are used);
both are far beyond any real Kubernetes object. NaN and Infinity (which Python's JSON
decoder accepts, and YAML's .nan/.inf) are refused too: no JSON encoding of them exists,
so a stored one would make every later read of the object invalid JSON.

Public names:

    load(raw, as_yaml=False) -> object   the decoded body; ValueError saying what is
                                         wrong (bad UTF-8, bad JSON/YAML, too deep, too big)
    check_shape(value)                   ValueError when value breaks the bounds or
                                         holds a non-finite number
    MAX_DEPTH, MAX_ELEMENTS
"""

from __future__ import annotations

import json
import math
import re

import yaml

MAX_DEPTH = 100
# a \uD800-\uDFFF escape in the text: a lone one decodes to a string Python cannot
# encode as UTF-8 (a surrogate pair decodes to one character and leaves none)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_SURROGATE = re.compile("[\ud800-\udfff]")
MAX_ELEMENTS = 2_000_000
# libyaml's loader when present: the same safe constructors, parsed in C (the pure-Python
# parser takes seconds on a few kilobytes of nesting) and with its own nesting limit
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def check_shape(value: object) -> None:
    """Walk value without recursion; ValueError when it is too deep or too big."""
    stack = [(value, 1)]
    elements = 0
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > MAX_DEPTH:
            raise ValueError(f"the body nests deeper than {MAX_DEPTH} levels")
        elements += len(node)
        if elements > MAX_ELEMENTS:
            raise ValueError(f"the body holds more than {MAX_ELEMENTS} values")
        for c in children:
            if isinstance(c, (dict, list)):
                stack.append((c, depth + 1))
            elif isinstance(c, float) and not math.isfinite(c):
                raise ValueError(f"{c} is not a JSON number")


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON value")


def load(raw: bytes, as_yaml: bool = False) -> object:
    """raw decoded as UTF-8 JSON (or YAML); ValueError with a one-line reason."""
    try:
        text = raw.decode("utf-8")
        value = yaml.load(text, Loader=YAML_LOADER) if as_yaml else json.loads(
            text, parse_constant=_refuse_constant)
    except RecursionError:
        raise ValueError(f"the body nests deeper than {MAX_DEPTH} levels") from None
    except (UnicodeDecodeError, ValueError, yaml.YAMLError) as e:
        text = " ".join(line.strip() for line in str(e).splitlines()[:2])
        raise ValueError(text[:200] or type(e).__name__) from None
    check_shape(value)
    if _SURROGATE_ESCAPE.search(text):
        value = _without_surrogates(value)
    return value


def _without_surrogates(value: object) -> object:
    """Lone UTF-16 surrogates replaced by U+FFFD, as Go's encoding/json decodes them
    (the apiserver stores and echoes the replacement character)."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_without_surrogates(k): _without_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_surrogates(v) for v in value]
    return value
