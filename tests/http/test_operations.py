"""A document with several operations runs only the one the request names: with none named it
is refused as the GraphQL specification says (OPERATION_NOT_FOUND), never the first one run
by default, and nothing changes."""

from __future__ import annotations

import pytest

from tests.api.flow import QUOTE, User

TWO_QUERIES = "query A { banks(channel: WECHAT) { code } } query B { __typename }"
QUERY_AND_MUTATION = "query A { __typename } mutation B { logout { __typename } }"
QUOTE_TWICE = QUOTE.replace("mutation(", "mutation First(", 1) + "\n" + QUOTE.replace(
    "mutation(", "mutation Second(", 1
)


@pytest.mark.parametrize(
    ("document", "code"),
    [
        (TWO_QUERIES, "OPERATION_NOT_FOUND"),
        (QUERY_AND_MUTATION, "OPERATION_NOT_FOUND"),
        # An anonymous operation must be alone: graphql-core's validation says so first.
        ("{ __typename } mutation B { logout { __typename } }", "GRAPHQL_VALIDATION_FAILED"),
    ],
    ids=["two queries", "query and mutation", "anonymous and named"],
)
async def test_several_operations_and_none_named_are_refused(client, document, code):
    user = await User.sign_in(client, "several")
    body = await user.q(document)
    assert "data" not in body or body["data"] is None, body
    (error,) = body["errors"]
    assert error["extensions"]["code"] == code
    assert error["message"] and "operation" in error["extensions"]["detail"]
    # The session is still there: logout (in the second document) did not run.
    assert (await user.q("{ viewer { id } }"))["data"]["viewer"]["id"]


async def test_two_quotes_unnamed_create_none_and_named_create_one(client):
    user = await User.sign_in(client, "twice-quoted")
    credit, _ = await user.cards()
    variables = {
        "input": {
            "bankCode": "CEB",
            "creditCardId": credit["CEB"]["id"],
            "amount": "1000.00",
            "repaymentType": "SINGLE_MONTH",
            "periods": 1,
        }
    }
    refused = await user.q(QUOTE_TWICE, variables)
    assert refused["errors"][0]["extensions"]["code"] == "OPERATION_NOT_FOUND"
    named = await user.client.post(
        "/graphql",
        json={"query": QUOTE_TWICE, "variables": variables, "operationName": "Second"},
        headers=user.headers,
    )
    assert named.json()["data"]["createQuote"]["__typename"] == "Quote"


async def test_one_operation_needs_no_name(client):
    body = (await client.post("/graphql", json={"query": "query Only { __typename }"})).json()
    assert body == {"data": {"__typename": "Query"}}
