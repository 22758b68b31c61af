"""GraphQL types of the bank catalog."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import strawberry
from strawberry.types import Info

from api.schema.auth import viewer_account
from api.schema.execution import prefetched
from api.schema.offers import OfferResult, offer_loader, prefetch_offers
from api.services import catalog as domain


@strawberry.enum(description="The mini-program platform a user comes from.")
class Channel(Enum):
    WECHAT = strawberry.enum_value("WECHAT", description="WeChat (微信) mini-programs.")
    ALIPAY = strawberry.enum_value("ALIPAY", description="Alipay (支付宝) mini-programs.")


@strawberry.enum(description="Whether a bank's cash advance can be used on a channel.")
class BankAvailability(Enum):
    LIVE = strawberry.enum_value("LIVE", description="Open to every user of the channel.")
    PILOT = strawberry.enum_value(
        "PILOT", description="Open to the allow-listed users of a small-scale pilot."
    )
    ONBOARDING = strawberry.enum_value(
        "ONBOARDING", description="Listed as coming soon; cannot be used yet."
    )
    SUSPENDED = strawberry.enum_value(
        "SUSPENDED", description="Temporarily withdrawn; not listed on the channel."
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
        description="True when users can take a cash advance here now (LIVE or PILOT)."
    )
    entry_hint: str = strawberry.field(
        description="Where users find the bank's service on this channel."
    )

    @strawberry.field(
        description="The viewer's cash-advance offer at this bank: limits and each repayment "
        "option with its APR. Null when not signed in. Offers of all banks on a page are "
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
        account = await viewer_account(info)
        if account is None:
            return None
        return await offer_loader(info, account).load(self.code)

    _offer: strawberry.Private[object] = NOT_FETCHED

    @classmethod
    def from_listing(cls, b: domain.BankListing) -> Bank:
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
            usable=b.usable,
            entry_hint=b.entry_hint,
        )


ChannelArg = Annotated[Channel, strawberry.argument(description="The channel to list banks for.")]


async def resolve_banks(info: Info, channel: ChannelArg) -> list[Bank]:
    listings = await info.context.services.catalog.banks(domain.Channel(channel.value))
    banks = [Bank.from_listing(b) for b in listings]
    await prefetch_offers(info, banks)
    return banks


async def resolve_bank(
    info: Info,
    code: Annotated[str, strawberry.argument(description='The bank\'s code, e.g. "CEB".')],
    channel: ChannelArg,
) -> Bank | None:
    listing = await info.context.services.catalog.bank(code, domain.Channel(channel.value))
    return Bank.from_listing(listing) if listing else None
