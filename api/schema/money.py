"""Money as clients see it."""

from __future__ import annotations

from decimal import Decimal as D

import strawberry

from api.schema.scalars import Decimal


@strawberry.type(description="An amount of money: exact, with two decimals, in a currency.")
class Money:
    amount: Decimal = strawberry.field(description='The amount, e.g. "1000.00".')
    currency: str = strawberry.field(description='ISO 4217 currency code: "CNY".')

    @classmethod
    def cny(cls, amount: D) -> Money:
        return cls(amount=amount.quantize(_CENT), currency="CNY")


_CENT = D("0.01")
ZERO = D("0.00")
