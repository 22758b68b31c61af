"""The GraphQL schema: Strawberry types and thin resolvers that call the services."""

from __future__ import annotations

import strawberry
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.schema.config import StrawberryConfig

from api.schema.account import (
    LoginResult,
    LogoutEverywhereResult,
    LogoutResult,
    Viewer,
    resolve_login,
    resolve_logout,
    resolve_logout_everywhere,
    resolve_viewer,
)
from api.schema.base import Schema
from api.schema.catalog import Bank, resolve_bank, resolve_banks
from api.schema.execution import ExecutionContext
from api.schema.extensions import Documents, OperationPolicy
from api.schema.limits import DocumentLimits
from api.schema.scalars import SCALARS
from api.schema.withdrawals import (
    CancelWithdrawalResult,
    ConfirmWithdrawalResult,
    CreateWithdrawalResult,
    QuoteResult,
    Withdrawal,
    resolve_cancel_withdrawal,
    resolve_confirm_withdrawal,
    resolve_create_quote,
    resolve_create_withdrawal,
    resolve_withdrawal,
    subscribe_withdrawal,
)


@strawberry.type(description="Everything cardcash can be asked.")
class Query:
    banks: list[Bank] = strawberry.field(
        resolver=resolve_banks,
        description=(
            "The banks listed on a channel's service page: usable banks (LIVE, PILOT) first, "
            "then ONBOARDING ones; SUSPENDED banks are left out."
        ),
    )
    bank: Bank | None = strawberry.field(
        resolver=resolve_bank,
        description="One bank as listed on a channel; null when unknown or not listed there.",
    )
    viewer: Viewer | None = strawberry.field(
        resolver=resolve_viewer,
        description=(
            "The signed-in user. Without a valid session token: null and an error with "
            "extensions.code UNAUTHENTICATED, whose extensions.reason says why: MISSING (no "
            "token), EXPIRED or REVOKED (the session's time is up, or it was logged out: sign "
            "in again), INVALID or MALFORMED."
        ),
    )

    withdrawal: Withdrawal | None = strawberry.field(
        resolver=resolve_withdrawal,
        description="One of the viewer's withdrawals; null when unknown or someone else's.",
    )


@strawberry.type(description="Everything that changes something.")
class Mutation:
    login: LoginResult = strawberry.field(
        resolver=resolve_login,
        description="Sign in with the channel's one-time code; returns a session token.",
    )
    logout: LogoutResult = strawberry.field(
        resolver=resolve_logout,
        description="End the session of the request's token, on every replica: the token is "
        "refused from then on (UNAUTHENTICATED, extensions.reason REVOKED) and the session's "
        "subscriptions end. Safe to repeat. Refused (UNAUTHENTICATED) without a token or with "
        "one that is invalid or expired.",
    )
    logout_everywhere: LogoutEverywhereResult = strawberry.field(
        resolver=resolve_logout_everywhere,
        description="End every session of the viewer's issued until now, on every device and "
        "replica, this one included; a later sign-in works. Safe to repeat: a token already "
        "logged out changes nothing.",
    )
    create_quote: QuoteResult = strawberry.field(
        resolver=resolve_create_quote,
        description="A trial calculation: the bank's schedule with cardcash's APR and the "
        "disclosure to accept. Expires after a few minutes.",
    )
    create_withdrawal: CreateWithdrawalResult = strawberry.field(
        resolver=resolve_create_withdrawal,
        description="Withdraw as quoted to the viewer's own debit card. Idempotent: retry with "
        "the same idempotencyKey after a timeout.",
    )
    confirm_withdrawal: ConfirmWithdrawalResult = strawberry.field(
        resolver=resolve_confirm_withdrawal,
        description="Pass the bank's verification code. Safe to retry.",
    )
    cancel_withdrawal: CancelWithdrawalResult = strawberry.field(
        resolver=resolve_cancel_withdrawal,
        description="Cancel a withdrawal still awaiting verification.",
    )


@strawberry.type(description="Live updates over WebSocket (graphql-transport-ws).")
class Subscription:
    withdrawal: Withdrawal | None = strawberry.subscription(
        resolver=subscribe_withdrawal,
        description="The withdrawal now, then again at every status change until it is final. "
        'Authenticate with connection_init payload {"Authorization": "Bearer <token>"}.',
    )


#: Distinct documents a process keeps parsed and validated. Front ends send a few dozen.
DOCUMENT_CACHE_SIZE = 512


def build_schema(
    *,
    introspection: bool = True,
    suggestions: bool = True,
    mask_errors: bool = False,
    max_depth: int = 10,
    max_aliases: int = 15,
    max_tokens: int = 2000,
    max_fields: int = 2000,
) -> strawberry.Schema:
    """The schema with its guards.

    Documents with more than ``max_tokens`` tokens are refused by the parser itself, so a
    flood of tokens costs little. Documents deeper than ``max_depth``, with more than
    ``max_aliases`` aliases or ``max_fields`` fields once their fragments are expanded are
    refused next, in time linear in their size, before graphql-core's validation rules and
    execution (:mod:`api.schema.limits`). Production turns introspection off, drops
    "Did you mean …?" from errors (``suggestions``) and masks unexpected errors
    (``mask_errors``).
    """
    # The guards' rules are built once: the same rules on every request, so that a repeated
    # document is parsed and validated once per process (``Documents``).
    rules = () if introspection else (NoSchemaIntrospectionCustomRule,)
    limits = DocumentLimits(max_depth=max_depth, max_aliases=max_aliases, max_fields=max_fields)
    documents = Documents(DOCUMENT_CACHE_SIZE, hide_suggestions=not suggestions, limits=limits)
    extensions: list = [
        lambda: OperationPolicy(
            mask=mask_errors, max_tokens=max_tokens, rules=rules, documents=documents
        ),
    ]
    return Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        config=StrawberryConfig(scalar_map=SCALARS),
        execution_context_class=(
            ExecutionContext if suggestions else ExecutionContext.without_suggestions()
        ),
    )


schema = build_schema()
