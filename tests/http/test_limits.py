"""Hostile documents and bodies are refused before execution, quickly, with a clear error."""

from __future__ import annotations

import time

from tests.api.flow import User

GQL = "application/graphql-response+json"
WITHDRAWALS = "{ viewer { withdrawals(first: %d) { edges { node { id } } } } }"


def _error(response) -> dict:
    body = response.json()
    assert "data" not in body, body
    return body["errors"][0]


async def test_depth_limit(serve):
    deep = "{ viewer { withdrawals { edges { node { bank { code } } } } } }"  # depth 5: leaves do not count
    async with serve(graphql_max_depth=4) as client:
        response = await client.post("/graphql", json={"query": deep}, headers={"accept": GQL})
        assert response.status_code == 400
        assert "exceeds maximum operation depth of 4" in _error(response)["extensions"]["detail"]
        assert _error(response)["extensions"]["code"] == "QUERY_TOO_COMPLEX"
        assert _error(response)["extensions"]["limit"] == "depth"
        # Fragments do not hide depth.
        hidden = (
            "query { viewer { ...V } } fragment V on Viewer { withdrawals { ...C } } "
            "fragment C on WithdrawalConnection { edges { node { bank { code } } } }"
        )
        response = await client.post("/graphql", json={"query": hidden}, headers={"accept": GQL})
        assert response.status_code == 400
    async with serve(graphql_max_depth=5) as client:
        response = await client.post("/graphql", json={"query": deep}, headers={"accept": GQL})
        assert response.status_code == 200


async def test_alias_flood(client):
    def aliased(n: int) -> str:
        return "{ " + " ".join(f"a{i}: banks(channel: ALIPAY) {{ code }}" for i in range(n)) + " }"

    response = await client.post("/graphql", json={"query": aliased(15)})
    assert len(response.json()["data"]) == 15
    flood = "{ " + " ".join(f"a{i}: __typename" for i in range(300)) + " }"
    response = await client.post("/graphql", json={"query": flood}, headers={"accept": GQL})
    assert response.status_code == 400
    assert "aliases" in _error(response)["extensions"]["detail"]


async def test_token_flood_stops_the_parser(client):
    document = "{ " + "__typename " * 5000 + "}"
    started = time.perf_counter()
    response = await client.post("/graphql", json={"query": document}, headers={"accept": GQL})
    assert response.status_code == 400
    assert "tokens" in _error(response)["extensions"]["detail"]
    assert time.perf_counter() - started < 1.0


async def test_oversized_bodies_are_413_before_being_read(serve):
    async with serve(max_body_bytes=4096) as client:
        big = {"query": "{ __typename }", "variables": {"x": "a" * 5000}}
        response = await client.post("/graphql", json=big)
        assert response.status_code == 413
        assert _error(response)["extensions"]["code"] == "PAYLOAD_TOO_LARGE"

        async def chunks():  # no Content-Length: counted as it streams
            for _ in range(100):
                yield b" " * 1024

        response = await client.post(
            "/graphql", content=chunks(), headers={"content-type": "application/json"}
        )
        assert response.status_code == 413
        response = await client.post("/callbacks/CEB", content=b"x" * 5000)
        assert response.status_code == 413
        response = await client.post(
            "/graphql",
            content=b"{}",
            headers={"content-type": "application/json", "content-length": "abc"},
        )
        assert response.status_code == 400
        response = await client.post("/graphql", json={"query": "{ __typename }"})
        assert response.status_code == 200


async def test_huge_strings_within_the_body_limit_get_a_typed_answer(client):
    code = "x" * 60_000
    response = await client.post(
        "/graphql",
        json={
            "query": "mutation($c: String!) { login(input: {channel: WECHAT, code: $c}) "
            "{ __typename ... on Error { code } } }",
            "variables": {"c": code},
        },
    )
    assert response.status_code == 200
    assert response.json()["data"]["login"]["__typename"] != "LoginSuccess"
    assert code not in response.text


async def test_page_size_is_capped(client):
    user = await User.sign_in(client, "pager")
    body = await user.q(WITHDRAWALS % 50)
    assert body["data"]["viewer"]["withdrawals"]["edges"] == []
    for size in (51, 0, -1, 10_000):
        body = await user.q(WITHDRAWALS % size)
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", size
