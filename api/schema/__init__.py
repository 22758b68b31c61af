"""The GraphQL schema: Strawberry types and thin resolvers that call the services."""

from __future__ import annotations

import strawberry
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import AddValidationRules

from api.schema.account import LoginResult, Viewer, resolve_login, resolve_viewer
from api.schema.catalog import Bank, resolve_bank, resolve_banks
from api.schema.errors import Schema


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
            "The signed-in user; null without a session token. An invalid or expired token is "
            "an error with extensions.code UNAUTHENTICATED."
        ),
    )


@strawberry.type(description="Everything that changes something.")
class Mutation:
    login: LoginResult = strawberry.field(
        resolver=resolve_login,
        description="Sign in with the channel's one-time code; returns a session token.",
    )


def build_schema(*, introspection: bool = True) -> strawberry.Schema:
    """The schema; production turns introspection off."""
    extensions = (
        [] if introspection else [lambda: AddValidationRules([NoSchemaIntrospectionCustomRule])]
    )
    return Schema(query=Query, mutation=Mutation, extensions=extensions)


schema = build_schema()
