"""Unknown outcomes, status sync and bank callbacks: the bank's word decides, once."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy.exc import OperationalError
from sqlmodel import select

from api.banks.sandbox import callback_secret, sign_callback
from db.models import Withdrawal, WithdrawalEvent
from providers import CallbackEvent, WithdrawalState
from tests.api.flow import User
from tests.conftest import FAST_BANKS


def bank(app, code="CEB"):
    return app.state.services.registry.get(code).provider


async def events(app, withdrawal_id: str) -> list[tuple[str | None, str, str]]:
    async with app.state.services.db.read() as session:
        rows = await session.exec(
            select(WithdrawalEvent)
            .where(WithdrawalEvent.withdrawal_id == withdrawal_id)
            .order_by(WithdrawalEvent.id)
        )
        return [(e.from_status, e.to_status, e.source) for e in rows]


# Shorter than the first status-sync delay, so the user sees the open outcome first.
SLOW_WRITES = FAST_BANKS | {"CEB": {"guard_write_timeout_s": "0.1"}}


async def test_lost_answer_is_recovered_by_status_sync(start_app):
    """The bank records the withdrawal but its answer never arrives (timeout)."""
    client, app = await start_app(bank_options=SLOW_WRITES, sync_first_delay_seconds=0.6)
    ceb = bank(app)
    original = ceb.submit_withdrawal
    calls = []

    async def answer_lost(request):
        calls.append(request.request_id)
        result = await original(request)  # the bank has it now
        await asyncio.sleep(5)  # ... but the answer never comes back in time
        return result

    ceb.submit_withdrawal = answer_lost
    user = await User.sign_in(client, "olga")
    quote = await user.quote("CEB", "1000.00", "INSTALLMENT", 3)
    w = await user.withdraw(quote)
    assert w["status"] == "PENDING", w  # unknown, not failed
    found = await user.wait_for(w["id"], "VERIFICATION_REQUIRED")
    assert found["events"][-1]["source"] == "STATUS_SYNC"
    assert (await user.confirm(w["id"]))["status"] == "PROCESSING"
    await user.wait_for(w["id"], "SUCCEEDED")
    assert calls == [w["id"]]  # the bank saw it once; status sync asked instead of resending


async def test_request_the_bank_never_saw_is_resubmitted_once(start_app):
    client, app = await start_app(bank_options=SLOW_WRITES, sync_first_delay_seconds=0.6)
    ceb = bank(app)
    original = ceb.submit_withdrawal
    calls = []

    async def lost_on_the_way(request):
        calls.append(request.request_id)
        if len(calls) == 1:
            await asyncio.sleep(5)  # never reaches the bank
        return await original(request)

    ceb.submit_withdrawal = lost_on_the_way
    user = await User.sign_in(client, "pete")
    quote = await user.quote("CEB", "1000.00", "INSTALLMENT", 3)
    w = await user.withdraw(quote)
    assert w["status"] == "PENDING"
    await user.wait_for(w["id"], "VERIFICATION_REQUIRED")
    assert calls == [w["id"], w["id"]]  # same request id both times: one withdrawal at most
    state = await app.state.services.registry.get("CEB").query_withdrawal(
        w["id"], expected_amount=Decimal("1000.00"), expected_currency="CNY"
    )
    assert state.state is WithdrawalState.VERIFICATION_REQUIRED


async def test_a_bank_that_never_answers_never_fails_the_withdrawal(start_app):
    client, app = await start_app(bank_options=SLOW_WRITES)
    ceb = bank(app)

    async def hang(*args, **kwargs):
        await asyncio.sleep(5)

    ceb.submit_withdrawal = hang
    ceb.query_withdrawal = hang
    user = await User.sign_in(client, "quinn")
    quote = await user.quote("CEB", "1000.00", "INSTALLMENT", 3)
    w = await user.withdraw(quote)
    await asyncio.sleep(1.5)  # several status-sync rounds
    assert (await user.get(w["id"]))["status"] == "PENDING"
    assert [e[1] for e in await events(app, w["id"])] == ["PENDING"]


async def test_bank_refusal_at_submit_fails_with_the_banks_reason(start_app):
    client, app = await start_app(bank_options=FAST_BANKS | {"SPABANK": {"down": "true"}})
    user = await User.sign_in(client, "rosa")
    quote = await user.quote("CEB", "9000.00", "INSTALLMENT", 3)
    # Quoted while today's cap still allowed it; the first withdrawal then uses up the cap.
    quote2 = await user.quote("CEB", "2000.00", "INSTALLMENT", 3)
    assert quote2["__typename"] == "Quote"
    first = await user.withdraw(quote)
    assert first["status"] == "VERIFICATION_REQUIRED"
    second = await user.withdraw(quote2)
    assert second["status"] == "FAILED"
    assert second["failureCode"] == "DAILY_LIMIT_EXCEEDED" and second["failureReason"]
    down = await user.q(
        '{ bank(code: "SPABANK", channel: ALIPAY) { offer { ... on Error { code } } } }'
    )
    assert down["data"]["bank"]["offer"]["code"] in ("BANK_UNAVAILABLE", "CARD_NOT_FOUND")


async def _processing(user: User) -> dict:
    quote = await user.quote("CEB", "1000.00", "INSTALLMENT", 3)
    w = await user.withdraw(quote)
    return await user.confirm(w["id"])


def callback(app, withdrawal_id: str, state: str, amount: str = "1000.00", secret=None):
    """A callback from CEB, signed with this install's secret unless ``secret`` is given."""
    if secret is None:
        secret = callback_secret("CEB", app.state.services.settings.data_dir)
    return sign_callback(
        CallbackEvent(
            request_id=withdrawal_id,
            bank_reference="CEB-REF",
            state=WithdrawalState(state),
            amount=Decimal(amount),
            currency="CNY",
            occurred_at=datetime.now(UTC),
        ),
        bank_code="CEB",
        secret=secret,
    )


