"""Status sync at load: banks asked concurrently, in batches, within the guard's cap, each
bank on its own; leases shared by replicas; a settled withdrawal wakes its watchers at once.

Runs on SQLite and, with ``CARDCASH_TEST_DATABASE_URL`` set, on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from dataclasses import replace
from datetime import timedelta

from sqlmodel import select

from api.services.lifecycle import Source
from api.services.status_sync import StatusSync
from api.services.withdrawals import Withdrawals
from db.models import Withdrawal, WithdrawalEvent
from db.types import utcnow
from providers import DeclineReason, ProviderError, ProviderErrorCode, WithdrawalState
from tests.api.flow import User
from tests.conftest import FAST_BANKS

#: Every bank settles at once and asks for no code; status sync waits for the test.
BANKS = {"*": FAST_BANKS["*"] | {"settlement_delay_s": "0", "verification_required": "false"}}


def sandbox(app, code: str):
    return app.state.services.registry.get(code).provider


async def make(client, bank: str, count: int, name: str) -> list[str]:
    """``count`` withdrawals at ``bank``, all PROCESSING (the bank settles them at once)."""

    async def user_makes(n: int) -> list[dict]:
        user = await User.sign_in(client, f"{name}-{bank.lower()}-{n}")
        credit, debit = await user.cards()
        made = []
        for _ in range(min(5, count - n)):  # 5 × 500.00 stays within any card's limits
            quote = await user.quote(bank, "500.00", "SINGLE_MONTH", 1, card_id=credit[bank]["id"])
            made.append(await user.withdraw(quote, debit_id=debit[0]["id"]))
        return made

    made = [w for ws in await asyncio.gather(*map(user_makes, range(0, count, 5))) for w in ws]
    assert {w.get("status") for w in made} == {"PROCESSING"}, made
    ids = [w["id"] for w in made]
    return ids


async def make_due(app) -> None:
    """Every open withdrawal is due for status sync now."""
    async with app.state.services.db.write() as session:
        for row in await session.exec(select(Withdrawal)):
            if row.next_sync_at is not None:
                row.next_sync_at = utcnow() - timedelta(seconds=1)
                session.add(row)


async def rows(app) -> dict[str, Withdrawal]:
    async with app.state.services.db.read() as session:
        return {w.id: w for w in await session.exec(select(Withdrawal))}


def count_calls(app, code: str, calls: list) -> None:
    """Append (method, request ids) for every status call the sandbox bank ``code`` gets."""
    bank = sandbox(app, code)
    single, batch = bank.query_withdrawal, bank.query_withdrawals

    async def query_withdrawal(request_id):
        calls.append(("query_withdrawal", [request_id]))
        return await single(request_id)

    async def query_withdrawals(request_ids):
        calls.append(("query_withdrawals", list(request_ids)))
        return await batch(request_ids)

    bank.query_withdrawal, bank.query_withdrawals = query_withdrawal, query_withdrawals


async def test_a_backlog_is_asked_in_batches_and_every_withdrawal_settles(start_app):
    client, app = await start_app(status_sync=False, bank_options=BANKS)
    ceb = await make(client, "CEB", 12, "batch")
    spaban = await make(client, "SPABANK", 7, "batch")
    await make_due(app)
    calls: dict[str, list] = {"CEB": [], "SPABANK": []}
    for code, seen in calls.items():
        count_calls(app, code, seen)
    sandbox(app, "CEB").batch_query_limit = 5  # as a bank that takes at most 5 ids per call

    withdrawals = app.state.services.withdrawals
    # A pass claims one batch of each bank (at most SYNC_CLAIM): replicas take turns.
    assert [await withdrawals.sync_due() for _ in range(4)] == [5 + 7, 5, 2, 0]
    assert [len(ids) for _, ids in calls["CEB"]] == [5, 5, 2]
    assert {m for m, _ in calls["CEB"]} == {"query_withdrawals"}
    assert sorted(i for _, ids in calls["CEB"] for i in ids) == sorted(ceb)
    assert [(m, sorted(ids)) for m, ids in calls["SPABANK"]] == [("query_withdrawals", sorted(spaban))]
    found = await rows(app)
    assert {found[i].status for i in ceb + spaban} == {"SUCCEEDED"}
    assert all(found[i].sync_lease_until is None and found[i].next_sync_at is None for i in found)
    async with app.state.services.db.read() as session:
        synced = list(
            await session.exec(
                select(WithdrawalEvent).where(WithdrawalEvent.source == "STATUS_SYNC")
            )
        )
    assert Counter(e.withdrawal_id for e in synced) == Counter(ceb + spaban)  # one move each
    assert await app.state.services.withdrawals.sync_due() == 0  # nothing left, nothing asked


async def test_without_a_batch_query_calls_overlap_within_half_the_guards_cap(start_app):
    banks = BANKS | {"CEB": {"batch_query": "false", "guard_max_concurrency": "6"}}
    client, app = await start_app(status_sync=False, bank_options=banks)
    ids = await make(client, "CEB", 10, "single")
    await make_due(app)
    bank = sandbox(app, "CEB")
    original = bank.query_withdrawal
    in_flight, most = 0, 0

    async def query_withdrawal(request_id):
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        try:
            await asyncio.sleep(0.05)  # the bank takes a while: calls pile up if allowed to
            return await original(request_id)
        finally:
            in_flight -= 1

    bank.query_withdrawal = query_withdrawal
    withdrawals = app.state.services.withdrawals
    claimed = [await withdrawals.sync_due(bank_code="CEB") for _ in range(5)]
    assert claimed == [3, 3, 3, 1, 0]  # a pass claims one call per slot
    # Calls overlap, up to half of guard_max_concurrency=6: the rest stays free for users.
    assert most == 3
    assert {r.status for r in (await rows(app)).values()} == {"SUCCEEDED"}
    assert len(ids) == 10


async def test_a_slow_bank_holds_up_only_its_own_withdrawals(start_app):
    client, app = await start_app(bank_options=BANKS, sync_first_delay_seconds=3600)
    slow = await make(client, "CEB", 3, "slow")
    fast = await make(client, "SPABANK", 3, "fast")
    ceb = sandbox(app, "CEB")
    original = ceb.query_withdrawals
    answered = asyncio.Event()

    async def slow_query(request_ids):
        await asyncio.sleep(2)
        try:
            return await original(request_ids)
        finally:
            answered.set()

    ceb.query_withdrawals = slow_query
    await make_due(app)
    due = time.monotonic()
    deadline = due + 1.5
    while True:
        found = await rows(app)
        if {found[i].status for i in fast} == {"SUCCEEDED"}:
            break
        assert time.monotonic() < deadline, {i: found[i].status for i in fast}
        await asyncio.sleep(0.02)
    assert not answered.is_set(), "the fast bank's withdrawals waited for the slow bank"
    assert {found[i].status for i in slow} == {"PROCESSING"}
    await asyncio.wait_for(answered.wait(), 5)
    deadline = time.monotonic() + 2
    while {(await rows(app))[i].status for i in slow} != {"SUCCEEDED"}:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)


async def test_a_broken_bank_backs_off_each_withdrawal_on_its_own(start_app):
    client, app = await start_app(status_sync=False, bank_options=BANKS)
    broken = await make(client, "CEB", 4, "broken")
    fine = await make(client, "SPABANK", 2, "fine")
    await make_due(app)
    async with app.state.services.db.write() as session:  # one was already tried twice
        row = await session.get(Withdrawal, broken[0])
        row.sync_attempts = 2
        session.add(row)

    async def down(request_ids):
        raise ProviderError(ProviderErrorCode.UNAVAILABLE, "the bank is in maintenance")

    sandbox(app, "CEB").query_withdrawals = down
    withdrawals = app.state.services.withdrawals
    before = utcnow()
    assert await withdrawals.sync_due() == 6
    found = await rows(app)
    assert {found[i].status for i in fine} == {"SUCCEEDED"}
    policy = withdrawals.policy
    for withdrawal_id in broken:
        row = found[withdrawal_id]
        attempts = 3 if withdrawal_id == broken[0] else 1
        assert row.status == "PROCESSING" and row.sync_attempts == attempts
        assert row.sync_lease_until is None
        wait = row.next_sync_at - before
        assert policy.backoff(attempts) <= wait < policy.backoff(attempts) + timedelta(seconds=5)


async def test_two_replicas_share_a_backlog_without_asking_twice(start_app):
    client, first = await start_app(status_sync=False, bank_options=BANKS)
    _, second = await start_app(status_sync=False, bank_options=BANKS)
    ids = []
    for code in ("CEB", "SPABANK", "NBBANK"):
        ids += await make(client, code, 20, "shared")
    await make_due(first)
    asked: list = []
    for app in (first, second):
        for code in ("CEB", "SPABANK", "NBBANK"):
            count_calls(app, code, asked)
            sandbox(app, code).batch_query_limit = 3  # many small claims race each other
    a, b = first.state.services.withdrawals, second.state.services.withdrawals

    async def drain(withdrawals) -> int:
        total = 0
        while claimed := await withdrawals.sync_due(limit=7):
            total += claimed
        return total

    claimed = await asyncio.gather(drain(a), drain(b), drain(a), drain(b))
    assert sum(claimed) == len(ids)
    assert Counter(i for _, batch in asked for i in batch) == Counter(ids)  # each asked once
    assert {r.status for r in (await rows(first)).values()} == {"SUCCEEDED"}


async def test_a_pass_writes_each_kind_of_answer_as_one_by_one_sync_would(start_app):
    """A pass's answers are written together; each withdrawal still ends as its own answer
    says, moved once, and one that a callback moved meanwhile is left as the callback left
    it."""
    client, app = await start_app(status_sync=False, bank_options=BANKS)
    ids = await make(client, "CEB", 5, "kinds")
    settled, failed, pending, unknown, raced = ids
    await make_due(app)
    withdrawals = app.state.services.withdrawals
    bank = sandbox(app, "CEB")
    original = bank.query_withdrawals

    async def answers(request_ids):
        found = dict(await original(request_ids))  # every one SUCCEEDED at the bank
        found[failed] = replace(
            found[failed],
            state=WithdrawalState.FAILED,
            failure_reason="card frozen",
            decline_reason=DeclineReason.OTHER,
        )
        found[pending] = replace(found[pending], state=WithdrawalState.PROCESSING)
        del found[unknown]  # not found: asked again later
        # The bank's callback about this one lands while the query is on its way.
        await withdrawals.apply(raced, found[raced], Source.CALLBACK)
        return found

    bank.query_withdrawals = answers
    before = utcnow()
    assert await withdrawals.sync_due(bank_code="CEB") == 5
    found = await rows(app)
    assert {i: found[i].status for i in ids} == {
        settled: "SUCCEEDED",
        failed: "FAILED",
        pending: "PROCESSING",
        unknown: "PROCESSING",
        raced: "SUCCEEDED",
    }
    assert found[failed].failure_code == "BANK_DECLINED"
    assert found[failed].failure_reason == "card frozen"
    for i in (pending, unknown):
        assert found[i].sync_attempts == 1 and found[i].sync_lease_until is None
        assert found[i].next_sync_at - before >= withdrawals.policy.backoff(1)
    for i in (settled, failed, raced):
        assert found[i].next_sync_at is None and found[i].sync_lease_until is None
    async with app.state.services.db.read() as session:
        events = list(await session.exec(select(WithdrawalEvent)))
    moves = Counter(
        (e.withdrawal_id, e.source, e.to_status)
        for e in events
        if e.source in ("STATUS_SYNC", "CALLBACK")
    )
    assert moves == Counter(
        {
            (settled, "STATUS_SYNC", "SUCCEEDED"): 1,
            (failed, "STATUS_SYNC", "FAILED"): 1,
            (raced, "CALLBACK", "SUCCEEDED"): 1,
        }
    )
    (event,) = [e for e in events if e.withdrawal_id == failed and e.to_status == "FAILED"]
    assert event.detail == "BANK_DECLINED" and event.from_status == "PROCESSING"


async def test_a_sync_that_settles_a_withdrawal_wakes_its_watchers_at_once(start_app):
    client, app = await start_app(status_sync=False, bank_options=BANKS)
    (withdrawal_id,) = await make(client, "CEB", 1, "watched")
    await make_due(app)
    services = app.state.services
    with services.feed.listen(withdrawal_id) as changes:
        await services.withdrawals.sync_due()
        assert changes.get_nowait() == withdrawal_id
    assert (await rows(app))[withdrawal_id].status == "SUCCEEDED"


class Unreachable:
    """Withdrawals whose database is gone: every pass fails."""

    def __init__(self) -> None:
        self.passes = 0

    async def sync_due(self, *, bank_code: str) -> int:
        self.passes += 1
        raise OSError("connection refused")


async def test_a_lane_whose_passes_fail_backs_off_and_logs_one_traceback(caplog):
    withdrawals = Unreachable()
    sync = StatusSync(withdrawals, ["CEB"], interval=0.01)
    with caplog.at_level(logging.INFO, "cardcash.status_sync"):
        sync.start()
        await asyncio.sleep(1.0)
        await sync.stop()
    # Every 10 ms would be about 100 rounds of the lane's passes; doubling pauses make it
    # about 7.
    rounds = withdrawals.passes / Withdrawals.SYNC_PASSES
    assert 3 <= rounds <= 10, withdrawals.passes
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert len(tracebacks) == 1
    assert "failed again" in caplog.records[-1].getMessage()
