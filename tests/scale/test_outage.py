"""The database goes away under traffic on two replicas, and comes back: nothing is lost."""

from __future__ import annotations

import asyncio
import os
import time
import uuid

import httpx
import pytest
from sqlalchemy.engine import make_url

from api.services.lifecycle import Status
from tests.api.flow import CARDS, CREATE, LOGIN, QUOTE, accepted
from tests.scale.conftest import bank_options, two_clients
from tests.scale.outage import CutConnections, DatabaseOutage, RestartPostgres

RESTART_COMMAND = os.environ.get("CARDCASH_TEST_PG_CTL", "")
CONNECT_TIMEOUT = 2.0
POOL_TIMEOUT = 3.0
#: A request while the database is away must be answered within this many seconds.
ANSWER_WITHIN = CONNECT_TIMEOUT + POOL_TIMEOUT + 2.0


class Traffic:
    """Users going through sign-in, quote and withdrawal, retrying every failed step."""

    def __init__(self, clients: tuple[httpx.AsyncClient, httpx.AsyncClient]) -> None:
        self.clients = clients
        self.made: dict[str, str] = {}  # idempotency key → withdrawal id
        self.first_create: dict[str, float] = {}
        self.failures: list[tuple[int, float, str]] = []  # HTTP status, seconds, body

    async def call(self, client, query: str, variables: dict, token: str = "") -> dict | None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        started = time.monotonic()
        try:
            response = await client.post(
                "/graphql", json={"query": query, "variables": variables}, headers=headers
            )
        except httpx.TransportError as exc:
            self.failures.append((0, time.monotonic() - started, type(exc).__name__))
            return None
        body = response.json() if response.status_code in (200, 503) else None
        if response.status_code != 200 or body.get("errors") or body.get("data") is None:
            self.failures.append((response.status_code, time.monotonic() - started, response.text))
            return None
        return body["data"]

    async def until(self, step, deadline: float, turn: int):
        """Run ``step(client)`` on alternating replicas until it answers, backing off as a
        mini-program would (a retry storm would measure the storm, not the outage)."""
        pause = 0.2
        while True:
            result = await step(self.clients[turn % 2])
            if result is not None:
                return result
            turn += 1
            assert time.monotonic() < deadline, "the service did not come back"
            await asyncio.sleep(pause)
            pause = min(pause * 1.5, 1.0)

    async def journey(self, number: int) -> None:
        deadline = time.monotonic() + 90
        bank = ("CEB", "SPABANK")[number % 2]

        async def login(client):
            data = await self.call(
                client, LOGIN, {"code": f"sandbox:outage-{number}", "channel": "ALIPAY"}
            )
            return data and data["login"]["token"]

        token = await self.until(login, deadline, number)

        async def cards(client):
            return await self.call(client, CARDS, {}, token)

        viewer = (await self.until(cards, deadline, number))["viewer"]
        credit = next(c for c in viewer["creditCards"] if c["bankCode"] == bank)
        quote_input = {
            "bankCode": bank,
            "creditCardId": credit["id"],
            "amount": f"{300 + number}.00",
            "repaymentType": "SINGLE_MONTH",
            "periods": 1,
        }

        async def quote(client):
            data = await self.call(client, QUOTE, {"input": quote_input}, token)
            return data and data["createQuote"]

        made_quote = await self.until(quote, deadline, number)
        assert made_quote["__typename"] == "Quote", made_quote
        key = f"outage-{number}-{uuid.uuid4()}"
        withdrawal_input = {
            "quoteId": made_quote["id"],
            "debitCardId": viewer["debitCards"][0]["id"],
            "purpose": "CONSUMPTION",
            "acceptedDisclosureVersion": made_quote["disclosure"]["version"], **accepted(made_quote),
            "idempotencyKey": key,
        }

        async def create(client):
            self.first_create.setdefault(key, time.monotonic())
            data = await self.call(client, CREATE, {"input": withdrawal_input}, token)
            return data and data["createWithdrawal"]

        # The same key on every retry: whatever reached the database or the bank before
        # the outage is found again, never made twice.
        made = await self.until(create, deadline, number + 1)
        assert made["__typename"] == "Withdrawal", made
        self.made[key] = made["id"]


