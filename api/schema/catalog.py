"""GraphQL types of the bank catalog."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import strawberry
from graphql import GraphQLError
from strawberry.types import Info

from api.schema.auth import require_account, viewer_account
from api.schema.execution import prefetched
from api.schema.offers import OfferResult, offer_loader, prefetch_offers
from api.services import catalog as domain
from api.services.accounts import Account


@strawberry.enum(description="The mini-program platform a user comes from.")
class Channel(Enum):
    WECHAT = strawberry.enum_value("WECHAT", description="WeChat (微信) mini-programs.")
    ALIPAY = strawberry.enum_value("ALIPAY", description="Alipay (支付宝) mini-programs.")


@strawberry.enum(description="Whether a bank's cash advance can be used on a channel.")
class BankAvailability(Enum):
    LIVE = strawberry.enum_value("LIVE", description="Open to every user of the channel.")
    PILOT = strawberry.enum_value(
        "PILOT",
        description="A small-scale pilot: open to its allow-listed users and to a share of users "
        "chosen by their id; `usable` says whether the viewer is in.",
    )
    ONBOARDING = strawberry.enum_value(
        "ONBOARDING", description="Listed as coming soon; cannot be used yet."
    )
    SUSPENDED = strawberry.enum_value(
        "SUSPENDED", description="Temporarily withdrawn; not listed on the channel."
    )


@strawberry.enum(
    description="Why the viewer cannot use a listed bank. Stable values: clients branch on them."
)
class BankUnusableReason(Enum):
    COMING_SOON = strawberry.enum_value(
        "COMING_SOON", description="ONBOARDING: listed as coming soon, open to nobody yet."
    )
    SUSPENDED = strawberry.enum_value(
        "SUSPENDED",
        description="Withdrawn for now: not listed; a withdrawal's history still names it.",
    )
    SIGN_IN_FOR_PILOT = strawberry.enum_value(
        "SIGN_IN_FOR_PILOT",
        description="PILOT and nobody is signed in: whether the viewer is in the pilot is known "
        "after sign-in.",
    )
    NOT_IN_PILOT = strawberry.enum_value(
        "NOT_IN_PILOT", description="PILOT, and the viewer is not among its users yet."
    )
    BANK_DISABLED = strawberry.enum_value(
        "BANK_DISABLED", description="The bank is switched off on this service for now."
    )
    BANK_NOT_LOADED = strawberry.enum_value(
        "BANK_NOT_LOADED", description="The service cannot reach the bank right now."
    )


NOT_FETCHED = object()


@strawberry.type(description="A bank offering credit-card cash advances on a channel.")
class Bank:
    id: strawberry.ID = strawberry.field(description="Stable identifier of the bank.")
    code: str = strawberry.field(description='The bank\'s code, e.g. "CEB".')
    name: str = strawberry.field(description='Full name in Chinese, e.g. "光大银行".')
    name_en: str = strawberry.field(
        description='Full name in English, e.g. "China Everbright Bank".'
    )
    short_name: str = strawberry.field(description='Short name for tight layouts, e.g. "光大".')
    logo_url: str = strawberry.field(description="Absolute URL of the bank's logo (SVG).")
    brand_color: str = strawberry.field(description="The bank's brand colour as #RRGGBB.")
    tagline: str = strawberry.field(description="One line under the name on the service page.")
    channel: Channel = strawberry.field(description="The channel this listing is for.")
    availability: BankAvailability = strawberry.field(description="Availability on this channel.")
    usable: bool = strawberry.field(
        description="True when the viewer can take a cash advance here now: LIVE, or PILOT with "
        "the viewer in the pilot (without a viewer: a pilot open to all), and the bank connected."
    )
    unusable_reason: BankUnusableReason | None = strawberry.field(
        description="Why `usable` is false; null when it is true."
    )
    entry_hint: str = strawberry.field(
        description="Where users find the bank's service on this channel."
    )

    @strawberry.field(
        description="The viewer's cash-advance offer at this bank: limits and each repayment "
        "option with its APR. Without a valid session: null and an UNAUTHENTICATED error. Offers of all banks on a page are "
        "fetched at once; a bank that fails gives its error, not a failed page."
    )
    @prefetched("_offer", NOT_FETCHED)
    def offer(self, info: Info) -> OfferResult | None:
        # Fetched with the page's list of banks when there was one (see resolve_banks): a
        # plain value then, read by GraphQL without calling this (see prefetched).
        if self._offer is not NOT_FETCHED:
            return self._offer
        return self._load_offer(info)  # type: ignore[return-value]  # awaited by GraphQL

    async def _load_offer(self, info: Info) -> OfferResult | None:
        account = await require_account(info)
        return await offer_loader(info, account).load(self.code)

    _offer: strawberry.Private[object] = NOT_FETCHED

    @classmethod
    def from_listing(cls, b: domain.BankListing, reason: domain.Unusable | None) -> Bank:
        return cls(
            id=strawberry.ID(b.code),
            code=b.code,
            name=b.name,
            name_en=b.name_en,
            short_name=b.short_name,
            logo_url=b.logo_url,
            brand_color=b.brand_color,
            tagline=b.tagline,
            channel=Channel(b.channel.value),
            availability=BankAvailability(b.availability.value),
            usable=reason is None,
            unusable_reason=BankUnusableReason(reason.value) if reason else None,
            entry_hint=b.entry_hint,
        )


ChannelArg = Annotated[Channel, strawberry.argument(description="The channel to list banks for.")]


async def _viewer(info: Info) -> Account | None:
    """The viewer, if any: with a refused token the catalog still answers, as to anyone (the
    offer of each bank then gives the token's error)."""
    try:
        return await viewer_account(info)
    except GraphQLError:
        return None


def bank_for(info: Info, listing: domain.BankListing, account: Account | None) -> Bank:
    """The GraphQL bank of ``listing`` as ``account`` may use it."""
    return Bank.from_listing(listing, info.context.services.banks.unusable(listing, account))


async def resolve_banks(info: Info, channel: ChannelArg) -> list[Bank]:
    listings = await info.context.services.catalog.banks(domain.Channel(channel.value))
    account = await _viewer(info)
    banks = [bank_for(info, b, account) for b in listings]
    await prefetch_offers(info, banks)
    return banks


async def resolve_bank(
    info: Info,
    code: Annotated[str, strawberry.argument(description='The bank\'s code, e.g. "CEB".')],
    channel: ChannelArg,
) -> Bank | None:
    listing = await info.context.services.catalog.bank(code, domain.Channel(channel.value))
    return bank_for(info, listing, await _viewer(info)) if listing else None
