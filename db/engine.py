"""The async engines and sessions.

On SQLite, writes go through one connection that starts every transaction with
``BEGIN IMMEDIATE``: SQLite allows one writer at a time, and taking the write lock up front
lets writers wait their turn (other processes included) instead of failing a transaction that
tried to upgrade a read lock. That connection runs on the event loop's thread
(``db.sqlite_inline``): a write transaction costs no hop to a driver thread, and while another
process holds the lock the writer waits with ``asyncio.sleep``, up to ``sqlite_busy_timeout_ms``.
Reads use a few connections of their own, on the loop's thread too, and never block on the
writer (WAL); reads that may visit many rows (``Database.scan``) run on aiosqlite's worker
threads instead. On PostgreSQL all of them are the same pooled engine.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Literal, TypeVar

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from db import sqlite_inline


@dataclass(frozen=True)
class EngineOptions:
    """Pool and timeout settings (see the README's configuration table)."""

    pool_size: int = 10
    max_overflow: int = 10
    pool_timeout: float = 10.0
    connect_timeout: float = 5.0
    #: Longest a single statement may wait for PostgreSQL's answer. Without it a database that
    #: stops answering without closing the connection (a network cut, a frozen host) would
    #: hold requests and their pooled connections forever.
    command_timeout: float = 30.0
    sqlite_busy_timeout_ms: int = 5000


def _sqlite_pragmas(engine: AsyncEngine, busy_timeout_ms: int, *, immediate: bool) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        # Let SQLAlchemy, not the driver, decide when a transaction begins.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        # WAL is a property of the file and sticks once set; switching needs a moment of
        # exclusive access, so ask only when the file is not in WAL yet.
        cursor.execute("PRAGMA journal_mode")
        if cursor.fetchone()[0].lower() != "wal":
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    if immediate:

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(connection) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


#: What a SQLite engine is for: ``write``, the one connection that writes; ``read``, short
#: reads; ``scan``, reads that may visit many rows (counts over a whole table).
Role = Literal["write", "read", "scan"]

#: Connections of SQLite's ``read`` engine. Its reads never suspend (``db.sqlite_inline``),
#: so a connection is rarely out for longer than one statement; a few cover the moments
#: when one is.
INLINE_READERS = 4


def create_engine(url: str, options: EngineOptions, *, role: Role = "read") -> AsyncEngine:
    """An engine for ``url``; on PostgreSQL the same pooled engine whatever the ``role``.

    On SQLite the ``write`` and ``read`` engines run their statements on the event loop's
    thread (``db.sqlite_inline``): a short statement costs less than the hop to a driver
    thread and back, and a request never queues behind the others for a thread. A statement
    holds the loop while it runs, so reads that may visit many rows use the ``scan`` engine,
    on aiosqlite's worker threads.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        busy_timeout_ms = options.sqlite_busy_timeout_ms
        inline = role != "scan"
        if inline:
            # The URL's own connect arguments, as the dialect reads them for aiosqlite.
            async def connect() -> sqlite_inline.Connection:
                args, kwargs = engine.dialect.create_connect_args(engine.url)
                return await sqlite_inline.connect(
                    *args, busy_timeout=busy_timeout_ms / 1000, **kwargs
                )

            driver = {"async_creator": connect}
        else:
            driver = {"connect_args": {"timeout": busy_timeout_ms / 1000}}
        # Readers run in autocommit: each statement is atomic on its own, and skipping
        # BEGIN and the rollback on return saves two calls to the driver on every read.
        # The writer takes the write lock up front (BEGIN IMMEDIATE).
        writer = role == "write"
        engine = create_async_engine(
            url,
            pool_size={"write": 1, "read": INLINE_READERS, "scan": 2}[role],
            max_overflow=0,
            pool_timeout=options.pool_timeout,
            pool_reset_on_return="rollback" if writer else None,
            **driver,
        )
        # Inline connections must never sleep in SQLite's busy handler (it would stop the
        # loop): they wait for locks in db.sqlite_inline, up to the same timeout.
        _sqlite_pragmas(engine, 0 if inline else busy_timeout_ms, immediate=writer)
        return engine
    return create_async_engine(
        url,
        pool_size=options.pool_size,
        max_overflow=options.max_overflow,
        pool_timeout=options.pool_timeout,
        # A connection broken by a database restart is found by the ping on checkout and
        # replaced, so requests after the restart work without a process restart.
        pool_pre_ping=True,
        connect_args={
            "timeout": options.connect_timeout,
            "command_timeout": options.command_timeout,
        },
    )


_Closable = TypeVar("_Closable", AsyncConnection, AsyncSession)


@asynccontextmanager
async def _closed_here(resource: _Closable) -> AsyncIterator[_Closable]:
    """Enter ``resource`` and close it in the calling task (see ``Database._closing``)."""
    if isinstance(resource, AsyncConnection):
        await resource.start()
    try:
        yield resource
    finally:
        await resource.close()


class Database:
    """The service's handle on its database: a reader and a writer, as ORM sessions or, for
    paths made of Core statements only, as plain connections; and ``scan()`` for reads that
    may visit many rows.

    Example::

        db = Database("sqlite+aiosqlite:///./cardcash.db")
        async with db.write() as session:
            session.add(row)
        async with db.read() as session:
            rows = (await session.exec(select(Bank))).all()
        async with db.write_core() as connection:
            await connection.execute(insert(Bank.__table__), values)
        await db.dispose()
    """

    def __init__(self, url: str, options: EngineOptions | None = None) -> None:
        options = options or EngineOptions()
        self.url = url
        self.is_sqlite = make_url(url).get_backend_name() == "sqlite"
        self.reader = create_engine(url, options)
        self.writer = create_engine(url, options, role="write") if self.is_sqlite else self.reader
        self.scanner = create_engine(url, options, role="scan") if self.is_sqlite else self.reader
        from sqlmodel.ext.asyncio.session import AsyncSession as SQLModelSession

        self._read = async_sessionmaker(self.reader, class_=SQLModelSession, expire_on_commit=False)
        self._scan = async_sessionmaker(self.scanner, class_=SQLModelSession, expire_on_commit=False)
        self._write = async_sessionmaker(
            self.writer, class_=SQLModelSession, expire_on_commit=False
        )

    def read(self) -> AbstractAsyncContextManager[AsyncSession]:
        """A session for reads; nothing it does is committed."""
        return self._closing(self._read())

    def scan(self) -> AbstractAsyncContextManager[AsyncSession]:
        """A session for reads that may visit many rows (a count over a whole table): on
        SQLite they run on a driver thread, so the event loop goes on meanwhile."""
        return self._scan()

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A session in one transaction, committed when the block ends without an error."""
        async with self._closing(self._write()) as session, session.begin():
            yield session

    @asynccontextmanager
    async def write_core(self) -> AsyncIterator[AsyncConnection]:
        """A connection in one write transaction, for Core statements only: without the ORM
        session's plumbing, which costs more than a short statement. Committed when the
        block ends without an error."""
        async with self._closing(self.writer.connect()) as connection, connection.begin():
            yield connection

    def _closing(self, resource: _Closable) -> AbstractAsyncContextManager[_Closable]:
        """``async with resource``, except on SQLite, where it closes in the calling task.

        SQLAlchemy's ``__aexit__`` closes a session or connection in a task of its own, so
        that a cancelled caller cannot abandon the close halfway. That costs two turns of the
        event loop, and the connection stays checked out through both: under load, SQLite's
        one writer connection was busy more with those turns than with writing, and every
        other write waited for it. SQLite's inline connections (``db.sqlite_inline``) never
        suspend, so nothing can interrupt their close, and closing at once is as safe.
        PostgreSQL's close talks to the server (the rollback on return), and a scan's close
        may wait for a driver thread: both keep SQLAlchemy's shielded close.
        """
        return _closed_here(resource) if self.is_sqlite else resource

    def read_core(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A connection for reads by Core statements; nothing it does is committed."""
        return self._closing(self.reader.connect())

    async def ping(self) -> None:
        """Raise when the database cannot be reached."""
        async with self._closing(self.reader.connect()) as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.reader.dispose()
        if self.is_sqlite:
            await self.writer.dispose()
            await self.scanner.dispose()
