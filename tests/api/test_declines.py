"""Why a bank said no: a reason from a closed set, told in the user's language with a next
step; the bank's own words kept, masked and bounded, for operators only."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlmodel import select

from api.banks.sandbox.bank import DECLINE_REASONS
from db.models import Withdrawal, WithdrawalEvent
from providers import CallbackEvent, DeclineReason, ProviderError, ProviderErrorCode
from providers import WithdrawalState as State
from providers.webhooks import decode_event, encode_event
from tests.api.flow import GET, QUOTE, User
from tests.conftest import FAST_BANKS

WITHDRAWAL = GET.replace("failureReason failureCode", "failureReason failureCode declineReason nextStep")
PAN = "6222021234567894"


class English(User):
    def __init__(self, user: User) -> None:
        super().__init__(user.client, user.headers["Authorization"].split()[1])
        self.headers["Accept-Language"] = "en-US,en;q=0.9"


async def stored(app, withdrawal_id: str) -> tuple[Withdrawal, list[str]]:
    async with app.state.services.db.read() as session:
        row = (await session.exec(select(Withdrawal).where(Withdrawal.id == withdrawal_id))).one()
        events = await session.exec(
            select(WithdrawalEvent.detail).where(WithdrawalEvent.withdrawal_id == withdrawal_id)
        )
        return row, list(events)


def refusing(app, error: ProviderError, method: str = "submit_withdrawal"):
    bank = app.state.services.registry.get("CEB").provider

    async def refuse(*args, **kwargs):
        raise error

    setattr(bank, method, refuse)


async def test_a_settlement_failure_says_why_in_both_languages(start_app):
    options = FAST_BANKS | {"CEB": {"failure_rate": "1", "seed": "declines"}}
    client, app = await start_app(bank_options=options)
    user = await User.sign_in(client, "ruth")
    w = await user.withdraw(await user.quote("CEB", "800.00", "SINGLE_MONTH", 1))
    await user.confirm(w["id"])
    await user.wait_for(w["id"], "FAILED")
    zh = (await user.q(WITHDRAWAL, {"id": w["id"]}))["data"]["withdrawal"]
    en = (await English(user).q(WITHDRAWAL, {"id": w["id"]}))["data"]["withdrawal"]
    row, events = await stored(app, w["id"])
    assert row.failure_reason in DECLINE_REASONS  # the bank's words, for operators
    assert zh["failureCode"] == en["failureCode"] == "BANK_DECLINED"
    assert zh["declineReason"] == en["declineReason"] == DECLINE_REASONS[row.failure_reason]
    assert zh["declineReason"] in ("DEBIT_CARD", "RISK_CONTROL")
    assert zh["failureReason"] != en["failureReason"] and zh["nextStep"] != en["nextStep"]
    assert any("\u4e00" <= ch <= "\u9fff" for ch in zh["failureReason"] + zh["nextStep"])
    assert en["failureReason"].isascii() and en["nextStep"].isascii()
    for shown in (zh, en):  # the bank's text reaches no user, events included
        assert row.failure_reason not in json.dumps(shown, ensure_ascii=False)
    assert all(row.failure_reason not in detail for detail in events)


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (ProviderError(ProviderErrorCode.DECLINED, "rule R17",
                       decline_reason=DeclineReason.RISK_CONTROL), "RISK_CONTROL"),
        (ProviderError(ProviderErrorCode.DECLINED, "card status 07",
                       decline_reason=DeclineReason.CARD_STATUS), "CARD_STATUS"),
        (ProviderError(ProviderErrorCode.DECLINED, "ID check",
                       decline_reason=DeclineReason.IDENTITY_MISMATCH), "IDENTITY_MISMATCH"),
        (ProviderError(ProviderErrorCode.DECLINED, "no, sorry"), "OTHER"),  # a plugin without codes
        (ProviderError(ProviderErrorCode.LIMIT_EXCEEDED, "limit 50"), "CREDIT_LIMIT"),
        (ProviderError(ProviderErrorCode.DAILY_LIMIT_EXCEEDED, "cap"), "DAILY_CAP"),
    ],
    ids=lambda v: v if isinstance(v, str) else v.code.value,
)
async def test_a_refused_submission_keeps_its_reason(client, app, error, reason):
    refusing(app, error)
    user = await User.sign_in(client, "sam" + reason.lower().replace("_", ""))
    w = await user.withdraw(await user.quote("CEB", "900.00", "SINGLE_MONTH", 1))
    assert w["status"] == "FAILED", w
    shown = (await user.q(WITHDRAWAL, {"id": w["id"]}))["data"]["withdrawal"]
    row, _ = await stored(app, w["id"])
    assert row.decline_reason == reason
    if error.code is ProviderErrorCode.DECLINED:
        assert shown["declineReason"] == reason and shown["nextStep"]
        assert error.message not in json.dumps(shown)


async def test_the_banks_words_are_masked_and_bounded_for_operators(client, app):
    words = f"refused: card {PAN} \n\t flagged by rule " + "x" * 5000
    refusing(app, ProviderError(ProviderErrorCode.DECLINED, words,
                                decline_reason=DeclineReason.RISK_CONTROL))
    user = await User.sign_in(client, "tess")
    w = await user.withdraw(await user.quote("CEB", "900.00", "SINGLE_MONTH", 1))
    row, events = await stored(app, w["id"])
    assert PAN not in row.failure_reason and "****7894" in row.failure_reason
    assert len(row.failure_reason) <= 256 and "\n" not in row.failure_reason
    assert all(PAN not in d and "flagged" not in d for d in events)


async def test_a_refused_quote_names_its_reason_and_next_step(client, app):
    refusing(app, ProviderError(ProviderErrorCode.DECLINED, "internal code 9",
                                decline_reason=DeclineReason.CARD_STATUS), "quote")
    user = await User.sign_in(client, "uma")
    fields = "... on BankError { declineReason nextStep bankCode }"
    query = QUOTE.replace("... on Error { code message }", f"... on Error {{ code message }} {fields}")
    credit, _ = await user.cards()
    variables = {"input": {"bankCode": "CEB", "creditCardId": credit["CEB"]["id"],
                           "amount": "900.00", "repaymentType": "SINGLE_MONTH", "periods": 1}}
    zh = (await user.q(query, variables))["data"]["createQuote"]
    en = (await English(user).q(query, variables))["data"]["createQuote"]
    assert zh["code"] == en["code"] == "BANK_DECLINED"
    assert zh["declineReason"] == en["declineReason"] == "CARD_STATUS"
    assert zh["message"] != en["message"] and zh["nextStep"] != en["nextStep"]
    assert "internal code 9" not in json.dumps([zh, en])


def test_a_callback_carries_the_reason_and_a_plugin_may_leave_it_out():
    event = CallbackEvent("w-1", "REF1", State.FAILED, Decimal("500.00"), "CNY",
                          datetime(2026, 12, 7, tzinfo=UTC), "frozen",
                          decline_reason=DeclineReason.DEBIT_CARD)
    assert decode_event(encode_event(event)).decline_reason is DeclineReason.DEBIT_CARD
    plain = CallbackEvent("w-1", "REF1", State.FAILED, Decimal("500.00"), "CNY",
                          datetime(2026, 12, 7, tzinfo=UTC), "frozen")
    assert b"decline_reason" not in encode_event(plain)
    assert decode_event(encode_event(plain)).decline_reason is None


def test_every_decline_reason_has_both_languages():
    from api import messages

    for reason in DeclineReason:
        for language in messages.LANGUAGES:
            for key in (f"BANK_DECLINED.{reason}", f"failure.BANK_DECLINED.{reason}",
                        f"next.{reason}"):
                assert messages.text(key, language)
