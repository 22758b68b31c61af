"""GraphQL over HTTP as the specification and standard clients expect it."""

from __future__ import annotations

import json

GQL = "application/graphql-response+json"
BANKS = "{ banks(channel: ALIPAY) { code } }"
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


async def test_post_json_answers_json_by_default(client):
    response = await client.post("/graphql", json={"query": BANKS})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert [b["code"] for b in response.json()["data"]["banks"]]


async def test_graphql_response_media_type_when_the_client_prefers_it(client):
    accept = f"{GQL}, application/json;q=0.9"
    response = await client.post("/graphql", json={"query": BANKS}, headers={"accept": accept})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(GQL)
    prefers_json = f"application/json, {GQL};q=0.5"
    response = await client.post(
        "/graphql", json={"query": BANKS}, headers={"accept": prefers_json}
    )
    assert response.headers["content-type"] == "application/json"
    response = await client.post("/graphql", json={"query": BANKS}, headers={"accept": "*/*"})
    assert response.headers["content-type"] == "application/json"


async def test_an_accept_header_allowing_neither_type_is_406(client):
    response = await client.post(
        "/graphql", json={"query": BANKS}, headers={"accept": "text/plain"}
    )
    assert response.status_code == 406
    assert response.json()["errors"][0]["extensions"]["code"] == "NOT_ACCEPTABLE"


async def test_request_errors_have_no_data_and_status_by_media_type(client):
    """Syntax, validation and variable errors: 200 under application/json, 400 under the
    GraphQL media type; no ``data`` entry either way."""
    cases = [
        {"query": "{ banks(channel: ALIPAY) { code "},
        {"query": "{ nope }"},
        {"query": "query($c: Channel!) { banks(channel: $c) { code } }", "variables": {"c": 1}},
        {"query": "query A { banks(channel: ALIPAY) { code } }", "operationName": "B"},
    ]
    for payload in cases:
        legacy = await client.post("/graphql", json=payload)
        assert legacy.status_code == 200, payload
        assert "data" not in legacy.json() and legacy.json()["errors"]
        modern = await client.post("/graphql", json=payload, headers={"accept": GQL})
        assert modern.status_code == 400, payload
        assert "data" not in modern.json() and modern.json()["errors"]


async def test_field_errors_after_execution_began_are_200_with_data(client):
    response = await client.post(
        "/graphql",
        json={"query": "{ viewer { id } }"},
        headers={"accept": GQL, "authorization": "Bearer not-a-token"},
    )
    assert response.status_code == 200
    body = response.json()
    assert "data" in body and body["data"]["viewer"] is None
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_get_runs_queries_with_json_encoded_variables_and_operation_name(client):
    document = (
        "query A($c: Channel!) { banks(channel: $c) { code } } "
        'query B { bank(code: "CEB", channel: WECHAT) { code } }'
    )
    response = await client.get(
        "/graphql",
        params={"query": document, "operationName": "A", "variables": json.dumps({"c": "WECHAT"})},
    )
    assert response.status_code == 200
    assert response.json()["data"]["banks"]
    response = await client.get("/graphql", params={"query": document, "operationName": "B"})
    assert response.json()["data"] == {"bank": {"code": "CEB"}}


async def test_mutation_over_get_is_405_even_when_named_among_queries(client):
    document = 'query Q { __typename } mutation M { login(input: {channel: WECHAT, code: "x"}) { __typename } }'
    response = await client.get("/graphql", params={"query": document, "operationName": "M"})
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"
    response = await client.get("/graphql", params={"query": document, "operationName": "Q"})
    assert response.json()["data"] == {"__typename": "Query"}


async def test_requests_that_are_not_graphql_are_400_class(client):
    cases = [
        (dict(content=b"{not json", headers={"content-type": "application/json"}), 400),
        (dict(content=b"", headers={"content-type": "application/json"}), 400),
        (dict(content=b"query=1", headers={"content-type": "text/plain"}), 415),
        (dict(content=b"{}", headers={"content-type": "application/x-www-form-urlencoded"}), 415),
        (dict(content=b"{}"), 415),
        (dict(json={}), 400),
        (dict(json="a string"), 400),
        (dict(json=42), 400),
        (dict(json={"query": 1}), 400),
        (dict(json={"query": BANKS, "variables": [1]}), 400),
        (dict(json={"query": BANKS, "variables": "x"}), 400),
        (dict(json={"query": BANKS, "operationName": 3}), 400),
        (dict(json={"query": BANKS, "extensions": []}), 400),
    ]
    for kwargs, status in cases:
        response = await client.post("/graphql", **kwargs)
        assert response.status_code == status, (kwargs, response.text)
        error = response.json()["errors"][0]
        assert error["message"] and error["extensions"]["requestId"]
    response = await client.get("/graphql", params={"query": BANKS, "variables": "{bad"})
    assert response.status_code == 400
    response = await client.get("/graphql")
    assert response.status_code == 400
    response = await client.put("/graphql", json={"query": BANKS})
    assert response.status_code == 405


