"""A bank as a user deals with it: is it usable on their channel, what does it offer them."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_CEILING, Decimal
from zoneinfo import ZoneInfo

from api.banks.guard import GuardedProvider
from api.banks.registry import PluginStatus, Registry
from api.services.accounts import Account
from api.services.cards import Cards, CardView
from api.services.catalog import BankListing, Catalog, Unusable
from api.services.errors import DomainError, ErrorCode
from api.services.pricing import APR_METHOD, apr_percent, lasts_too_long
from db.types import utcnow
from providers import (
    InstallmentPricing,
    Offer,
    ProviderError,
    ProviderErrorCode,
    RepaymentType,
    SingleMonthPricing,
)
from providers.pricing import CENT

log = logging.getLogger("cardcash.banks")

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
        return DomainError(ErrorCode.BANK_UNAVAILABLE, bank_code=bank_code, retryable=True)
    field = _FIELDS.get(code)
    details = {"field": field} if field else {}
    # The bank's own words are for operators (logs, events), not a sentence for users: a
    # refusal is told by its reason from the SDK's closed set, with what to do next.
    reason = error.decline_reason.value if code is ErrorCode.BANK_DECLINED else None
    return DomainError(
        code,
        reason,
        bank_code=bank_code,
        retryable=False,
        bank_message=error.message,
        decline_reason=error.decline_reason,
        **details,
    )


#: The input a bank's refusal is about, so that a form can point at it.
_FIELDS = {
    ErrorCode.AMOUNT_OUT_OF_RANGE: "amount",
    ErrorCode.LIMIT_EXCEEDED: "amount",
    ErrorCode.DAILY_LIMIT_EXCEEDED: "amount",
    ErrorCode.UNSUPPORTED_TENOR: "periods",
}


@dataclass(frozen=True, slots=True)
class RepaymentOptionView:
    """One way to repay, with the APR at a representative amount and over every amount the
    holder may take: the lowest and the highest, and where each is reached."""

    repayment_type: RepaymentType
    periods: int
    apr: Decimal
    representative_amount: Decimal
    apr_lowest: Decimal
    apr_lowest_amount: Decimal
    apr_highest: Decimal
    apr_highest_amount: Decimal
    min_amount: Decimal
    max_amount: Decimal
    single_month: SingleMonthPricing | None = None
    installment: InstallmentPricing | None = None
    apr_method: str = APR_METHOD
    high_cost: bool = False
    """Whether the highest APR passes the high-cost threshold (see ``api.services.exposure``)."""


@dataclass(frozen=True, slots=True)
class OfferView:
    bank_code: str
    credit_card_id: str
    offer: Offer
    options: tuple[RepaymentOptionView, ...]

    @property
    def high_cost(self) -> bool:
        """Whether any way to repay is high-cost at some amount."""
        return any(o.high_cost for o in self.options)


#: Amounts between the two ends at which an option's APR is also computed (a bank's own
#: pricing may have its dearest or cheapest point anywhere; these catch a fee's steps).
_GRID_POINTS = 8


def candidate_amounts(
    low: Decimal, high: Decimal, single_month: SingleMonthPricing | None
) -> list[Decimal]:
    """The amounts an APR range is computed over: both ends, a geometric grid in between,
    and either side of the point where a minimum fee stops applying (the APR's knee)."""
    amounts = {low, high}
    ratio = (high / low) ** (Decimal(1) / (_GRID_POINTS + 1))
    point = low
    for _ in range(_GRID_POINTS):
        point *= ratio
        amounts.add(point.quantize(CENT))
    if single_month is not None and single_month.fee_rate > 0:
        knee = (single_month.min_fee / single_month.fee_rate).quantize(CENT, ROUND_CEILING)
        amounts.update({knee, knee - CENT, knee + CENT})
    return sorted(a for a in amounts if low <= a <= high)


def _never(apr: Decimal) -> bool:
    return False


def repayment_options(
    provider: GuardedProvider,
    offer: Offer,
    start: date,
    high_cost: Callable[[Decimal], bool] = _never,
) -> tuple[RepaymentOptionView, ...]:
    """Each way to repay, priced by the bank's own pricing (``price_schedule``) like a quote:
    its APR at a representative amount (10,000 CNY, or the nearest amount allowed) and its
    lowest and highest APR over the amounts the holder may take.

    The range is over the bank's bounds per withdrawal and per tenor, not over what is left
    of the holder's limits today: the rates of a product do not move with each withdrawal,
    and the dearest amount, the smallest, is always within them. ``high_cost`` says whether
    an APR passes the high-cost threshold; an option is high-cost when its highest does.
    """
    if offer.min_amount <= 0 or offer.max_amount < offer.min_amount:
        return ()
    return _priced_options(
        provider, _Pricing(offer), offer.min_amount, offer.max_amount, start, high_cost
    )


def _option(
    provider: GuardedProvider,
    offer: Offer,
    repayment_type: RepaymentType,
    periods: int,
    low: Decimal,
    high: Decimal,
    start: date,
    *,
    high_cost: Callable[[Decimal], bool],
    single_month: SingleMonthPricing | None = None,
    installment: InstallmentPricing | None = None,
) -> RepaymentOptionView | None:
    representative = min(max(REPRESENTATIVE_AMOUNT, low), high)
    priced: list[tuple[Decimal, Decimal]] = []
    for amount in sorted({*candidate_amounts(low, high, single_month), representative}):
        schedule = provider.price_schedule(offer, amount, repayment_type, periods, start)
        if lasts_too_long(start, schedule):
            log.error("bank %s prices %s periods beyond five years", provider.code, periods)
            return None
        priced.append((apr_percent(amount, start, schedule), amount))
    # Ties: the smallest amount at the highest rate, the largest at the lowest.
    highest = max(priced, key=lambda p: (p[0], -p[1]))
    lowest = min(priced, key=lambda p: (p[0], -p[1]))
    return RepaymentOptionView(
        repayment_type,
        periods,
        next(apr for apr, amount in priced if amount == representative),
        representative,
        apr_lowest=lowest[0],
        apr_lowest_amount=lowest[1],
        apr_highest=highest[0],
        apr_highest_amount=highest[1],
        min_amount=low,
        max_amount=high,
        single_month=single_month,
        installment=installment,
        high_cost=high_cost(highest[0]),
    )


@functools.lru_cache(maxsize=1024)
def _priced_options(
    provider: GuardedProvider,
    priced: _Pricing,
    low: Decimal,
    high: Decimal,
    start: date,
    high_cost: Callable[[Decimal], bool],
) -> tuple[RepaymentOptionView, ...]:
    # A bank prices every customer alike, so the same inputs recur on every offers page:
    # computing their IRRs once a day per bank is enough.
    offer = priced.offer
    single_month, installments = offer.single_month, offer.installments
    options = []
    try:
        if single_month is not None:
            option = _option(
                provider, offer, RepaymentType.SINGLE_MONTH, 1, low, high, start,
                high_cost=high_cost, single_month=single_month,
            )
            options.append(option)
        for pricing in sorted(installments, key=lambda p: p.periods):
            tenor_low = max(low, pricing.min_amount or low)
            tenor_high = min(high, pricing.max_amount or high)
            if tenor_low > tenor_high:
                continue  # no amount the holder may take fits this tenor
            options.append(
                _option(
                    provider, offer, RepaymentType.INSTALLMENT, pricing.periods, tenor_low,
                    tenor_high, start, high_cost=high_cost, installment=pricing,
                )
            )
    except ProviderError as error:
        log.error("bank %s: its pricing could not be applied: %s", provider.code, error)
        return ()
    return tuple(o for o in options if o is not None)


class _Pricing:
    """An offer that hashes and compares by its pricing only, so that the options of every
    customer of a bank share one cache entry a day."""

    __slots__ = ("offer", "key")

    def __init__(self, offer: Offer) -> None:
        self.offer = offer
        self.key = (offer.single_month, offer.installments)

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Pricing) and other.key == self.key


