"""Who is asking: the session token of the request (or of the WebSocket's connection_init)."""

from __future__ import annotations

from graphql import GraphQLError
from strawberry.types import Info

from api import messages
from api.logging_setup import user_id_var
from api.services.accounts import Account
from api.services.sessions import InvalidSession, SessionClaims

#: extensions.reason of an UNAUTHENTICATED error: what the client should do differs.
#: MISSING: no token was sent; EXPIRED: the session's time is up, sign in again; REVOKED: the
#: session was logged out (logout, logoutEverywhere), sign in again; INVALID: the token is not
#: one of ours (or its user is gone); MALFORMED: the header is not 'Bearer <token>'.
REASONS = ("MISSING", "EXPIRED", "REVOKED", "INVALID", "MALFORMED")


def unauthenticated(reason: str, language: str = messages.DEFAULT_LANGUAGE) -> GraphQLError:
    """UNAUTHENTICATED with its ``reason``, the message in ``language``."""
    return GraphQLError(
        messages.text(f"auth.{reason}", language),
        extensions={"code": "UNAUTHENTICATED", "reason": reason},
    )


def connection_authorization(params: dict | None) -> object | None:
    """The Authorization a WebSocket's connection_init payload carries, if any."""
    if not params:
        return None
    return params.get("Authorization") or params.get("authorization")


def _bearer(header: object) -> str:
    scheme, _, token = str(header).partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthenticated("MALFORMED")
    return token.strip()


async def authenticate(
    services,
    header: object,
    language: str = messages.DEFAULT_LANGUAGE,
    *,
    ended_too: bool = False,
) -> tuple[Account, SessionClaims]:
    """The account an Authorization value speaks for, and its session; an UNAUTHENTICATED
    error (its message in ``language``) when it is malformed, invalid, expired, logged out or
    names no such account. ``ended_too``: a logged-out session is returned too (logout
    itself, which is safe to repeat)."""
    try:
        claims = services.tokens.verify(_bearer(header))
    except InvalidSession as exc:
        raise unauthenticated(exc.reason, language) from None
    except GraphQLError as error:  # a malformed header, in the request's language
        raise unauthenticated(error.extensions["reason"], language) from None
    account = await services.accounts.get(claims.user_id)
    if account is None or account.channel.value != claims.channel:
        raise unauthenticated("INVALID", language)
    if not ended_too:
        try:
            await services.sessions.check(claims)
        except InvalidSession as exc:
            raise unauthenticated(exc.reason, language) from None
    return account, claims


def request_authorization(context) -> object | None:
    """The Authorization of a request: its header, or its WebSocket's connection_init."""
    header = context.request.headers.get("authorization")
    if header is None:
        header = connection_authorization(context.connection_params)
    return header


async def viewer_account(info: Info) -> Account | None:
    """The signed-in user, None without a token; a bad token is an UNAUTHENTICATED error."""
    context = info.context
    if context.account is not None:
        return context.account
    header = request_authorization(context)
    if header is None:
        return None
    account, _ = await authenticate(context.services, header, context.language)
    context.account = account
    user_id_var.set(account.id)
    return account


async def require_account(info: Info) -> Account:
    """The signed-in user, or an UNAUTHENTICATED error."""
    account = await viewer_account(info)
    if account is None:
        raise unauthenticated("MISSING", info.context.language)
    return account
