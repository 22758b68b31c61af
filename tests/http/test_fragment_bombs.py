"""Documents whose size explodes through fragments are refused on their expanded size.

A few hundred tokens of fragments, each spreading the next several times, stand for millions
of fields. Each shape below (spreads doubled and tripled, at query level and inside an object's
selection, with aliases, in inline fragments) is refused with QUERY_TOO_COMPLEX before
validation and execution, over HTTP and over the WebSocket, while the server keeps answering
``/healthz``; the same shapes at a few levels, within the limits, still run.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time

import httpx
import pytest
import websockets
from graphql import parse

from api.schema.limits import DocumentLimits, Figures, figures
from bench.documents import SHAPES, doubled, in_object
from tests.servers import ServerProcess, server_env

GQL = "application/graphql-response+json"


def _figures(document: str) -> Figures:
    (only,) = figures(parse(document)).values()
    return only


def test_figures_count_every_spread_once_computed():
    assert _figures("{ banks(channel: WECHAT) { code name } }") == Figures(1, 0, 3)
    # Fragment F is spread three times: counted three times, computed once.
    three = '{ a: bank(code: "X", channel: WECHAT) { ...F } ...Q } fragment F on Bank { code n: name } fragment Q on Query { b: banks(channel: WECHAT) { ...F ...F } }'
    assert _figures(three) == Figures(depth=1, aliases=2 + 3, fields=2 + 3 * 2)
    # Inline fragments add no depth; introspection fields add none either.
    inline = "{ ... on Query { banks(channel: WECHAT) { ... on Bank { code } } } __schema { types { name } } }"
    assert _figures(inline) == Figures(depth=1, aliases=0, fields=5)
    # Doubling: level i expands to 2 * level(i+1) + 2 fields.
    assert _figures(doubled(3)).fields == 2 * (2 * 2 + 2) + 2
    assert _figures(doubled(30)).fields > 2**30


def test_figures_survive_cycles_and_unknown_fragments():
    # Validation refuses both; the count must only not loop or fail.
    cycle = "{ ...A } fragment A on Query { ...B __typename } fragment B on Query { ...A }"
    assert _figures(cycle).fields == 1
    assert _figures("{ ...Nowhere }") == Figures()


def test_limits_are_inclusive():
    limits = DocumentLimits(max_depth=2, max_aliases=1, max_fields=3)
    assert limits.check(parse("{ banks(channel: WECHAT) { code name } }")) == []
    (error,) = limits.check(parse("{ banks(channel: WECHAT) { code name bankCode: code } }"))
    assert error.extensions == {"code": "QUERY_TOO_COMPLEX", "limit": "fields", "max": 3}


@pytest.mark.parametrize("shape", sorted(SHAPES))
async def test_every_shape_is_refused_over_http(client, shape):
    for levels in (12, 20, 40):
        document = SHAPES[shape](levels)
        response = await client.post("/graphql", json={"query": document}, headers={"accept": GQL})
        assert response.status_code == 400, response.text
        body = response.json()
        assert "data" not in body
        codes = {e["extensions"]["code"] for e in body["errors"]}
        assert codes == {"QUERY_TOO_COMPLEX"}, body
        assert all(e["extensions"]["requestId"] for e in body["errors"])


async def test_a_few_levels_within_the_limits_still_run(client):
    # Fragments reused a few times are ordinary documents and answer as before.
    response = await client.post("/graphql", json={"query": doubled(4)})
    assert "errors" not in response.json(), response.text
    assert {b["code"] for b in response.json()["data"]["banks"]} >= {"CEB"}
    response = await client.post("/graphql", json={"query": in_object(5)})
    banks = response.json()["data"]["banks"]
    assert banks and all(set(b) == {"code", "name"} for b in banks)


async def test_the_field_limit_is_a_setting(serve):
    # doubled(6) expands to 126 fields: refused under 100, answered under 200.
    assert _figures(doubled(6)).fields == 126
    async with serve(graphql_max_fields=100) as client:
        response = await client.post("/graphql", json={"query": doubled(6)})
        (error,) = response.json()["errors"]
        assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
        assert "100 fields" in error["extensions"]["detail"]
    async with serve(graphql_max_fields=200) as client:
        response = await client.post("/graphql", json={"query": doubled(6)})
        assert "errors" not in response.json()


async def test_depth_and_aliases_hidden_in_fragments_are_counted_expanded(serve):
    # One alias per level, spread twice a level: 2^6 - 1 aliases behind 6 written ones.
    async with serve(graphql_max_aliases=15, graphql_max_fields=10_000) as client:
        aliased = SHAPES["aliased"](6)
        response = await client.post("/graphql", json={"query": aliased})
        (error,) = response.json()["errors"]
        assert error["extensions"]["limit"] == "aliases"


@pytest.fixture
def prod_server(database_url, tmp_path):
    env = server_env(
        database_url, tmp_path / "data", env="prod", simulated_banks="true", log_level="INFO"
    )
    subprocess.run(
        [sys.executable, "-m", "api.cli", "seed"],
        env=env,
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    with ServerProcess(env, tmp_path) as server:
        yield server


async def _over_websocket(url: str, document: str) -> dict:
    ws_url = url.replace("http://", "ws://") + "/graphql"
    async with websockets.connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": document}}))
        return json.loads(await asyncio.wait_for(ws.recv(), 10))


async def test_a_real_server_refuses_every_shape_and_keeps_answering_healthz(prod_server):
    """The reported document (30 levels) and every other shape, over HTTP and the WebSocket,
    sent together while /healthz is asked every 50 ms: every probe answers (within 2 s, a
    liveness bound), every document is refused, and the server then stops on SIGTERM."""
    url = prod_server.url
    done = asyncio.Event()
    probes: list[float] = []

    async def probe(client: httpx.AsyncClient) -> None:
        while not done.is_set():
            started = time.monotonic()
            response = await client.get("/healthz", timeout=2)
            assert response.status_code == 200
            probes.append(time.monotonic() - started)
            await asyncio.sleep(0.05)

    async def over_http(client: httpx.AsyncClient, document: str) -> list[dict]:
        response = await client.post("/graphql", json={"query": document}, timeout=10)
        return response.json()["errors"]

    documents = [SHAPES[shape](levels) for shape in sorted(SHAPES) for levels in (20, 30)]
    async with httpx.AsyncClient(base_url=url) as client, httpx.AsyncClient(base_url=url) as hc:
        prober = asyncio.create_task(probe(hc))
        results = await asyncio.gather(
            *(over_http(client, d) for d in documents),
            *(_over_websocket(url, d) for d in documents),
        )
        done.set()
        await prober
    http, ws = results[: len(documents)], results[len(documents) :]
    for errors in http:
        assert {e["extensions"]["code"] for e in errors} == {"QUERY_TOO_COMPLEX"}, errors
    for message in ws:
        assert message["type"] == "error", message
        assert {e["extensions"]["code"] for e in message["payload"]} == {"QUERY_TOO_COMPLEX"}
    assert probes, "healthz was never answered"
    prod_server.stop()
    assert prod_server.process.returncode is not None
