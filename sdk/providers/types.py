"""Requests and results exchanged between cardcash and a bank provider.

All are frozen dataclasses; every amount is a :class:`~decimal.Decimal` in yuan with two
decimals, every currency an ISO 4217 code (``"CNY"``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from providers.errors import DeclineReason

#: The version of this SDK. A plugin declares the SDK version it was written for in
#: ``BankProvider.sdk_version``; cardcash loads it when the major versions are equal and the
#: plugin's minor version is not newer than this one (and, when the plugin declares
#: ``BankProvider.sdk_supported``, this version is in that range).
#:
#: 1.1 added :mod:`providers.webhooks`, ``Offer.of``, ``CardInfo.usable_for_payout`` and
#: ``payout_note``, :class:`WithdrawalPurpose` and ``BankProvider.sdk_supported``.
#:
#: 1.2 added the bound booking: ``SubmitWithdrawal.quote_id``, ``start_date``, ``schedule`` and
#: ``schedule_digest``, :class:`BookedTerms` echoed as ``WithdrawalResult.booked``,
#: :func:`terms_digest` and ``DeclineReason.TERMS_CHANGED``; and the credit-report
#: authorisation: ``BankProvider.asks_credit_report``, ``SubmitWithdrawal.
#: credit_report_authorized``.
SDK_VERSION = "1.2"


class CardKind(StrEnum):
    """Whether a card is a credit card (the source of a cash advance) or a debit card (payout)."""

    CREDIT = "CREDIT"
    """A credit card: the card a cash advance is drawn on."""
    DEBIT = "DEBIT"
    """A debit card: where the money is paid out."""


class RepaymentType(StrEnum):
    """How a cash advance is repaid."""

    SINGLE_MONTH = "SINGLE_MONTH"
    """单月还: the whole amount with daily interest and a fee, one month later.

    Always ``periods == 1``.
    """
    INSTALLMENT = "INSTALLMENT"
    """分月还: equal principal each month plus a monthly fee on the original principal."""


class WithdrawalState(StrEnum):
    """The state of a withdrawal at the bank."""

    VERIFICATION_REQUIRED = "VERIFICATION_REQUIRED"
    """Waiting for the holder's verification code (SMS)."""
    PROCESSING = "PROCESSING"
    """Accepted; the money is on its way to the debit card."""
    SUCCEEDED = "SUCCEEDED"
    """The money has arrived on the debit card. Terminal."""
    FAILED = "FAILED"
    """The bank refused or could not pay out; nothing was lent. Terminal."""
    CANCELLED = "CANCELLED"
    """Cancelled before verification; nothing was lent. Terminal."""


class WithdrawalPurpose(StrEnum):
    """What the holder declares the money is for: the closed set cardcash's API accepts.

    Real estate, securities, futures, funds and wealth products, equity investment and repaying
    other debt are not permitted uses of a cash advance and have no value here. Being a
    ``StrEnum``, a value is also the plain string (``"EDUCATION"``).
    """

    CONSUMPTION = "CONSUMPTION"
    """Everyday personal consumption (日常消费)."""
    EDUCATION = "EDUCATION"
    """Tuition and training (教育)."""
    MEDICAL = "MEDICAL"
    """Medical expenses (医疗)."""
    TRAVEL = "TRAVEL"
    """Travel (旅游)."""
    HOME_IMPROVEMENT = "HOME_IMPROVEMENT"
    """Home furnishing and repairs (家装)."""
    WEDDING = "WEDDING"
    """Wedding expenses (婚庆)."""
    RENT = "RENT"
    """Renting a home (租房)."""


#: States that never change once reached.
TERMINAL_STATES = frozenset(
    {WithdrawalState.SUCCEEDED, WithdrawalState.FAILED, WithdrawalState.CANCELLED}
)


@dataclass(frozen=True, slots=True)
class Customer:
    """The card holder, as the channel identifies them.

    ``channel`` is ``"WECHAT"`` or ``"ALIPAY"``; ``channel_user_id`` is the openid / open_id the
    channel gave cardcash for this mini-program. A bank links it to its own customer record.
    """

    channel: str
    """The channel the holder signed in on: ``"WECHAT"`` or ``"ALIPAY"``."""
    channel_user_id: str
    """The holder's id on that channel for this mini-program (openid / open_id)."""