async def test_callbacks_apply_once_and_ignore_stale_news(start_app):
    client, app = await start_app(status_sync=False)
    user = await User.sign_in(client, "sam")
    w = await _processing(user)
    assert w["status"] == "PROCESSING"
    headers, body = callback(app, w["id"], "SUCCEEDED")
    first = await client.post("/callbacks/CEB", content=body, headers=headers)
    assert first.status_code == 200 and first.json() == {"status": "applied"}
    replay = await client.post("/callbacks/CEB", content=body, headers=headers)
    assert replay.json() == {"status": "unchanged"}
    headers, late = callback(app, w["id"], "PROCESSING")  # out of order
    assert (await client.post("/callbacks/CEB", content=late, headers=headers)).json() == {
        "status": "unchanged"
    }
    headers, wrong = callback(app, w["id"], "FAILED")  # a terminal status never changes
    assert (await client.post("/callbacks/CEB", content=wrong, headers=headers)).json() == {
        "status": "unchanged"
    }
    final = await user.get(w["id"])
    assert final["status"] == "SUCCEEDED"
    assert [e[1] for e in await events(app, w["id"])].count("SUCCEEDED") == 1
    assert (await events(app, w["id"]))[-1][2] == "CALLBACK"


async def test_bad_callbacks_are_refused_and_change_nothing(start_app):
    client, app = await start_app(status_sync=False)
    user = await User.sign_in(client, "tina")
    w = await _processing(user)
    before = await events(app, w["id"])
    headers, body = callback(app, w["id"], "SUCCEEDED", secret="not-the-banks-secret")
    assert (await client.post("/callbacks/CEB", content=body, headers=headers)).status_code == 400
    headers, body = callback(app, w["id"], "SUCCEEDED")
    assert (
        await client.post("/callbacks/CEB", content=body + b" ", headers=headers)
    ).status_code == 400
    assert (await client.post("/callbacks/CEB", content=body)).status_code == 400  # unsigned
    assert (await client.post("/callbacks/NOPE", content=body, headers=headers)).status_code == 404
    headers, other = callback(app, "wdr_aaaaaaaaaaaaaaaaaaaaaaaaaa", "SUCCEEDED")
    assert (await client.post("/callbacks/CEB", content=other, headers=headers)).status_code == 404
    headers, body = callback(app, w["id"], "SUCCEEDED", amount="9999.00")
    mismatch = await client.post("/callbacks/CEB", content=body, headers=headers)
    assert mismatch.status_code == 400 and "amount" in mismatch.json()["reason"]
    after = await events(app, w["id"])
    assert (await user.get(w["id"]))["status"] == "PROCESSING"
    assert after[: len(before)] == before
    assert after[len(before) :] == [("PROCESSING", "PROCESSING", "CALLBACK")]  # the recorded note


