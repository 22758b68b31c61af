"""The async engines and sessions.

On SQLite, writes go through one connection that starts every transaction with
``BEGIN IMMEDIATE``: SQLite allows one writer at a time, and taking the write lock up front
lets writers wait their turn (other processes included) instead of failing a transaction that
tried to upgrade a read lock. That connection runs on the event loop's thread
(``db.sqlite_inline``): a write transaction costs no hop to a driver thread, and while another
process holds the lock the writer waits with ``asyncio.sleep``, up to ``sqlite_busy_timeout_ms``.
Reads use a separate aiosqlite pool and never block on the writer (WAL). On PostgreSQL both
are the same pooled engine.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

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


def create_engine(url: str, options: EngineOptions, *, writer: bool = False) -> AsyncEngine:
    """An engine for ``url``; on SQLite ``writer`` selects the single write connection, which
    runs its statements on the event loop's thread (``db.sqlite_inline``) rather than on
    aiosqlite's worker threads like the readers."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        busy_timeout_ms = options.sqlite_busy_timeout_ms
        if writer:
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
        # BEGIN and the rollback on return saves two round trips to the driver on every
        # read. Writers take the write lock up front (BEGIN IMMEDIATE).
        engine = create_async_engine(
            url,
            pool_size=1 if writer else max(2, options.pool_size),
            max_overflow=0,
            pool_timeout=options.pool_timeout,
            pool_reset_on_return="rollback" if writer else None,
            **driver,
        )
        # Inline connections must never sleep in SQLite's busy handler (it would stop the
        # loop): they wait for locks in db.sqlite_inline, up to the same timeout.
        _sqlite_pragmas(engine, 0 if writer else busy_timeout_ms, immediate=writer)
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


class Database:
    """The service's handle on its database: a reader and a writer, as ORM sessions or, for
    paths made of Core statements only, as plain connections.

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
        self.writer = create_engine(url, options, writer=True) if self.is_sqlite else self.reader
        from sqlmodel.ext.asyncio.session import AsyncSession as SQLModelSession

        self._read = async_sessionmaker(self.reader, class_=SQLModelSession, expire_on_commit=False)
        self._write = async_sessionmaker(
            self.writer, class_=SQLModelSession, expire_on_commit=False
        )

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for reads; nothing it does is committed."""
        async with self._read() as session:
            yield session

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A session in one transaction, committed when the block ends without an error."""
        async with self._write() as session, session.begin():
            yield session

    @asynccontextmanager
    async def write_core(self) -> AsyncIterator[AsyncConnection]:
        """A connection in one write transaction, for Core statements only: without the ORM
        session's plumbing, which costs more than a short statement. Committed when the
        block ends without an error."""
        async with self.writer.begin() as connection:
            yield connection

    @asynccontextmanager
    async def read_core(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads by Core statements; nothing it does is committed."""
        async with self.reader.connect() as connection:
            yield connection

    async def ping(self) -> None:
        """Raise when the database cannot be reached."""
        async with self.reader.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.reader.dispose()
        if self.writer is not self.reader:
            await self.writer.dispose()
