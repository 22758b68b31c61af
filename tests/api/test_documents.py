"""The schema's document caches: a repeated query is parsed and validated once."""

from __future__ import annotations

import gc

import pytest
from graphql import specified_rules

import api.schema.extensions as extensions
from api.schema import schema
from api.schema.extensions import Documents

GOOD = "{ banks(channel: ALIPAY) { code } }"
BAD = "{ banks(channel: ALIPAY) { nope } }"
RULES = tuple(specified_rules)


@pytest.fixture
def validations(monkeypatch) -> list:
    seen: list = []
    real = extensions.validate

    def counted(graphql_schema, document, rules, **options):
        seen.append(document)
        return real(graphql_schema, document, rules, **options)

    monkeypatch.setattr(extensions, "validate", counted)
    return seen


def test_a_repeated_query_is_parsed_and_validated_once(validations):
    documents = Documents(8)
    first = documents.parse(GOOD, {})
    assert documents.parse(GOOD, {}) is first
    assert documents.validate(schema._schema, first, RULES) == []
    assert documents.validate(schema._schema, first, RULES) == []
    bad = documents.parse(BAD, {})
    errors = documents.validate(schema._schema, bad, RULES)
    assert (
        [e.message for e in errors]
        == ["Cannot query field 'nope' on type 'Bank'. Did you mean 'code' or 'name'?"]
        == [e.message for e in documents.validate(schema._schema, bad, RULES)]
    )
    assert validations == [first, bad]


def test_a_document_parsed_again_is_validated_again(validations):
    documents = Documents(1)
    first = documents.parse(GOOD, {})
    documents.validate(schema._schema, first, RULES)
    documents.parse(BAD, {})  # pushes GOOD out of the one-entry parse cache
    del first
    gc.collect()
    again = documents.parse(GOOD, {})
    assert documents.validate(schema._schema, again, RULES) == []
    assert validations[-1] is again and len(validations) == 2


def test_syntax_errors_and_token_floods_are_not_kept():
    # Left to Strawberry's own parse, which reports them as the request's error.
    documents = Documents(8)
    assert documents.parse("{ banks(channel: ALIPAY) { code ", {}) is None
    assert documents.parse(GOOD, {"max_tokens": 5}) is None
    assert documents.parse(GOOD, {"max_tokens": 100}) is documents.parse(GOOD, {})
