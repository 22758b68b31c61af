"""graphql-transport-ws follows the rules of GraphQL over HTTP, against a real server.

The rules do not depend on CARDCASH_ENV; the server runs in dev because the tests sign in
with sandbox codes, which prod refuses.

A token that is present must be valid at connection_init (4403 before any ack otherwise);
mutations are refused with HTTP_REQUIRED and change nothing; queries run; the persisted-only
rule holds; every operation writes its access-log line and is counted in the metrics; a
subscription ends with UNAUTHENTICATED when its token expires.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import websockets
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)

from api import messages
from api.services.sessions import SessionTokens
from tests.api.flow import CREATE, LOGIN, QUOTE, accepted
from tests.servers import ServerProcess, server_env

SECRET = b"test-secret-key-shared-by-all-replicas-0123456789"  # tests.servers.server_env's
BANKS = "query Banks { banks(channel: WECHAT) { code } }"
VIEWER = "query Me { viewer { id } }"
WATCH = "subscription Watch($id: ID!) { withdrawal(id: $id) { id status } }"
HISTORY = "{ viewer { withdrawals(first: 50) { edges { node { id } } } } }"
ALIASES = "{ " + " ".join(f"a{i}: __typename" for i in range(16)) + " }"


def _start(database_url, tmp_path, **settings) -> ServerProcess:
    env = server_env(database_url, tmp_path / "data", log_level="INFO", **settings)
    subprocess.run(
        [sys.executable, "-m", "api.cli", "seed"],
        env=env,
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    return ServerProcess(env, tmp_path).start()


@pytest.fixture
def prod(database_url, tmp_path):
    server = _start(database_url, tmp_path)
    yield server
    server.stop()


async def _log_lines(server, wanted, count: int = 1, timeout: float = 10) -> list[dict]:
    """The server's JSON log lines once ``count`` access lines match ``wanted``: access lines
    are written in batches (CARDCASH_ACCESS_LOG_FLUSH_SECONDS, 0.5 s by default)."""
    deadline = time.monotonic() + timeout
    while True:
        lines = [json.loads(line) for line in server.output().splitlines() if line.startswith("{")]
        access = [line for line in lines if line.get("logger") == "cardcash.access"]
        if sum(1 for line in access if wanted(line)) >= count:
            return lines
        assert time.monotonic() < deadline, access
        await asyncio.sleep(0.1)


def _ws(url: str) -> str:
    return url.replace("http://", "ws://") + "/graphql"


class Socket:
    """One graphql-transport-ws connection, messages as dicts."""

    def __init__(self, ws) -> None:
        self.ws = ws
        self.ids = 0

    async def recv(self, timeout: float = 10) -> dict:
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        assert isinstance(raw, str), "graphql-transport-ws messages are text frames"
        return json.loads(raw)

    async def run(self, payload: dict, timeout: float = 10) -> list[dict]:
        """Subscribe and collect messages until this operation's complete or error."""
        self.ids += 1
        op = str(self.ids)
        await self.ws.send(json.dumps({"id": op, "type": "subscribe", "payload": payload}))
        messages = []
        while True:
            message = await self.recv(timeout)
            assert message.get("id") == op, message
            messages.append(message)
            if message["type"] in ("complete", "error"):
                return messages


async def _connect(url: str, params: dict | None = None, headers: dict | None = None):
    ws = await websockets.connect(
        _ws(url), subprotocols=["graphql-transport-ws"], additional_headers=headers
    )
    await ws.send(json.dumps({"type": "connection_init", "payload": params or {}}))
    return ws


async def _socket(url: str, params: dict | None = None, headers: dict | None = None) -> Socket:
    ws = await _connect(url, params, headers)
    socket = Socket(ws)
    assert (await socket.recv())["type"] == "connection_ack"
    return socket


async def _login(url: str, name: str) -> tuple[str, str]:
    async with httpx.AsyncClient(base_url=url) as client:
        body = (
            await client.post(
                "/graphql",
                json={
                    "query": LOGIN,
                    "variables": {"code": f"sandbox:{name}", "channel": "ALIPAY"},
                },
            )
        ).json()
    login = body["data"]["login"]
    return login["token"], login["viewer"]["id"]


