"""SQLite on the event loop's own thread: an aiosqlite-shaped driver whose awaits do not hop.

SQLAlchemy's ``sqlite+aiosqlite`` dialect drives its driver connection through awaitables.
aiosqlite runs each of them (cursor, execute, fetch, close, commit) on a worker thread: a queue
put, a future and a loop wake-up per call, 0.1-0.3 ms each under load, several per statement.
This module offers the part of aiosqlite's interface that the dialect uses, but every
``async def`` here calls the standard ``sqlite3`` module directly and returns without
suspending. The dialect, its adapter, its types and its error handling stay SQLAlchemy's own;
only the object under them changes (``create_async_engine(..., async_creator=...)``).

The loop must never block on a lock. Connections get a busy timeout of 0, so SQLite answers
SQLITE_BUSY at once instead of sleeping in its busy handler; the statement is then retried
after ``await asyncio.sleep`` with a growing pause, until ``busy_timeout`` seconds have gone
by, and then the last "database is locked" error is raised, as SQLite's own busy handler would.
Only statements that SQLite documents as safe to retry after SQLITE_BUSY are retried: those
run outside an explicit transaction (``BEGIN IMMEDIATE`` itself is one) and ``COMMIT``. In WAL
mode a transaction that holds the write lock (``BEGIN IMMEDIATE``) waits for no further lock.

What remains on the loop is SQLite's own work: a statement holds the loop while it runs, so
this suits short statements (small write transactions, reads by an index), not long scans.
One piece of SQLite's work is moved off it: the checkpoint that copies the write-ahead log
into the database file (with an fsync) and which SQLite would otherwise run inside a commit
now and then, stalling the loop for tens of milliseconds. Connections here turn that off
(``wal_autocheckpoint=0``) and, every :data:`CHECKPOINT_EVERY` commits, run a passive
checkpoint from a worker thread on a connection of its own; it never blocks readers or writers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import sqlite3
from collections.abc import AsyncIterator, Callable, Generator, Iterable
from typing import Any

#: Pauses between attempts while another connection holds the lock: the first one short, as
#: most write transactions last a millisecond or two; then doubling, up to the longest.
FIRST_PAUSE = 0.0005
LONGEST_PAUSE = 0.02
#: Commits between two checkpoints of the write-ahead log, each run on a worker thread.
CHECKPOINT_EVERY = 200

log = logging.getLogger("cardcash.db")


def is_busy(error: BaseException) -> bool:
    """Whether ``error`` is SQLite's SQLITE_BUSY (any extended code of it)."""
    code = getattr(error, "sqlite_errorcode", None)
    return code is not None and code & 0xFF == sqlite3.SQLITE_BUSY


async def connect(database: str, *, busy_timeout: float, **kwargs: Any) -> Connection:
    """Open ``database`` with ``sqlite3.connect(**kwargs)``; ``busy_timeout`` is in seconds."""
    # SQLite's busy handler sleeps in the calling thread, which is the loop's: never let it.
    kwargs["timeout"] = 0
    connection = sqlite3.connect(database, **kwargs)
    connection.execute("PRAGMA wal_autocheckpoint=0")  # see checkpoint()
    return Connection(connection, busy_timeout, lambda: _checkpoint(database, kwargs))


def _checkpoint(database: str, kwargs: dict[str, Any]) -> None:
    """Copy what the write-ahead log holds into the database file, as far as readers allow.

    Runs on a worker thread with a connection of its own; PASSIVE waits for nobody.
    """
    try:
        options = kwargs | {"timeout": 0, "check_same_thread": True}
        with contextlib.closing(sqlite3.connect(database, **options)) as connection:
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    except sqlite3.Error as error:  # the next one tries again; the log only grows meanwhile
        log.warning("checkpoint of the SQLite write-ahead log failed: %s", error)


class _RunNow:
    """Stands in for aiosqlite's queue to its worker thread: runs the call at once.

    SQLAlchemy's aiosqlite adapter sets ``isolation_level`` by putting ``(future, function)``
    on ``connection._tx`` and awaiting the future.
    """

    __slots__ = ()

    def put_nowait(self, item: tuple[asyncio.Future, Callable[[], Any]]) -> None:
        future, function = item
        try:
            future.set_result(function())
        except Exception as error:
            future.set_exception(error)


