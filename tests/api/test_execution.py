"""The direct path for plain scalar fields gives what graphql-core's own path gives."""

from __future__ import annotations

from decimal import Decimal as D
from enum import Enum

import pytest
import strawberry
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from api.schema.execution import ExecutionContext
from api.schema.scalars import SCALARS, Decimal
from tests.api.flow import User
from tests.api.test_withdrawals import OFFERS


@strawberry.enum
class Kind(Enum):
    A = "A"
    B = "B"


@strawberry.type
class Price:
    amount: Decimal
    currency: str


@strawberry.type
class Thing:
    name: str
    maybe: str | None
    kind: Kind
    amount: Decimal
    count: int
    price: Price
    discount: Price | None

    @strawberry.field
    def shout(self) -> str:
        return self.name.upper()


CNY = Price(amount=D("12.00"), currency="CNY")


@strawberry.type
class Query:
    @strawberry.field
    def things(self) -> list[Thing]:
        return [
            Thing(
                name="one",
                maybe=None,
                kind=Kind.A,
                amount=D("1.50"),
                count=1,
                price=CNY,
                discount=None,
            ),
            Thing(
                name="two",
                maybe="yes",
                kind=Kind.B,
                amount=D("0.0005"),
                count=2,
                price=CNY,
                discount=Price(amount=D("0.10"), currency="CNY"),
            ),
        ]

    @strawberry.field
    def broken(self) -> list[Thing]:
        # A null where the schema promises a value, an unknown enum, an int too large.
        return [
            Thing(
                name=None,
                maybe=None,
                kind=Kind.A,
                amount=D("1"),
                count=1,
                price=None,  # type: ignore[arg-type]
                discount=Price(amount=None, currency="CNY"),
            ),  # type: ignore[arg-type]
            Thing(
                name="x",
                maybe=None,
                kind="C",
                amount=D("1"),
                count=2**40,
                price=CNY,  # type: ignore[arg-type]
                discount=Price(amount=D("1"), currency=None),
            ),  # type: ignore[arg-type]
        ]


def run(context_class, query: str) -> tuple:
    schema = strawberry.Schema(
        query=Query,
        config=strawberry.schema.config.StrawberryConfig(scalar_map=SCALARS),
        execution_context_class=context_class,
    )
    result = schema.execute_sync(query)
    errors = sorted((e.message, tuple(e.path or ())) for e in result.errors or [])
    return result.data, errors


@pytest.mark.parametrize(
    "query",
    [
        "{ things { name maybe kind amount count shout } }",
        "{ things { n: name ... on Thing { kind } } }",
        "{ broken { name } }",
        "{ broken { kind count } }",
        "{ broken { maybe } things { name } }",
        "{ things { price { amount currency } discount { amount } } }",
        "{ things { price { ... on Price { amount } } d: discount { c: currency } } }",
        # A null object where one is promised; a null inside an object, which empties it.
        "{ broken { name price { amount } } }",
        "{ broken { discount { amount currency } } }",
        "{ broken { count discount { currency } } things { price { amount } } }",
    ],
)
def test_the_direct_path_answers_like_graphql_core(query):
    assert run(ExecutionContext, query) == run(StrawberryGraphQLCoreExecutionContext, query)


async def test_a_page_is_the_same_both_ways(client, app):
    user = await User.sign_in(client, "ursula")
    schema = next(r.endpoint for r in app.routes if getattr(r, "path", "") == "/graphql").schema
    assert schema.execution_context_class is ExecutionContext
    fast = await user.q(OFFERS)
    try:
        schema.execution_context_class = StrawberryGraphQLCoreExecutionContext
        generic = await user.q(OFFERS)
    finally:
        schema.execution_context_class = ExecutionContext
    assert fast == generic and "errors" not in fast
