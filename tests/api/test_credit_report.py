"""The credit-report authorisation (征信查询授权): part of the data-sharing consent where the
bank asks for it (the sandbox SPABANK does), named in it, sent to the bank, and a withdrawal
without it refused before the bank is asked. On SQLite and PostgreSQL alike."""

from __future__ import annotations

from dataclasses import replace

from sqlmodel import func, select

from api import messages
from db.models import Withdrawal
from providers import SubmitWithdrawal
from tests.api.flow import User

CONSENT = """mutation($input: CreateQuoteInput!) { createQuote(input: $input) {
  ... on Quote { id dataSharingConsent { version text digest creditReportAuthorization } } } }"""


async def count(app) -> int:
    async with app.state.services.db.read() as session:
        return (await session.exec(select(func.count()).select_from(Withdrawal))).one()


async def consent_of(user: User, bank: str) -> dict:
    credit, _ = await user.cards()
    variables = {"input": {"bankCode": bank, "creditCardId": credit[bank]["id"],
                           "amount": "1500.00", "repaymentType": "SINGLE_MONTH", "periods": 1}}
    return (await user.q(CONSENT, variables))["data"]["createQuote"]["dataSharingConsent"]


async def test_the_consent_names_the_credit_report_where_the_bank_asks(client):
    user = await User.sign_in(client, "credit-ann")
    asks = await consent_of(user, "SPABANK")
    assert asks["creditReportAuthorization"] is True
    assert asks["version"] == "SPABANK+ds1+credit-report"
    assert "【征信查询授权】" in asks["text"] and "个人信用报告" in asks["text"]
    plain = await consent_of(user, "CEB")
    assert plain["creditReportAuthorization"] is False and plain["version"] == "CEB+ds1"
    assert "征信" not in plain["text"]
    user.headers["Accept-Language"] = "en"
    english = await consent_of(user, "SPABANK")
    assert "[Credit report authorisation]" in english["text"]
    assert english["version"] == asks["version"] and english["digest"] != asks["digest"]


async def test_the_bank_gets_the_authorisation_with_the_withdrawal(client, app, monkeypatch):
    user = await User.sign_in(client, "credit-ben")
    quote = await user.quote("SPABANK", "1500.00", "SINGLE_MONTH", 1)
    bank = app.state.services.registry.get("SPABANK").provider
    sent: list[SubmitWithdrawal] = []
    submit = bank.submit_withdrawal

    async def recording(request):
        sent.append(request)
        return await submit(request)

    monkeypatch.setattr(bank, "submit_withdrawal", recording)
    made = await user.withdraw(quote)
    assert made["__typename"] == "Withdrawal" and made["status"] != "FAILED", made
    assert [r.credit_report_authorized for r in sent] == [True]


async def test_a_consent_without_it_is_refused_where_the_bank_asks(client, app, monkeypatch):
    """A quote made before the bank asked carries a consent without the authorisation: its
    withdrawal is refused, nothing is written and the bank is not asked."""
    user = await User.sign_in(client, "credit-cai")
    quote = await user.quote("CEB", "1500.00", "SINGLE_MONTH", 1)
    assert quote["dataSharingConsent"]["version"] == "CEB+ds1"
    guarded = app.state.services.registry.get("CEB")
    monkeypatch.setattr(guarded, "asks_credit_report", True)  # CEB starts asking
    before = await count(app)
    refused = await user.withdraw(quote)
    assert refused["__typename"] == "QuoteError", refused
    assert refused["code"] == "DATA_SHARING_NOT_ACCEPTED"
    assert refused["field"] == "acceptedDataSharingVersion"
    assert refused["message"] == messages.text("DATA_SHARING_NOT_ACCEPTED.credit_report", "zh-CN")
    assert await count(app) == before
    # A new quote names it; agreeing to that consent is the authorisation.
    again = await user.quote("CEB", "1500.00", "SINGLE_MONTH", 1)
    assert again["dataSharingConsent"]["version"] == "CEB+ds1+credit-report"


async def test_the_sandbox_bank_refuses_a_request_without_it(client, app, monkeypatch):
    """The bank's side of it: a request with the terms of SDK 1.2 but no authorisation."""
    user = await User.sign_in(client, "credit-dan")
    quote = await user.quote("SPABANK", "1500.00", "SINGLE_MONTH", 1)
    bank = app.state.services.registry.get("SPABANK").provider
    sent: list[SubmitWithdrawal] = []
    submit = bank.submit_withdrawal

    async def without(request):
        sent.append(request)
        return await submit(replace(request, credit_report_authorized=False))

    monkeypatch.setattr(bank, "submit_withdrawal", without)
    made = await user.withdraw(quote)
    assert made["status"] == "FAILED" and made["failureCode"] == "BANK_DECLINED", made
    assert sent and sent[0].credit_report_authorized is True
