"""The direct paths (plain fields, whole objects by their shape) give what graphql-core's own
path gives."""

from __future__ import annotations

import gc
from decimal import Decimal as D
from enum import Enum
from typing import Annotated

import pytest
import strawberry
from strawberry.extensions import ParserCache
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from api.schema.execution import _SHAPES, ExecutionContext, immutable, prefetched
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

    tags: list[str] = strawberry.field(default_factory=list)
    history: list[Price | None] | None = None

    @strawberry.field
    def shout(self) -> str:
        return self.name.upper()


@strawberry.type
class Missing:
    reason: str


Found = Annotated[Thing | Missing, strawberry.union("Found")]


CNY = Price(amount=D("12.00"), currency="CNY")


def things() -> list[Thing]:
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
            tags=["x", "y"],
            history=[CNY, None],
        ),
    ]


def broken() -> list[Thing]:
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
            tags=["ok", None],  # type: ignore[list-item]
            history=[Price(amount=D("1"), currency=None)],  # type: ignore[arg-type]
        ),  # type: ignore[arg-type]
    ]


@immutable
@strawberry.type
class Sealed:
    name: str
    price: Price
    prices: list[Price]


SEALED = Sealed(name="kept", price=CNY, prices=[CNY, Price(amount=D("3.00"), currency="CNY")])
BROKEN_SEALED = Sealed(name=None, price=CNY, prices=[])  # type: ignore[arg-type]


@strawberry.interface
class Problem:
    code: str


@strawberry.type
class Refusal(Problem):
    reason: str | None


Answer = Annotated[Thing | Missing | Refusal, strawberry.union("Answer")]
UNSET = object()
RESOLVED: list[str] = []


@strawberry.type
class Holder:
    label: str
    _answer: strawberry.Private[object] = UNSET

    @strawberry.field
    @prefetched("_answer", UNSET)
    def answer(self) -> Answer | None:
        RESOLVED.append(self.label)
        if self._answer is not UNSET:
            return self._answer  # type: ignore[return-value]
        return Missing(reason=f"resolved for {self.label}")


def holders() -> list[Holder]:
    made = [Holder(label=str(n)) for n in range(6)]
    made[0]._answer = things()[1]
    made[1]._answer = Refusal(code="NO", reason=None)
    made[2]._answer = None
    made[3]._answer = broken()[0]  # a null name: graphql-core reports it
    made[4]._answer = "not a member"  # graphql-core reports that too
    return made  # made[5] is not prefetched: its resolver runs


@strawberry.type
class Query:
    things: list[Thing] = strawberry.field(resolver=things)
    holders: list[Holder] = strawberry.field(resolver=holders)

    @strawberry.field
    def sealed(self) -> list[Sealed | None]:
        return [SEALED, BROKEN_SEALED, SEALED]

    broken: list[Thing] = strawberry.field(resolver=broken)

    @strawberry.field
    def found(self) -> list[Found]:
        return [*things(), Missing(reason="gone"), *broken()]


def schema_with(context_class) -> strawberry.Schema:
    return strawberry.Schema(
        query=Query,
        config=strawberry.schema.config.StrawberryConfig(scalar_map=SCALARS),
        execution_context_class=context_class,
        # As the service's schema: the same query text brings back the same parsed document.
        extensions=[lambda: ParserCache(maxsize=16)],
    )


def answer(schema: strawberry.Schema, query: str, variables: dict | None = None) -> tuple:
    result = schema.execute_sync(query, variable_values=variables)
    errors = sorted((e.message, tuple(e.path or ())) for e in result.errors or [])
    return result.data, errors


def run(context_class, query: str) -> tuple:
    return answer(schema_with(context_class), query)


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
        # Lists of leaves and of objects, with nulls where they are allowed and where not.
        "{ things { tags history { amount currency } } }",
        "{ broken { tags } }",
        "{ broken { history { currency } } }",
        # Union members, whole, with __typename and fragments, next to members that fail.
        "{ found { __typename ... on Thing { name price { amount } history { amount } } "
        "... on Missing { reason } } }",
        "{ found { ... F } } fragment F on Thing { kind tags discount { currency } }",
        # A selected field with a resolver: the object takes graphql-core's path.
        "{ found { ... on Thing { name shout } } }",
        # Prefetched union fields, read without their resolver unless unset.
        "{ holders { label answer { __typename ... on Thing { name tags price { amount } } "
        "... on Problem { code } ... on Refusal { reason } ... on Missing { reason } } } }",
        "{ holders { answer { ... on Missing { reason } } } }",
    ],
)
def test_the_direct_path_answers_like_graphql_core(query):
    expected = run(StrawberryGraphQLCoreExecutionContext, query)
    schema = schema_with(ExecutionContext)
    # The second time, the shapes come from the previous request.
    assert answer(schema, query) == expected
    assert answer(schema, query) == expected


def test_a_prefetched_field_runs_its_resolver_only_when_unset():
    RESOLVED.clear()
    answer(schema_with(ExecutionContext), "{ holders { answer { __typename } } }")
    # The unset one, and the one whose value is not of the union (graphql-core's path,
    # which calls the resolver, reports it).
    assert RESOLVED == ["4", "5"]


def test_a_shape_is_remembered_for_the_same_query_only_when_no_directive_changes_it():
    schema = schema_with(ExecutionContext)
    static = "{ found { ... on Thing { name tags price { amount currency } } } }"
    answer(schema, static)
    shapes = _SHAPES[schema._schema]
    remembered = len(shapes)
    assert remembered and any(shape is not None for _, shape in shapes.values())
    answer(schema, static)
    assert len(shapes) == remembered  # found again, not built again

    generic = schema_with(StrawberryGraphQLCoreExecutionContext)
    varying = """query($price: Boolean!, $tags: Boolean!) { found { ... on Thing {
        name tags @include(if: $tags) price @skip(if: $price) { amount } } } }"""
    for price in (True, False, True):
        for tags in (False, True):
            variables = {"price": price, "tags": tags}
            assert answer(schema, varying, variables) == answer(generic, varying, variables)
    assert len(shapes) == remembered  # shapes under directives live for one request


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


def test_an_immutable_object_is_completed_once_per_selection():
    schema = schema_with(ExecutionContext)
    generic = schema_with(StrawberryGraphQLCoreExecutionContext)
    query = "{ sealed { name price { amount } prices { currency amount } } }"
    first = schema.execute_sync(query)
    second = schema.execute_sync(query)
    assert (first.data, first.errors and len(first.errors)) == (
        generic.execute_sync(query).data,
        1,  # the broken one's null name, in its own place, as graphql-core reports it
    )
    assert second.data == first.data
    # The same object selected the same way: one completed answer, in every place.
    kept = first.data["sealed"][0]
    assert kept is first.data["sealed"][2] is second.data["sealed"][0]
    # Selected another way, it answers that selection.
    other = "{ sealed { n: name prices { amount } } }"
    assert answer(schema, other) == answer(generic, other)


async def test_a_page_leaves_nothing_for_the_cycle_collector(client, app):
    # Objects in reference cycles wait for the collector, whose passes then grow with the
    # load; a request's objects must be freed as soon as its answer is sent.
    user = await User.sign_in(client, "gideon")
    await user.q(OFFERS)
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        answer = await user.q(OFFERS)
        gc.collect()
        ours = ("api.", "graphql.", "strawberry.")
        left = {type(o).__qualname__ for o in gc.garbage if type(o).__module__.startswith(ours)}
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert "errors" not in answer
    assert left == set()
