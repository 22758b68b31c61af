"""Checks that a provider's answer keeps the SDK contract.

A bank plugin is code cardcash does not control. Before an answer reaches the service it is
checked here: the right types (money is :class:`~decimal.Decimal`, never float), the right
shapes (a schedule whose principals add up to the amount) and, for withdrawals, the *integrity*
of the answer: the bank reports the withdrawal that was asked for (same request id) for the
amount and currency that were asked. A difference is never treated as a success.

Every check raises :class:`ContractViolation` (a ``ProviderError`` with code
``INVALID_RESPONSE``). The service may use :func:`check_withdrawal` for callbacks too, with the
amount from its own records.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from providers.errors import ProviderError, ProviderErrorCode
from providers.scrub import contains_card_number
from providers.types import (
    CallbackEvent,
    CardInfo,
    CardKind,
    Health,
    InstallmentPricing,
    Offer,
    QuoteRequest,
    QuoteResult,
    ScheduledPayment,
    SingleMonthPricing,
    WithdrawalResult,
    WithdrawalState,
)

_CENT = Decimal("0.01")


class ContractViolation(ProviderError):
    """A provider answer that breaks the SDK contract.

    ``integrity`` is True when the answer is well-formed but about another withdrawal, amount or
    currency than the one asked: the guard logs those at ERROR as integrity events.
    """

    def __init__(self, message: str, *, integrity: bool = False) -> None:
        super().__init__(ProviderErrorCode.INVALID_RESPONSE, message)
        self.integrity = integrity


def _expect_type(value: Any, expected: type | tuple[type, ...], what: str) -> None:
    # bool is an int subclass; a bool where a number belongs is a contract breach too.
    if not isinstance(value, expected) or (isinstance(value, bool) and expected is not bool):
        raise ContractViolation(
            f"{what} must be {_type_names(expected)}, got {type(value).__name__}"
        )


def _type_names(expected: type | tuple[type, ...]) -> str:
    types = expected if isinstance(expected, tuple) else (expected,)
    return " or ".join(t.__name__ for t in types)


def check_money(value: Any, what: str, *, positive: bool = False) -> Decimal:
    """``value`` is a finite, non-negative Decimal with at most two decimals."""
    _expect_type(value, Decimal, what)
    if not value.is_finite():
        raise ContractViolation(f"{what} must be finite")
    if value < 0 or (positive and value == 0):
        raise ContractViolation(f"{what} must be {'positive' if positive else 'non-negative'}")
    # Amounts nearly always come in cents: same_quantum says so far quicker than as_tuple.
    if not value.same_quantum(_CENT) and value.as_tuple().exponent < -2:
        raise ContractViolation(f"{what} must have at most two decimals")
    return value


def _check_rate(value: Any, what: str) -> None:
    _expect_type(value, Decimal, what)
    if not value.is_finite() or value < 0:
        raise ContractViolation(f"{what} must be a finite, non-negative rate")


def _check_text(value: Any, what: str, *, required: bool = True) -> None:
    _expect_type(value, str, what)
    if required and not value:
        raise ContractViolation(f"{what} must not be empty")
    # Refuse rather than store: cardcash must never keep a full card number.
    if contains_card_number(value):
        raise ContractViolation(f"{what} contains what looks like a full card number")


def check_cards(cards: Any) -> list[CardInfo]:
    """A list (or tuple) of :class:`CardInfo` with masked numbers only."""
    _expect_type(cards, (list, tuple), "list_cards result")
    for card in cards:
        _expect_type(card, CardInfo, "card")
        _check_text(card.card_ref, "card_ref")
        _expect_type(card.kind, CardKind, "card kind")
        _check_text(card.issuer_code, "issuer_code")
        _expect_type(card.last4, str, "last4")
        if len(card.last4) != 4 or not card.last4.isdigit():
            raise ContractViolation("last4 must be exactly four digits")
        _check_text(card.product_name, "product_name", required=False)
    return list(cards)


def check_offer(offer: Any, card_ref: str) -> Offer:
    """An :class:`Offer` for ``card_ref`` with consistent Decimal limits and pricing."""
    _expect_type(offer, Offer, "get_offer result")
    if offer.card_ref != card_ref:
        raise ContractViolation("offer is for another card", integrity=True)
    _expect_type(offer.currency, str, "currency")
    for name in ("credit_limit", "available_limit", "min_amount", "max_amount", "daily_remaining"):
        check_money(getattr(offer, name), name)
    if offer.min_amount > offer.max_amount:
        raise ContractViolation("min_amount is above max_amount")
    if offer.single_month is not None:
        _expect_type(offer.single_month, SingleMonthPricing, "single_month")
        _check_rate(offer.single_month.daily_interest_rate, "daily_interest_rate")
        _check_rate(offer.single_month.fee_rate, "fee_rate")
        check_money(offer.single_month.min_fee, "min_fee")
        days = offer.single_month.term_days
        if days is not None and (type(days) is not int or not 1 <= days <= 366):
            raise ContractViolation("term_days must be a whole number of days, 1 to 366")
    _expect_type(offer.installments, tuple, "installments")
    for pricing in offer.installments:
        _expect_type(pricing, InstallmentPricing, "installment pricing")
        _expect_type(pricing.periods, int, "installment periods")
        if pricing.periods < 2:
            raise ContractViolation("an installment tenor has at least two periods")
        _check_rate(pricing.monthly_fee_rate, "monthly_fee_rate")
        for name in ("min_amount", "max_amount"):
            if getattr(pricing, name) is not None:
                check_money(getattr(pricing, name), f"installment {name}", positive=True)
        if pricing.min_amount and pricing.max_amount and pricing.min_amount > pricing.max_amount:
            raise ContractViolation("an installment's min_amount is above its max_amount")
    _expect_type(offer.arrival_description, str, "arrival_description")
    return offer


def check_quote(result: Any, request: QuoteRequest) -> QuoteResult:
    """A :class:`QuoteResult` answering ``request`` whose principals add up to the amount."""
    _expect_type(result, QuoteResult, "quote result")
    check_money(result.amount, "quote amount")
    if (result.amount, result.currency) != (request.amount, request.currency):
        raise ContractViolation("quote is for another amount or currency", integrity=True)
    if (result.repayment_type, result.periods) != (request.repayment_type, request.periods):
        raise ContractViolation("quote is for another repayment type or tenor", integrity=True)
    _check_schedule(result.schedule, result.amount, result.periods)
    _check_text(result.agreement_version, "agreement_version")
    _expect_type(result.agreement_summary, str, "agreement_summary")
    return result


def check_schedule(schedule: Any, amount: Decimal, periods: int) -> tuple[ScheduledPayment, ...]:
    """A tuple of ``periods`` well-formed payments, in order, whose principals add up."""
    _check_schedule(schedule, amount, periods)
    return schedule


def _check_schedule(schedule: Any, amount: Decimal, periods: int) -> None:
    _expect_type(schedule, tuple, "schedule")
    if len(schedule) != periods:
        raise ContractViolation(f"schedule has {len(schedule)} payments for {periods} periods")
    previous_due = None
    for number, payment in enumerate(schedule, start=1):
        _expect_type(payment, ScheduledPayment, "scheduled payment")
        if payment.period != number:
            raise ContractViolation("schedule periods must be numbered 1, 2, 3, ...")
        for name in ("principal", "interest", "fee"):
            check_money(getattr(payment, name), name)
        if previous_due is not None and payment.due_date <= previous_due:
            raise ContractViolation("schedule due dates must increase")
        previous_due = payment.due_date
    if sum((p.principal for p in schedule), Decimal(0)) != amount:
        raise ContractViolation("schedule principals do not add up to the amount")


def check_withdrawal(
    result: Any, *, request_id: str, amount: Decimal, currency: str
) -> WithdrawalResult:
    """A :class:`WithdrawalResult` for ``request_id``, ``amount`` and ``currency``.

    Example::

        check_withdrawal(result, request_id="w-1", amount=Decimal("500.00"), currency="CNY")
    """
    _expect_type(result, WithdrawalResult, "withdrawal result")
    _check_withdrawal_fields(result)
    _check_same_withdrawal(result, request_id=request_id, amount=amount, currency=currency)
    _expect_type(result.expected_arrival, (datetime, type(None)), "expected_arrival")
    return result


def check_callback_event(event: Any) -> CallbackEvent:
    """A well-typed :class:`CallbackEvent` (the service checks it against its own records)."""
    _expect_type(event, CallbackEvent, "callback event")
    _check_withdrawal_fields(event)
    _expect_type(event.occurred_at, datetime, "occurred_at")
    return event


def _check_withdrawal_fields(result: WithdrawalResult | CallbackEvent) -> None:
    _expect_type(result.request_id, str, "request_id")
    _check_text(result.bank_reference, "bank_reference")
    _expect_type(result.state, WithdrawalState, "state")
    check_money(result.amount, "amount", positive=True)
    _expect_type(result.currency, str, "currency")
    _expect_type(result.failure_reason, (str, type(None)), "failure_reason")


def _check_same_withdrawal(
    result: WithdrawalResult, *, request_id: str, amount: Decimal, currency: str
) -> None:
    if result.request_id != request_id:
        raise ContractViolation("answer is about another request id", integrity=True)
    if result.amount != amount:
        raise ContractViolation(
            f"bank reports amount {result.amount}, asked {amount}", integrity=True
        )
    if result.currency != currency:
        raise ContractViolation(
            f"bank reports currency {result.currency}, asked {currency}", integrity=True
        )


def check_health(health: Any) -> Health:
    """A :class:`Health`."""
    _expect_type(health, Health, "health result")
    _expect_type(health.ok, bool, "health ok")
    return health


def check_bool(value: Any, what: str) -> bool:
    """Exactly True or False (a truthy string is not an answer)."""
    _expect_type(value, bool, what)
    return value


__all__: Sequence[str] = (
    "ContractViolation",
    "check_bool",
    "check_callback_event",
    "check_cards",
    "check_health",
    "check_money",
    "check_offer",
    "check_quote",
    "check_schedule",
    "check_withdrawal",
)
