"""The change feed: local delivery everywhere, and across processes through PostgreSQL NOTIFY."""

from __future__ import annotations

import asyncio

import pytest

from api.services.events import ChangeFeed, PostgresChangeFeed
from tests.conftest import PG_URL, _admin

needs_pg = pytest.mark.skipif(
    not PG_URL.startswith("postgresql"),
    reason="needs PostgreSQL: set CARDCASH_TEST_DATABASE_URL=postgresql+asyncpg://…",
)


async def _next(queue: asyncio.Queue[str], timeout: float = 2.0) -> str:
    return await asyncio.wait_for(queue.get(), timeout)


async def test_a_listener_hears_changes_of_its_withdrawal_only():
    feed = ChangeFeed()
    with feed.listen("w1") as mine, feed.listen("w2") as other:
        await feed.publish("w1")
        assert await _next(mine) == "w1"
        assert other.empty()
    assert feed.watchers == 0


@pytest.fixture
async def feeds(database_url):
    """Two feeds on one database, as two replicas would have."""
    if not database_url.startswith("postgresql"):
        pytest.skip("needs PostgreSQL")
    a = PostgresChangeFeed.for_url(database_url, connect_timeout=2, max_backoff=0.5)
    b = PostgresChangeFeed.for_url(database_url, connect_timeout=2, max_backoff=0.5)
    await a.start()
    await b.start()
    await a.wait_connected(5)
    await b.wait_connected(5)
    yield a, b
    await a.stop()
    await b.stop()


@needs_pg
async def test_a_change_published_on_one_replica_reaches_the_other(feeds):
    a, b = feeds
    with a.listen("w1") as on_a, b.listen("w1") as on_b:
        await a.publish("w1")
        assert await _next(on_b) == "w1"
        assert await _next(on_a) == "w1"
        await asyncio.sleep(0.3)
        # The sender's own NOTIFY coming back is not delivered a second time.
        assert on_a.empty()


@needs_pg
async def test_the_feed_reconnects_after_its_connection_is_killed(feeds, database_url):
    a, b = feeds
    with a.listen("w1") as on_a, b.listen("w1") as on_b:
        await _admin(
            database_url,
            f"SELECT pg_terminate_backend({a.backend_pid}), pg_terminate_backend({b.backend_pid})",
        )
        # Both replicas come back; each wakes its subscribers, since notices may be lost.
        assert await _next(on_a, 5) == "w1"
        assert await _next(on_b, 5) == "w1"
        assert a.connects == 2 and b.connects == 2
        await a.publish("w1")
        assert await _next(on_b) == "w1"
