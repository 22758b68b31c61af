"""One withdrawal per credit card in flight to its bank at a time, whatever process asks."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import update
from sqlmodel import col, func, select

from api import messages
from db.models import Withdrawal
from tests.api.flow import User
from tests.conftest import FAST_BANKS, make_settings


@pytest.fixture
def settings(database_url, tmp_path):
    # CEB answers after 100 ms: long enough for concurrent requests to overlap at the bank.
    banks = FAST_BANKS | {"CEB": FAST_BANKS["*"] | {"latency_ms": "100"}}
    return make_settings(database_url, tmp_path / "data", bank_options=banks)


async def _set_status(app, withdrawal_id: str, status: str) -> None:
    async with app.state.services.db.write() as session:
        await session.exec(
            update(Withdrawal).where(col(Withdrawal.id) == withdrawal_id).values(status=status)
        )


async def _count(app) -> int:
    async with app.state.services.db.read() as session:
        return (await session.exec(select(func.count()).select_from(Withdrawal))).one()


async def test_a_second_withdrawal_waits_while_the_card_has_one_in_flight(client, app):
    user = await User.sign_in(client, "hana")
    first = await user.withdraw(await user.quote("CEB", "500.00", "SINGLE_MONTH", 1))
    assert first["status"] == "VERIFICATION_REQUIRED"
    # As if another replica were handing it to the bank right now.
    await _set_status(app, first["id"], "PENDING")

    quote = await user.quote("CEB", "600.00", "SINGLE_MONTH", 1)
    busy = await user.withdraw(quote, key="second-withdrawal-1")
    assert busy["__typename"] == "CardError" and busy["code"] == "CARD_BUSY", busy
    assert busy["message"] == messages.text("CARD_BUSY", "zh-CN")
    assert await _count(app) == 1

    # Once the first has the bank's answer, the same request goes through.
    await _set_status(app, first["id"], "VERIFICATION_REQUIRED")
    second = await user.withdraw(quote, key="second-withdrawal-1")
    assert second["__typename"] == "Withdrawal" and second["id"] != first["id"]
    assert await _count(app) == 2


async def test_a_used_quote_is_reported_as_used_even_while_its_withdrawal_is_in_flight(client, app):
    user = await User.sign_in(client, "ivan")
    quote = await user.quote("CEB", "500.00", "SINGLE_MONTH", 1)
    first = await user.withdraw(quote, key="first-withdrawal-1")
    await _set_status(app, first["id"], "PENDING")
    again = await user.withdraw(quote, key="other-key-for-it")
    assert again["code"] == "QUOTE_ALREADY_USED", again


async def test_concurrent_withdrawals_on_one_card_reach_the_bank_one_at_a_time(client, app):
    user = await User.sign_in(client, "jack")
    quotes = [await user.quote("CEB", f"{300 + i}.00", "SINGLE_MONTH", 1) for i in range(6)]
    results = await asyncio.gather(*(user.withdraw(q) for q in quotes))
    made = [r for r in results if r["__typename"] == "Withdrawal"]
    busy = [r for r in results if r.get("code") == "CARD_BUSY"]
    assert made and busy and len(made) + len(busy) == len(quotes), results
    assert await _count(app) == len(made)
