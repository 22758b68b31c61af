"""SQLite's writer and short reads run on the event loop's thread and wait for the write lock,
or for a connection, without blocking the loop: another process holding the lock delays a
write, never the other requests.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import Numeric, literal, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlmodel import select

from db.engine import Database, EngineOptions
from db.models import Bank
from db.types import MoneyCents, UTCDateTime
from tests.conftest import PG_URL

pytestmark = pytest.mark.skipif(bool(PG_URL), reason="SQLite's writer only")

# Another process that takes SQLite's write lock and keeps it until its stdin closes.
HOLDER = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.read()
connection.execute("COMMIT")
"""


@contextmanager
def write_lock_held(database_url: str):
    """Another process holds the database's write lock until the block ends."""
    path = make_url(database_url).database
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, path],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        yield
    finally:
        holder.stdin.close()
        holder.wait(timeout=10)


class Ticker:
    """Counts the loop's turns meanwhile: the longest gap shows whether anything blocked it."""

    def __init__(self) -> None:
        self.ticks = 0
        self.longest_gap = 0.0
        self._task: asyncio.Task | None = None

    async def _run(self) -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.002)
            now = time.perf_counter()
            self.longest_gap = max(self.longest_gap, now - last)
            self.ticks += 1
            last = now

    def __enter__(self) -> Ticker:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._task.cancel()


def a_bank(code: str) -> Bank:
    return Bank(
        code=code,
        name=code,
        name_en=code,
        short_name=code,
        logo_url="",
        brand_color="#000000",
        tagline="",
    )


async def bank_codes(db: Database) -> set[str]:
    async with db.read() as session:
        return set((await session.exec(select(Bank.code))).all())


@pytest.fixture
async def database(database_url):
    databases = []

    def open_database(busy_timeout_ms: int = 5000, pool_timeout: float = 10.0) -> Database:
        options = EngineOptions(sqlite_busy_timeout_ms=busy_timeout_ms, pool_timeout=pool_timeout)
        db = Database(database_url, options)
        databases.append(db)
        return db

    yield open_database
    for db in databases:
        await db.dispose()


def _thread_recorder(threads: set[int]):
    return lambda: threads.add(threading.get_ident()) or 1


async def test_reads_and_writes_run_on_the_loops_thread_and_scans_do_not(database):
    db = database()
    on_writer, on_reader, on_scanner = set(), set(), set()
    for inline, threads in ((db.sqlite_writer, on_writer), (db.sqlite_reader, on_reader)):
        async with inline.connect() as connection:
            raw = connection.sync_connection.connection.driver_connection
            raw.create_function("thread_id", 0, _thread_recorder(threads))
    async with db.engine.connect() as connection:  # the scans' engine (aiosqlite)
        raw = await connection.get_raw_connection()
        await raw.driver_connection.create_function("thread_id", 0, _thread_recorder(on_scanner))
    async with db.write() as session:
        await session.exec(text("SELECT thread_id()"))
    async with db.read() as session:
        await session.exec(text("SELECT thread_id()"))
    async with db.scan() as session:
        await session.exec(text("SELECT thread_id()"))
    assert on_writer == on_reader == {threading.get_ident()}
    assert len(on_scanner) == 1 and on_scanner != on_writer


async def test_reads_and_writes_never_give_the_loop_up(database):
    """A read or a write transaction runs from start to end in one turn of the loop: no other
    request runs meanwhile, so none waits for the one writer connection while it is out."""
    db = database()
    await bank_codes(db)  # the first use opens the connections
    turns = 0

    def turn() -> None:
        nonlocal turns
        turns += 1

    loop = asyncio.get_running_loop()
    loop.call_soon(turn)
    async with db.write() as session:
        session.add(a_bank("TURNS"))
    async with db.write_core() as connection:
        await connection.execute(text("UPDATE banks SET tagline = 'x' WHERE code = 'TURNS'"))
    async with db.read_core() as connection:
        await connection.execute(text("SELECT count(*) FROM banks"))
    assert "TURNS" in await bank_codes(db)
    assert turns == 0
    # A scan does give it up while a driver thread runs the statement.
    async with db.scan() as session:
        await session.exec(text("SELECT count(*) FROM banks"))
    assert turns == 1


async def test_write_waits_for_another_process_without_blocking_the_loop(database):
    db = database()
    with write_lock_held(db.url), Ticker() as ticker:

        async def write() -> None:
            async with db.write() as session:
                session.add(a_bank("WAITED"))

        waiting = asyncio.create_task(write())
        await asyncio.sleep(0.3)
        assert not waiting.done(), "wrote while another process held the write lock"
        # Reads do not wait for the writer (WAL), and the loop kept turning.
        assert "WAITED" not in await bank_codes(db)
        assert ticker.ticks > 20
        assert ticker.longest_gap < 0.25, f"the loop stood still for {ticker.longest_gap:.3f} s"
    # The lock is free now: the waiting write goes through.
    await asyncio.wait_for(waiting, 5)
    assert "WAITED" in await bank_codes(db)


async def test_write_gives_up_after_the_busy_timeout(database):
    db = database(busy_timeout_ms=500)
    with write_lock_held(db.url), Ticker() as ticker:
        started = time.perf_counter()
        with pytest.raises(OperationalError, match="database is locked"):
            async with db.write() as session:
                session.add(a_bank("NEVER"))
        waited = time.perf_counter() - started
        assert 0.5 <= waited < 2.5
        assert ticker.longest_gap < 0.25, f"the loop stood still for {ticker.longest_gap:.3f} s"
    # The writer's connection is fine afterwards.
    async with db.write() as session:
        session.add(a_bank("LATER"))
    assert {"LATER"} <= await bank_codes(db) and "NEVER" not in await bank_codes(db)


