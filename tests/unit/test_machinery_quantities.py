"""The one quantity parser (k8snet.machinery.quantities), as resource.ParseQuantity reads."""

from fractions import Fraction

import pytest

from k8snet.machinery.quantities import int_value, is_quantity, milli_value, parse_quantity


@pytest.mark.parametrize("text,value", [
    ("1e3", 1000), ("1E3", 1000), ("1e-3", Fraction(1, 1000)), ("129e6", 129_000_000),
    ("1.5Gi", 3 * 2**29), ("64Mi", 64 * 2**20), ("1.5Ki", 1536),
    ("100m", Fraction(1, 10)), ("100u", Fraction(1, 10_000)), ("5n", Fraction(5, 10**9)),
    ("1k", 1000), ("100k", 100_000), ("1G", 10**9), ("2E", 2 * 10**18),
    ("0.5", Fraction(1, 2)), (".5", Fraction(1, 2)), ("5.", 5), ("+2", 2), ("-2", -2),
    ("0", 0), (3, 3), (0.25, Fraction(1, 4)),
])
def test_valid_quantities(text, value):
    assert parse_quantity(text) == value


def test_equal_values_written_differently():
    assert parse_quantity("1") == parse_quantity("1000m") == parse_quantity("1e0")
    assert parse_quantity("1Gi") == parse_quantity("1024Mi")
    assert parse_quantity("0.1") == parse_quantity("100m")


@pytest.mark.parametrize("bad", [
    "", " 1", "1 ", "abc", "1.2.3", "1K", "5KiB", "Mi", "1Qi", "1e", "e3", "--1", ".",
    "1e99", "1" * 65, True, None, [], float("inf"), float("nan"),
])
def test_invalid_quantities(bad):
    assert not is_quantity(bad)
    with pytest.raises(ValueError):
        parse_quantity(bad)


def test_rounding_up_as_milli_value_and_value_do():
    assert milli_value("1") == 1000 and milli_value("250m") == 250
    assert milli_value("100u") == 1 and milli_value("0.0001") == 1  # ceil, never 0 for > 0
    assert int_value("1.5") == 2 and int_value("1e3") == 1000 and int_value("1.5Gi") == 3 << 29