def _codes(message: dict) -> list[str]:
    assert message["type"] == "error", message
    return [e["extensions"]["code"] for e in message["payload"]]


def test_the_handler_methods_replaced_are_still_strawberrys():
    # api.http.websocket replaces these internals of the pinned Strawberry: a release that
    # renames or reshapes them must fail here, not in production.
    for name in ("handle_subscribe", "run_operation", "_send_result_stream"):
        assert callable(getattr(BaseGraphQLTransportWSHandler, name)), name
    assert list(inspect.signature(BaseGraphQLTransportWSHandler.run_operation).parameters) == [
        "self",
        "operation",
    ]
    for name in ("_handle_pre_execution_error", "_reject_incremental_delivery", "forget_id"):
        assert callable(getattr(BaseGraphQLTransportWSHandler, name)), name


async def test_a_present_but_bad_token_closes_the_socket_with_4403_before_any_ack(prod):
    token, user_id = await _login(prod.url, "ws-bad-tokens")
    expired, _ = SessionTokens(SECRET, timedelta(hours=1)).issue(
        user_id, "ALIPAY", now=datetime.now(UTC) - timedelta(hours=2)
    )
    foreign, _ = SessionTokens(b"another-key-" * 4, timedelta(hours=1)).issue(user_id, "ALIPAY")
    nobody, _ = SessionTokens(SECRET, timedelta(hours=1)).issue("usr_" + "0" * 26, "ALIPAY")
    wrong_channel, _ = SessionTokens(SECRET, timedelta(hours=1)).issue(user_id, "WECHAT")
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    variants = {
        "expired": {"Authorization": f"Bearer {expired}"},
        "signed by another key": {"Authorization": f"Bearer {foreign}"},
        "tampered": {"Authorization": f"Bearer {tampered}"},
        "no such user": {"Authorization": f"Bearer {nobody}"},
        "another channel": {"Authorization": f"Bearer {wrong_channel}"},
        "garbage": {"Authorization": "Bearer not-a-token"},
        "not bearer": {"Authorization": f"Basic {token}"},
        "empty bearer": {"authorization": "Bearer "},
    }
    for what, params in variants.items():
        ws = await _connect(prod.url, params)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            message = await asyncio.wait_for(ws.recv(), 10)
            pytest.fail(f"{what}: the server sent {message!r} before closing")
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403, what
    # A good token, and no token at all, are acknowledged.
    for params in ({"Authorization": f"Bearer {token}"}, {}):
        socket = await _socket(prod.url, params)
        await socket.ws.close()


async def test_mutations_are_refused_over_the_socket_and_change_nothing(prod):
    token, _ = await _login(prod.url, "ws-mutations")
    auth = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=prod.url, headers=auth) as http:
        cards = (
            await http.post(
                "/graphql",
                json={"query": "{ viewer { creditCards { id bankCode } debitCards { id } } }"},
            )
        ).json()["data"]["viewer"]
        credit = next(c["id"] for c in cards["creditCards"] if c["bankCode"] == "CEB")
        quote_input = {
            "bankCode": "CEB",
            "creditCardId": credit,
            "amount": "2000.00",
            "repaymentType": "INSTALLMENT",
            "periods": 6,
        }
        quote = (
            await http.post("/graphql", json={"query": QUOTE, "variables": {"input": quote_input}})
        ).json()["data"]["createQuote"]
    create_input = {
        "quoteId": quote["id"],
        "debitCardId": cards["debitCards"][0]["id"],
        "purpose": "CONSUMPTION",
        "acceptedDisclosureVersion": quote["disclosure"]["version"], **accepted(quote),
        "idempotencyKey": str(uuid.uuid4()),
    }
    socket = await _socket(prod.url, auth)
    attempts = [
        {"query": LOGIN, "variables": {"code": "sandbox:ws-other", "channel": "ALIPAY"}},
        {"query": QUOTE, "variables": {"input": quote_input}},
        {"query": CREATE, "variables": {"input": create_input}},
        # Chosen by name out of a document that also holds a query.
        {
            "query": BANKS + " " + CREATE.replace("mutation(", "mutation Pay("),
            "variables": {"input": create_input},
            "operationName": "Pay",
        },
    ]
    for payload in attempts:
        (message,) = await socket.run(payload)
        assert _codes(message) == ["HTTP_REQUIRED"], message
        assert "HTTP" in message["payload"][0]["extensions"]["detail"]
        assert message["payload"][0]["message"] == messages.text("HTTP_REQUIRED")
        assert message["payload"][0]["extensions"]["requestId"]
    # The socket is still usable, and nothing was created.
    answered = await socket.run({"query": HISTORY})
    assert answered[0]["payload"] == {"data": {"viewer": {"withdrawals": {"edges": []}}}}
    assert answered[-1]["type"] == "complete"
    await socket.ws.close()