async def test_subscriptions_are_not_served_over_http(client):
    response = await client.post(
        "/graphql", json={"query": 'subscription { withdrawal(id: "x") { id } }'}
    )
    assert response.status_code == 400
    assert "WebSocket" in response.json()["errors"][0]["extensions"]["detail"]


async def test_extensions_are_accepted_and_unknown_ones_ignored(client):
    response = await client.post(
        "/graphql", json={"query": BANKS, "extensions": {"somethingElse": {"a": 1}}}
    )
    assert response.status_code == 200 and response.json()["data"]["banks"]


async def test_batches_are_refused_unless_turned_on(client, serve):
    response = await client.post("/graphql", json=[{"query": BANKS}, {"query": BANKS}])
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BATCHING_DISABLED"
    async with serve(graphql_max_batch=2) as batching:
        response = await batching.post("/graphql", json=[{"query": BANKS}, {"query": "{ nope }"}])
        assert response.status_code == 200
        first, second = response.json()
        assert first["data"]["banks"] and "data" not in second
        response = await batching.post("/graphql", json=[{"query": BANKS}] * 3)
        assert response.status_code == 400
        assert response.json()["errors"][0]["extensions"]["code"] == "BATCH_TOO_LARGE"


async def test_every_response_has_a_request_id_and_security_headers(client):
    for response in [
        await client.post("/graphql", json={"query": BANKS}),
        await client.post("/graphql", content=b"{", headers={"content-type": "application/json"}),
        await client.get("/healthz"),
        await client.get("/no-such-page"),
        await client.post("/callbacks/NOPE", content=b"{}"),
    ]:
        headers = response.headers
        assert len(headers["x-request-id"]) >= 8
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"
        assert "default-src 'none'" in headers["content-security-policy"]
        assert "strict-transport-security" not in headers  # dev: no TLS in front


async def test_request_id_is_echoed_in_errors_and_a_proxy_id_is_kept(client):
    response = await client.post(
        "/graphql", json={"query": "{ nope }"}, headers={"x-request-id": "edge-7f3a9c21"}
    )
    assert response.headers["x-request-id"] == "edge-7f3a9c21"
    assert response.json()["errors"][0]["extensions"]["requestId"] == "edge-7f3a9c21"
    response = await client.post(
        "/graphql", json={"query": "{ nope }"}, headers={"x-request-id": "<script>"}
    )
    assert response.headers["x-request-id"] != "<script>"
    assert (
        response.json()["errors"][0]["extensions"]["requestId"] == response.headers["x-request-id"]
    )


async def test_cors_is_off_by_default_and_configurable(client, serve):
    preflight = {
        "origin": "https://shop.example",
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type,authorization",
    }
    response = await client.options("/graphql", headers=preflight)
    assert "access-control-allow-origin" not in response.headers
    async with serve(cors_origins=["https://shop.example"]) as cors:
        response = await cors.options("/graphql", headers=preflight)
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == "https://shop.example"
        assert "authorization" in response.headers["access-control-allow-headers"].lower()
        assert response.headers["x-content-type-options"] == "nosniff"
        response = await cors.post(
            "/graphql", json={"query": BANKS}, headers={"origin": "https://shop.example"}
        )
        assert response.headers["access-control-allow-origin"] == "https://shop.example"
        assert "x-request-id" in response.headers["access-control-expose-headers"].lower()
        response = await cors.options(
            "/graphql", headers=preflight | {"origin": "https://evil.example"}
        )
        assert response.headers.get("access-control-allow-origin") != "https://evil.example"


async def test_prod_sends_hsts_and_hides_graphiql_and_introspection(serve):
    async with serve(env="prod") as prod:
        response = await prod.get("/graphql", headers={"accept": BROWSER})
        assert response.status_code == 400
        assert response.headers["content-type"] == "application/json"
        assert response.headers["strict-transport-security"].startswith("max-age=")
        response = await prod.post("/graphql", json={"query": "{ __schema { types { name } } }"})
        assert "introspection" in response.json()["errors"][0]["extensions"]["detail"].lower()
        assert "data" not in response.json()
    async with serve(env="dev") as dev:
        response = await dev.get("/graphql", headers={"accept": BROWSER})
        assert response.status_code == 200 and "graphiql" in response.text.lower()
        response = await dev.post("/graphql", json={"query": "{ __schema { types { name } } }"})
        assert response.json()["data"]["__schema"]["types"]


async def test_json_edge_cases_are_answered_not_crashed(client):
    big = b'{"query": "query($n: Int) { __typename }", "variables": {"n": 123456789012345678901234567890}}'
    response = await client.post(
        "/graphql", content=big, headers={"content-type": "application/json"}
    )
    assert response.status_code == 200 and "errors" in response.json()  # Int out of range
    deep = (
        b'{"query": "{ __typename }", "variables": {"a": ' + b"[" * 20_000 + b"]" * 20_000 + b"}}"
    )
    response = await client.post(
        "/graphql", content=deep, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    response = await client.post(
        "/graphql", content=b'"\xff\xfe"', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
