"""Scalars: ``Decimal`` (money and rates as strings), ``DateTime`` (RFC 3339, UTC,
milliseconds) and ``Date`` (``YYYY-MM-DD``, a day in China)."""

from __future__ import annotations

import datetime
import decimal
import re
from dataclasses import dataclass
from typing import NewType

import strawberry
from graphql import GraphQLError


@dataclass(frozen=True, slots=True)
class UnparsableDecimal:
    """An input that is not a plain decimal string. Carried to the resolver, which answers
    with a typed VALIDATION error instead of a bare GraphQL error. ``reason``: the catalog's
    VALIDATION entry, ``amount_not_string`` for a JSON number, else ``amount_format``."""

    raw: str
    reason: str = "amount_format"


#: What an amount may look like: digits, and a point with digits after it. No exponent
#: ("1e3"), no sign but minus (refused later as not positive), no spaces, no thousands
#: separators: a front end that sends anything else has a bug to hear about.
_PLAIN = re.compile(r"-?[0-9]+(\.[0-9]+)?")


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
        # A JSON number has already lost what a float cannot hold (0.1 + 0.2): money is sent
        # as a string, and a number is refused with a message that says so.
        return UnparsableDecimal(repr(value)[:40], "amount_not_string")
    if not isinstance(value, str) or len(value) > 40 or not _PLAIN.fullmatch(value):
        return UnparsableDecimal(str(value)[:40])
    return decimal.Decimal(value)


def _timestamp(value: datetime.datetime | str) -> str:
    """RFC 3339 in UTC with milliseconds, the same shape everywhere:
    ``2026-12-07T16:45:00.123Z``. A naive value is UTC (SQLite keeps no zone)."""
    if isinstance(value, str):  # a driver that hands the stored text back
        value = datetime.datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    text = value.astimezone(datetime.UTC).isoformat(timespec="milliseconds")
    return text.removesuffix("+00:00") + "Z"


def _parse_timestamp(value: object) -> datetime.datetime:
    # GraphQLError, not ValueError: a bad input is the client's mistake, answered as one (an
    # exception of another kind would be taken for the server's).
    if not isinstance(value, str):
        raise GraphQLError("a DateTime is an RFC 3339 string")
    try:
        parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise GraphQLError("a DateTime is an RFC 3339 string, e.g. 2026-12-07T08:30:00.000Z") from None
    if parsed.tzinfo is None:
        raise GraphQLError("a DateTime needs an offset (Z or +08:00)")
    return parsed


Decimal = NewType("Decimal", decimal.Decimal)
"""Annotate GraphQL fields with this to get the ``Decimal`` scalar."""

SCALARS = {
    datetime.date: strawberry.scalar(
        name="Date",
        description='A calendar day in China (Asia/Shanghai), e.g. "2027-01-07".',
        serialize=datetime.date.isoformat,
        parse_value=datetime.date.fromisoformat,
    ),
    datetime.datetime: strawberry.scalar(
        name="DateTime",
        description=(
            "A point in time: RFC 3339 in UTC with milliseconds, always the same shape, e.g. "
            '"2026-12-07T08:30:00.000Z". JavaScript\'s new Date(text) reads it.'
        ),
        serialize=_timestamp,
        parse_value=_parse_timestamp,
    ),
    Decimal: strawberry.scalar(
        name="Decimal",
        description=(
            'An exact decimal number as a string, e.g. "1000.00". Money has two decimals; rates '
            "such as an APR are percentages with two decimals. Inputs are strings of plain "
            'decimals ("1000", "1000.5", "1000.50"): an exponent ("1e3"), spaces, separators '
            "or a JSON number are refused with a VALIDATION error."
        ),
        serialize=_serialize,
        parse_value=_parse,
    )
}
