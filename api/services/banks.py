"""A bank as a user deals with it: is it usable on their channel, what does it offer them."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from api.services.accounts import Account
from api.services.cards import Cards, CardView
from api.services.catalog import BankListing, Catalog, Unusable
from api.services.errors import DomainError, ErrorCode
from api.services.pricing import apr_percent
from db.types import utcnow
from providers import (
    InstallmentPricing,
    Offer,
    ProviderError,
    ProviderErrorCode,
    RepaymentType,
    SingleMonthPricing,
)
from providers.guard import GuardedProvider
from providers.pricing import standard_schedule
from providers.registry import PluginStatus, Registry

REPRESENTATIVE_AMOUNT = Decimal("10000.00")
CHINA = ZoneInfo("Asia/Shanghai")

_FROM_PROVIDER = {
    ProviderErrorCode.DECLINED: ErrorCode.BANK_DECLINED,
    ProviderErrorCode.LIMIT_EXCEEDED: ErrorCode.LIMIT_EXCEEDED,
    ProviderErrorCode.DAILY_LIMIT_EXCEEDED: ErrorCode.DAILY_LIMIT_EXCEEDED,
    ProviderErrorCode.AMOUNT_OUT_OF_RANGE: ErrorCode.AMOUNT_OUT_OF_RANGE,
    ProviderErrorCode.UNSUPPORTED_TENOR: ErrorCode.UNSUPPORTED_TENOR,
    ProviderErrorCode.CARD_NOT_FOUND: ErrorCode.CARD_NOT_FOUND,
    ProviderErrorCode.CARD_NOT_ELIGIBLE: ErrorCode.CARD_NOT_ELIGIBLE,
    ProviderErrorCode.NOT_SAME_HOLDER: ErrorCode.CARD_NOT_OWNED,
    ProviderErrorCode.VERIFICATION_FAILED: ErrorCode.VERIFICATION_FAILED,
    ProviderErrorCode.TOO_MANY_ATTEMPTS: ErrorCode.TOO_MANY_ATTEMPTS,
    ProviderErrorCode.UNKNOWN_WITHDRAWAL: ErrorCode.WITHDRAWAL_NOT_FOUND,
    ProviderErrorCode.INVALID_STATE: ErrorCode.INVALID_STATE,
}


def bank_error(error: ProviderError, bank_code: str) -> DomainError:
    """The user-facing error for a bank's error; outages become a retryable BANK_UNAVAILABLE."""
    code = _FROM_PROVIDER.get(error.code)
    if code is None:
        return DomainError(
            ErrorCode.BANK_UNAVAILABLE,
            "the bank is not answering right now; try again later",
            bank_code=bank_code,
            retryable=True,
        )
    return DomainError(code, error.message, bank_code=bank_code, retryable=False)


@dataclass(frozen=True, slots=True)
class RepaymentOptionView:
    repayment_type: RepaymentType
    periods: int
    apr: Decimal
    representative_amount: Decimal
    single_month: SingleMonthPricing | None = None
    installment: InstallmentPricing | None = None


@dataclass(frozen=True, slots=True)
class OfferView:
    bank_code: str
    credit_card_id: str
    offer: Offer
    options: tuple[RepaymentOptionView, ...]


def repayment_options(offer: Offer, start: date) -> tuple[RepaymentOptionView, ...]:
    """Each way to repay, with the APR of a representative amount (10,000 CNY, or the
    nearest amount the offer allows), computed from the schedule like any quote."""
    amount = min(max(REPRESENTATIVE_AMOUNT, offer.min_amount), offer.max_amount)
    if amount <= 0:
        return ()
    return _priced_options(amount, offer.single_month, offer.installments, start)


