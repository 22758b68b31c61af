"""Text a bank sends: identifiers are refused unless fit to keep, text for display is cleaned
(card numbers masked, controls dropped, length bounded), at the guard, before cardcash sees it."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from api.banks.guard import GuardedProvider, GuardSettings
from providers import (
    CardInfo,
    CardKind,
    Customer,
    Health,
    ProviderError,
    ProviderErrorCode,
    QuoteRequest,
    RepaymentType,
    WithdrawalState,
)
from providers.integrity import (
    MAX_AGREEMENT_SUMMARY_LENGTH,
    MAX_ARRIVAL_DESCRIPTION_LENGTH,
    MAX_PRODUCT_NAME_LENGTH,
    MAX_REASON_LENGTH,
    MAX_REFERENCE_LENGTH,
    display_text,
)
from tests.providers.conftest import submit_request, withdrawal

CUSTOMER = Customer("WECHAT", "o-1")
QUOTE = QuoteRequest(
    CUSTOMER, "ref-credit", Decimal("500.00"), "CNY", RepaymentType.SINGLE_MONTH, 1,
    date(2026, 1, 1),
)
EXPECTED = {"expected_amount": Decimal("500.00"), "expected_currency": "CNY"}

# Luhn-valid card numbers as a bank's text may quote them.
PANS = {
    "plain": "4111111111111111",
    "spaced": "6220 2123 4567 8900",
    "dashed": "5500-0000-0000-0004",
    "amex": "378282246310005",
    "nineteen": "6212345678901234569",
}


def guard(bank, clock) -> GuardedProvider:
    return GuardedProvider(bank, GuardSettings(read_timeout=1.0, write_timeout=1.0), clock=clock)


async def refused(call) -> str:
    with pytest.raises(ProviderError) as caught:
        await call
    assert caught.value.code is ProviderErrorCode.INVALID_RESPONSE, caught.value
    return caught.value.message


def assert_clean(text: str, limit: int) -> None:
    assert len(text) <= limit
    assert not any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F for c in text)
    for pan in PANS.values():
        digits = pan.replace(" ", "").replace("-", "")
        assert digits not in text.replace(" ", "").replace("-", "")


# -- identifiers: refused -------------------------------------------------------------------

BAD_REFERENCES = {
    "5000 characters": "R" * 5000,
    "one too long": "R" * (MAX_REFERENCE_LENGTH + 1),
    "NUL": "REF\x00-1",
    "newline": "REF\n-1",
    "lone surrogate": "REF-\ud800",
    **{f"card number, {k}": f"REF {v}" for k, v in PANS.items()},
}


@pytest.mark.parametrize("reference", list(BAD_REFERENCES.values()), ids=list(BAD_REFERENCES))
@pytest.mark.parametrize("method", ["submit", "query", "callback"])
async def test_an_unfit_bank_reference_is_a_contract_violation(
    scripted_bank, clock, reference, method
):
    guarded = guard(scripted_bank, clock)
    answer = replace(withdrawal("w-1", Decimal("500.00")), bank_reference=reference)
    if method == "submit":
        scripted_bank.script["submit_withdrawal"] = answer
        message = await refused(guarded.submit_withdrawal(submit_request()))
    elif method == "query":
        scripted_bank.script["query_withdrawal"] = answer
        message = await refused(guarded.query_withdrawal("w-1", **EXPECTED))
    else:
        scripted_bank.script["verify_callback"] = replace(
            scripted_bank.verify_callback({}, b""), bank_reference=reference
        )

        async def call():
            return guarded.verify_callback({}, b"")

        message = await refused(call())
    assert "bank_reference" in message
    assert reference not in message  # the message quotes no bank text


async def test_a_reference_at_the_limit_is_kept_as_it_is(scripted_bank, clock):
    reference = "R" * MAX_REFERENCE_LENGTH
    scripted_bank.script["query_withdrawal"] = replace(
        withdrawal("w-1", Decimal("500.00")), bank_reference=reference
    )
    result = await guard(scripted_bank, clock).query_withdrawal("w-1", **EXPECTED)
    assert result.bank_reference == reference


@pytest.mark.parametrize(
    "card",
    [
        CardInfo("r" * (MAX_REFERENCE_LENGTH + 1), CardKind.CREDIT, "SCRIPTED", "1234", "Gold"),
        CardInfo("ref\x00", CardKind.CREDIT, "SCRIPTED", "1234", "Gold"),
        CardInfo("ref", CardKind.CREDIT, "S" * 17, "1234", "Gold"),
        CardInfo("ref", CardKind.CREDIT, "SCRIPTED\n", "1234", "Gold"),
    ],
    ids=["long-ref", "nul-ref", "long-issuer", "newline-issuer"],
)
async def test_unfit_card_identifiers_are_refused(scripted_bank, clock, card):
    scripted_bank.script["list_cards"] = [card]
    await refused(guard(scripted_bank, clock).list_cards(CUSTOMER))


@pytest.mark.parametrize("currency", ["cny", "CNYX", "", "人民币", "C\x00Y"])
async def test_a_currency_is_three_capital_letters(scripted_bank, clock, currency):
    guarded = guard(scripted_bank, clock)
    offer = await guarded.get_offer(CUSTOMER, "ref-credit")
    scripted_bank.script["get_offer"] = replace(offer, currency=currency)
    await refused(guarded.get_offer(CUSTOMER, "ref-credit"))
    scripted_bank.script["query_withdrawal"] = replace(
        withdrawal("w-1", Decimal("500.00")), currency=currency
    )
    await refused(guarded.query_withdrawal("w-1", **EXPECTED))


async def test_an_agreement_version_too_long_is_refused(scripted_bank, clock):
    guarded = guard(scripted_bank, clock)
    request = QUOTE
    result = await guarded.quote(request)
    scripted_bank.script["quote"] = replace(result, agreement_version="v" * 65)
    await refused(guarded.quote(request))


# -- text for display: cleaned --------------------------------------------------------------

REASONS = {
    **{f"card number, {k}": f"card {v} is frozen" for k, v in PANS.items()},
    "5000 characters": "余额不足" * 1250,
    "controls": "declined\r\n\x1b[31mcall 95595\x00\x85",
    "lone surrogate": "declined \ud83d",
    "card numbers among other digits": f"ref 20261207000123 amount 500.00 card {PANS['plain']}",
}


@pytest.mark.parametrize("reason", list(REASONS.values()), ids=list(REASONS))
async def test_a_failure_reason_is_cleaned_not_refused(scripted_bank, clock, reason):
    failed = replace(
        withdrawal("w-1", Decimal("500.00"), WithdrawalState.FAILED), failure_reason=reason
    )
    scripted_bank.script["query_withdrawal"] = failed
    guarded = guard(scripted_bank, clock)
    result = await guarded.query_withdrawal("w-1", **EXPECTED)
    assert result.state is WithdrawalState.FAILED  # the outcome is never lost over its text
    assert_clean(result.failure_reason, MAX_REASON_LENGTH)
    assert result.failure_reason
    scripted_bank.script["verify_callback"] = replace(
        scripted_bank.verify_callback({}, b""), state=WithdrawalState.FAILED, failure_reason=reason
    )
    assert_clean(guarded.verify_callback({}, b"").failure_reason, MAX_REASON_LENGTH)


def test_cleaning_keeps_what_is_not_a_card_number():
    text = "ref 20261207000123, amount 500.00, call 95595, card ****1111"
    assert display_text(text, 200) == text
    assert display_text(f"card {PANS['spaced']} frozen", 200) == "card ****8900 frozen"
    assert display_text("a\n\nb\tc", 200) == "a b c"
    cut = display_text("x" * 500, 200)
    assert len(cut) == 200 and cut.endswith("…")


async def test_other_display_text_is_cleaned(scripted_bank, clock):
    guarded = guard(scripted_bank, clock)
    scripted_bank.script["list_cards"] = [
        CardInfo("ref", CardKind.CREDIT, "SCRIPTED", "1111", f"Gold {PANS['plain']}" + "x" * 99)
    ]
    [card] = await guarded.list_cards(CUSTOMER)
    assert_clean(card.product_name, MAX_PRODUCT_NAME_LENGTH)
    assert card.product_name.startswith("Gold ****1111")
    offer = await guarded.get_offer(CUSTOMER, "ref-credit")
    scripted_bank.script["get_offer"] = replace(
        offer, arrival_description=f"to {PANS['dashed']}\n" * 100
    )
    cleaned = await guarded.get_offer(CUSTOMER, "ref-credit")
    assert_clean(cleaned.arrival_description, MAX_ARRIVAL_DESCRIPTION_LENGTH)
    request = QUOTE
    result = await guarded.quote(request)
    scripted_bank.script["quote"] = replace(result, agreement_summary=PANS["amex"] + "条款" * 5000)
    summary = (await guarded.quote(request)).agreement_summary
    assert_clean(summary, MAX_AGREEMENT_SUMMARY_LENGTH)


@pytest.mark.parametrize("reason", list(REASONS.values()), ids=list(REASONS))
async def test_a_banks_error_message_is_cleaned(scripted_bank, clock, reason):
    guarded = guard(scripted_bank, clock)
    scripted_bank.script["submit_withdrawal"] = ProviderError(ProviderErrorCode.DECLINED, reason)
    with pytest.raises(ProviderError) as caught:
        await guarded.submit_withdrawal(submit_request())
    assert caught.value.code is ProviderErrorCode.DECLINED
    assert_clean(caught.value.message, MAX_REASON_LENGTH)
    scripted_bank.script["health"] = Health(ok=False, detail=reason)

    async def unhealthy():
        return Health(ok=False, detail=reason)

    scripted_bank.health = unhealthy
    assert_clean((await guarded.health()).detail, MAX_REASON_LENGTH)
