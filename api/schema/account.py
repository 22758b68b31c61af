"""Sign-in, the viewer and their cards."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.types import Info

from api import messages
from api.schema.auth import authenticate, request_authorization, require_account, unauthenticated
from api.schema.cards import Card
from api.schema.catalog import Channel
from api.schema.errors import LoginError, RateLimitedError, ValidationError, error_member
from api.schema.withdrawals import WithdrawalConnection, resolve_withdrawals
from api.services import catalog as domain_catalog
from api.services.accounts import Account
from api.services.channels import ChannelLoginError
from api.services.errors import DomainError, ErrorCode
from providers import CardKind as DomainCardKind

log = logging.getLogger("cardcash.login")


@strawberry.type(description="The signed-in user.")
class Viewer:
    id: strawberry.ID = strawberry.field(description="The user's cardcash id.")
    channel: Channel = strawberry.field(description="The channel the user signed in on.")
    account: strawberry.Private[Account]

    @strawberry.field(description="The viewer's credit cards at the banks usable on their channel.")
    async def credit_cards(self, info: Info) -> list[Card]:
        cards = await info.context.services.cards.list(self.account, DomainCardKind.CREDIT)
        return [Card.from_view(c) for c in cards]

    @strawberry.field(
        description="The viewer's own debit cards that cash advances can be paid out to: one "
        "entry per card, whichever banks report it, and none that a bank refuses payouts to."
    )
    async def debit_cards(self, info: Info) -> list[Card]:
        cards = await info.context.services.cards.list(self.account, DomainCardKind.DEBIT)
        return [Card.from_view(c) for c in cards]

    @strawberry.field(description="The viewer's withdrawals, newest first (a Relay connection).")
    async def withdrawals(
        self,
        info: Info,
        first: Annotated[
            int | None, strawberry.argument(description="Page size, 1-50 (default 20).")
        ] = None,
        after: Annotated[
            str | None, strawberry.argument(description="endCursor of the previous page.")
        ] = None,
    ) -> WithdrawalConnection:
        return await resolve_withdrawals(info, self.account, first, after)

    @classmethod
    def of(cls, account: Account) -> Viewer:
        return cls(
            id=strawberry.ID(account.id), channel=Channel(account.channel.value), account=account
        )


@strawberry.input(description="A one-time code from the channel's login API.")
class LoginInput:
    channel: Channel = strawberry.field(description="The channel the code comes from.")
    code: str = strawberry.field(
        description="WeChat: the code from wx.login(). Alipay: the authCode from my.getAuthCode(). "
        "In development, 'sandbox:<name>' signs in as sandbox user <name>."
    )


@strawberry.type(description="Signed in: a session token for 'Authorization: Bearer <token>'.")
class LoginSuccess:
    token: str = strawberry.field(description="The session token. Keep it secret.")
    expires_at: datetime = strawberry.field(description="When the token stops working.")
    viewer: Viewer = strawberry.field(description="The signed-in user.")


LoginResult = Annotated[
    LoginSuccess | LoginError | ValidationError | RateLimitedError,
    strawberry.union("LoginResult", description="The session, or why sign-in failed."),
]


async def resolve_viewer(info: Info) -> Viewer | None:
    return Viewer.of(await require_account(info))


async def resolve_login(
    info: Info, input: Annotated[LoginInput, strawberry.argument(description="Channel and code.")]
) -> LoginResult:
    services = info.context.services
    try:
        await services.limits.check_login(info.context.client_address)
        signed_in = await services.login.login(
            domain_catalog.Channel(input.channel.value), input.code
        )
    except ChannelLoginError as exc:
        # The channel's message is for operators (safe to log, see ChannelLoginError); users
        # read the code's, in their language.
        log.info("sign-in refused: %s", exc)
        error = DomainError(
            ErrorCode(exc.code.value), retry_after=exc.retry_after, channel_message=exc.message
        )
        return error_member(error, info.context.language)
    except DomainError as exc:
        return error_member(exc, info.context.language)
    info.context.account = signed_in.account
    return LoginSuccess(
        token=signed_in.token, expires_at=signed_in.expires_at, viewer=Viewer.of(signed_in.account)
    )


@strawberry.type(
    description="The session is over: its token is refused from now on, on every replica "
    "(UNAUTHENTICATED with extensions.reason REVOKED), and its sockets are closed."
)
class LogoutSuccess:
    already_logged_out: bool = strawberry.field(
        description="True when the session had already ended (by logout or logoutEverywhere): "
        "nothing was changed."
    )
    message: str = strawberry.field(
        description="A sentence to show the user, in the request's Accept-Language."
    )


@strawberry.type(
    description="Every session of the viewer's issued until now is over, this one included, "
    "on every device and replica. A token from a later sign-in works."
)
class LogoutEverywhereSuccess:
    already_logged_out: bool = strawberry.field(
        description="True when this session had already ended (by logout or "
        "logoutEverywhere): nothing was changed, and sessions signed in since are left alone."
    )
    message: str = strawberry.field(
        description="A sentence to show the user, in the request's Accept-Language."
    )


LogoutResult = Annotated[
    LogoutSuccess,
    strawberry.union(
        "LogoutResult",
        description="The session is over (a union for what may "
        "be added later: select `... on LogoutSuccess`).",
    ),
]
LogoutEverywhereResult = Annotated[
    LogoutEverywhereSuccess,
    strawberry.union(
        "LogoutEverywhereResult",
        description="The viewer's sessions are over (a union for what may be added later: "
        "select `... on LogoutEverywhereSuccess`).",
    ),
]


async def _session(info: Info):
    """The request's session, live or already ended; UNAUTHENTICATED without a token, or with
    one that is not ours, tampered with or expired."""
    context = info.context
    header = request_authorization(context)
    if header is None:
        raise unauthenticated("MISSING", context.language)
    _account, claims = await authenticate(
        context.services, header, context.language, ended_too=True
    )
    return claims


async def resolve_logout(info: Info) -> LogoutResult:
    claims = await _session(info)
    ended = await info.context.services.sessions.logout(claims)
    return LogoutSuccess(
        already_logged_out=not ended,
        message=messages.text("logout.DONE", info.context.language),
    )


async def resolve_logout_everywhere(info: Info) -> LogoutEverywhereResult:
    claims = await _session(info)
    ended = await info.context.services.sessions.logout_everywhere(claims)
    return LogoutEverywhereSuccess(
        already_logged_out=not ended,
        message=messages.text("logout.EVERYWHERE", info.context.language),
    )