async def test_queries_run_over_the_socket_with_their_log_line_and_metrics(prod):
    token, user_id = await _login(prod.url, "ws-queries")
    socket = await _socket(prod.url, {"Authorization": f"Bearer {token}"})
    next_, complete = await socket.run({"query": BANKS, "operationName": "Banks"})
    assert "CEB" in {b["code"] for b in next_["payload"]["data"]["banks"]}
    assert complete["type"] == "complete"
    me, _ = await socket.run({"query": VIEWER})
    assert me["payload"]["data"]["viewer"]["id"] == user_id
    # A validation error is answered, not fatal, with its request id.
    (bad,) = await socket.run({"query": "{ banks(channel: WECHAT) { nope } }"})
    assert bad["type"] == "error" and bad["payload"][0]["extensions"]["requestId"]
    await socket.ws.close()
    async with httpx.AsyncClient(base_url=prod.url) as http:
        metrics = (await http.get("/metrics")).text
    counted = [
        line
        for line in metrics.splitlines()
        if line.startswith("cardcash_graphql_operations_total{")
    ]
    for name in ("Banks", "Me"):
        assert any(
            f'operation="{name}"' in line and 'outcome="ok"' in line and 'type="query"' in line
            for line in counted
        ), (name, counted)
    lines = await _log_lines(
        prod, lambda line: line.get("method") == "WS" and line["operation"] == "Me"
    )
    access = [
        line for line in lines if line.get("logger") == "cardcash.access" and line["method"] == "WS"
    ]
    by_operation = {line["operation"]: line for line in access}
    assert by_operation["Banks"]["outcome"] == "ok"
    assert by_operation["Banks"]["operation_type"] == "query"
    assert by_operation["Me"]["user_id"] == user_id
    assert any(line["outcome"] == "rejected" for line in access)
    assert all(line["route"] == "/graphql" and line["duration_ms"] >= 0 for line in access)


#: Documents refused before they run, each with the code of its ``error`` message.
REFUSED = [
    ({"query": "{ banks(channel: WECHAT) { code }"}, "GRAPHQL_PARSE_FAILED"),
    ({"query": "query {"}, "GRAPHQL_PARSE_FAILED"),
    ({"query": "}}}"}, "GRAPHQL_PARSE_FAILED"),
    ({"query": 'subscription { withdrawal(id: "wdr_x) { id } }'}, "GRAPHQL_PARSE_FAILED"),
    # Past the token limit (2000): the parser stops.
    ({"query": "{ " + "__typename " * 2100 + "}"}, "GRAPHQL_PARSE_FAILED"),
    ({"query": "query A { __typename }", "operationName": "C"}, "OPERATION_NOT_FOUND"),
    # Several operations and none named: the specification refuses to pick one.
    ({"query": "query A { __typename } query B { __typename }"}, "OPERATION_NOT_FOUND"),
    (
        {
            "query": 'subscription A { withdrawal(id: "wdr_x") { id } } '
            'subscription B { withdrawal(id: "wdr_y") { id } }'
        },
        "OPERATION_NOT_FOUND",
    ),
    ({"query": "{ " + " ".join(f"a{i}: __typename" for i in range(16)) + " }"}, "QUERY_TOO_COMPLEX"),
    ({"query": "{ nope }"}, "GRAPHQL_VALIDATION_FAILED"),
    ({"query": "{ banks(channel: MARS) { code } }"}, "GRAPHQL_VALIDATION_FAILED"),
    ({"query": "subscription { withdrawal { id } }"}, "GRAPHQL_VALIDATION_FAILED"),
    (
        {"query": "subscription($id: ID!) { withdrawal(id: $id) { id } }", "variables": {}},
        "BAD_USER_INPUT",
    ),
]