async def _ready(client: httpx.AsyncClient) -> tuple[int, float]:
    started = time.monotonic()
    try:
        status = (await client.get("/readyz")).status_code
    except httpx.TransportError:
        status = 0
    return status, time.monotonic() - started


@pytest.fixture(params=["connections-cut", "postgres-restart"])
async def outage(request, database_url):
    if request.param == "postgres-restart":
        if not RESTART_COMMAND:
            pytest.skip(
                "restarting the PostgreSQL server disturbs everyone using it: set "
                "CARDCASH_TEST_PG_CTL to its control command (e.g. 'pg_ctlcluster "
                "--skip-systemctl-redirect 15 main') to run this one"
            )
        yield RestartPostgres(RESTART_COMMAND), database_url
        return
    url = make_url(database_url)
    proxy = await CutConnections(url.host or "127.0.0.1", url.port or 5432).start()
    yield proxy, url.set(port=proxy.port).render_as_string(hide_password=False)
    await proxy.close()


async def test_the_database_goes_away_mid_traffic_and_nothing_is_lost(cluster, outage):
    outage_, server_url = outage
    assert isinstance(outage_, DatabaseOutage)
    banks = bank_options(
        verification_required="false",
        failure_rate="0.3",
        settlement_delay_s="0.3",
        latency_ms="20",
    )
    await asyncio.to_thread(
        cluster.start,
        2,
        banks=banks,
        database_url=server_url,
        db_connect_timeout=str(CONNECT_TIMEOUT),
        db_pool_timeout=str(POOL_TIMEOUT),
    )
    async with two_clients(cluster) as clients:
        traffic = Traffic(clients)
        journeys: list[asyncio.Task] = []

        async def launch(seconds: float) -> None:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                journeys.append(asyncio.create_task(traffic.journey(len(journeys))))
                await asyncio.sleep(0.2)

        await launch(2.0)
        cut_at = time.monotonic()
        await outage_.begin()
        down = await asyncio.gather(*(_ready(c) for c in clients))
        await launch(3.0)
        await outage_.end()
        back_at = time.monotonic()
        await launch(2.0)
        await asyncio.gather(*journeys)

        deadline = time.monotonic() + 30
        while (ready := await asyncio.gather(*(_ready(c) for c in clients))) and any(
            status != 200 for status, _ in ready
        ):
            assert time.monotonic() < deadline, ready
            await asyncio.sleep(0.2)

    print(
        f"{len(traffic.made)} withdrawals; {len(traffic.failures)} requests refused while the "
        f"database was away for {back_at - cut_at:.1f} s; slowest refusal "
        f"{max((s for _, s, _ in traffic.failures), default=0):.2f} s"
    )
    # While it was away: readiness said so at once, requests were refused cleanly and quickly.
    assert all(status == 503 and took < ANSWER_WITHIN for status, took in down), down
    assert traffic.failures, "the outage was noticed by the traffic"
    for status, took, body in traffic.failures:
        assert status in (0, 200, 503) and took < ANSWER_WITHIN, (status, took, body)
        assert "Traceback" not in body
    # Traffic ran before, across and after the outage.
    assert any(t < cut_at for t in traffic.first_create.values())
    assert any(t > back_at for t in traffic.first_create.values())

    # Nothing lost: every withdrawal a user was told about exists once, reaches a final
    # status, and that status is the bank's own.
    deadline = time.monotonic() + 40
    while True:
        rows = await cluster.withdrawals()
        if all(Status(r.status).terminal for r in rows.values()):
            break
        assert time.monotonic() < deadline, [
            (r.id, r.status, r.next_sync_at, r.sync_lease_until, r.sync_attempts)
            for r in rows.values()
            if not Status(r.status).terminal
        ]
        await asyncio.sleep(0.3)
    assert len(set(traffic.made.values())) == len(traffic.made) == len(journeys)
    assert set(rows) == set(traffic.made.values())
    ledger = cluster.ledger()
    assert set(ledger) == set(rows), "the banks hold exactly the withdrawals cardcash holds"
    assert {wid: row.status for wid, row in rows.items()} == ledger
    assert {"SUCCEEDED", "FAILED"} <= set(ledger.values())
