"""Withdrawal status changes, delivered to whoever watches them (subscriptions).

In one process a change is handed straight to the waiting queues. With several replicas on
PostgreSQL, :class:`PostgresChangeFeed` also sends each change through ``NOTIFY`` so that a
subscriber connected to any replica hears about changes made on any other.

A notice only says *which* withdrawal changed; the subscriber reads its state from the
database. So a lost or duplicated notice never shows a wrong state: a duplicate costs one read,
and a lost one is covered by the subscription's periodic re-read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict, deque
from collections.abc import Iterator

log = logging.getLogger("cardcash.events")

#: The PostgreSQL channel every replica listens on; the payload is a withdrawal id.
CHANNEL = "cardcash_withdrawals"


class ChangeFeed:
    """Tells subscribers which withdrawal changed; they read its new state themselves."""

    def __init__(self) -> None:
        self._queues: dict[str, set[asyncio.Queue[str]]] = defaultdict(set)

    async def publish(self, withdrawal_id: str) -> None:
        self.deliver(withdrawal_id)

    def deliver(self, withdrawal_id: str) -> None:
        for queue in list(self._queues.get(withdrawal_id, ())):
            queue.put_nowait(withdrawal_id)

    @contextlib.contextmanager
    def listen(self, withdrawal_id: str) -> Iterator[asyncio.Queue[str]]:
        """A queue that receives the withdrawal's id each time it changes, from now on.

        Listen before reading the current state, so no change falls between the two.
        """
        queue: asyncio.Queue[str] = asyncio.Queue()
        self._queues[withdrawal_id].add(queue)
        try:
            yield queue
        finally:
            self._queues[withdrawal_id].discard(queue)
            if not self._queues[withdrawal_id]:
                del self._queues[withdrawal_id]

    @property
    def watchers(self) -> int:
        return sum(len(q) for q in self._queues.values())

    def wake_all(self) -> None:
        """Wake every local subscriber to re-read (after notices may have been missed)."""
        for withdrawal_id in list(self._queues):
            self.deliver(withdrawal_id)

    async def start(self) -> None:
        """Begin receiving changes from other replicas (none in one process)."""

    async def stop(self) -> None:
        """Stop receiving."""


class PostgresChangeFeed(ChangeFeed):
    """A change feed shared by every replica on one PostgreSQL database.

    ``publish`` delivers to this process's subscribers at once and queues a
    ``pg_notify('cardcash_withdrawals', id)``; a background task sends queued notices in
    batches. Every replica ``LISTEN``\\ s on a dedicated connection (not one from the pool: a
    pooled connection is handed to other work and would stop listening) and delivers what it
    hears to its own subscribers. Its own notices come back to it too; they are recognised by
    the sending connection's process id and skipped.

    The connection is watched: when it drops (a database restart, a failover, a network cut)
    the feed reconnects with backoff, local delivery goes on meanwhile, and once reconnected
    every local subscriber is woken to re-read, since notices sent in the gap are gone.
    Publishing never waits for, or fails with, the database: the status change it announces
    is already committed.

    Needs a direct connection or a session-mode pooler: ``LISTEN`` does not work through a
    transaction-mode pooler (pgbouncer ``pool_mode=transaction``).

    Example::

        feed = PostgresChangeFeed("postgresql://cardcash@db/cardcash", connect_timeout=5)
        await feed.start()
        with feed.listen(withdrawal_id) as changes:
            await changes.get()          # a change made on any replica
        await feed.stop()
    """

    #: Notices kept for sending while the connection is down; older ones are dropped (the
    #: subscribers' periodic re-read covers them).
    MAX_BACKLOG = 10_000
    BATCH = 500

    def __init__(
        self,
        dsn: str,
        *,
        connect_timeout: float = 5.0,
        keepalive: float = 10.0,
        max_backoff: float = 10.0,
        channel: str = CHANNEL,
    ) -> None:
        super().__init__()
        self._dsn = dsn
        self._connect_timeout = connect_timeout
        self._keepalive = keepalive
        self._max_backoff = max_backoff
        self._channel = channel
        self._backlog: deque[str] = deque(maxlen=self.MAX_BACKLOG)
        self._pending = asyncio.Event()
        self._connected = asyncio.Event()
        self._lost = asyncio.Event()
        self._connection = None
        self._backend_pid: int | None = None
        self._task: asyncio.Task | None = None
        self.connects = 0
        """How many times the listening connection was opened (tests and metrics)."""

    @classmethod
    def for_url(cls, url: str, **kwargs) -> PostgresChangeFeed:
        """The feed for a SQLAlchemy URL such as ``postgresql+asyncpg://…``."""
        from sqlalchemy.engine import make_url

        dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        return cls(dsn, **kwargs)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def backend_pid(self) -> int | None:
        """The server process id of the listening connection (to find it in pg_stat_activity)."""
        return self._backend_pid if self.connected else None

    async def publish(self, withdrawal_id: str) -> None:
        self.deliver(withdrawal_id)
        self._backlog.append(withdrawal_id)
        self._pending.set()

    async def start(self) -> None:
        """Start listening in the background; returns without waiting for the database."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="cardcash-change-feed")

    async def wait_connected(self, timeout: float) -> None:
        await asyncio.wait_for(self._connected.wait(), timeout)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._close()

    # -- internals -------------------------------------------------------------------------

    async def _run(self) -> None:
        delay = 0.1
        while True:
            try:
                await self._connect()
            except Exception as exc:  # noqa: BLE001 - down now; try again later
                log.warning(
                    "change feed: cannot connect to the database (%s); retrying in %.1fs",
                    type(exc).__name__,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._max_backoff)
                continue
            delay = 0.1
            try:
                await self._serve()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the connection broke; reconnect
                log.warning("change feed: connection lost (%s); reconnecting", type(exc).__name__)
            finally:
                self._connected.clear()
                await self._close()

    async def _connect(self) -> None:
        import asyncpg

        connection = await asyncpg.connect(self._dsn, timeout=self._connect_timeout)
        try:
            lost = asyncio.Event()
            connection.add_termination_listener(lambda _conn: lost.set())
            await connection.add_listener(self._channel, self._on_notice)
        except BaseException:
            connection.terminate()
            raise
        self._connection, self._lost = connection, lost
        self._backend_pid = connection.get_server_pid()
        self.connects += 1
        self._connected.set()
        if self.connects > 1:
            log.info("change feed: reconnected")
            # Notices sent while we were away are gone: let every subscriber re-read now.
            self.wake_all()

    async def _serve(self) -> None:
        """Send queued notices; check the connection when idle. Returns or raises when lost."""
        connection = self._connection
        while not self._lost.is_set():
            if not self._backlog:
                self._pending.clear()
                waiter = asyncio.ensure_future(self._pending.wait())
                lost = asyncio.ensure_future(self._lost.wait())
                done, _ = await asyncio.wait(
                    {waiter, lost}, timeout=self._keepalive, return_when=asyncio.FIRST_COMPLETED
                )
                waiter.cancel()
                lost.cancel()
                if not done:
                    # Idle: prove the connection still works (a silent network cut
                    # otherwise leaves us listening to nothing).
                    await asyncio.wait_for(connection.execute("SELECT 1"), self._connect_timeout)
                continue
            batch = [self._backlog.popleft() for _ in range(min(len(self._backlog), self.BATCH))]
            try:
                await asyncio.wait_for(
                    connection.execute(
                        "SELECT pg_notify($1, id) FROM unnest($2::text[]) AS id",
                        self._channel,
                        batch,
                    ),
                    self._connect_timeout,
                )
            except BaseException:
                self._backlog.extendleft(reversed(batch))
                raise

    def _on_notice(self, _connection, pid: int, _channel: str, payload: str) -> None:
        if pid == self._backend_pid:
            return  # our own notice, already delivered locally by publish
        self.deliver(payload)

    async def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            await asyncio.wait_for(connection.close(), 2.0)
        except Exception:  # noqa: BLE001 - it is broken anyway
            connection.terminate()
