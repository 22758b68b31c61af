"""An offer is rendered again whenever anything it shows changed, and only then."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal as D

import pytest

from api.schema.offers import CashAdvanceOffer
from api.services.banks import OfferView, repayment_options
from providers import BankProvider, InstallmentPricing, Offer, SingleMonthPricing

OFFER = Offer(
    card_ref="sbx-cc-1",
    currency="CNY",
    credit_limit=D("50000.00"),
    available_limit=D("20000.00"),
    min_amount=D("100.00"),
    max_amount=D("10000.00"),
    daily_remaining=D("10000.00"),
    single_month=SingleMonthPricing(D("0.0005"), D("0.01"), D("10.00")),
    installments=(InstallmentPricing(3, D("0.0075")), InstallmentPricing(12, D("0.006"))),
    arrival_description="within 2 hours",
)


class StandardPricing:
    """A bank that prices the common way (the SDK's default ``price_schedule``)."""

    code = "CEB"
    price_schedule = BankProvider.price_schedule


BANK = StandardPricing()


def view(offer: Offer, bank: str = "CEB", card: str = "card-1") -> OfferView:
    return OfferView(bank, card, offer, repayment_options(BANK, offer, date(2026, 3, 10)))


def test_the_same_answer_is_the_same_offer():
    assert CashAdvanceOffer.of(view(OFFER)) is CashAdvanceOffer.of(view(replace(OFFER)))


@pytest.mark.parametrize(
    "change",
    [
        {"available_limit": D("19999.99")},
        {"credit_limit": D("60000.00")},
        {"min_amount": D("200.00")},
        {"max_amount": D("12000.00")},  # the representative amount stays 10,000
        {"daily_remaining": D("9000.00")},
        {"arrival_description": "next working day"},
        {"installments": (InstallmentPricing(6, D("0.007")),)},
        {"single_month": SingleMonthPricing(D("0.0005"), D("0.01"), D("20.00"))},
    ],
    ids=lambda change: next(iter(change)),
)
def test_a_changed_answer_is_rendered_again(change):
    before = CashAdvanceOffer.of(view(OFFER))
    after = CashAdvanceOffer.of(view(replace(OFFER, **change)))
    assert after is not before and after != before


def test_another_card_or_bank_is_another_offer():
    first = CashAdvanceOffer.of(view(OFFER))
    assert CashAdvanceOffer.of(view(OFFER, card="card-2")).credit_card_id == "card-2"
    assert CashAdvanceOffer.of(view(OFFER, bank="CITIC")).bank_code == "CITIC"
    assert CashAdvanceOffer.of(view(OFFER)) is first