async def test_a_final_record_is_not_rewritten_by_later_news(start_app):
    client, app = await start_app(status_sync=False)
    user = await User.sign_in(client, "uma")
    quote = await user.quote("CEB", "1000.00", "INSTALLMENT", 3)
    w = await user.withdraw(quote)
    for _ in range(3):
        await user.confirm(w["id"], "000000")
    failed = await user.get(w["id"])
    assert (failed["status"], failed["failureCode"]) == ("FAILED", "TOO_MANY_ATTEMPTS")
    await app.state.services.withdrawals.sync_one(w["id"])  # the bank also says FAILED
    headers, body = callback(app, w["id"], "FAILED")
    assert (await client.post("/callbacks/CEB", content=body, headers=headers)).json() == {
        "status": "unchanged"
    }
    again = await user.get(w["id"])
    assert (again["failureCode"], again["failureReason"]) == (
        "TOO_MANY_ATTEMPTS",
        failed["failureReason"],
    )


def database_lost() -> OperationalError:
    return OperationalError("UPDATE withdrawals", {}, ConnectionResetError("connection lost"))


@pytest.mark.parametrize("lost", ["after-the-claim", "the-claims-answer"])
async def test_a_sync_job_cut_short_by_the_database_resumes_at_once(start_app, lost):
    """The database goes away mid-job: the lease this replica took is given back on its next
    pass instead of blocking the withdrawal until the lease runs out (a minute)."""
    client, app = await start_app(status_sync=False)
    services = app.state.services
    user = await User.sign_in(client, "vera")
    w = await user.withdraw(await user.quote("CEB", "1000.00", "INSTALLMENT", 3))
    assert (await user.confirm(w["id"]))["status"] == "PROCESSING"
    await asyncio.sleep(0.4)  # due for status sync, and settled at the bank

    db = services.db
    real = {"write": db.write, "write_core": db.write_core}  # every write transaction
    writes = []

    def failing(real_write):
        @asynccontextmanager
        async def write():
            writes.append(1)
            if len(writes) == 1 and lost == "the-claims-answer":
                async with real_write() as session:
                    yield session
                raise database_lost()  # committed, but the answer never came back
            if len(writes) == 2 and lost == "after-the-claim":
                raise database_lost()
            async with real_write() as session:
                yield session

        return write

    for name, real_write in real.items():
        setattr(db, name, failing(real_write))
    with pytest.raises(OperationalError):
        await services.withdrawals.sync_due()
    for name, real_write in real.items():
        setattr(db, name, real_write)

    async with services.db.read() as session:
        row = await session.get(Withdrawal, w["id"])
    assert row.status == "PROCESSING" and row.sync_lease_until is not None  # leased, cut short
    assert await services.withdrawals.sync_due() == 1
    assert (await user.get(w["id"]))["status"] == "SUCCEEDED"


@pytest.mark.parametrize("outcome", ["VERIFICATION_REQUIRED", "PROCESSING", "FAILED"])
async def test_the_answer_to_create_is_what_a_later_read_shows(start_app, outcome):
    """createWithdrawal answers from the row it wrote: the same as reading it back."""
    from providers import ProviderError, ProviderErrorCode

    banks = FAST_BANKS | {
        "SPABANK": {"verification_required": "false", "settlement_delay_s": "3600"}
    }
    client, app = await start_app(bank_options=banks)
    code = "SPABANK" if outcome == "PROCESSING" else "CEB"
    if outcome == "FAILED":

        async def declined(request):
            raise ProviderError(ProviderErrorCode.DAILY_LIMIT_EXCEEDED, "0.00 CNY left today")

        bank(app, code).submit_withdrawal = declined
    user = await User.sign_in(client, "olga")
    quote = await user.quote(code, "1200", "INSTALLMENT", 6)
    created = await user.withdraw(quote)
    assert created.pop("__typename") == "Withdrawal" and created["status"] == outcome, created
    assert await user.get(created["id"]) == created


async def test_a_callback_ahead_of_the_banks_answer_is_recorded_once(start_app):
    """The bank's callback lands before its answer to the submission: the answer finds the
    withdrawal already moved and records no second move."""
    from api.services.lifecycle import Source

    client, app = await start_app()
    ceb = bank(app)
    original = ceb.submit_withdrawal

    async def callback_first(request):
        result = await original(request)
        await app.state.services.withdrawals.apply(request.request_id, result, Source.CALLBACK)
        return result

    ceb.submit_withdrawal = callback_first
    user = await User.sign_in(client, "olga")
    created = await user.withdraw(await user.quote("CEB", "1000.00", "INSTALLMENT", 3))
    assert created["status"] == "VERIFICATION_REQUIRED", created
    assert await events(app, created["id"]) == [
        (None, "PENDING", "USER"),
        ("PENDING", "VERIFICATION_REQUIRED", "CALLBACK"),
    ]
    created.pop("__typename")
    assert await user.get(created["id"]) == created
