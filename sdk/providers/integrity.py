"""Checks that a provider's answer keeps the SDK contract.

A bank plugin is code cardcash does not control. Before an answer reaches the service it is
checked here: the right types (money is :class:`~decimal.Decimal`, never float), the right
shapes (a schedule whose principals add up to the amount) and, for withdrawals, the *integrity*
of the answer: the bank reports the withdrawal that was asked for (same request id) for the
amount and currency that were asked. A difference is never treated as a success.

Every check raises :class:`ContractViolation` (a ``ProviderError`` with code
``INVALID_RESPONSE``). The service may use :func:`check_withdrawal` for callbacks too, with the
amount from its own records.

Text a bank returns is bounded, the same whatever database cardcash runs on:

- an *identifier* (``bank_reference``, ``card_ref``, ``issuer_code``, ``agreement_version``,
  ``currency``) is kept and matched as it is, so one that is too long, holds a control
  character, or a full card number, is a contract violation;
- *text for display* (``failure_reason``, ``product_name``, ``arrival_description``,
  ``agreement_summary``, an error's message, a health detail) is cleaned instead: control
  characters become spaces, a full card number is masked to its last four digits, and text
  past its limit is cut. A check returns the answer with its text so cleaned.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar

from providers.errors import DeclineReason, ProviderError, ProviderErrorCode
from providers.scrub import contains_card_number, mask_card_numbers
from providers.statement import StatementEntry
from providers.types import (
    BookedTerms,
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

T = TypeVar("T", WithdrawalResult, CallbackEvent)
_CENT = Decimal("0.01")

#: Longest identifier of its kind a bank may return (what cardcash stores of it).
MAX_REFERENCE_LENGTH = 128
"""``bank_reference`` and ``card_ref``."""
MAX_ISSUER_CODE_LENGTH = 16
MAX_AGREEMENT_VERSION_LENGTH = 64

#: How much of a bank's text for display is kept; the rest is cut.
MAX_REASON_LENGTH = 200
"""``failure_reason``, a ``ProviderError``'s message, a health detail."""
MAX_PRODUCT_NAME_LENGTH = 64
#: Why a debit card cannot take a payout, for logs and support.
MAX_PAYOUT_NOTE_LENGTH = 200
MAX_ARRIVAL_DESCRIPTION_LENGTH = 200
MAX_AGREEMENT_SUMMARY_LENGTH = 2000

# C0 and C1 controls, DEL, and lone surrogates (which no database can store as UTF-8).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_CURRENCY = re.compile(r"[A-Z]{3}")


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


def _check_text(value: Any, what: str, *, max_length: int, required: bool = True) -> None:
    """An identifier: kept as it is, so refused unless fit to keep."""
    _expect_type(value, str, what)
    if required and not value:
        raise ContractViolation(f"{what} must not be empty")
    if len(value) > max_length:
        raise ContractViolation(f"{what} is {len(value)} characters long; at most {max_length}")
    if _CONTROL.search(value):
        raise ContractViolation(f"{what} contains a control character")
    # Refuse rather than store: cardcash must never keep a full card number.
    if contains_card_number(value):
        raise ContractViolation(f"{what} contains what looks like a full card number")


def display_text(value: str, max_length: int) -> str:
    """A bank's text for display, fit to store and show: controls as spaces, full card
    numbers masked, at most ``max_length`` characters (cut with "…").

    Example::

        >>> display_text("card 4111 1111 1111 1111\\nfrozen", 200)
        'card ****1111 frozen'
    """
    text = mask_card_numbers(_CONTROL.sub(" ", value)).strip()
    text = " ".join(text.split()) if "  " in text else text
    if len(text) > max_length:
        text = text[: max_length - 1].rstrip() + "…"
    return text


def _display(value: Any, what: str, max_length: int, *, optional: bool = False) -> Any:
    if optional and value is None:
        return None
    _expect_type(value, str, what)
    return display_text(value, max_length)


def _cleaned(answer: Any, **text: Any) -> Any:
    """``answer`` with its display fields replaced by their cleaned text (itself when none
    changed: most answers are clean, and are passed on as they came)."""
    changed = {k: v for k, v in text.items() if getattr(answer, k) != v}
    return dataclasses.replace(answer, **changed) if changed else answer


def _check_currency(value: Any, what: str = "currency") -> None:
    _expect_type(value, str, what)
    if not _CURRENCY.fullmatch(value):
        raise ContractViolation(f"{what} must be three capital letters (ISO 4217)")


def check_cards(cards: Any) -> list[CardInfo]:
    """A list (or tuple) of :class:`CardInfo` with masked numbers only."""
    _expect_type(cards, (list, tuple), "list_cards result")
    checked = []
    for card in cards:
        _expect_type(card, CardInfo, "card")
        _check_text(card.card_ref, "card_ref", max_length=MAX_REFERENCE_LENGTH)
        _expect_type(card.kind, CardKind, "card kind")
        _check_text(card.issuer_code, "issuer_code", max_length=MAX_ISSUER_CODE_LENGTH)
        _expect_type(card.last4, str, "last4")
        if len(card.last4) != 4 or not (card.last4.isascii() and card.last4.isdigit()):
            raise ContractViolation("last4 must be exactly four digits")
        _expect_type(card.usable_for_payout, bool, "usable_for_payout")
        checked.append(_cleaned(
            card,
            product_name=_display(card.product_name, "product_name", MAX_PRODUCT_NAME_LENGTH),
            payout_note=_display(card.payout_note, "payout_note", MAX_PAYOUT_NOTE_LENGTH),
        ))
    return checked


