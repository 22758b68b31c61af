"""The engines and sessions.

On SQLite, writes go through one connection that starts every transaction with
``BEGIN IMMEDIATE``: SQLite allows one writer at a time, and taking the write lock up front
lets writers wait their turn (other processes included) instead of failing a transaction that
tried to upgrade a read lock. That connection and a few for reads run on the event loop's
thread, through SQLAlchemy's synchronous engine (``db.sqlite_inline``): a statement costs no
greenlet and no hop to a driver thread, and while another process holds the write lock the
writer waits with ``asyncio.sleep``, up to ``sqlite_busy_timeout_ms``. Reads never block on
the writer (WAL). Reads that may visit many rows (``Database.scan``) run on aiosqlite's
worker threads instead. On PostgreSQL all of them are the same pooled async engine.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from db import sqlite_inline
from providers.files import private_file


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
    #: A pooled PostgreSQL connection idle this long is pinged before it is handed out.
    idle_ping_seconds: float = 1.0


def _sqlite_pragmas(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
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


#: Connections for SQLite's short reads. A read is one statement on the loop's thread, so a
#: connection is rarely out for longer than that; a few cover the moments when one is.
INLINE_READERS = 4


def sqlite_file(url: str) -> None:
    """Create the SQLite file of ``url`` owner-only (0600, its directory 0700) if it does not
    exist yet: it holds users and withdrawals, and SQLite gives its WAL and shared-memory
    files the database file's permissions. In-memory databases have no file."""
    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        private_file(Path(database).absolute())


def create_engine(url: str, options: EngineOptions) -> AsyncEngine:
    """An async engine for ``url``: the pooled engine on PostgreSQL; on SQLite, the one that
    runs reads which may visit many rows on aiosqlite's worker threads (``Database.scan``)."""
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_async_engine(
            url,
            pool_size=2,
            max_overflow=0,
            pool_timeout=options.pool_timeout,
            # Readers run in autocommit: each statement is atomic on its own.
            pool_reset_on_return=None,
            connect_args={"timeout": options.sqlite_busy_timeout_ms / 1000},
        )
        _sqlite_pragmas(engine.sync_engine, options.sqlite_busy_timeout_ms)
        return engine
    engine = create_async_engine(
        url,
        pool_size=options.pool_size,
        max_overflow=options.max_overflow,
        pool_timeout=options.pool_timeout,
        connect_args={
            "timeout": options.connect_timeout,
            "command_timeout": options.command_timeout,
        },
    )
    _ping_when_idle(engine.sync_engine, options.idle_ping_seconds)
    return engine


def _ping_when_idle(engine: Engine, idle_seconds: float) -> None:
    """Ping a pooled connection on checkout when it sat idle ``idle_seconds`` or more, and
    replace it when the ping fails.

    SQLAlchemy's ``pool_pre_ping`` pings at every checkout, three round trips with asyncpg
    (BEGIN, the ping, ROLLBACK): as many as a request's own statements. A connection in
    steady use needs none: if the database went away under it, its statement fails with a
    disconnect, which invalidates it and every connection pooled before it, so the next
    checkouts connect afresh. One that sat idle is the one that may have been cut meanwhile
    (a restart, a failover, a proxy's idle timeout) without anyone noticing: it is pinged.
    """

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection, record) -> None:
        record.info["cardcash_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection, record, _proxy) -> None:
        since = record.info.pop("cardcash_idle_since", None)
        if since is None or time.monotonic() - since < idle_seconds:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # noqa: BLE001 - any failed ping: a new connection
            # The pool invalidates this one and checks out another (SQLAlchemy's own retry).
            raise DisconnectionError(f"idle connection failed its ping: {exc}") from exc


def _inline(url: str, options: EngineOptions, *, writer: bool) -> sqlite_inline.Inline:
    """SQLite's writer (one connection) or short readers, on the loop's thread."""
    size = 1 if writer else INLINE_READERS
    engine = sqlite_inline.create_engine(make_url(url), pool_size=size, writer=writer)
    # Their connections never sleep in SQLite's busy handler (it would stop the loop): they
    # wait for locks in db.sqlite_inline, up to the same timeout.
    _sqlite_pragmas(engine, 0)
    return sqlite_inline.Inline(
        engine,
        size=size,
        busy_timeout=options.sqlite_busy_timeout_ms / 1000,
        pool_timeout=options.pool_timeout,
    )


class Database:
    """The service's handle on its database: reads and write transactions, as ORM sessions
    or, for paths made of Core statements only, as plain connections; and ``scan()`` for reads
    that may visit many rows.

    On SQLite, sessions and connections are SQLAlchemy's synchronous ones behind the same
    awaitable methods (``db.sqlite_inline``); on PostgreSQL they are its async ones.

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
        from sqlmodel.ext.asyncio.session import AsyncSession as SQLModelSession

        options = options or EngineOptions()
        self.url = url
        self.is_sqlite = make_url(url).get_backend_name() == "sqlite"
        if self.is_sqlite:
            sqlite_file(url)
        #: PostgreSQL's engine for everything; on SQLite, scans' engine (see ``scan``).
        self.engine = create_engine(url, options)
        self._sessions = async_sessionmaker(
            self.engine, class_=SQLModelSession, expire_on_commit=False
        )
        # PostgreSQL's reads: each statement on its own, with no BEGIN and ROLLBACK around it.
        # Under READ COMMITTED (the default, which cardcash keeps) every statement reads its
        # own snapshot anyway, so a read-only transaction gives a read nothing but two more
        # round trips. The same pool; asyncpg's "autocommit" is only not starting one.
        self._reads = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._read_sessions = async_sessionmaker(
            self._reads, class_=SQLModelSession, expire_on_commit=False
        )
        if self.is_sqlite:
            self.sqlite_writer = _inline(url, options, writer=True)
            self.sqlite_reader = _inline(url, options, writer=False)

    def read(self) -> AbstractAsyncContextManager[AsyncSession]:
        """A session for reads only (on PostgreSQL each statement runs on its own: never
        write through it)."""
        if self.is_sqlite:
            return self.sqlite_reader.session(begin=False)
        return self._read_sessions()

    def scan(self) -> AbstractAsyncContextManager[AsyncSession]:
        """A session for reads that may visit many rows (a count over a whole table): on
        SQLite they run on a driver thread, so the event loop goes on meanwhile."""
        if self.is_sqlite:
            return self._sessions()
        return self._read_sessions()

    def write(self) -> AbstractAsyncContextManager[AsyncSession]:
        """A session in one transaction, committed when the block ends without an error."""
        if self.is_sqlite:
            return self.sqlite_writer.session(begin=True)
        return self._pg_write()

    @asynccontextmanager
    async def _pg_write(self) -> AsyncIterator[AsyncSession]:
        async with self._sessions() as session, session.begin():
            yield session

    def write_core(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A connection in one write transaction, for Core statements only: without the ORM
        session's plumbing, which costs more than a short statement. Committed when the
        block ends without an error."""
        if self.is_sqlite:
            return self.sqlite_writer.transaction()
        return self.engine.begin()

    def read_core(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A connection for reads by Core statements only (see :meth:`read`)."""
        if self.is_sqlite:
            return self.sqlite_reader.connect()
        return self._reads.connect()

    async def ping(self) -> None:
        """Raise when the database cannot be reached."""
        async with self.read_core() as connection:
            await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.is_sqlite:
            self.sqlite_writer.dispose()
            self.sqlite_reader.dispose()
