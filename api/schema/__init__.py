"""The GraphQL schema: Strawberry types and thin resolvers that call the services."""

from __future__ import annotations

import strawberry
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import AddValidationRules

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


def build_schema(*, introspection: bool = True) -> strawberry.Schema:
    """The schema; production turns introspection off."""
    extensions = [] if introspection else [AddValidationRules([NoSchemaIntrospectionCustomRule])]
    return Schema(query=Query, extensions=extensions)


schema = build_schema()
