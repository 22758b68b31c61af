"""Trial calculations (试算): the bank's schedule, cardcash's APR, the disclosure to accept."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

from cachetools import LRUCache
from sqlalchemy import Row, bindparam, insert
from sqlalchemy import select as core_select
from sqlmodel import col, select

from api import messages
from api.services.accounts import Account
from api.services.banks import Banks, bank_error, today_in_china
from api.services.cards import Cards
from api.services.disclosure import (
    data_sharing_text,
    data_sharing_version,
    digest,
    disclosure_text,
    disclosure_version,
    includes_credit_report,
)
from api.services.errors import DomainError, ErrorCode
from api.services.exposure import Exposure
from api.services.ids import is_id, new_id
from api.services.pricing import (
    APR_METHOD,
    MAX_TENOR_MONTHS,
    Totals,
    apr_percent,
    lasts_too_long,
    presented,
    schedule_problem,
    totals,
)
from db.engine import Database
from db.models import Quote
from db.types import utcnow
from providers import (
    CardKind,
    Offer,
    ProviderError,
    QuoteRequest,
    RepaymentType,
    ScheduledPayment,
)

log = logging.getLogger("cardcash.quotes")

CURRENCY = "CNY"
MAX_AMOUNT = Decimal("1000000.00")
MAX_PERIODS = MAX_TENOR_MONTHS  # monthly installments; the schedule's dates are checked too


@dataclass(frozen=True, slots=True)
class QuoteView:
    id: str
    user_id: str
    bank_code: str
    credit_card_id: str
    amount: Decimal
    currency: str
    repayment_type: RepaymentType
    periods: int
    start_date: date
    schedule: tuple[ScheduledPayment, ...]
    """As the holder is shown it (see :func:`api.services.pricing.presented`)."""
    bank_schedule: tuple[ScheduledPayment, ...]
    """As the bank quoted it, its fees apart: what it must book."""
    totals: Totals
    apr: Decimal
    apr_method: str
    high_cost: bool
    """The APR passed the high-cost threshold when quoted (the disclosure warns of it)."""
    agreement_version: str
    disclosure_version: str
    disclosure_text: str
    disclosure_digest: str
    """SHA-256 of the version and text (:func:`api.services.disclosure.digest`)."""
    data_sharing_version: str
    """The consent to share personal information with the bank; empty on quotes made
    before it was asked for (no withdrawal can be made from those)."""
    data_sharing_text: str
    data_sharing_digest: str
    credit_report: bool
    """The data-sharing consent includes the authorisation to query the credit report."""
    created_at: datetime
    expires_at: datetime

    def expired(self, now: datetime | None = None) -> bool:
        return (now or utcnow()) >= self.expires_at


def _schedule_json(schedule: tuple[ScheduledPayment, ...]) -> str:
    return json.dumps(
        [
            [p.period, p.due_date.isoformat(), str(p.principal), str(p.interest), str(p.fee)]
            for p in schedule
        ]
    )


def _schedule_from(text: str) -> tuple[ScheduledPayment, ...]:
    return tuple(
        ScheduledPayment(k, date.fromisoformat(d), Decimal(p), Decimal(i), Decimal(f))
        for k, d, p, i, f in json.loads(text)
    )


_INSERT = insert(Quote.__table__)
_BY_ID = core_select(Quote.__table__).where(Quote.__table__.c.id == bindparam("id"))


def quote_view(row: Quote | Row | SimpleNamespace) -> QuoteView:
    bank_schedule = _schedule_from(row.schedule)
    schedule = presented(bank_schedule)
    return QuoteView(
        id=row.id,
        user_id=row.user_id,
        bank_code=row.bank_code,
        credit_card_id=row.credit_card_id,
        amount=row.amount,
        currency=row.currency,
        repayment_type=RepaymentType(row.repayment_type),
        periods=row.periods,
        start_date=row.start_date,
        schedule=schedule,
        bank_schedule=bank_schedule,
        totals=totals(schedule),
        apr=Decimal(row.apr),
        apr_method=row.apr_method,
        high_cost=bool(row.high_cost),
        agreement_version=row.agreement_version,
        disclosure_version=row.disclosure_version,
        disclosure_text=row.disclosure_text,
        disclosure_digest=digest(row.disclosure_version, row.disclosure_text),
        data_sharing_version=row.data_sharing_version,
        data_sharing_text=row.data_sharing_text,
        data_sharing_digest=digest(row.data_sharing_version, row.data_sharing_text),
        credit_report=includes_credit_report(row.data_sharing_version),
        created_at=row.created_at,
        expires_at=row.expires_at,
    )


def check_amount(amount: object, field: str = "amount") -> Decimal:
    """A positive yuan amount with at most two decimals, or a VALIDATION error."""
    if not isinstance(amount, Decimal):
        raise DomainError(ErrorCode.VALIDATION, "amount_format", field=field)
    if amount <= 0:
        raise DomainError(ErrorCode.VALIDATION, "amount_not_positive", field=field)
    # The range first: quantize() refuses (InvalidOperation) a number of more digits than
    # the decimal context holds, which only an amount far out of range can have.
    if amount > MAX_AMOUNT:
        raise DomainError(
            ErrorCode.AMOUNT_OUT_OF_RANGE, "above_max", field=field, max_amount=MAX_AMOUNT
        )
    if amount != amount.quantize(Decimal("0.01")):
        raise DomainError(ErrorCode.VALIDATION, "amount_decimals", field=field)
    return amount.quantize(Decimal("0.01"))


def check_tenor(repayment_type: RepaymentType, periods: int) -> None:
    if repayment_type is RepaymentType.SINGLE_MONTH and periods != 1:
        raise DomainError(ErrorCode.VALIDATION, "single_month_periods", field="periods")
    if repayment_type is RepaymentType.INSTALLMENT and not 2 <= periods <= MAX_PERIODS:
        raise DomainError(
            ErrorCode.VALIDATION, "installment_periods", field="periods", max=MAX_PERIODS
        )


#: The refusals about an amount: they carry the bank's limits (see :func:`offer_limits`).
AMOUNT_ERRORS = (
    ErrorCode.AMOUNT_OUT_OF_RANGE,
    ErrorCode.LIMIT_EXCEEDED,
    ErrorCode.DAILY_LIMIT_EXCEEDED,
)


def offer_limits(offer: Offer) -> dict[str, Decimal]:
    """The limits an amount error carries, so a form can show them as money, not prose."""
    return {
        "min_amount": offer.min_amount,
        "max_amount": offer.max_amount,
        "available_limit": offer.available_limit,
        "daily_remaining": offer.daily_remaining,
    }


def check_offer_amount(offer: Offer, amount: Decimal, bank_code: str) -> None:
    """The amount against the bank's offer now: its bounds per withdrawal, the card's
    available cash-advance limit and what is left of today's cap. Checked when quoting, so
    a quote is never made for a withdrawal the bank would refuse for its amount."""
    limits = offer_limits(offer)
    details = {"field": "amount", "bank_code": bank_code, **limits}
    if not offer.min_amount <= amount <= offer.max_amount:
        raise DomainError(ErrorCode.AMOUNT_OUT_OF_RANGE, "range", **details)
    if amount > offer.available_limit:
        raise DomainError(ErrorCode.LIMIT_EXCEEDED, "available", **details)
    if amount > offer.daily_remaining:
        raise DomainError(ErrorCode.DAILY_LIMIT_EXCEEDED, "remaining", **details)


def check_tenor_amount(
    offer: Offer, amount: Decimal, repayment_type: RepaymentType, periods: int, bank_code: str
) -> None:
    """AMOUNT_OUT_OF_RANGE when the bank's bounds of this installment tenor exclude ``amount``."""
    if repayment_type is not RepaymentType.INSTALLMENT:
        return
    pricing = next((p for p in offer.installments if p.periods == periods), None)
    if pricing is None:
        return  # the bank's quote answered: its tenors are its own to know
    if pricing.min_amount is not None and amount < pricing.min_amount:
        raise DomainError(
            ErrorCode.AMOUNT_OUT_OF_RANGE,
            "tenor_min",
            field="amount",
            periods=periods,
            bank_code=bank_code,
            **(offer_limits(offer) | {"min_amount": pricing.min_amount}),
        )
    if pricing.max_amount is not None and amount > pricing.max_amount:
        raise DomainError(
            ErrorCode.AMOUNT_OUT_OF_RANGE,
            "tenor_max",
            field="amount",
            periods=periods,
            bank_code=bank_code,
            **(offer_limits(offer) | {"max_amount": pricing.max_amount}),
        )