async def test_a_write_cancelled_while_waiting_leaves_the_writer_usable(database):
    db = database()
    with write_lock_held(db.url):

        async def write() -> None:
            async with db.write() as session:
                session.add(a_bank("CANCELLED"))

        waiting = asyncio.create_task(write())
        await asyncio.sleep(0.1)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
    async with db.write() as session:
        session.add(a_bank("AFTER"))
    codes = await bank_codes(db)
    assert "AFTER" in codes and "CANCELLED" not in codes


async def test_errors_and_rollback_are_the_drivers(database):
    db = database()
    async with db.write() as session:
        session.add(a_bank("DUP"))
    with pytest.raises(IntegrityError, match="UNIQUE constraint failed"):
        async with db.write() as session:
            session.add(a_bank("DUP"))
    with pytest.raises(RuntimeError):
        async with db.write() as session:
            session.add(a_bank("ROLLED"))
            await session.flush()
            raise RuntimeError("undo")
    assert "ROLLED" not in await bank_codes(db)


async def test_pragmas_and_types_are_the_scanners(database):
    """The inline connections (writer and readers) and a scan's (aiosqlite) behave alike."""
    db = database()
    stamp = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    query = select(
        literal(Decimal("12.34"), MoneyCents),
        literal(stamp, UTCDateTime),
        literal(Decimal("1.50"), Numeric(10, 2)),
        literal("文字"),
    )
    names = ("journal_mode", "foreign_keys", "synchronous", "busy_timeout")
    seen = {}
    for name, session_of in (("writer", db.write), ("reader", db.read), ("scanner", db.scan)):
        async with session_of() as session:
            pragmas = {n: (await session.exec(text(f"PRAGMA {n}"))).scalar() for n in names}
            seen[name] = (pragmas, tuple((await session.exec(query)).one()))
    writer, reader, scanner = seen["writer"], seen["reader"], seen["scanner"]
    assert (
        writer[1] == reader[1] == scanner[1] == (Decimal("12.34"), stamp, Decimal("1.50"), "文字")
    )
    # busy_timeout 0: inline connections wait for locks in asyncio, never in SQLite's busy
    # handler; a scan's connection, on its own thread, may sleep in it.
    assert writer[0] == reader[0] == scanner[0] | {"busy_timeout": 0}
    assert scanner[0]["busy_timeout"] == 5000
    assert writer[0] == {
        "journal_mode": "wal",
        "foreign_keys": 1,
        "synchronous": 1,
        "busy_timeout": 0,
    }


async def test_the_write_ahead_log_is_checkpointed_off_the_loop(database):
    """The writer never checkpoints inside a commit (that would stall the loop); a worker
    thread does it every CHECKPOINT_EVERY commits, so the log does not grow without end."""
    from db import sqlite_inline

    db = database()
    path = make_url(db.url).database
    inline = db.sqlite_writer
    async with inline.connect() as connection:
        assert (await connection.exec_driver_sql("PRAGMA wal_autocheckpoint")).scalar() == 0
    async with db.write() as session:
        await session.exec(text("CREATE TABLE filler (id INTEGER PRIMARY KEY, body TEXT)"))
    commits = 12 * sqlite_inline.CHECKPOINT_EVERY
    for _ in range(commits):
        async with db.write() as session:
            await session.exec(
                text("INSERT INTO filler (body) VALUES (:b)"), params={"b": "x" * 3000}
            )
        if inline.checkpointing is not None:
            await inline.checkpointing  # let each one finish, as an idle moment would
    # Every commit adds at least one 4 KB page to the log: unchecked it would hold them all.
    wal = await asyncio.to_thread(os.path.getsize, f"{path}-wal")
    assert wal < commits * 4096 / 2, wal
    async with db.read() as session:
        assert (await session.exec(text("SELECT count(*) FROM filler"))).one()[0] == commits


async def test_waiting_for_a_connection_never_blocks_the_loop(database):
    """The writer held across an await (and every reader) makes others wait in asyncio, up
    to the pool timeout, and then fail as an exhausted pool does."""
    from db.engine import INLINE_READERS

    db = database(pool_timeout=0.3)
    release = asyncio.Event()

    async def hold(opened) -> None:
        async with opened:
            await release.wait()

    holders = [asyncio.create_task(hold(db.write()))]
    holders += [asyncio.create_task(hold(db.read())) for _ in range(INLINE_READERS)]
    await asyncio.sleep(0.05)
    with Ticker() as ticker:
        with pytest.raises(PoolTimeout):
            async with db.write() as session:
                session.add(a_bank("NEVER"))
        with pytest.raises(PoolTimeout):
            await bank_codes(db)
        assert ticker.longest_gap < 0.25, f"the loop stood still for {ticker.longest_gap:.3f} s"

        async def write() -> None:
            async with db.write() as session:
                session.add(a_bank("QUEUED"))

        queued = asyncio.create_task(write())
        await asyncio.sleep(0.05)
        assert not queued.done()
        release.set()
        await asyncio.wait_for(queued, 5)
    await asyncio.gather(*holders)
    codes = await bank_codes(db)
    assert "QUEUED" in codes and "NEVER" not in codes
