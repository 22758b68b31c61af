"""Scalars: ``Decimal`` (money and rates as strings) and ``Date``/``DateTime`` (ISO 8601)."""

from __future__ import annotations

import decimal
from dataclasses import dataclass
from typing import NewType

import strawberry


@dataclass(frozen=True, slots=True)
class UnparsableDecimal:
    """An input that is not a number. Carried to the resolver, which answers with a typed
    VALIDATION error instead of a bare GraphQL error."""

    raw: str


def _serialize(value: decimal.Decimal) -> str:
    text = str(value)
    if text[-3:-2] == "." and "E" not in text:  # two decimals already: every amount of money
        return text
    if value == value.to_integral_value() or abs(value.as_tuple().exponent) <= 2:
        return f"{value:.2f}"
    # Trailing zeros dropped by hand: normalize() would round to the context's 28 digits.
    return format(value, "f").rstrip("0")


def _parse(value: object) -> decimal.Decimal | UnparsableDecimal:
    if isinstance(value, bool):
        return UnparsableDecimal(str(value))
    if isinstance(value, int | float):
        value = repr(value)
    if not isinstance(value, str) or len(value) > 40:
        return UnparsableDecimal(str(value)[:40])
    try:
        parsed = decimal.Decimal(value.strip())
    except decimal.InvalidOperation:
        return UnparsableDecimal(value)
    return parsed if parsed.is_finite() else UnparsableDecimal(value)


Decimal = NewType("Decimal", decimal.Decimal)
"""Annotate GraphQL fields with this to get the ``Decimal`` scalar."""

SCALARS = {
    Decimal: strawberry.scalar(
        name="Decimal",
        description=(
            'An exact decimal number as a string, e.g. "1000.00". Money has two decimals; rates '
            "such as an APR are percentages with two decimals. Inputs may also be JSON numbers."
        ),
        serialize=_serialize,
        parse_value=_parse,
    )
}
