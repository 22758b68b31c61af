"""Who is asking: the session token of the request (or of the WebSocket's connection_init)."""

from __future__ import annotations

from graphql import GraphQLError
from strawberry.types import Info

from api.logging_setup import user_id_var
from api.services.accounts import Account
from api.services.sessions import InvalidSession, SessionClaims


def unauthenticated(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": "UNAUTHENTICATED"})


def connection_authorization(params: dict | None) -> object | None:
    """The Authorization a WebSocket's connection_init payload carries, if any."""
    if not params:
        return None
    return params.get("Authorization") or params.get("authorization")


def _bearer(header: object) -> str:
    scheme, _, token = str(header).partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthenticated("the Authorization header must be 'Bearer <token>'")
    return token.strip()


async def authenticate(services, header: object) -> tuple[Account, SessionClaims]:
    """The account an Authorization value speaks for, and its session; an UNAUTHENTICATED
    error when it is malformed, invalid, expired or names no such account."""
    try:
        claims = services.tokens.verify(_bearer(header))
    except InvalidSession as exc:
        raise unauthenticated(f"{exc}; sign in again") from None
    account = await services.accounts.get(claims.user_id)
    if account is None or account.channel.value != claims.channel:
        raise unauthenticated("invalid session token; sign in again")
    return account, claims


async def viewer_account(info: Info) -> Account | None:
    """The signed-in user, None without a token; a bad token is an UNAUTHENTICATED error."""
    context = info.context
    if context.account is not None:
        return context.account
    header = context.request.headers.get("authorization")
    if header is None:
        header = connection_authorization(context.connection_params)
    if header is None:
        return None
    account, _ = await authenticate(context.services, header)
    context.account = account
    user_id_var.set(account.id)
    return account


async def require_account(info: Info) -> Account:
    """The signed-in user, or an UNAUTHENTICATED error."""
    account = await viewer_account(info)
    if account is None:
        raise unauthenticated("sign in first: send 'Authorization: Bearer <token>'")
    return account
