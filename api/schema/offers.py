"""A bank's cash-advance offer for the viewer, fetched for all banks of a page at once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from enum import Enum
from typing import Annotated, Any

import strawberry
from cachetools import LRUCache
from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLBoolean,
    GraphQLError,
    SelectionNode,
)
from graphql.utilities import value_from_ast
from strawberry.dataloader import DataLoader
from strawberry.types import Info

from api import messages
from api.schema.auth import viewer_account
from api.schema.errors import BankError, CardError, error_member
from api.schema.execution import immutable
from api.schema.money import ZERO, Money
from api.schema.scalars import Decimal
from api.services.accounts import Account
from api.services.banks import OfferView, RepaymentOptionView
from api.services.errors import DomainError
from providers import CardKind


@strawberry.enum(description="How a cash advance is repaid.")
class RepaymentType(Enum):
    SINGLE_MONTH = strawberry.enum_value(
        "SINGLE_MONTH",
        description="单月还: everything at once one month later, with daily interest and a fee. periods is 1.",
    )
    INSTALLMENT = strawberry.enum_value(
        "INSTALLMENT",
        description="分月还: equal principal each month plus a monthly fee on the original principal.",
    )


@strawberry.type(
    description="The annualized rates of one way to repay over every amount the viewer may "
    "take, from the bank's own pricing. A minimum fee makes small amounts dearer: show the "
    "highest rate, not only the one at a large amount (2022 credit-card notice)."
)
class AprRange:
    lowest: Decimal = strawberry.field(description='The lowest APR in percent ("13.03").')
    lowest_at: Money = strawberry.field(description="The amount the lowest APR applies to.")
    highest: Decimal = strawberry.field(description='The highest APR in percent ("139.92").')
    highest_at: Money = strawberry.field(
        description="The amount the highest APR applies to (usually the smallest allowed)."
    )
    min_amount: Money = strawberry.field(
        description="The smallest amount of the range (the bank's minimum for this option)."
    )
    max_amount: Money = strawberry.field(description="The largest amount of the range.")


@strawberry.type(description="One way to repay, with its annualized rates.")
class RepaymentOption:
    repayment_type: RepaymentType = strawberry.field(description="Single month or installments.")
    periods: int = strawberry.field(description="Number of monthly payments (1 for SINGLE_MONTH).")
    apr_range: AprRange = strawberry.field(
        description="The lowest and highest APR over the amounts the viewer may take, and where "
        "each applies. Show them more prominently than any daily or monthly rate."
    )
    apr: Decimal = strawberry.field(
        description="Annualized rate in percent (IRR of the cash flows on their dates, all "
        "costs included) at representativeAmount only; aprRange.highest is the rate to show."
    )
    apr_method: str = strawberry.field(
        description='How the APRs are computed: "IRR_ACTUAL_DATES_SIMPLE", the internal rate '
        "of return over each payment's actual date, per mean period × periods per year."
    )
    representative_amount: Money = strawberry.field(
        description="The amount apr is computed for (10,000 CNY, or the nearest amount allowed)."
    )
    monthly_fee_rate: Decimal | None = strawberry.field(
        description="INSTALLMENT: the charge per period on the original principal, as a "
        "fraction (0.006). Shown to the holder as interest (利息), and never instead of the APR."
    )
    daily_interest_rate: Decimal | None = strawberry.field(
        description="SINGLE_MONTH: interest per day as a fraction (0.0005)."
    )
    fee_rate: Decimal | None = strawberry.field(
        description="SINGLE_MONTH: the one-off fee as a fraction of the amount (0.01)."
    )
    min_fee: Money | None = strawberry.field(description="SINGLE_MONTH: the minimum one-off fee.")
    high_cost: bool = strawberry.field(
        description="True when aprRange.highest passes the server's high-cost threshold "
        "(36 % unless configured otherwise): show highCostWarning before the user accepts."
    )

    @strawberry.field(
        description="highCost: the warning to show with this option, in the request's "
        "language (it names the highest APR and the threshold); null otherwise."
    )
    def high_cost_warning(self, info: Info) -> str | None:
        if not self.high_cost:
            return None
        return high_cost_warning(info, self.apr_range.highest)


def high_cost_warning(info: Info, apr: object, key: str = "high_cost.warning") -> str:
    """The high-cost warning for a rate of ``apr`` percent, in the request's language:
    an option's (up to ``apr``) or, with ``key="disclosure.high_cost"``, a quote's."""
    threshold = info.context.services.exposure.policy.high_cost_apr
    return messages.text(key, info.context.language, apr=apr, threshold=threshold)


@immutable
@strawberry.type(description="What the bank offers the viewer on their credit card right now.")
class CashAdvanceOffer:
    bank_code: str = strawberry.field(description="The bank making the offer.")
    credit_card_id: strawberry.ID = strawberry.field(
        description="The viewer's credit card it is for."
    )
    available_limit: Money = strawberry.field(description="Cash-advance limit still available.")
    credit_limit: Money = strawberry.field(description="The card's whole credit line, for context.")
    min_amount: Money = strawberry.field(description="Smallest amount per withdrawal.")
    max_amount: Money = strawberry.field(description="Largest amount per withdrawal.")
    daily_remaining: Money = strawberry.field(description="What is left of today's cap.")
    repayment_options: list[RepaymentOption] = strawberry.field(
        description="Each way to repay, with its APR."
    )
    platform_fee: Money = strawberry.field(description="What cardcash charges: always zero.")
    arrival_description: str = strawberry.field(description="When the money usually arrives.")
    high_cost: bool = strawberry.field(
        description="True when any of repaymentOptions is highCost: warn before the user "
        "picks an amount."
    )

    @classmethod
    def of(cls, view: OfferView) -> CashAdvanceOffer:
        """The offer of ``view``: the same object again while the bank answers the same.

        Limits rarely move between two views of a page, and an unchanged offer's completed
        answer is then reused too (see :func:`api.schema.execution.immutable`). The bank is
        asked every time all the same: only the rendering of its answer is kept.
        """
        offer = view.offer
        # What _render reads, and nothing else (the options by identity: made once a day).
        key = (
            view.bank_code,
            view.credit_card_id,
            id(view.options),
            offer.available_limit,
            offer.credit_limit,
            offer.min_amount,
            offer.max_amount,
            offer.daily_remaining,
            offer.arrival_description,
        )
        made = _RENDERED.get(key)
        if made is not None and made[0] is view.options:
            return made[1]
        rendered = cls._render(view)
        _RENDERED[key] = (view.options, rendered)  # keeps the options: the id stays theirs
        return rendered

    @classmethod
    def _render(cls, view: OfferView) -> CashAdvanceOffer:
        offer = view.offer
        return cls(
            bank_code=view.bank_code,
            credit_card_id=strawberry.ID(view.credit_card_id),
            available_limit=Money.cny(offer.available_limit),
            credit_limit=Money.cny(offer.credit_limit),
            min_amount=Money.cny(offer.min_amount),
            max_amount=Money.cny(offer.max_amount),
            daily_remaining=Money.cny(offer.daily_remaining),
            repayment_options=_options(view.options),
            platform_fee=Money.cny(ZERO),
            arrival_description=offer.arrival_description,
            high_cost=view.high_cost,
        )


_RENDERED: LRUCache[tuple, tuple[tuple[RepaymentOptionView, ...], CashAdvanceOffer]] = LRUCache(
    1024
)

# A bank prices every customer alike and the service computes each bank's options once a day
# (the same tuple each time): their GraphQL objects are made once per tuple too. They are
# never changed after, so every page may share them.
_OPTIONS: LRUCache[int, tuple[tuple[RepaymentOptionView, ...], tuple[RepaymentOption, ...]]] = (
    LRUCache(256)
)


def _options(views: tuple[RepaymentOptionView, ...]) -> tuple[RepaymentOption, ...]:
    made = _OPTIONS.get(id(views))
    if made is not None and made[0] is views:
        return made[1]
    options = []
    for o in views:
        sm, inst = o.single_month, o.installment
        options.append(
            RepaymentOption(
                repayment_type=RepaymentType(o.repayment_type.value),
                periods=o.periods,
                apr_range=AprRange(
                    lowest=o.apr_lowest,
                    lowest_at=Money.cny(o.apr_lowest_amount),
                    highest=o.apr_highest,
                    highest_at=Money.cny(o.apr_highest_amount),
                    min_amount=Money.cny(o.min_amount),
                    max_amount=Money.cny(o.max_amount),
                ),
                apr=o.apr,
                apr_method=o.apr_method,
                representative_amount=Money.cny(o.representative_amount),
                monthly_fee_rate=inst.monthly_fee_rate if inst else None,
                daily_interest_rate=sm.daily_interest_rate if sm else None,
                fee_rate=sm.fee_rate if sm else None,
                min_fee=Money.cny(sm.min_fee) if sm else None,
                high_cost=o.high_cost,
            )
        )
    # The entry holds ``views`` itself, so its id cannot be reused by another tuple.
    made = tuple(options)
    _OPTIONS[id(views)] = (views, made)
    return made


OfferResult = Annotated[
    CashAdvanceOffer | BankError | CardError,
    strawberry.union("OfferResult", description="The offer, or why there is none."),
]


def _included(node: SelectionNode, variables: dict[str, Any]) -> bool:
    """Whether @skip and @include keep ``node`` (their ``if`` is a literal or a variable)."""
    for directive in node.directives:
        name = directive.name.value
        if name in ("skip", "include"):
            condition = next(a.value for a in directive.arguments if a.name.value == "if")
            if value_from_ast(condition, GraphQLBoolean, variables) is (name == "skip"):
                return False
    return True


def _asks_for(
    nodes: Iterable[SelectionNode],
    fragments: dict,
    variables: dict[str, Any],
    name: str,
    seen: set[str] | None = None,
) -> bool:
    """Whether the selections under ``nodes`` (fragments included, @skip and @include
    honoured) ask for the field ``name``. Each fragment is looked into once (``seen``),
    however often it is spread."""
    if seen is None:
        seen = set()
    for node in nodes:
        if node.directives and not _included(node, variables):
            continue
        if isinstance(node, FieldNode):
            if node.name.value == name:
                return True
            continue
        if isinstance(node, FragmentSpreadNode):
            if node.name.value in seen:
                continue  # looked into already: had it asked, the answer was given
            seen.add(node.name.value)
            node = fragments.get(node.name.value)
            if node is None:  # validation refuses an unknown fragment
                continue
        if _asks_for(node.selection_set.selections, fragments, variables, name, seen):
            return True
    return False


def _page_asks_for_offers(info: Info) -> bool:
    # Read from the parsed query: Strawberry's selected_fields would convert every selection
    # of the page into its own objects (a tenth of the page's time) to answer the same.
    raw = info._raw_info
    selections = [s for node in raw.field_nodes for s in node.selection_set.selections]
    return _asks_for(selections, raw.fragments, raw.variable_values, "offer")


async def prefetch_offers(info: Info, banks: list) -> None:
    """Fetch the offers of a page's banks together with the list, when the page asks for them.

    Each bank's ``offer`` is then a plain value: no coroutine, loader call and task per bank.
    Without a viewer, or with a token that is refused, nothing is fetched here and each
    ``offer`` answers for itself as before (null, or its UNAUTHENTICATED error).
    """
    if not banks or not _page_asks_for_offers(info):
        return
    try:
        account = await viewer_account(info)
    except GraphQLError:
        return
    if account is None:
        return
    offers = await offer_loader(info, account).load_many([b.code for b in banks])
    for bank, offer in zip(banks, offers, strict=True):
        bank._offer = offer


def offer_loader(info: Info, account: Account) -> DataLoader:
    """One loader per request: every bank's offer on a page is asked for at the same time."""
    loaders = info.context.loaders
    if "offers" not in loaders:
        banks = info.context.services.banks
        cards = info.context.services.cards
        # Not info itself: the loader lives in info.context, a cycle through the closure.
        language = info.context.language

        async def load(codes: list[str]) -> list[CashAdvanceOffer | BankError | CardError]:
            # One round of card lists for all banks (when stale), one read of the cards.
            credit = await cards.list(account, CardKind.CREDIT)
            by_bank = {}
            for card in credit:
                by_bank.setdefault(card.provider_code, card)

            async def one(code: str):
                try:
                    return CashAdvanceOffer.of(await banks.offer(account, code, by_bank))
                except DomainError as exc:
                    return error_member(exc, language)

            return list(await asyncio.gather(*(one(c) for c in codes)))

        loaders["offers"] = DataLoader(load_fn=load)
    return loaders["offers"]