async def test_a_document_refused_before_it_runs_is_an_error_for_its_id(prod):
    # Whatever is wrong with one document, the client hears it on that operation, the socket
    # stays open for the others, and the server does not take it for its own failure.
    socket = await _socket(prod.url)
    watched = {"id": "held", "type": "subscribe", "payload": {"query": BANKS}}
    for payload, code in REFUSED:
        answered = await socket.run(payload)
        assert len(answered) == 1, (payload, answered)
        message = answered[0]
        assert _codes(message) == [code], (payload, message)
        error = message["payload"][0]
        assert error["message"] and error["extensions"]["requestId"], error
    # Still open: an operation runs on it.
    next_, complete = await socket.run({"query": BANKS})
    assert next_["payload"]["data"]["banks"] and complete["type"] == "complete"
    await socket.ws.send(json.dumps(watched))
    assert (await socket.recv())["id"] == "held"
    await socket.ws.close()
    lines = await _log_lines(
        prod, lambda line: line.get("outcome") == "rejected", len(REFUSED)
    )
    assert not [line for line in lines if line["level"] in ("ERROR", "CRITICAL")], lines
    refused = [
        line
        for line in lines
        if line.get("logger") == "cardcash.access" and line.get("outcome") == "rejected"
    ]
    assert len(refused) >= len(REFUSED)


@pytest.mark.parametrize(
    ("params", "headers", "language"),
    [
        ({}, None, "zh-CN"),  # neither says: the channels' users read Chinese
        ({"Accept-Language": "en"}, None, "en"),
        ({"accept-language": "en-US,en;q=0.9"}, None, "en"),
        ({}, {"Accept-Language": "en"}, "en"),  # the upgrade request's header
        ({"Accept-Language": "zh-CN"}, {"Accept-Language": "en"}, "zh-CN"),  # connection_init's first
        ({"Accept-Language": "fr"}, None, "zh-CN"),
    ],
)
async def test_socket_errors_speak_the_connections_language(prod, params, headers, language):
    socket = await _socket(prod.url, params, headers)
    mutation = 'mutation { login(input: {channel: WECHAT, code: "sandbox:x"}) { __typename } }'
    for payload, code in (
        ({"query": "{ banks(channel: WECHAT) { code }"}, "GRAPHQL_PARSE_FAILED"),
        ({"query": "{ nope }"}, "GRAPHQL_VALIDATION_FAILED"),
        ({"query": ALIASES}, "QUERY_TOO_COMPLEX"),
        ({"query": mutation}, "HTTP_REQUIRED"),
    ):
        (message,) = await socket.run(payload)
        assert _codes(message) == [code], message
        (error,) = message["payload"]
        assert error["message"] == messages.text(code, language), error
        assert error["extensions"]["detail"].isascii(), error
    # A field that needs a user, without a token: null and UNAUTHENTICATED, in that language.
    answer, complete = await socket.run({"query": VIEWER})
    assert answer["payload"]["data"] == {"viewer": None}
    (error,) = answer["payload"]["errors"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert error["message"] == messages.text("auth.MISSING", language)
    await socket.ws.close()


async def test_the_persisted_only_rule_holds_over_the_socket(database_url, tmp_path):
    manifest = tmp_path / "manifest.json"
    digest = hashlib.sha256(BANKS.encode()).hexdigest()
    manifest.write_text(json.dumps({digest: BANKS}))
    server = _start(
        database_url, tmp_path, persisted_only="true", persisted_queries_file=str(manifest)
    )
    try:
        socket = await _socket(server.url)
        for payload in (
            {"query": "{ banks(channel: WECHAT) { code name } }"},
            {"query": "{ __typename }"},
            {"query": "query { banks(channel: WECHAT) { code } }"},  # not the exact text
        ):
            (message,) = await socket.run(payload)
            assert _codes(message) == ["PERSISTED_QUERY_NOT_ALLOWED"], message
        by_hash = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}}}
        for payload in ({"query": BANKS}, by_hash):
            next_, complete = await socket.run(payload)
            assert next_["payload"]["data"]["banks"], next_
            assert complete["type"] == "complete"
        await socket.ws.close()
    finally:
        server.stop()