def today_in_china(now: datetime | None = None) -> date:
    """Banks count days (interest, daily caps) in China's time zone."""
    return (now or utcnow()).astimezone(CHINA).date()


class Banks:
    def __init__(
        self,
        catalog: Catalog,
        registry: Registry,
        cards: Cards,
        *,
        high_cost: Callable[[Decimal], bool] = _never,
    ) -> None:
        self._catalog = catalog
        self._registry = registry
        self._cards = cards
        self._high_cost = high_cost

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
            raise DomainError(ErrorCode.CARD_NOT_FOUND, "none_at_bank", bank=listing.named)
        try:
            offer = await provider.get_offer(account.customer, card.card_ref)
        except ProviderError as exc:
            raise bank_error(exc, bank_code) from None
        options = repayment_options(provider, offer, today_in_china(), self._high_cost)
        return OfferView(bank_code, card.id, offer, options)

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
            raise DomainError(ErrorCode.BANK_NOT_FOUND, bank_code=bank_code)
        reason = self.unusable(listing, account)
        if reason is Unusable.BANK_NOT_LOADED:
            raise DomainError(
                ErrorCode.BANK_UNAVAILABLE,
                "unreachable",
                bank_code=bank_code,
                bank=listing.named,
                retryable=True,
            )
        if reason is not None:
            # The catalogs' BANK_NOT_AVAILABLE.<reason>, e.g. BANK_NOT_AVAILABLE.NOT_IN_PILOT.
            raise DomainError(
                ErrorCode.BANK_NOT_AVAILABLE,
                reason.value,
                bank_code=bank_code,
                bank=listing.named,
                reason=reason,
            )
        provider = self._registry.get(bank_code)
        assert provider is not None  # unusable() checked it is loaded
        return listing, provider