class Connection:
    """An open ``sqlite3`` connection behind aiosqlite's async ``Connection`` interface."""

    _tx = _RunNow()

    def __init__(
        self,
        connection: sqlite3.Connection,
        busy_timeout: float,
        checkpoint: Callable[[], None] | None = None,
    ) -> None:
        #: ``None`` once closed; SQLAlchemy's adapter reads it, as aiosqlite's.
        self._connection: sqlite3.Connection | None = connection
        self.busy_timeout = busy_timeout
        self._checkpoint = checkpoint
        self._commits = 0
        self.checkpointing: asyncio.Future | None = None

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._connection is None:
            # aiosqlite's words: SQLAlchemy's dialect turns them into a disconnect.
            raise ValueError("no active connection")
        return self._connection

    async def _retrying(self, call: Callable[..., Any], *args: Any, retry: bool) -> Any:
        """``call(*args)``; when SQLite answers SQLITE_BUSY and ``retry``, again after a pause."""
        try:
            return call(*args)
        except sqlite3.OperationalError as error:
            if not (retry and is_busy(error)):
                raise
            last = error
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.busy_timeout
        pause = FIRST_PAUSE
        while (left := deadline - loop.time()) > 0:
            # Jitter keeps processes that wait for the same lock from polling in step.
            await asyncio.sleep(min(left, pause * random.uniform(0.5, 1.0)))
            pause = min(pause * 2, LONGEST_PAUSE)
            try:
                return call(*args)
            except sqlite3.OperationalError as error:
                if not is_busy(error):
                    raise
                last = error
        raise last

    def cursor(self) -> Cursor:
        return Cursor(self)

    async def execute(self, sql: str, parameters: Any = ()) -> Cursor:
        return await (await self.cursor()).execute(sql, parameters)

    async def commit(self) -> None:
        await self._retrying(self._conn.commit, retry=True)
        self._commits += 1
        if (
            self._commits >= CHECKPOINT_EVERY
            and self._checkpoint is not None
            and (self.checkpointing is None or self.checkpointing.done())
        ):
            self._commits = 0
            self.checkpointing = asyncio.ensure_future(asyncio.to_thread(self._checkpoint))

    async def rollback(self) -> None:
        self._conn.rollback()

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        """Close at once (aiosqlite's way to end its thread; SQLAlchemy's terminate calls it)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    async def create_function(
        self, name: str, num_params: int, func: Callable[..., Any], deterministic: bool = False
    ) -> None:
        self._conn.create_function(name, num_params, func, deterministic=deterministic)

    @property
    def in_transaction(self) -> bool:
        return self._conn.in_transaction

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    @isolation_level.setter
    def isolation_level(self, value: str | None) -> None:
        self._conn.isolation_level = value


class Cursor:
    """A ``sqlite3`` cursor behind aiosqlite's async ``Cursor`` interface."""

    __slots__ = ("_connection", "_cursor")

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._cursor: sqlite3.Cursor | None = None

    async def __aenter__(self) -> Cursor:
        # Opened here, not in Connection.cursor(): the adapter maps errors raised while it
        # awaits this (a closed connection) to the DBAPI's, as it does for aiosqlite.
        self._cursor = self._connection._conn.cursor()
        return self

    def __await__(self) -> Generator[Any, None, Cursor]:
        # ``await connection.cursor()``, aiosqlite's other form (SQLAlchemy 2.0 uses it).
        return self.__aenter__().__await__()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def execute(self, sql: str, parameters: Any = ()) -> Cursor:
        cursor = self._cursor
        # Outside an explicit transaction a statement that got SQLITE_BUSY had no effect and
        # may run again; inside one, SQLite asks for a rollback instead.
        retry = not self._connection._conn.in_transaction
        await self._connection._retrying(cursor.execute, sql, parameters, retry=retry)
        return self

    async def executemany(self, sql: str, seq_of_parameters: Iterable[Any]) -> Cursor:
        # Never retried: outside a transaction each row commits on its own, so running the
        # whole list again after a busy row would repeat the rows before it.
        self._cursor.executemany(sql, seq_of_parameters)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany() if size is None else self._cursor.fetchmany(size)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        if self._cursor is not None:
            self._cursor.close()

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._rows()

    async def _rows(self) -> AsyncIterator[Any]:
        while rows := self._cursor.fetchmany(64):
            for row in rows:
                yield row

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value
