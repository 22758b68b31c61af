"""The viewer's cards: read from the banks, kept, and refreshed when the banks' answer is old."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from tests.api.flow import CARDS, User


def count_card_lists(app, code: str) -> list[int]:
    """Count the times cardcash asks bank ``code`` for a customer's cards."""
    provider = app.state.services.registry.get(code).provider
    original, calls = provider.list_cards, [0]

    async def counted(customer):
        calls[0] += 1
        return await original(customer)

    provider.list_cards = counted
    return calls


async def test_a_page_asks_each_bank_for_cards_once_while_the_answer_is_recent(start_app):
    client, app = await start_app()
    calls = count_card_lists(app, "CEB")
    user = await User.sign_in(client, "carla")
    first = (await user.q(CARDS))["data"]["viewer"]
    for _ in range(3):
        assert (await user.q(CARDS))["data"]["viewer"] == first
    assert calls == [1]
    assert [c["bankCode"] for c in first["creditCards"]].count("CEB") == 1


async def test_a_reissued_card_shows_once_the_banks_answer_is_refreshed(start_app):
    client, app = await start_app(cards_refresh_seconds=0.5)
    user = await User.sign_in(client, "dora")
    before = (await user.q(CARDS))["data"]["viewer"]["creditCards"]
    ceb_before = next(c for c in before if c["bankCode"] == "CEB")

    provider = app.state.services.registry.get("CEB").provider
    original = provider.list_cards

    async def reissued(customer):
        cards = await original(customer)
        return [replace(c, last4="0000") if c.kind.value == "CREDIT" else c for c in cards]

    provider.list_cards = reissued
    await asyncio.sleep(0.6)
    after = (await user.q(CARDS))["data"]["viewer"]["creditCards"]
    ceb_after = next(c for c in after if c["bankCode"] == "CEB")
    # The same card (same id), its new number's last four digits.
    assert (ceb_after["id"], ceb_after["last4"]) == (ceb_before["id"], "0000")
    assert ceb_after["maskedNumber"].endswith("0000")


def refuse_payouts(app, code: str, refuse: list[bool]) -> None:
    """Bank ``code`` reports debit cards as not usable for payout while ``refuse[0]``."""
    provider = app.state.services.registry.get(code).provider
    original = provider.list_cards

    async def reported(customer):
        cards = await original(customer)
        return [replace(c, usable_for_payout=not refuse[0], payout_note="another holder")
                if c.kind.value == "DEBIT" else c for c in cards]

    provider.list_cards = reported


async def test_a_debit_card_reported_by_several_banks_is_one_card(start_app):
    client, _ = await start_app()
    user = await User.sign_in(client, "erin")
    credit, debit = await user.cards()
    # Every sandbox bank reports the holder's own debit card with the same issuer and token.
    assert len(credit) > 1 and len(debit) == 1


async def test_a_debit_card_a_bank_refuses_payouts_to_is_not_offered(start_app):
    client, app = await start_app(cards_refresh_seconds=0.5)
    refuse = [False]
    refuse_payouts(app, "CEB", refuse)
    user = await User.sign_in(client, "fred")
    _, [debit] = await user.cards()
    quote = await user.quote("CEB", "1000.00", "INSTALLMENT", 3)

    refuse[0] = True
    await asyncio.sleep(0.6)
    _, debits = await user.cards()
    assert debits == []  # one bank's refusal is enough: it is the holder's card, or not
    refused = await user.withdraw(quote, debit_id=debit["id"])
    assert refused["__typename"] == "CardError", refused
    assert refused["code"] == "CARD_NOT_ELIGIBLE", refused
    assert (await user.q("{ viewer { withdrawals(first: 5) { edges { node { id } } } } }"))[
        "data"]["viewer"]["withdrawals"]["edges"] == []

    refuse[0] = False  # the bank's next report takes its refusal back
    await asyncio.sleep(0.6)
    _, debits = await user.cards()
    assert [d["id"] for d in debits] == [debit["id"]]
