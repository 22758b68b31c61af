"""The WebSocket's rules as the npm ``graphql-ws`` client meets them."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx

from api.services.sessions import SessionTokens
from tests.api.flow import CREATE, LOGIN, QUOTE, accepted
from tests.js.conftest import HERE
from tests.node import run_node

SECRET = b"test-secret-key-shared-by-all-replicas-0123456789"  # tests.servers.server_env's
CARDS = "{ viewer { creditCards { id bankCode } debitCards { id } } }"


def _post(http: httpx.Client, query: str, variables: dict | None = None) -> dict:
    body = http.post("/graphql", json={"query": query, "variables": variables or {}}).json()
    assert "errors" not in body, body
    return body["data"]


def test_graphql_ws_client_meets_the_socket_rules(server):
    with httpx.Client(base_url=server.url, timeout=30) as http:
        login = _post(http, LOGIN, {"code": "sandbox:js-socket", "channel": "ALIPAY"})["login"]
        token, user_id = login["token"], login["viewer"]["id"]
        http.headers["Authorization"] = f"Bearer {token}"
        cards = _post(http, CARDS)["viewer"]
        credit = next(c["id"] for c in cards["creditCards"] if c["bankCode"] == "CEB")
        quote = _post(
            http,
            QUOTE,
            {
                "input": {
                    "bankCode": "CEB",
                    "creditCardId": credit,
                    "amount": "2000.00",
                    "repaymentType": "INSTALLMENT",
                    "periods": 6,
                }
            },
        )["createQuote"]
        created = _post(
            http,
            CREATE,
            {
                "input": {
                    "quoteId": quote["id"],
                    "debitCardId": cards["debitCards"][0]["id"],
                    "purpose": "CONSUMPTION",
                    "acceptedDisclosureVersion": quote["disclosure"]["version"], **accepted(quote),
                    "idempotencyKey": str(uuid.uuid4()),
                }
            },
        )["createWithdrawal"]
    tokens = SessionTokens(SECRET, timedelta(hours=1))
    now = datetime.now(UTC)
    expired, _ = tokens.issue(user_id, "ALIPAY", now=now - timedelta(hours=2))
    # Expires 10 s from now: time for Node to start and run the first two steps.
    short, _ = tokens.issue(user_id, "ALIPAY", now=now - timedelta(hours=1, seconds=-10))
    given = {
        "token": token,
        "expired": expired,
        "shortLived": short,
        "withdrawalId": created["id"],
    }
    outcome = run_node(HERE / "socket_rules.mjs", server.url, json.dumps(given), timeout=120)
    assert outcome["ok"], outcome
