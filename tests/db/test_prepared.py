"""Prepared statements on SQLite's inline connections (``db.sqlite_inline.prepared``): they write
what SQLAlchemy would write, raise SQLAlchemy's errors, and leave to SQLAlchemy whatever it
must do at execution."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import Column, Integer, MetaData, Numeric, String, Table, bindparam, insert, update
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import IntegrityError, InvalidRequestError

from api.services import quotes, withdrawals
from db import sqlite_inline
from db.engine import Database, EngineOptions
from db.sqlite_inline import prepared
from db.types import MoneyCents, UTCDateTime
from tests.conftest import PG_URL

pytestmark = pytest.mark.skipif(bool(PG_URL), reason="SQLite's inline connections only")

metadata = MetaData()
things = Table(
    "prepared_things",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("amount", MoneyCents, nullable=False),
    Column("rate", Numeric(10, 4)),
    Column("at", UTCDateTime),
    Column("note", String(64)),
    Column("counted", Integer, default=7),  # a Python-side default: SQLAlchemy's to fill in
)
STAMP = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)


def row(key: str, **changes) -> dict:
    return {
        "id": key,
        "amount": Decimal("1234.56"),
        "rate": Decimal("0.1825"),
        "at": STAMP,
        "note": "文字",
        "counted": 3,
    } | changes


@pytest.fixture
async def db(database_url):
    database = Database(database_url, EngineOptions())
    async with database.write_core() as connection:
        metadata.create_all(connection.sync_connection)
    yield database
    await database.dispose()


@pytest.fixture
def sqlalchemy_calls(monkeypatch):
    """Statements that went through SQLAlchemy's ``Connection.execute``."""
    calls = []
    original = Connection.execute

    def counting(self, statement, *args, **kwargs):
        calls.append(statement)
        return original(self, statement, *args, **kwargs)

    monkeypatch.setattr(Connection, "execute", counting)
    return calls


async def stored(db: Database, key: str) -> tuple:
    """The row as the file holds it, read by the driver: what was actually written."""
    async with db.read_core() as connection:
        result = await connection.exec_driver_sql(
            "SELECT amount, rate, at, note, counted FROM prepared_things WHERE id = ?", (key,)
        )
        return tuple(result.one())


INSERT = prepared(insert(things))
UPDATE = prepared(
    update(things)
    .where(things.c.id == bindparam("key"))
    .where(things.c.note == bindparam("expected_note"))
)


async def test_a_prepared_insert_writes_what_sqlalchemy_writes(db, sqlalchemy_calls):
    async with db.write_core() as connection:
        await connection.execute(INSERT, row("fast"))
        await connection.execute(INSERT, row("fast-null", rate=None, at=None, note=None))
    assert not [s for s in sqlalchemy_calls if s is INSERT]
    async with db.write_core() as connection:
        await connection.execute(insert(things), row("plain"))
        await connection.execute(insert(things), row("plain-null", rate=None, at=None, note=None))
    assert await stored(db, "fast") == await stored(db, "plain")
    assert await stored(db, "fast-null") == await stored(db, "plain-null")
    assert await stored(db, "fast") == (123456, 0.1825, "2026-03-04 05:06:07.891011", "文字", 3)


async def test_a_prepared_update_counts_the_rows_it_changed(db, sqlalchemy_calls):
    async with db.write_core() as connection:
        await connection.execute(INSERT, row("a"))
    async with db.write_core() as connection:
        missed = await connection.execute(
            UPDATE, {"amount": Decimal("1.00"), "key": "a", "expected_note": "other"}
        )
        done = await connection.execute(
            UPDATE, {"amount": Decimal("9.99"), "at": None, "key": "a", "expected_note": "文字"}
        )
    assert (missed.rowcount, done.rowcount) == (0, 1)
    assert await stored(db, "a") == (999, 0.1825, None, "文字", 3)
    assert not [s for s in sqlalchemy_calls if s is UPDATE]


async def test_errors_are_sqlalchemys_and_the_transaction_rolls_back(db):
    async with db.write_core() as connection:
        await connection.execute(INSERT, row("dup"))
    with pytest.raises(IntegrityError, match="UNIQUE constraint failed"):
        async with db.write_core() as connection:
            await connection.execute(INSERT, row("kept-not"))
            await connection.execute(INSERT, row("dup"))
    async with db.read_core() as connection:
        left = await connection.exec_driver_sql("SELECT id FROM prepared_things ORDER BY id")
        assert [r[0] for r in left] == ["dup"]
    with pytest.raises(InvalidRequestError, match="value is required for bind parameter"):
        async with db.write_core() as connection:
            await connection.execute(UPDATE, {"amount": Decimal("1.00"), "key": "dup"})


async def test_what_sqlalchemy_must_do_at_execution_is_left_to_it(db, sqlalchemy_calls):
    """A column left out whose default SQLAlchemy computes: SQLAlchemy runs that statement."""
    without_count = row("defaulted")
    del without_count["counted"]
    async with db.write_core() as connection:
        await connection.execute(INSERT, without_count)
    assert await stored(db, "defaulted") == (
        123456,
        0.1825,
        "2026-03-04 05:06:07.891011",
        "文字",
        7,
    )
    assert [s for s in sqlalchemy_calls if s is INSERT] == [INSERT]


def test_the_write_paths_statements_are_prepared_not_left_to_sqlalchemy(tmp_path):
    """The marked statements of the withdrawal and quote paths, with the parameter names the
    services give them, compile to prepared statements (none falls back unnoticed)."""
    url = make_url(f"sqlite:///{tmp_path / 'compile.db'}")
    engine = sqlite_inline.create_engine(url, pool_size=1, writer=False)

    def names(table, *leave_out: str) -> dict:
        return {c.name: None for c in table.columns if c.name not in leave_out}

    cases = [
        (withdrawals._INSERT_WITHDRAWAL, names(withdrawals._WITHDRAWALS)),
        (withdrawals._INSERT_EVENT, names(withdrawals._EVENTS, "id")),
        (quotes._INSERT, names(quotes.Quote.__table__)),
        (withdrawals._UPDATE_BY_ID, {"status": None, "updated_at": None, "withdrawal_key": None}),
        (
            withdrawals._UPDATE_IF_STATUS,
            {"status": None, "withdrawal_key": None, "expected_status": None},
        ),
    ]
    with engine.connect() as connection:
        for statement, parameters in cases:
            assert statement.get_execution_options()[sqlite_inline.PREPARED]
            assert sqlite_inline._compiled(connection, statement, parameters) is not None
    engine.dispose()


async def test_statements_marked_per_call_are_left_to_sqlalchemys_cache(
    db, monkeypatch, sqlalchemy_calls
):
    """Past the bound, a statement not prepared yet runs through SQLAlchemy (whose cache knows
    it by its structure) instead of being compiled again on every call."""
    monkeypatch.setattr(sqlite_inline, "_PREPARED", {})
    monkeypatch.setattr(sqlite_inline, "MAX_PREPARED", 2)
    async with db.write_core() as connection:
        for n in range(4):
            await connection.execute(prepared(insert(things)), row(f"per-call-{n}"))
    assert len(sqlite_inline._PREPARED) == 2
    assert len(sqlalchemy_calls) == 2  # the third and the fourth
    assert [await stored(db, f"per-call-{n}") for n in range(4)] == [
        await stored(db, "per-call-0")
    ] * 4