@dataclass(frozen=True, slots=True)
class CardInfo:
    """A card the bank knows for a customer. Never carries a full card number.

    ``card_ref`` is the bank's opaque, stable token for the card. ``issuer_code`` is the code of
    the bank that issued it: a debit card bound for payouts may be issued by another bank, and a
    bank reports the same debit card with the same ``card_ref`` each time.

    Debit cards are shared across banks: cardcash keeps one debit card per user, issuer and
    ``card_ref``, whichever bank reports it, so banks that know the same card give it the same
    ``card_ref`` (e.g. a digest of the card the bank binds for the holder, never the number).
    """

    card_ref: str
    """The bank's opaque, stable token for the card (never the number; at most 128 characters)."""
    kind: CardKind
    """Credit card (the source of a cash advance) or debit card (where it is paid out)."""
    issuer_code: str
    """Code of the bank that issued the card (a payout debit card may be another bank's)."""
    last4: str
    """The last four digits of the card number, exactly four digits."""
    product_name: str = ""
    """The card product as the holder knows it ("Sunshine Credit Card"); no card number."""
    usable_for_payout: bool = field(default=True, kw_only=True)
    """For a debit card: False when the bank will not pay a cash advance to it for this
    customer (another holder's card, a card type the bank does not pay to). cardcash then does
    not offer it as a payout card. Ignored for credit cards."""
    payout_note: str = field(default="", kw_only=True)
    """Why the card is not usable for payout, in words for logs and support (no personal data)."""


@dataclass(frozen=True, slots=True)
class SingleMonthPricing:
    """Pricing of a single-month cash advance: daily interest plus a one-off fee.

    Interest is ``amount × daily_interest_rate × days``; the fee is
    ``max(amount × fee_rate, min_fee)``. Example (common practice): ``Decimal("0.0005")`` a day,
    ``Decimal("0.01")`` fee, ``Decimal("10.00")`` minimum fee.

    ``term_days`` is the bank's day count: the whole amount is due that many days after the
    withdrawal. ``None`` (the default) means the same day of the next month, so the days vary
    with the month (28 to 31). cardcash prices an offer with the same count the bank quotes
    with, so the offer's APR and the quote's agree.
    """

    daily_interest_rate: Decimal
    """Interest per day on the amount, from the day of the withdrawal (``Decimal("0.0005")``)."""
    fee_rate: Decimal
    """The one-off fee as a share of the amount (``Decimal("0.01")``)."""
    min_fee: Decimal
    """The smallest fee, in the offer's currency (``Decimal("10.00")``)."""
    term_days: int | None = field(default=None, kw_only=True)
    """Days from the withdrawal to the single payment; None: the same day of the next month."""


@dataclass(frozen=True, slots=True)
class InstallmentPricing:
    """Pricing of one installment tenor: a fixed monthly fee rate on the original principal.

    ``min_amount`` and ``max_amount`` are the smallest and largest amount the bank lets a
    holder repay over this tenor (the 2022 credit-card notice's minimum starting amount and
    maximum of an installment; ``None``: the offer's own bounds). cardcash refuses a quote
    outside them, and shows the tenor's APR over the amounts inside them.

    Whatever the bank calls the monthly charge, cardcash shows it to the holder as interest
    (利息), as the 2022 notice requires of an installment's cost of funds.
    """

    periods: int
    """Number of monthly payments of this tenor (3, 6, 12, ...)."""
    monthly_fee_rate: Decimal
    """The charge per month as a share of the original principal (``Decimal("0.0060")``)."""
    min_amount: Decimal | None = field(default=None, kw_only=True)
    """Smallest amount repayable over this tenor; None: the offer's ``min_amount``."""
    max_amount: Decimal | None = field(default=None, kw_only=True)
    """Largest amount repayable over this tenor; None: the offer's ``max_amount``."""


@dataclass(frozen=True, slots=True)
class Offer:
    """What the bank offers this customer on this credit card right now.

    Five of its fields are amounts in a row: build it with :meth:`Offer.of`, whose arguments
    are keyword-only, so two limits cannot be swapped unnoticed. (The positional constructor
    stays for plugins written for SDK 1.0.)
    """

    card_ref: str
    """The credit card this offer is about (as in :class:`CardInfo`)."""
    currency: str
    """ISO 4217 code of every amount below (``"CNY"``)."""
    credit_limit: Decimal
    """The card's whole credit line."""
    available_limit: Decimal
    """What is left of the cash-advance limit now: falls by a withdrawal's amount, comes back
    when it fails or is cancelled."""
    min_amount: Decimal
    """The smallest amount of one withdrawal."""
    max_amount: Decimal
    """The largest amount of one withdrawal."""
    daily_remaining: Decimal
    """What is left of the card's daily cash-advance cap today."""
    single_month: SingleMonthPricing | None
    """Pricing of single-month repayment, or None when the bank does not offer it."""
    installments: tuple[InstallmentPricing, ...] = ()
    """The installment tenors offered, with their pricing."""
    arrival_description: str = ""
    """When the money usually arrives, in words shown to the user (e.g. "within 2 hours")."""

    @classmethod
    def of(
        cls,
        *,
        card_ref: str,
        currency: str,
        credit_limit: Decimal,
        available_limit: Decimal,
        min_amount: Decimal,
        max_amount: Decimal,
        daily_remaining: Decimal,
        single_month: SingleMonthPricing | None,
        installments: tuple[InstallmentPricing, ...] = (),
        arrival_description: str = "",
    ) -> Offer:
        """An offer, every field named (the way to build one since SDK 1.1)."""
        return cls(card_ref, currency, credit_limit, available_limit, min_amount, max_amount,
                   daily_remaining, single_month, tuple(installments), arrival_description)


