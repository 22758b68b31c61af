"""SQLite on the event loop's own thread: SQLAlchemy's synchronous engine behind the few
awaitable methods the service calls.

SQLAlchemy's asyncio extension runs every statement in a greenlet and drives its driver
through awaitables; with aiosqlite each driver call is also a hop to a worker thread. A
statement on a local SQLite file waits for no network, so here it runs straight on the loop's
thread through SQLAlchemy's synchronous ``Connection`` and ORM ``Session``: the dialect, the
types, the compiled-statement cache and the errors are SQLAlchemy's own, only the greenlets
and adapters are gone. Measured in one process, a read went from 0.6 to 0.15-0.18 ms and a
write transaction of two inserts from 1.3-1.7 to 0.6 ms.

The loop must never block:

- **on a connection.** An ``asyncio.Semaphore`` of the pool's size is taken before a
  connection is checked out, so the pool itself never waits (it would wait on the loop's
  thread). Waiting longer than the pool timeout raises SQLAlchemy's ``TimeoutError``, as an
  exhausted pool does.
- **on a lock.** Connections get a busy timeout of 0, so SQLite answers SQLITE_BUSY at once
  instead of sleeping in its busy handler. The writer's ``BEGIN IMMEDIATE`` (which takes the
  write lock; in WAL mode nothing after it waits for another lock) is then tried again after
  ``await asyncio.sleep`` with a growing pause, until ``busy_timeout`` seconds have gone by,
  and the last "database is locked" error is raised, as SQLite's own handler would. A read
  outside a transaction that met SQLITE_BUSY had no effect, and is run again the same way.
- **on a checkpoint.** SQLite would copy the write-ahead log into the database file (with an
  fsync) inside a commit now and then, stalling the loop for tens of milliseconds. The writer
  turns that off (``wal_autocheckpoint=0``) and, every :data:`CHECKPOINT_EVERY` commits, runs
  a passive checkpoint from a worker thread on a connection of its own; it never blocks
  readers or writers.

What remains on the loop is SQLite's own work: a statement holds the loop while it runs, so
this suits short statements (small write transactions, reads by an index), not long scans.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlmodel import Session

#: Pauses between attempts while another connection holds the lock: the first one short, as
#: most write transactions last a millisecond or two; then doubling, up to the longest.
FIRST_PAUSE = 0.0005
LONGEST_PAUSE = 0.02
#: Commits between two checkpoints of the write-ahead log, each run on a worker thread.
CHECKPOINT_EVERY = 200

log = logging.getLogger("cardcash.db")

T = TypeVar("T")

def is_busy(error: BaseException) -> bool:
    """Whether ``error`` (or the driver error SQLAlchemy wrapped in it) is SQLITE_BUSY."""
    error = getattr(error, "orig", error)
    code = getattr(error, "sqlite_errorcode", None)
    return code is not None and code & 0xFF == sqlite3.SQLITE_BUSY


def create_engine(url: URL, *, pool_size: int, writer: bool) -> Engine:
    """A synchronous engine (the standard ``sqlite3`` driver) on the file ``url`` names."""
    engine = create_sync_engine(
        url.set(drivername="sqlite"),
        pool_size=pool_size,
        max_overflow=0,
        # The semaphore in front of the pool keeps it from ever waiting (see Inline).
        pool_timeout=0.001,
        # Readers run in autocommit: nothing to roll back on return.
        pool_reset_on_return="rollback" if writer else None,
        # SQLite's busy handler would sleep on the loop's thread: never let it (see is_busy).
        # One thread uses a connection at a time, but not always the one that opened it.
        connect_args={"timeout": 0, "check_same_thread": False},
    )
    if writer:

        @event.listens_for(engine, "connect")
        def _no_checkpoint_in_commits(dbapi_connection, _record) -> None:
            dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")  # see Inline._committed

    return engine


class Inline:
    """The connections of one SQLite engine, handed out on the loop's thread.

    ``connect()`` gives a connection whose statements each commit on their own (reads);
    ``transaction()`` one in a transaction, committed when the block ends without an error;
    ``session()`` an ORM session on either.
    """

    def __init__(
        self, engine: Engine, *, size: int, busy_timeout: float, pool_timeout: float
    ) -> None:
        self.engine = engine
        self.busy_timeout = busy_timeout
        self.pool_timeout = pool_timeout
        self._free = asyncio.Semaphore(size)
        self._commits = 0
        #: The checkpoint running on a worker thread, if any.
        self.checkpointing: asyncio.Future | None = None

    def connect(self) -> _Checkout:
        return _Checkout(self, begin=False)

    def transaction(self) -> _Checkout:
        return _Checkout(self, begin=True)

    @contextlib.asynccontextmanager
    async def session(self, *, begin: bool) -> AsyncIterator[InlineSession]:
        async with _Checkout(self, begin=begin) as connection:
            session = Session(bind=connection.sync_connection, expire_on_commit=False)
            try:
                yield InlineSession(session, None if begin else self._retrying)
                if begin:
                    session.flush()
            finally:
                session.close()

    async def _acquire(self) -> None:
        if not self._free.locked():
            await self._free.acquire()  # one is free: returns at once
            return
        try:
            async with asyncio.timeout(self.pool_timeout):
                await self._free.acquire()
        except TimeoutError:
            raise PoolTimeout(
                f"no SQLite connection came free within {self.pool_timeout:g} s"
            ) from None

    def _begun(self) -> Connection:
        """A connection in a transaction that holds the write lock.

        ``BEGIN IMMEDIATE`` goes straight to the driver: SQLAlchemy's transaction begins
        without a statement (the driver is in autocommit), and sending this one through
        SQLAlchemy's execution would cost a third of a small write transaction.
        """
        connection = self.engine.connect()
        try:
            connection.begin()
            try:
                connection.connection.driver_connection.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as error:
                raise DBAPIError.instance("BEGIN IMMEDIATE", (), error, sqlite3.Error) from None
        except BaseException:
            connection.close()
            raise
        return connection

    async def _retrying(self, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``call(*args, **kwargs)``; when SQLite answers SQLITE_BUSY, again after a pause."""
        try:
            return call(*args, **kwargs)
        except OperationalError as error:
            if not is_busy(error):
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
                return call(*args, **kwargs)
            except OperationalError as error:
                if not is_busy(error):
                    raise
                last = error
        raise last

    def _committed(self) -> None:
        self._commits += 1
        if self._commits >= CHECKPOINT_EVERY and (
            self.checkpointing is None or self.checkpointing.done()
        ):
            self._commits = 0
            self.checkpointing = asyncio.ensure_future(
                asyncio.to_thread(_checkpoint, self.engine.url.database)
            )

    def dispose(self) -> None:
        self.engine.dispose()


