"""The Decimal scalar's output: money with two decimals, rates as written, never a float."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.schema.scalars import _serialize


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("1000.00", "1000.00"),
        ("-0.00", "-0.00"),
        ("100", "100.00"),
        ("1E+3", "1000.00"),
        ("13.03", "13.03"),
        ("0.5", "0.50"),
        ("1.500", "1.5"),
        ("0.0005", "0.0005"),
        ("0.006", "0.006"),
        ("1.00E+5", "100000.00"),
        ("12345678901234567890.00", "12345678901234567890.00"),
    ],
)
def test_decimal_output(value, text):
    assert _serialize(Decimal(value)) == text


@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_decimal_output_is_plain_and_exact(value):
    text = _serialize(value)
    assert "E" not in text and "e" not in text
    assert Decimal(text) == value
    if value == value.to_integral_value() or abs(value.as_tuple().exponent) <= 2:
        assert len(text.partition(".")[2]) == 2
