"""Two replicas on one PostgreSQL database keep every guarantee one process keeps."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import websockets
from sqlmodel import col, update

from api.banks.sandbox.callbacks import callback_secret, sign_callback
from db.engine import Database
from db.models import Withdrawal
from providers.types import CallbackEvent, WithdrawalState
from tests.api.flow import User
from tests.scale.conftest import bank_options, two_clients

SUBSCRIBE = "subscription($id: ID!) { withdrawal(id: $id) { id status } }"


async def _sign_in_on_both(a, b, name: str) -> tuple[User, User]:
    on_a = await User.sign_in(a, name)
    # A session token signed by one replica is good on every replica (one shared key).
    return on_a, User(b, on_a.headers["Authorization"].removeprefix("Bearer "))


async def test_identical_requests_split_across_replicas_make_one_withdrawal(cluster):
    # The bank answers after 50 ms, so the requests overlap inside both replicas.
    await asyncio.to_thread(cluster.start, 2, banks=bank_options(latency_ms="50"))
    async with two_clients(cluster) as (a, b):
        on_a, on_b = await _sign_in_on_both(a, b, "scale-ann")
        quote = await on_a.quote("CEB", "1000.00", "INSTALLMENT", 3)
        _, debit = await on_a.cards()
        results = await asyncio.gather(
            *(
                user.withdraw(quote, key="one-key-two-replicas", debit_id=debit[0]["id"])
                for user in [on_a, on_b] * 8
            )
        )
    assert {r["__typename"] for r in results} == {"Withdrawal"}, results
    ids = {r["id"] for r in results}
    assert len(ids) == 1
    assert set(await cluster.withdrawals()) == ids
    assert set(cluster.ledger()) == ids, "the bank holds exactly the one withdrawal"
    submits = [c for c in cluster.calls() if c["call"] == "submit_withdrawal"]
    assert submits and {c["request_id"] for c in submits} == ids


async def _subscribe(url: str, user: User, withdrawal_id: str):
    ws = await websockets.connect(
        url.replace("http://", "ws://") + "/graphql", subprotocols=["graphql-transport-ws"]
    )
    await ws.send(
        json.dumps(
            {
                "type": "connection_init",
                "payload": {"Authorization": user.headers["Authorization"]},
            }
        )
    )
    assert json.loads(await ws.recv())["type"] == "connection_ack"
    await ws.send(
        json.dumps(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {"query": SUBSCRIBE, "variables": {"id": withdrawal_id}},
            }
        )
    )
    return ws


async def _next_status(ws, timeout: float) -> str:
    message = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    assert message["type"] == "next", message
    return message["payload"]["data"]["withdrawal"]["status"]


async def test_a_callback_on_one_replica_reaches_a_subscriber_on_the_other(cluster):
    # Settlement never comes on its own here: only the callback can finish the withdrawal.
    banks = bank_options(verification_required="false", settlement_delay_s="3600")
    await asyncio.to_thread(cluster.start, 2, banks=banks)
    replica_a = cluster.replicas[0]
    async with two_clients(cluster) as (a, b):
        on_a, _ = await _sign_in_on_both(a, b, "scale-bo")
        made = await on_a.withdraw(await on_a.quote("CEB", "800.00", "SINGLE_MONTH", 1))
        assert made["status"] == "PROCESSING", made
        reference = (
            await on_a.q(
                "query($id: ID!) { withdrawal(id: $id) { bankReference } }", {"id": made["id"]}
            )
        )["data"]["withdrawal"]["bankReference"]

        ws = await _subscribe(replica_a.url, on_a, made["id"])
        try:
            assert await _next_status(ws, 5) == "PROCESSING"
            subscribed = time.monotonic()
            event = CallbackEvent(
                request_id=made["id"],
                bank_reference=reference,
                state=WithdrawalState.SUCCEEDED,
                amount=Decimal("800.00"),
                currency="CNY",
                occurred_at=datetime.now(UTC),
            )
            headers, body = sign_callback(
                event, bank_code="CEB", secret=callback_secret("CEB", cluster.data_dir)
            )
            posted = time.monotonic()
            answer = await b.post("/callbacks/CEB", content=body, headers=headers)
            assert answer.json() == {"status": "applied"}, answer.text
            assert await _next_status(ws, 4) == "SUCCEEDED"
            arrived = time.monotonic()
        finally:
            await ws.close()
    # The subscription re-reads every 5 s as a safety net; this came well before any re-read,
    # so it came through NOTIFY from the other replica.
    latency = arrived - posted
    print(f"callback on B -> subscriber on A: {latency * 1000:.0f} ms")
    assert latency < 1.0 and arrived - subscribed < 4.0, latency


async def test_each_due_status_sync_runs_on_one_replica_only(cluster):
    # Settlement takes 2 s, so status sync asks each bank several times: every one of those
    # due moments is a race between the two replicas, which poll every 50 ms.
    banks = bank_options(verification_required="false", settlement_delay_s="2")
    await asyncio.to_thread(cluster.start, 2, banks=banks)
    async with two_clients(cluster) as (a, b):
        made = []
        for i in range(8):
            user = await User.sign_in((a, b)[i % 2], f"scale-sync-{i}")
            made.append(
                await user.withdraw(await user.quote("SPABANK", "500.00", "SINGLE_MONTH", 1))
            )
        assert {w["status"] for w in made} == {"PROCESSING"}, made
        deadline = time.monotonic() + 20
        while True:
            rows = await cluster.withdrawals()
            if all(r.status == "SUCCEEDED" for r in rows.values()):
                break
            assert time.monotonic() < deadline, {r.id: r.status for r in rows.values()}
            await asyncio.sleep(0.2)

    queries: dict[str, list[dict]] = {}
    for call in cluster.calls():
        if call["call"] == "query_withdrawal":
            queries.setdefault(call["request_id"], []).append(call)
    assert set(queries) == set(rows), "status sync asked the bank about every withdrawal"
    gaps = {
        request_id: [b["at"] - a["at"] for a, b in itertools.pairwise(calls)]
        for request_id, calls in queries.items()
    }
    for request_id, pauses in gaps.items():
        # Two replicas running one due job would ask twice within milliseconds; the shortest
        # pause status sync schedules between two questions is 0.4 s.
        assert all(pause > 0.3 for pause in pauses), (request_id, pauses)
    pids = {call["pid"] for calls in queries.values() for call in calls}
    assert len(pids) == 2, "both replicas took part in status sync"
    synced = [e for e in await cluster.events() if e.source == "STATUS_SYNC"]
    assert sorted(e.withdrawal_id for e in synced) == sorted(rows)
    assert {(e.from_status, e.to_status) for e in synced} == {("PROCESSING", "SUCCEEDED")}
    print(
        f"{len(rows)} withdrawals, {sum(map(len, queries.values()))} bank queries by "
        f"{len(pids)} replicas; shortest pause between two queries of one withdrawal: "
        f"{min(p for pauses in gaps.values() for p in pauses):.2f} s"
    )


async def test_serve_with_two_workers_runs_two_full_processes(cluster):
    banks = bank_options(verification_required="false", settlement_delay_s="1")
    await asyncio.to_thread(cluster.start, 1, banks=banks, workers="2")
    async with httpx.AsyncClient(base_url=cluster.replicas[0].url, timeout=30) as client:
        made = []
        for i in range(6):
            user = await User.sign_in(client, f"scale-workers-{i}")
            quote = await user.quote("SPABANK", "500.00", "SINGLE_MONTH", 1)
            made.append((user, (await user.withdraw(quote))["id"]))
        for user, withdrawal_id in made:
            await user.wait_for(withdrawal_id, "SUCCEEDED", timeout=20)
    calls = cluster.calls()
    # Both worker processes served requests or ran status sync, on one port.
    assert len({c["pid"] for c in calls}) == 2, calls
    assert set(cluster.ledger()) == {w for _, w in made}


async def test_a_status_sync_on_one_replica_wakes_a_subscriber_on_the_other(cluster):
    # Replica A only serves the subscriber; replica B alone runs status sync.
    banks = bank_options(verification_required="false", settlement_delay_s="1")
    await asyncio.to_thread(cluster.start, 1, banks=banks, status_sync="false")
    await asyncio.to_thread(cluster.start, 1, banks=banks, sync_first_delay_seconds="1.5")
    replica_a = cluster.replicas[0]
    async with two_clients(cluster) as (a, b):
        on_a, _ = await _sign_in_on_both(a, b, "scale-sync-wake")
        made = await on_a.withdraw(await on_a.quote("CEB", "800.00", "SINGLE_MONTH", 1))
        assert made["status"] == "PROCESSING", made
        ws = await _subscribe(replica_a.url, on_a, made["id"])
        try:
            assert await _next_status(ws, 5) == "PROCESSING"
            assert await _next_status(ws, 4) == "SUCCEEDED"
            arrived = time.time()
        finally:
            await ws.close()
    synced = [e for e in await cluster.events() if e.source == "STATUS_SYNC"]
    assert [(e.from_status, e.to_status) for e in synced] == [("PROCESSING", "SUCCEEDED")]
    # The subscription re-reads every 5 s as a safety net; this came within a second of
    # replica B's commit, so through NOTIFY.
    latency = arrived - synced[0].occurred_at.timestamp()
    print(f"status sync on B -> subscriber on A: {latency * 1000:.0f} ms")
    assert latency < 1.0, latency
    queries = [c for c in cluster.calls() if c["call"] == "query_withdrawal"]
    assert {c["pid"] for c in queries} == {cluster.replicas[1].process.pid}


async def test_two_replicas_drain_a_backlog_asking_the_bank_once_per_withdrawal(cluster):
    # Status sync waits an hour: the test makes the whole backlog due at one moment, so both
    # replicas race for every row of it. The banks take 300 ms a call, as real ones do (the
    # sandbox's own latencies are 30-250 ms): a replica's passes hold a few claims at a time,
    # so the other, polling every 50 ms, finds the rest of each bank's 40 due.
    banks = bank_options(
        verification_required="false", settlement_delay_s="0", latency_ms="300"
    )
    await asyncio.to_thread(cluster.start, 2, banks=banks, sync_first_delay_seconds="3600")
    async with two_clients(cluster) as (a, b):

        async def user_makes(i: int) -> list[str]:
            user = await User.sign_in((a, b)[i % 2], f"scale-backlog-{i}")
            credit, debit = await user.cards()
            ids = []
            for bank in ("CEB", "SPABANK", "NBBANK"):
                for _ in range(2):
                    quote = await user.quote(
                        bank, "500.00", "SINGLE_MONTH", 1, card_id=credit[bank]["id"]
                    )
                    made = await user.withdraw(quote, debit_id=debit[0]["id"])
                    assert made["status"] == "PROCESSING", made
                    ids.append(made["id"])
            return ids

        ids = [i for ids in await asyncio.gather(*map(user_makes, range(20))) for i in ids]
    db = Database(cluster.database_url)
    try:
        async with db.write() as session:
            await session.exec(
                update(Withdrawal)
                .where(col(Withdrawal.next_sync_at).is_not(None))
                .values(next_sync_at=datetime.now(UTC))
            )
    finally:
        await db.dispose()
    deadline = time.monotonic() + 30
    while True:
        rows = await cluster.withdrawals()
        if all(r.status == "SUCCEEDED" for r in rows.values()):
            break
        assert time.monotonic() < deadline, Counter(r.status for r in rows.values())
        await asyncio.sleep(0.2)
    queries = [c for c in cluster.calls() if c["call"] == "query_withdrawal"]
    assert Counter(c["request_id"] for c in queries) == Counter(ids), "each asked exactly once"
    by_pid = Counter(c["pid"] for c in queries)
    print(f"{len(ids)} due withdrawals drained by 2 replicas: bank queries per replica {by_pid}")
    assert len(by_pid) == 2, f"both replicas took part: {by_pid}"
    assert min(by_pid.values()) >= len(ids) // 4, f"each took a fair part: {by_pid}"