class _Checkout:
    """``async with``: a connection of ``inline``, in a transaction when ``begin``, committed
    when the block ends without an error (rolled back otherwise), and given back."""

    __slots__ = ("_begin", "_connection", "_inline")

    def __init__(self, inline: Inline, *, begin: bool) -> None:
        self._inline = inline
        self._begin = begin

    async def __aenter__(self) -> InlineConnection:
        inline = self._inline
        await inline._acquire()
        try:
            if self._begin:
                self._connection = await inline._retrying(inline._begun)
            else:
                self._connection = inline.engine.connect()
        except BaseException:
            inline._free.release()
            raise
        return InlineConnection(self._connection, None if self._begin else inline._retrying)

    async def __aexit__(self, exc_type, exc, traceback) -> None:
        connection = self._connection
        try:
            if exc_type is None and self._begin:
                connection.commit()
                self._inline._committed()
        finally:
            connection.close()  # a transaction still open is rolled back
            self._inline._free.release()


def _checkpoint(database: str) -> None:
    """Copy what the write-ahead log holds into the database file, as far as readers allow.

    Runs on a worker thread with a connection of its own; PASSIVE waits for nobody.
    """
    try:
        with contextlib.closing(sqlite3.connect(database, timeout=0)) as connection:
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    except sqlite3.Error as error:  # the next one tries again; the log only grows meanwhile
        log.warning("checkpoint of the SQLite write-ahead log failed: %s", error)


Retry = Callable[..., Awaitable[Any]] | None


async def _call(retry: Retry, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return call(*args, **kwargs) if retry is None else await retry(call, *args, **kwargs)


class InlineConnection:
    """A synchronous SQLAlchemy ``Connection`` behind the ``AsyncConnection`` methods the
    service calls (add one here when a caller needs it)."""

    __slots__ = ("_retry", "sync_connection")

    def __init__(self, connection: Connection, retry: Retry) -> None:
        self.sync_connection = connection
        self._retry = retry

    async def execute(self, statement, parameters=None, **kwargs):
        call = self.sync_connection.execute
        return await _call(self._retry, call, statement, parameters, **kwargs)

    async def exec_driver_sql(self, statement: str, parameters=None, **kwargs):
        call = self.sync_connection.exec_driver_sql
        return await _call(self._retry, call, statement, parameters, **kwargs)


class InlineSession:
    """A synchronous SQLModel ``Session`` behind the ``AsyncSession`` methods the service
    calls (add one here when a caller needs it)."""

    __slots__ = ("_retry", "sync_session")

    def __init__(self, session: Session, retry: Retry) -> None:
        self.sync_session = session
        self._retry = retry

    async def exec(self, statement, **kwargs):
        return await _call(self._retry, self.sync_session.exec, statement, **kwargs)

    async def get(self, entity, ident, **kwargs):
        return await _call(self._retry, self.sync_session.get, entity, ident, **kwargs)

    async def flush(self) -> None:
        self.sync_session.flush()

    def add(self, instance) -> None:
        self.sync_session.add(instance)