class Quotes:
    def __init__(
        self,
        db: Database,
        banks: Banks,
        cards: Cards,
        *,
        ttl: timedelta,
        exposure: Exposure | None = None,
    ) -> None:
        self._db = db
        self._banks = banks
        self._cards = cards
        self._ttl = ttl
        self._exposure = exposure or Exposure(db)
        # Quotes never change once written. A quote is used minutes after it is made, if at
        # all, and holds a schedule and a disclosure text (about 4 KB): keep the recent ones.
        self._recent: LRUCache[str, QuoteView] = LRUCache(1_000)

    async def create(
        self,
        account: Account,
        *,
        bank_code: str,
        credit_card_id: str,
        amount: object,
        repayment_type: RepaymentType,
        periods: int,
        language: str = messages.DEFAULT_LANGUAGE,
    ) -> QuoteView:
        """A priced quote; its disclosure is written in ``language``, as the user reads it."""
        amount = check_amount(amount)
        check_tenor(repayment_type, periods)
        listing, provider = await self._banks.usable(account, bank_code)
        card = await self._cards.owned(account, credit_card_id, CardKind.CREDIT)
        if card.provider_code != bank_code:
            raise DomainError(
                ErrorCode.CARD_NOT_FOUND, "other_bank", field="creditCardId", bank=listing.named
            )
        start = today_in_china()
        # The offer carries the bounds of each tenor (the 2022 notice's minimum and maximum
        # installment amounts); asked at the same time as the quote, it costs no wait.
        offer, result = await asyncio.gather(
            provider.get_offer(account.customer, card.card_ref),
            provider.quote(
                QuoteRequest(
                    customer=account.customer,
                    card_ref=card.card_ref,
                    amount=amount,
                    currency=CURRENCY,
                    repayment_type=repayment_type,
                    periods=periods,
                    start_date=start,
                )
            ),
            return_exceptions=True,
        )
        for outcome in (offer, result):
            if isinstance(outcome, BaseException) and not isinstance(outcome, ProviderError):
                raise outcome
        if isinstance(offer, ProviderError):
            raise bank_error(offer, bank_code) from None
        check_offer_amount(offer, amount, bank_code)
        # Within the bank's bounds; and within what the person may still draw today, at every
        # bank and on every channel: no quote past it.
        try:
            await self._exposure.check(account.id, amount)
        except DomainError as refusal:
            refusal.details = offer_limits(offer) | refusal.details | {"bank_code": bank_code}
            raise
        if isinstance(result, ProviderError):
            refusal = bank_error(result, bank_code)
            if refusal.code in AMOUNT_ERRORS:  # the bank's own reasons: the limits all the same
                refusal.details = offer_limits(offer) | refusal.details
            raise refusal from None
        check_tenor_amount(offer, amount, repayment_type, periods, bank_code)
        problem = schedule_problem(amount, periods, start, result.schedule)
        if problem:
            log.error("bank %s quoted an unusable schedule: %s", bank_code, problem)
            raise DomainError(
                ErrorCode.BANK_UNAVAILABLE,
                "unchecked_quote",
                bank_code=bank_code,
                retryable=True,
            )
        if lasts_too_long(start, result.schedule):
            raise DomainError(
                ErrorCode.UNSUPPORTED_TENOR,
                "over_five_years",
                field="periods",
                bank_code=bank_code,
            )
        apr = apr_percent(amount, start, result.schedule)
        policy = self._exposure.policy
        high_cost = policy.high_cost(apr)
        sums = totals(presented(result.schedule))
        now = utcnow()
        values = dict(
            id=new_id("quote"),
            user_id=account.id,
            bank_code=bank_code,
            credit_card_id=card.id,
            amount=amount,
            currency=CURRENCY,
            repayment_type=repayment_type.value,
            periods=periods,
            start_date=start,
            schedule=_schedule_json(result.schedule),
            total_interest=sums.interest,
            total_fee=sums.fee,
            total_repayment=sums.repayment,
            apr=str(apr),
            apr_method=APR_METHOD,
            high_cost=high_cost,
            agreement_version=result.agreement_version[:64],
            disclosure_version=disclosure_version(result.agreement_version[:64]),
            disclosure_text=disclosure_text(
                bank_name=listing.name_en if language == "en" else listing.name,
                amount=amount,
                repayment_type=repayment_type,
                periods=periods,
                apr=apr,
                total_interest=sums.interest,
                total_fee=sums.fee,
                total_repayment=sums.repayment,
                agreement_summary=result.agreement_summary,
                high_cost_above=policy.high_cost_apr if high_cost else None,
                language=language,
            ),
            data_sharing_version=data_sharing_version(
                bank_code, credit_report=provider.asks_credit_report
            ),
            data_sharing_text=data_sharing_text(
                credit_report=provider.asks_credit_report,
                bank_name=listing.name_en if language == "en" else listing.name,
                language=language,
            ),
            created_at=now,
            expires_at=now + self._ttl,
        )
        # A plain insert: the ORM's unit of work (model validation, flush) cost more than the
        # statement itself, and nothing here needs it.
        async with self._db.write_core() as connection:
            await connection.execute(_INSERT, values)
        self._recent[values["id"]] = quote = quote_view(SimpleNamespace(**values))
        return quote

    async def get(self, account: Account, quote_id: str) -> QuoteView:
        """The viewer's quote, or QUOTE_NOT_FOUND (someone else's included)."""
        if is_id("quote", quote_id):
            quote = self._recent.get(quote_id)
            if quote is None:
                async with self._db.read_core() as connection:
                    row = (await connection.execute(_BY_ID, {"id": quote_id})).first()
                quote = quote_view(row) if row else None
                if quote is not None:
                    self._recent[quote_id] = quote
            if quote is not None and quote.user_id == account.id:
                return quote
        raise DomainError(ErrorCode.QUOTE_NOT_FOUND, field="quoteId")

    async def view(self, quote_id: str) -> QuoteView | None:
        """A quote by its id, whoever's (for the service's own checks, not for users)."""
        quote = self._recent.get(quote_id)
        if quote is None:
            async with self._db.read_core() as connection:
                row = (await connection.execute(_BY_ID, {"id": quote_id})).first()
            quote = self._recent.put(quote_id, quote_view(row)) if row else None
        return quote

    async def by_ids(self, ids: list[str]) -> dict[str, QuoteView]:
        async with self._db.read() as session:
            rows = await session.exec(select(Quote).where(col(Quote.id).in_(ids)))
            return {r.id: quote_view(r) for r in rows}