@dataclass(frozen=True, slots=True)
class QuoteRequest:
    """A trial calculation (试算) for an amount, repayment type and tenor.

    The schedule starts on ``start_date`` (the day of the withdrawal).
    """

    customer: Customer
    """The holder asking."""
    card_ref: str
    """The credit card to draw on."""
    amount: Decimal
    """The amount to draw, in yuan with two decimals."""
    currency: str
    """ISO 4217 code of the amount (the offer's currency)."""
    repayment_type: RepaymentType
    """Single month or installments."""
    periods: int
    """Number of payments: 1 for a single month, the tenor for installments."""
    start_date: date
    """The day of the withdrawal, where the schedule starts."""


@dataclass(frozen=True, slots=True)
class ScheduledPayment:
    """One payment of a repayment schedule."""

    period: int
    """The number of this payment, from 1."""
    due_date: date
    """The day it is due."""
    principal: Decimal
    """The part of the amount repaid with it (the principals add up to the amount)."""
    interest: Decimal
    """Interest due with it."""
    fee: Decimal
    """Fee due with it (for installments cardcash shows it to the holder as interest)."""

    @property
    def total(self) -> Decimal:
        """What the holder pays on ``due_date``."""
        return self.principal + self.interest + self.fee


@dataclass(frozen=True, slots=True)
class QuoteResult:
    """The bank's repayment schedule for a :class:`QuoteRequest`.

    The principals must add up to ``amount``. ``agreement_version`` and ``agreement_summary``
    describe the bank's cash-advance agreement that the holder accepts with the withdrawal.
    """

    amount: Decimal
    """The amount quoted, as asked."""
    currency: str
    """The currency, as asked."""
    repayment_type: RepaymentType
    """The repayment type, as asked."""
    periods: int
    """The number of payments, as asked (the length of ``schedule``)."""
    schedule: tuple[ScheduledPayment, ...]
    """The payments, in order of period."""
    agreement_version: str
    """The version of the bank's cash-advance agreement the holder accepts by withdrawing; echoed in
    ``SubmitWithdrawal``."""
    agreement_summary: str
    """A short plain-text summary of that agreement, shown to the holder."""


@dataclass(frozen=True, slots=True)
class SubmitWithdrawal:
    """Ask the bank to pay a cash advance out to the holder's own debit card.

    ``request_id`` is cardcash's idempotency key for this withdrawal: the bank must answer a
    repeated submission with the same ``request_id`` with the same withdrawal, never a second one.
    """

    request_id: str
    """cardcash's idempotency key: the same id always means the same withdrawal."""
    customer: Customer
    """The holder."""
    credit_card_ref: str
    """The credit card the cash advance is drawn on."""
    debit_card_ref: str
    """The holder's own debit card to pay the money to."""
    amount: Decimal
    """The amount, in yuan with two decimals; refuse any other, never round it."""
    currency: str
    """ISO 4217 code of the amount; refuse one the bank does not lend in."""
    repayment_type: RepaymentType
    """Single month or installments, as quoted."""
    periods: int
    """Number of payments, as quoted."""
    purpose: WithdrawalPurpose
    """What the holder declared the money is for (a ``str`` too: SDK 1.0 plugins reading it
    as a string keep working)."""
    agreement_version: str
    """The agreement version of the quote the holder accepted."""
    quote_id: str = field(default="", kw_only=True)
    """cardcash's id of the quote the holder accepted (SDK 1.2), for the bank's records."""
    start_date: date | None = field(default=None, kw_only=True)
    """The day the loan starts (SDK 1.2): the booking day, in China's time, from which
    ``schedule`` counts. cardcash sends only a quote of this very day; a bank that would book
    from another day must refuse (``DECLINED``, ``TERMS_CHANGED``), never shift the terms."""
    schedule: tuple[ScheduledPayment, ...] = field(default=(), kw_only=True)
    """The schedule the holder accepted, as the bank quoted it (SDK 1.2): book exactly this,
    or refuse with ``DECLINED`` and ``DeclineReason.TERMS_CHANGED``."""
    schedule_digest: str = field(default="", kw_only=True)
    """:func:`terms_digest` of ``start_date`` and ``schedule`` (SDK 1.2): a bank may keep it
    as the fingerprint of what was accepted."""
    credit_report_authorized: bool = field(default=False, kw_only=True)
    """The holder authorised the bank to query their credit report, as part of the
    data-sharing consent they gave (SDK 1.2). Always true for a bank that declares
    ``asks_credit_report``: cardcash refuses the withdrawal otherwise."""


