"""The error contract as a front end on the npm ``graphql-ws`` client meets it over the socket:
every error comes as GraphQL errors on the operation it belongs to, each with
``extensions.code``, and a bad document never ends the connection's other operations."""

from __future__ import annotations

import json

from tests.js.conftest import HERE
from tests.node import run_node

#: A document refused before it runs, and the code of its error.
REFUSED = {
    "syntax error": ("{ banks(channel: WECHAT) { code }", "GRAPHQL_PARSE_FAILED"),
    "unterminated string": (
        'subscription { withdrawal(id: "wdr_x) { id } }',
        "GRAPHQL_PARSE_FAILED",
    ),
    "token flood": ("{ " + "__typename " * 2100 + "}", "GRAPHQL_PARSE_FAILED"),
    "alias flood": (
        "{ " + " ".join(f"a{i}: __typename" for i in range(16)) + " }",
        "QUERY_TOO_COMPLEX",
    ),
    "unknown field": ("{ nope }", "GRAPHQL_VALIDATION_FAILED"),
    "wrong enum value": ("{ banks(channel: MARS) { code } }", "GRAPHQL_VALIDATION_FAILED"),
}
BANKS = "query Banks { banks(channel: WECHAT) { code } }"


def _contract(server, connections: dict, cases: list[dict]) -> dict:
    given = {"connections": connections, "cases": cases}
    outcome = run_node(HERE / "error_contract.mjs", server.url, json.dumps(given), timeout=120)
    assert outcome["ok"], outcome
    return outcome


def _codes(result: dict) -> list[str]:
    assert result["end"] == "error", result
    return [e["extensions"]["code"] for e in result["errors"]]


def test_a_bad_document_is_an_error_of_its_operation_and_the_socket_goes_on(server):
    cases = [
        {"name": name, "connection": "anonymous", "request": {"query": query}}
        for name, (query, _code) in REFUSED.items()
    ]
    cases.append({"name": "after them", "connection": "anonymous", "request": {"query": BANKS}})
    outcome = _contract(server, {"anonymous": {}}, cases)
    results = outcome["results"]
    for name, (_query, code) in REFUSED.items():
        assert _codes(results[name]) == [code], (name, results[name])
        assert results[name]["seen"] == []
        error = results[name]["errors"][0]
        assert error["message"] and error["extensions"]["requestId"], error
    assert results["after them"]["end"] == "complete"
    assert results["after them"]["seen"][0]["data"]["banks"]
    # One socket for all of them, never closed by the server.
    assert outcome["sockets"]["anonymous"] == {"opened": 1, "closed": []}
