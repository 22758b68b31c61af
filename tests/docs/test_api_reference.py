"""docs/api.md is what a running server answers to the mini-program's documents, and its
table has every error code."""

from __future__ import annotations

import difflib
import re
from pathlib import Path

from graphql import parse, validate

from api.schema import codes, schema
from api.schema.errors import ErrorCode
from tests.docs import api_reference
from tests.docs.api_reference import DOCUMENTS, PAGE, normalised

GRAPHQL_BLOCK = re.compile(r"```graphql\n(.*?)```", re.S)
ROW_CODE = re.compile(r"^\| `([A-Z_]+)` \|", re.M)


def _page() -> str:
    return PAGE.read_text(encoding="utf-8")


def test_the_page_is_what_the_server_answers(database_url, tmp_path: Path):
    walked = api_reference.generate(database_url, tmp_path)
    committed, fresh = normalised(_page()), normalised(walked)
    if committed != fresh:
        diff = difflib.unified_diff(
            committed.splitlines(), fresh.splitlines(), "docs/api.md", "walked now", lineterm=""
        )
        raise AssertionError(
            "docs/api.md is out of date: run `make api-docs`\n" + "\n".join(list(diff)[:80])
        )


def test_every_document_shown_is_a_shipped_one_and_valid():
    shown = GRAPHQL_BLOCK.findall(_page())
    shipped = {path.read_text(encoding="utf-8"): path.stem for path in DOCUMENTS.glob("*.graphql")}
    assert shown, "docs/api.md shows no document"
    for text in shown:
        assert text in shipped, f"not a document of the mini-program client:\n{text}"
        assert validate(schema._schema, parse(text)) == [], shipped[text]
    # ... and every document the client ships is shown, once.
    assert sorted(shipped[t] for t in shown) == sorted(shipped.values())


def test_the_table_has_a_row_for_every_code():
    rows = ROW_CODE.findall(_page())
    assert len(rows) == len(set(rows)), "a code has two rows"
    typed = {c.value for c in ErrorCode}
    assert set(rows) == typed | set(codes.REQUEST_CODES)
    assert not typed & set(codes.REQUEST_CODES), "a code is both typed and a request's"


def test_every_typed_code_says_whether_to_retry():
    assert set(codes.RETRY) == {c.value for c in ErrorCode}
    assert all(advice.strip() for advice in codes.RETRY.values())


def test_volatile_values_are_blanked_and_nothing_else():
    page = (
        '"token": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl", '
        '"id": "wdr_36pxqof5hpajt6czexh3dmd2ya", "cursor": "abc==", '
        '"updatedAt": "2026-12-07T20:54:13.216Z", "dueDate": "2027-01-08", "apr": "13.03"'
    )
    assert normalised(page) == (
        '"token": "<token>", "id": "wdr_<id>", "cursor": "<cursor>", '
        '"updatedAt": "<time>", "dueDate": "<date>", "apr": "13.03"'
    )