def terms_digest(start_date: date, schedule: Sequence[ScheduledPayment]) -> str:
    """The SHA-256 (hex) of a loan's terms: its start day and every payment, one line each
    (``period|due date|principal|interest|fee``, amounts with two decimals), in UTF-8.

    Example::

        >>> terms_digest(date(2026, 3, 1), (ScheduledPayment(1, date(2026, 3, 31),
        ...     Decimal("100.00"), Decimal("1.50"), Decimal("10.00")),))[:12]
        '12fc549a0212'
    """
    lines = [start_date.isoformat()] + [
        f"{p.period}|{p.due_date.isoformat()}|{p.principal:.2f}|{p.interest:.2f}|{p.fee:.2f}"
        for p in schedule
    ]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class BookedTerms:
    """The terms a bank booked a withdrawal on, echoed in every answer about it (SDK 1.2).

    cardcash compares them with what the holder accepted (``SubmitWithdrawal.start_date`` and
    ``schedule``): a difference is never a success. The withdrawal fails, the bank is asked
    to cancel it, and operators are told.
    """

    start_date: date
    """The day the bank's loan starts."""
    schedule: tuple[ScheduledPayment, ...]
    """The payments the bank booked, as it would quote them."""

    @property
    def digest(self) -> str:
        """:func:`terms_digest` of these terms."""
        return terms_digest(self.start_date, self.schedule)


@dataclass(frozen=True, slots=True)
class ConfirmWithdrawal:
    """The holder's verification code for a withdrawal in ``VERIFICATION_REQUIRED``."""

    request_id: str
    """The withdrawal awaiting verification."""
    verification_code: str
    """The code the holder received (by SMS) and typed in."""


@dataclass(frozen=True, slots=True)
class WithdrawalResult:
    """The bank's view of one withdrawal.

    ``amount`` and ``currency`` must equal what was asked: cardcash checks it and treats a
    difference as an error, never as a success.
    """

    request_id: str
    """The request id asked about (cardcash checks it)."""
    bank_reference: str
    """The bank's own id of the withdrawal: the same for every answer about it."""
    state: WithdrawalState
    """Where the withdrawal is now at the bank."""
    amount: Decimal
    """The amount, exactly as asked (cardcash checks it)."""
    currency: str
    """The currency, exactly as asked (cardcash checks it)."""
    failure_reason: str | None = None
    """The bank's own words on a failure: for operators only (scrubbed and bounded)."""
    expected_arrival: datetime | None = None
    """For PROCESSING: when the money is expected on the debit card, if the bank says."""
    decline_reason: DeclineReason | None = field(default=None, kw_only=True)
    """Why a ``FAILED`` withdrawal failed, from the closed set; ``None`` counts as ``OTHER``."""
    booked: BookedTerms | None = field(default=None, kw_only=True)
    """The terms the bank booked (SDK 1.2): echo them in every answer once booked. ``None``
    from a plugin of an older SDK: cardcash then checks what it can (request id, amount,
    currency) and records that the terms were not echoed."""


@dataclass(frozen=True, slots=True)
class CallbackEvent:
    """A verified notification from the bank that a withdrawal changed state."""

    request_id: str
    """cardcash's request id of the withdrawal the callback is about."""
    bank_reference: str
    """The bank's own id of the withdrawal."""
    state: WithdrawalState
    """The state the withdrawal reached."""
    amount: Decimal
    """The withdrawal's amount: cardcash refuses a callback whose amount differs."""
    currency: str
    """The withdrawal's currency: cardcash refuses a callback whose currency differs."""
    occurred_at: datetime
    """When the state changed at the bank (an aware datetime)."""
    failure_reason: str | None = None
    """For FAILED: the bank's own words, as in ``WithdrawalResult.failure_reason``."""
    decline_reason: DeclineReason | None = field(default=None, kw_only=True)
    """As :attr:`WithdrawalResult.decline_reason`."""


@dataclass(frozen=True, slots=True)
class Health:
    """Whether the bank's systems answer, with a short reason when they do not."""

    ok: bool
    """True when the bank's systems answer."""
    detail: str = ""
    """When not ok, a short reason for operators ("in maintenance until 02:00")."""
    checked_at: datetime | None = field(default=None, compare=False)
    """When the bank was asked (not compared between two Health values)."""