@functools.lru_cache(maxsize=1024)
def _priced_options(
    amount: Decimal,
    single_month: SingleMonthPricing | None,
    installments: tuple[InstallmentPricing, ...],
    start: date,
) -> tuple[RepaymentOptionView, ...]:
    # A bank prices every customer alike, so the same inputs recur on every offers page:
    # computing their IRRs once a day per bank is enough.
    options = []
    if single_month is not None:
        schedule = standard_schedule(
            amount, RepaymentType.SINGLE_MONTH, 1, start, single_month=single_month
        )
        options.append(
            RepaymentOptionView(
                RepaymentType.SINGLE_MONTH,
                1,
                apr_percent(amount, RepaymentType.SINGLE_MONTH, start, schedule),
                amount,
                single_month=single_month,
            )
        )
    for pricing in sorted(installments, key=lambda p: p.periods):
        schedule = standard_schedule(
            amount, RepaymentType.INSTALLMENT, pricing.periods, start, installment=pricing
        )
        options.append(
            RepaymentOptionView(
                RepaymentType.INSTALLMENT,
                pricing.periods,
                apr_percent(amount, RepaymentType.INSTALLMENT, start, schedule),
                amount,
                installment=pricing,
            )
        )
    return tuple(options)


def today_in_china(now: datetime | None = None) -> date:
    """Banks count days (interest, daily caps) in China's time zone."""
    return (now or utcnow()).astimezone(CHINA).date()


class Banks:
    def __init__(self, catalog: Catalog, registry: Registry, cards: Cards) -> None:
        self._catalog = catalog
        self._registry = registry
        self._cards = cards

    async def offer(
        self, account: Account, bank_code: str, cards: dict[str, CardView] | None = None
    ) -> OfferView:
        """The bank's cash-advance offer on the user's credit card there.

        ``cards`` (the user's credit cards by bank) saves a lookup when a page asks several
        banks at once.
        """
        listing, provider = await self.usable(account, bank_code)
        if cards is None:
            card = await self._cards.credit_card_at(account, bank_code)
        else:
            card = cards.get(bank_code)
        if card is None:
            raise DomainError(
                ErrorCode.CARD_NOT_FOUND, f"no {listing.name} credit card found for you"
            )
        try:
            offer = await provider.get_offer(account.customer, card.card_ref)
        except ProviderError as exc:
            raise bank_error(exc, bank_code) from None
        return OfferView(bank_code, card.id, offer, repayment_options(offer, today_in_china()))

    def unusable(self, listing: BankListing, account: Account | None) -> Unusable | None:
        """Why ``account`` (None: nobody signed in) cannot use the bank now, or None: its
        availability and rollout on the channel, then whether its plugin is loaded."""
        reason = listing.unusable_for(account)
        if reason in (Unusable.COMING_SOON, Unusable.SUSPENDED):
            return reason
        if listing.code not in self._registry:
            info = self._registry.info(listing.code)
            if info is not None and info.status is PluginStatus.BLOCKED:
                return Unusable.BANK_DISABLED
            return Unusable.BANK_NOT_LOADED
        return reason

    async def usable(self, account: Account, bank_code: str) -> tuple[BankListing, GuardedProvider]:
        """The bank and its provider, or why the user cannot use it."""
        listing = await self._catalog.bank(bank_code, account.channel)
        if listing is None:
            raise DomainError(
                ErrorCode.BANK_NOT_FOUND, "no such bank on this channel", bank_code=bank_code
            )
        reason = self.unusable(listing, account)
        if reason is Unusable.BANK_NOT_LOADED:
            raise DomainError(
                ErrorCode.BANK_UNAVAILABLE,
                f"{listing.name} cannot be reached right now",
                bank_code=bank_code,
                retryable=True,
            )
        if reason is not None:
            raise DomainError(
                ErrorCode.BANK_NOT_AVAILABLE,
                _NOT_AVAILABLE[reason].format(name=listing.name),
                bank_code=bank_code,
                reason=reason,
            )
        provider = self._registry.get(bank_code)
        assert provider is not None  # unusable() checked it is loaded
        return listing, provider


_NOT_AVAILABLE = {
    Unusable.COMING_SOON: "{name} is not available on this channel yet",
    Unusable.SUSPENDED: "{name} is suspended on this channel for now",
    Unusable.SIGN_IN_FOR_PILOT: "{name} is open to a pilot group for now; sign in to see if you are in it",
    Unusable.NOT_IN_PILOT: "{name} is open to a small pilot group for now, not yet to you",
    Unusable.BANK_DISABLED: "{name} is switched off on this service for now",
}
