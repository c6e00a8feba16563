"""Request bodies are refused with a reason, never a RecursionError, when they nest too deep
or expand too far (k8snet.apiserver.bodies)."""

from __future__ import annotations

import json

import pytest

from k8snet.apiserver import bodies


def test_ordinary_bodies_decode():
    assert bodies.load(b'{"a": [1, {"b": null}]}') == {"a": [1, {"b": None}]}
    assert bodies.load(b"a: [1, 2]\n", as_yaml=True) == {"a": [1, 2]}


@pytest.mark.parametrize("raw", [b"[" * 5000 + b"]" * 5000, b'{"a":' * 3000 + b"1" + b"}" * 3000,
                                 b"[" * 200_000])
def test_deep_json_is_refused_with_a_reason(raw):
    with pytest.raises(ValueError, match="nests deeper than|Expecting"):
        bodies.load(raw)


def test_nesting_just_under_the_limit_is_accepted_and_just_over_refused():
    ok = b"[" * bodies.MAX_DEPTH + b"]" * bodies.MAX_DEPTH
    assert bodies.load(ok) is not None
    deeper = b"[" * (bodies.MAX_DEPTH + 1) + b"]" * (bodies.MAX_DEPTH + 1)
    with pytest.raises(ValueError, match=f"deeper than {bodies.MAX_DEPTH} levels"):
        bodies.load(deeper)


@pytest.mark.parametrize("depth", [150, 3000])
def test_deep_yaml_is_refused(depth):
    with pytest.raises(ValueError, match="nests deeper than|nesting depth"):
        bodies.load(b"[" * depth + b"]" * depth, as_yaml=True)


def test_yaml_alias_expansion_is_refused():
    lines = ["a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    with pytest.raises(ValueError, match="more than"):
        bodies.load("\n".join(lines).encode(), as_yaml=True)


def test_bad_utf8_and_bad_json_say_so_in_one_line():
    for raw in (b'{"a": "\xc3\x28"}', b"{", b"NaN]"):
        with pytest.raises(ValueError) as e:
            bodies.load(raw)
        assert "\n" not in str(e.value) and str(e.value)


def test_shape_check_walks_without_recursion():
    value: object = 1
    for _ in range(50_000):
        value = [value]
    with pytest.raises(ValueError, match="deeper"):
        bodies.check_shape(value)
    bodies.check_shape(json.loads("[" + "0," * 100_000 + "0]"))


@pytest.mark.parametrize("raw,as_yaml", [(b'{"a": NaN}', False), (b'{"a": -Infinity}', False),
                                         (b'{"a": 1e999}', False), (b"a: .nan", True),
                                         (b"a: [.inf]", True)])
def test_non_finite_numbers_are_refused(raw, as_yaml):
    with pytest.raises(ValueError, match="not a JSON"):
        bodies.load(raw, as_yaml=as_yaml)


def test_a_lone_surrogate_escape_decodes_to_the_replacement_character():
    # Go's encoding/json does the same; a str with a lone surrogate cannot be stored
    # (UTF-8) and made the apiserver answer 500 (found by the fuzz test)
    doc = bodies.load(b'{"metadata": {"name": "\\ud800x", "labels": {"\\udc00": "ok"}},'
                      b' "pair": "\\ud83d\\ude00"}')
    assert doc == {"metadata": {"name": "\ufffdx", "labels": {"\ufffd": "ok"}},
                   "pair": "\U0001F600"}
    json.dumps(doc, ensure_ascii=False).encode("utf-8")   # storable
