"""The committed SDL matches the code, and every part of the schema is described."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLUnionType,
)

from api.schema import schema
from api.schema.admin import admin_schema

ROOT = Path(__file__).resolve().parents[2]
BUILTIN_SCALARS = {"String", "Int", "Float", "Boolean", "ID"}


def test_committed_schema_matches_the_code():
    committed = (ROOT / "schema.graphql").read_text(encoding="utf-8")
    assert committed == schema.as_str() + "\n", (
        "schema.graphql is out of date: run `make schema` and commit it"
    )


def test_committed_admin_schema_matches_the_code():
    committed = (ROOT / "admin.graphql").read_text(encoding="utf-8")
    assert committed == admin_schema.as_str() + "\n", (
        "admin.graphql is out of date: run `make schema` and commit it"
    )


@pytest.mark.parametrize("described", [schema, admin_schema], ids=["users", "operators"])
def test_every_type_field_argument_and_enum_value_is_described(described):
    missing = []
    for name, gtype in described._schema.type_map.items():
        if name.startswith("__") or name in BUILTIN_SCALARS:
            continue
        if not gtype.description:
            missing.append(name)
        if isinstance(gtype, GraphQLObjectType | GraphQLInterfaceType | GraphQLInputObjectType):
            for fname, field in gtype.fields.items():
                if not field.description:
                    missing.append(f"{name}.{fname}")
                for aname, arg in getattr(field, "args", {}).items():
                    if not arg.description:
                        missing.append(f"{name}.{fname}({aname})")
        elif isinstance(gtype, GraphQLEnumType):
            missing += [f"{name}.{v}" for v, val in gtype.values.items() if not val.description]
        elif not isinstance(gtype, GraphQLScalarType | GraphQLUnionType):
            raise AssertionError(f"unexpected type kind {gtype}")
    assert missing == [], f"add descriptions to: {missing}"


def test_graphql_error_codes_are_the_domain_error_codes():
    from api.schema.errors import ERROR_TYPES
    from api.schema.errors import ErrorCode as GraphQLErrorCode
    from api.services.errors import ErrorCode

    domain = {c.value for c in ErrorCode}
    assert {c.value for c in GraphQLErrorCode} == domain
    assert set(ERROR_TYPES) == domain  # every code has an error member to travel in