def check_offer(offer: Any, card_ref: str) -> Offer:
    """An :class:`Offer` for ``card_ref`` with consistent Decimal limits and pricing."""
    _expect_type(offer, Offer, "get_offer result")
    if offer.card_ref != card_ref:
        raise ContractViolation("offer is for another card", integrity=True)
    _check_currency(offer.currency)
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
    return _cleaned(offer, arrival_description=_display(
        offer.arrival_description, "arrival_description", MAX_ARRIVAL_DESCRIPTION_LENGTH
    ))


def check_quote(result: Any, request: QuoteRequest) -> QuoteResult:
    """A :class:`QuoteResult` answering ``request`` whose principals add up to the amount."""
    _expect_type(result, QuoteResult, "quote result")
    check_money(result.amount, "quote amount")
    if (result.amount, result.currency) != (request.amount, request.currency):
        raise ContractViolation("quote is for another amount or currency", integrity=True)
    if (result.repayment_type, result.periods) != (request.repayment_type, request.periods):
        raise ContractViolation("quote is for another repayment type or tenor", integrity=True)
    _check_schedule(result.schedule, result.amount, result.periods)
    _check_text(
        result.agreement_version, "agreement_version", max_length=MAX_AGREEMENT_VERSION_LENGTH
    )
    return _cleaned(result, agreement_summary=_display(
        result.agreement_summary, "agreement_summary", MAX_AGREEMENT_SUMMARY_LENGTH
    ))


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
    result = _check_withdrawal_fields(result)
    _check_same_withdrawal(result, request_id=request_id, amount=amount, currency=currency)
    _expect_type(result.expected_arrival, (datetime, type(None)), "expected_arrival")
    # The booked terms (SDK 1.2) must be well formed; whether they are the ones accepted is
    # for the service to say, which knows the quote.
    _expect_type(result.booked, (BookedTerms, type(None)), "booked")
    if result.booked is not None:
        _expect_type(result.booked.start_date, date, "booked start_date")
        _expect_type(result.booked.schedule, tuple, "booked schedule")
        _check_schedule(result.booked.schedule, amount, len(result.booked.schedule))
    return result


def check_callback_event(event: Any) -> CallbackEvent:
    """A well-typed :class:`CallbackEvent` (the service checks it against its own records)."""
    _expect_type(event, CallbackEvent, "callback event")
    event = _check_withdrawal_fields(event)
    _expect_type(event.occurred_at, datetime, "occurred_at")
    return event


def _check_withdrawal_fields(result: T) -> T:
    # The request id is cardcash's own, echoed: one that is not is caught as another
    # withdrawal's (or, in a callback, as unknown); bounded here so that nothing longer is
    # ever looked up or quoted.
    _check_text(result.request_id, "request_id", max_length=MAX_REFERENCE_LENGTH)
    _check_text(result.bank_reference, "bank_reference", max_length=MAX_REFERENCE_LENGTH)
    _expect_type(result.state, WithdrawalState, "state")
    check_money(result.amount, "amount", positive=True)
    _check_currency(result.currency)
    _expect_type(result.decline_reason, (DeclineReason, type(None)), "decline_reason")
    return _cleaned(result, failure_reason=_display(
        result.failure_reason, "failure_reason", MAX_REASON_LENGTH, optional=True
    ))


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


def check_statement(entries: Any) -> list[StatementEntry]:
    """A list of well-typed :class:`StatementEntry`, each request id once."""
    _expect_type(entries, (list, tuple), "list_withdrawals result")
    seen: set[str] = set()
    for entry in entries:
        _expect_type(entry, StatementEntry, "statement entry")
        _check_text(entry.request_id, "request_id", max_length=MAX_REFERENCE_LENGTH)
        _check_text(entry.bank_reference, "bank_reference", max_length=MAX_REFERENCE_LENGTH)
        check_money(entry.amount, "amount", positive=True)
        _expect_type(entry.currency, str, "currency")
        _expect_type(entry.state, WithdrawalState, "state")
        for name in ("created_at", "updated_at"):
            value = getattr(entry, name)
            _expect_type(value, datetime, name)
            if value.tzinfo is None:
                raise ContractViolation(f"{name} must be an aware datetime")
        if entry.request_id in seen:
            raise ContractViolation(f"request id {entry.request_id} is listed twice")
        seen.add(entry.request_id)
    return list(entries)


def check_health(health: Any) -> Health:
    """A :class:`Health`, its detail cleaned like a reason."""
    _expect_type(health, Health, "health result")
    _expect_type(health.ok, bool, "health ok")
    return _cleaned(health, detail=_display(health.detail, "health detail", MAX_REASON_LENGTH))


def checked_error(error: ProviderError) -> ProviderError:
    """A plugin's :class:`ProviderError` with its message fit to show: cleaned and bounded
    like a reason (the same error when it already is)."""
    message = (
        display_text(error.message, MAX_REASON_LENGTH) if isinstance(error.message, str) else ""
    )
    if message == error.message:
        return error
    return ProviderError(error.code, message)


def check_bool(value: Any, what: str) -> bool:
    """Exactly True or False (a truthy string is not an answer)."""
    _expect_type(value, bool, what)
    return value


__all__: Sequence[str] = (
    "MAX_AGREEMENT_SUMMARY_LENGTH",
    "MAX_AGREEMENT_VERSION_LENGTH",
    "MAX_ARRIVAL_DESCRIPTION_LENGTH",
    "MAX_ISSUER_CODE_LENGTH",
    "MAX_PRODUCT_NAME_LENGTH",
    "MAX_REASON_LENGTH",
    "MAX_REFERENCE_LENGTH",
    "ContractViolation",
    "checked_error",
    "display_text",
    "check_bool",
    "check_callback_event",
    "check_cards",
    "check_health",
    "check_money",
    "check_offer",
    "check_quote",
    "check_schedule",
    "check_statement",
    "check_withdrawal",
)