async def test_a_subscription_ends_with_an_error_when_its_token_expires(prod):
    token, user_id = await _login(prod.url, "ws-expiry")
    auth = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=prod.url, headers=auth) as http:
        cards = (
            await http.post(
                "/graphql",
                json={"query": "{ viewer { creditCards { id bankCode } debitCards { id } } }"},
            )
        ).json()["data"]["viewer"]
        credit = next(c["id"] for c in cards["creditCards"] if c["bankCode"] == "CEB")
        quote_input = {
            "bankCode": "CEB",
            "creditCardId": credit,
            "amount": "2000.00",
            "repaymentType": "INSTALLMENT",
            "periods": 6,
        }
        quote = (
            await http.post("/graphql", json={"query": QUOTE, "variables": {"input": quote_input}})
        ).json()["data"]["createQuote"]
        create_input = {
            "quoteId": quote["id"],
            "debitCardId": cards["debitCards"][0]["id"],
            "purpose": "CONSUMPTION",
            "acceptedDisclosureVersion": quote["disclosure"]["version"], **accepted(quote),
            "idempotencyKey": str(uuid.uuid4()),
        }
        created = (
            await http.post(
                "/graphql", json={"query": CREATE, "variables": {"input": create_input}}
            )
        ).json()["data"]["createWithdrawal"]
    assert created["status"] == "VERIFICATION_REQUIRED", created
    # A token of the same user that expires in 3 s (issued as if 1 h minus 3 s ago).
    short, expires_at = SessionTokens(SECRET, timedelta(hours=1)).issue(
        user_id, "ALIPAY", now=datetime.now(UTC) - timedelta(hours=1) + timedelta(seconds=3)
    )
    socket = await _socket(prod.url, {"Authorization": f"Bearer {short}"})
    await socket.ws.send(
        json.dumps(
            {
                "id": "w",
                "type": "subscribe",
                "payload": {"query": WATCH, "variables": {"id": created["id"]}},
            }
        )
    )
    first = await socket.recv()
    assert first["type"] == "next", first
    assert first["payload"]["data"]["withdrawal"]["status"] == "VERIFICATION_REQUIRED"
    ended = await socket.recv(timeout=15)
    assert ended["id"] == "w" and _codes(ended) == ["UNAUTHENTICATED"], ended
    assert ended["payload"][0]["extensions"]["reason"] == "EXPIRED"
    assert ended["payload"][0]["message"] == messages.text("auth.EXPIRED")
    assert datetime.now(UTC) >= expires_at - timedelta(seconds=1)
    # The socket stays open; an operation on it now is refused for the expired token.
    (me,) = [m for m in await socket.run({"query": VIEWER}) if m["type"] != "complete"]
    errors = me["payload"]["errors"] if me["type"] == "next" else me["payload"]
    assert [e["extensions"]["code"] for e in errors] == ["UNAUTHENTICATED"]
    await socket.ws.close()


async def test_the_legacy_protocol_is_not_served(prod):
    # subscriptions-transport-ws ("graphql-ws") would bypass the policy: refused with 4406.
    ws = await websockets.connect(_ws(prod.url), subprotocols=["graphql-ws"])
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await asyncio.sleep(0.5)  # the server closes on its own
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4406
