"""Fuzzing: documents generated from the schema (valid ones, and ones with one violation),
and arbitrary bodies, content types and headers. None may get a server error."""

from __future__ import annotations

import json
import os
import string

import graphql
import hypothesis_graphql
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode

from api.schema import schema
from tests.api.flow import User

SDL = schema.as_str()
# CARDCASH_FUZZ_EXAMPLES=2000 for a long run; the suite's default keeps it to seconds.
FUZZ = settings(
    max_examples=int(os.environ.get("CARDCASH_FUZZ_EXAMPLES", "50")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _string_node(strategy):
    return strategy.map(lambda s: graphql.StringValueNode(value=s))


SCALARS = {
    "Decimal": _string_node(
        st.one_of(
            st.decimals(allow_nan=False, allow_infinity=False, places=2).map(str),
            st.text(max_size=40),
        )
    ),
    "Date": _string_node(st.one_of(st.dates().map(str), st.text(max_size=20))),
    "DateTime": _string_node(
        st.one_of(st.datetimes().map(lambda d: d.isoformat()), st.text(max_size=30))
    ),
}


@pytest.fixture
async def fuzz_client(serve):
    """A dev app with limits out of the way, and a signed-in user's token."""
    async with serve(
        rate_login_per_minute=10**6,
        rate_money_per_minute=10**6,
        rate_address_per_minute=10**6,
    ) as client:
        user = await User.sign_in(client, "fuzzer")
        client.headers.update(user.headers)
        yield client


def _assert_no_server_error(response) -> None:
    assert response.status_code < 500, response.text
    assert "Traceback" not in response.text
    assert "INTERNAL_SERVER_ERROR" not in response.text, response.text
    response.json()  # always a JSON body


@FUZZ
@given(
    document=st.one_of(
        hypothesis_graphql.queries(SDL, custom_scalars=SCALARS),
        hypothesis_graphql.mutations(SDL, custom_scalars=SCALARS),
    )
)
async def test_valid_documents_never_get_a_server_error(fuzz_client, document):
    _assert_no_server_error(await fuzz_client.post("/graphql", json={"query": document}))


@FUZZ
@given(
    document=st.one_of(
        hypothesis_graphql.queries(SDL, custom_scalars=SCALARS, mode=Mode.NEGATIVE),
        hypothesis_graphql.mutations(SDL, custom_scalars=SCALARS, mode=Mode.NEGATIVE),
    )
)
async def test_invalid_documents_are_refused_cleanly(fuzz_client, document):
    response = await fuzz_client.post("/graphql", json={"query": document})
    _assert_no_server_error(response)


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
KEYS = st.sampled_from(["query", "variables", "operationName", "extensions", "x"])


@FUZZ
@given(
    body=st.one_of(
        st.binary(max_size=300),
        st.dictionaries(KEYS, JSON, max_size=4).map(lambda d: json.dumps(d).encode()),
        JSON.map(lambda d: json.dumps(d).encode()),
    ),
    content_type=st.sampled_from(
        [
            "application/json",
            "application/json; charset=utf-8",
            "text/plain",
            "",
            "multipart/form-data",
        ]
    ),
    accept=st.sampled_from(
        ["", "*/*", "application/graphql-response+json", "text/html", "application/json;q=0"]
    ),
    method=st.sampled_from(["POST", "GET", "PUT", "DELETE"]),
)
async def test_arbitrary_requests_get_4xx_or_an_answer(
    fuzz_client, body, content_type, accept, method
):
    headers = {"content-type": content_type, "accept": accept}
    response = await fuzz_client.request(method, "/graphql", content=body, headers=headers)
    assert response.status_code < 500, response.text
    assert "Traceback" not in response.text


@FUZZ
@given(
    query=st.text(alphabet=string.printable + "{}()[]:$@!…中", max_size=200),
    variables=st.one_of(st.none(), st.dictionaries(st.text(max_size=8), JSON, max_size=3)),
    operation=st.one_of(st.none(), st.text(max_size=10)),
)
async def test_garbage_documents_and_variables(fuzz_client, query, variables, operation):
    payload = {"query": query, "variables": variables, "operationName": operation}
    _assert_no_server_error(await fuzz_client.post("/graphql", json=payload))
    params = {"query": query, "operationName": operation or ""}
    _assert_no_server_error(await fuzz_client.get("/graphql", params=params))
