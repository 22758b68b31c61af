"""The shapes executor (:mod:`api.schema.execution`) leans on graphql-core's and Strawberry's
execution internals (which is why ``pyproject.toml`` pins their minor versions). Whatever it
shortcuts, the answers must be those of Strawberry's stock execution: here every query document
the mini-program ships, and documents generated from the schema, are run both ways for one
signed-in user with real data (cards at the sandbox banks, a withdrawal in the history) and the
two answers compared, errors included."""

from __future__ import annotations

from pathlib import Path

import hypothesis_graphql
import pytest
from graphql import OperationType, parse
from hypothesis import HealthCheck, given, settings
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from api.schema import schema as exported
from api.schema.execution import ExecutionContext
from tests.api.flow import User
from tests.http.test_fuzz import SCALARS

DOCUMENTS = sorted(
    (Path(__file__).resolve().parents[2] / "clients" / "miniprogram" / "documents").glob(
        "*.graphql"
    )
)


def _queries() -> list[Path]:
    found = []
    for path in DOCUMENTS:
        (operation,) = parse(path.read_text()).definitions[:1]
        if operation.operation is OperationType.QUERY:
            found.append(path)
    return found


@pytest.fixture
async def viewer(client, app):
    """A user with cards at the sandbox banks and a withdrawal in their history, and the
    app's schema."""
    user = await User.sign_in(client, "twice")
    quote = await user.quote("CEB", "1200.00", "SINGLE_MONTH", 1)
    withdrawal = await user.withdraw(quote)
    assert withdrawal["__typename"] == "Withdrawal", withdrawal
    endpoint = next(r.endpoint for r in app.routes if getattr(r, "path", "") == "/graphql")
    return user, endpoint.schema, withdrawal["id"]


def _same_request(body: dict) -> dict:
    """``body`` without what differs from one request to the next: the request id."""
    for error in body.get("errors", []):
        (error.get("extensions") or {}).pop("requestId", None)
    return body


async def _both(user: User, schema, document: str, variables: dict | None = None):
    assert schema.execution_context_class is ExecutionContext
    shapes = await user.q(document, variables)
    try:
        schema.execution_context_class = StrawberryGraphQLCoreExecutionContext
        stock = await user.q(document, variables)
    finally:
        schema.execution_context_class = ExecutionContext
    return _same_request(shapes), _same_request(stock)


def test_the_shipped_documents_include_queries():
    assert len(_queries()) >= 4, [p.name for p in DOCUMENTS]


@pytest.mark.parametrize("path", _queries(), ids=lambda p: p.stem)
async def test_a_shipped_query_answers_the_same_both_ways(viewer, path):
    user, schema, withdrawal_id = viewer
    variables = {
        "channel": "ALIPAY",
        "code": "CEB",
        "id": withdrawal_id,
        "first": 10,
        "after": None,
    }
    document = path.read_text()
    wanted = {v.variable.name.value for v in parse(document).definitions[0].variable_definitions}
    shapes, stock = await _both(user, schema, document, {k: variables[k] for k in wanted})
    assert shapes == stock
    assert "errors" not in shapes, shapes  # the comparison is of real answers


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(document=hypothesis_graphql.queries(exported.as_str(), custom_scalars=SCALARS))
async def test_a_generated_query_answers_the_same_both_ways(viewer, document):
    user, schema, _ = viewer
    shapes, stock = await _both(user, schema, document)
    assert shapes == stock
