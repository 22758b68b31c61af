"""Bound bookings: what the bank books is what the holder accepted. The withdrawal carries
the quote's id, start day, the bank's schedule and their digest; the bank echoes the terms it
booked; other terms are never a success, and a quote of another day is never booked shifted.
On the sandbox banks (SDK 1.2), on SQLite and on PostgreSQL alike."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlmodel import func, select

import api.services.withdrawals
from api import messages
from api.services.banks import today_in_china
from db.models import Withdrawal
from providers import BookedTerms, SubmitWithdrawal, terms_digest
from tests.api.flow import User
from tests.api.test_admin import admin, operator_token
from tests.api.test_consent import EVIDENCE

WITHDRAWAL = """query($id: ID!) { withdrawal(id: $id) { status failureCode failureReason
  declineReason nextStep } }"""


async def count(app) -> int:
    async with app.state.services.db.read() as session:
        return (await session.exec(select(func.count()).select_from(Withdrawal))).one()


def raw(app, bank: str):
    """The bank's plugin itself, behind the service's guard."""
    return app.state.services.registry.get(bank).provider


async def booked_digest(app, withdrawal_id: str) -> str | None:
    async with app.state.services.db.read() as session:
        return (await session.get(Withdrawal, withdrawal_id)).booked_terms_digest


async def test_the_bank_gets_the_accepted_terms_and_books_them(client, app, monkeypatch):
    user = await User.sign_in(client, "bound-ada")
    quote = await user.quote("CEB", "3000.00", "INSTALLMENT", 6)
    bank = raw(app, "CEB")
    sent: list[SubmitWithdrawal] = []
    submit = bank.submit_withdrawal

    async def recording(request):
        sent.append(request)
        return await submit(request)

    monkeypatch.setattr(bank, "submit_withdrawal", recording)
    made = await user.withdraw(quote)
    assert made["__typename"] == "Withdrawal" and made["status"] == "VERIFICATION_REQUIRED", made
    (request,) = sent
    view = await app.state.services.quotes.view(quote["id"])
    assert request.quote_id == quote["id"]
    assert request.start_date == view.start_date == today_in_china()
    assert request.schedule == view.bank_schedule and len(request.schedule) == 6
    assert request.schedule_digest == terms_digest(view.start_date, view.bank_schedule)
    # The bank's echo matched: its digest is kept, and the export shows it.
    assert await booked_digest(app, made["id"]) == request.schedule_digest
    confirmed = await user.confirm(made["id"])
    assert confirmed["status"] in ("PROCESSING", "SUCCEEDED"), confirmed


async def test_a_quote_of_yesterday_is_never_booked_on_todays_dates(client, app, monkeypatch):
    """A quote at 23:55 counts its days from that day; at 00:04 the same schedule would be
    other terms. The withdrawal is refused before the bank is asked: a new quote is needed."""
    user = await User.sign_in(client, "bound-bo")
    quote = await user.quote("SPABANK", "1500.00", "SINGLE_MONTH", 1)
    before = await count(app)
    tomorrow = today_in_china() + timedelta(days=1)
    monkeypatch.setattr(api.services.withdrawals, "today_in_china", lambda: tomorrow)
    refused = await user.withdraw(quote)
    assert refused["__typename"] == "QuoteError" and refused["code"] == "QUOTE_EXPIRED", refused
    assert refused["field"] == "quoteId"
    assert refused["message"] == messages.text("QUOTE_EXPIRED.day_changed", "zh-CN")
    assert await count(app) == before


async def test_a_bank_that_books_other_terms_never_makes_a_success(client, app, monkeypatch):
    user = await User.sign_in(client, "bound-cy")
    quote = await user.quote("CEB", "2000.00", "INSTALLMENT", 3)
    bank = raw(app, "CEB")
    submit = bank.submit_withdrawal

    async def books_a_day_later(request):
        answer = await submit(request)
        later = request.start_date + timedelta(days=1)
        shifted = tuple(replace(p, due_date=p.due_date + timedelta(days=1))
                        for p in request.schedule)
        return replace(answer, booked=BookedTerms(later, shifted))

    monkeypatch.setattr(bank, "submit_withdrawal", books_a_day_later)
    made = await user.withdraw(quote)
    assert made["__typename"] == "Withdrawal", made
    assert made["status"] == "FAILED" and made["failureCode"] == "TERMS_MISMATCH", made
    assert made["failureReason"] == messages.text("failure.TERMS_MISMATCH", "zh-CN")
    # The bank was asked to cancel: nothing is left awaiting a code there.
    at_bank = await bank.query_withdrawal(made["id"])
    assert at_bank.state.value == "CANCELLED", at_bank
    # A later word of the bank changes nothing: the failure is final.
    assert (await user.confirm(made["id"]))["code"] == "INVALID_STATE"
    assert (await user.get(made["id"]))["status"] == "FAILED"


async def test_an_older_plugin_that_echoes_nothing_still_works(start_app, monkeypatch):
    """A plugin of SDK 1.0 or 1.1 never echoes terms: cardcash checks what it can (the
    request id, the amount and currency), and the export says the terms were not echoed."""
    client, app = await start_app(admin=True)
    user = await User.sign_in(client, "bound-di")
    quote = await user.quote("CEB", "1000.00", "SINGLE_MONTH", 1)
    bank = raw(app, "CEB")
    for name in ("submit_withdrawal", "confirm_withdrawal", "query_withdrawal"):
        call = getattr(bank, name)

        async def silent(*args, _call=call, **kwargs):
            return replace(await _call(*args, **kwargs), booked=None)

        monkeypatch.setattr(bank, name, silent)
    made = await user.withdraw(quote)
    assert made["status"] == "VERIFICATION_REQUIRED", made
    done = await user.confirm(made["id"])
    assert done["status"] in ("PROCESSING", "SUCCEEDED"), done
    assert await booked_digest(app, made["id"]) is None
    token = await operator_token(app)
    body = (await admin(client, EVIDENCE, {"id": made["id"]}, token=token)).json()
    booked = body["data"]["withdrawalEvidence"]["booked"]
    assert booked["terms_digest"] is None and booked["terms_match"] is None
    view = await app.state.services.quotes.view(quote["id"])
    assert booked["accepted_terms_digest"] == terms_digest(view.start_date, view.bank_schedule)
