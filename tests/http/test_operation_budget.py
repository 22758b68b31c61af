"""An operation that runs past its time budget is stopped and answered OPERATION_TIMEOUT,
while the server keeps answering; a mutation stopped so loses nothing and is not doubled."""

from __future__ import annotations

import asyncio
import time
import uuid

from api import messages
from tests.api.flow import CARDS, CREATE, User, accepted
from tests.conftest import FAST_BANKS

GQL = "application/graphql-response+json"
#: CEB answers every call after 2 s; the other banks at once.
SLOW_CEB = FAST_BANKS | {"CEB": {"latency_ms": "2000"}}
HISTORY = "{ viewer { withdrawals(first: 50) { edges { node { id status } } } } }"


async def test_a_query_past_its_budget_is_stopped_while_healthz_answers(serve):
    async with serve(bank_options=SLOW_CEB, graphql_operation_timeout_seconds=0.5) as client:
        user = await User.sign_in(client, "budget-query")

        async def healthz_meanwhile() -> list[int]:
            statuses = []
            for _ in range(5):
                statuses.append((await client.get("/healthz")).status_code)
                await asyncio.sleep(0.05)
            return statuses

        started = time.monotonic()
        response, statuses = await asyncio.gather(
            client.post("/graphql", json={"query": CARDS}, headers={**user.headers, "accept": GQL}),
            healthz_meanwhile(),
        )
        assert statuses == [200] * 5
        assert response.status_code == 503, response.text
        (error,) = response.json()["errors"]
        assert error["extensions"]["code"] == "OPERATION_TIMEOUT"
        assert "0.5 s" in error["extensions"]["detail"]
        assert error["message"] == messages.text("OPERATION_TIMEOUT")
        assert "data" not in response.json()
        assert time.monotonic() - started < 1.9, "stopped at the budget, not when CEB answered"
        # Under application/json the status is the same: the server, not the request, failed.
        response = await client.post("/graphql", json={"query": CARDS}, headers=user.headers)
        assert response.status_code == 503
        metrics = (await client.get("/metrics")).text
        assert 'outcome="timeout"' in metrics


async def test_a_budget_large_enough_lets_the_same_query_finish(serve):
    async with serve(bank_options=SLOW_CEB, graphql_operation_timeout_seconds=10) as client:
        user = await User.sign_in(client, "budget-enough")
        credit, _ = await user.cards()
        assert "CEB" in credit


async def test_a_mutation_stopped_at_its_budget_is_found_by_its_retry(serve):
    async with serve() as fast:
        user = await User.sign_in(fast, "budget-mutation")
        quote = await user.quote()
        _, debit = await user.cards()
        token = user.headers
    key = str(uuid.uuid4())
    variables = {
        "input": {
            "quoteId": quote["id"],
            "debitCardId": debit[0]["id"],
            "purpose": "CONSUMPTION",
            "acceptedDisclosureVersion": quote["disclosure"]["version"], **accepted(quote),
            "idempotencyKey": key,
        }
    }
    async with serve(bank_options=SLOW_CEB, graphql_operation_timeout_seconds=0.5) as slow:
        response = await slow.post(
            "/graphql", json={"query": CREATE, "variables": variables}, headers=token
        )
        (error,) = response.json()["errors"]
        assert error["extensions"]["code"] == "OPERATION_TIMEOUT"
        assert "same idempotency key" in error["extensions"]["detail"]
        assert error["message"] == messages.text("OPERATION_TIMEOUT.mutation")
    async with serve() as fast:
        again = User(fast, token["Authorization"].split()[1])
        first = (await again.q(CREATE, variables))["data"]["createWithdrawal"]
        second = (await again.q(CREATE, variables))["data"]["createWithdrawal"]
        assert first["__typename"] == second["__typename"] == "Withdrawal", first
        assert first["id"] == second["id"]
        history = (await again.q(HISTORY))["data"]["viewer"]["withdrawals"]["edges"]
        assert [e["node"]["id"] for e in history] == [first["id"]]
